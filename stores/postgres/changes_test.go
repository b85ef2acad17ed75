package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/guarded"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/sony/gobreaker/v2"
)

// These tests run the change feed as the gateway does: writes through the
// PostgreSQL backend, one ChangeListener (its LISTEN connection and its
// log reads going through a proxy the test can cut) feeding a hub, and
// memoryChanged served over WebSocket.

// syncBuffer is a log sink the listener writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// liveFeed is a hub fed by a listener that connects through a proxy.
type liveFeed struct {
	hub      *events.Hub
	listener *postgres.ChangeListener
	proxy    *storetest.Proxy
	log      *syncBuffer
}

func startFeed(t *testing.T, retention time.Duration) *liveFeed {
	t.Helper()
	migrateOnce(t)
	url := storetest.ServiceEnv(t, "DATABASE_URL")
	cfg, err := pgx.ParseConfig(url)
	storetest.RequireNoError(t, err)
	target := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	p := storetest.StartProxy(t, target)
	f := &liveFeed{hub: events.NewHub(1000), proxy: p, log: &syncBuffer{}}
	f.listener, err = postgres.ListenChanges(storetest.Ctx(t), postgres.ListenConfig{
		URL: strings.Replace(url, target, p.Addr(), 1), Timeout: 2 * time.Second, Retention: retention,
	}, f.hub, slog.New(slog.NewTextHandler(f.log, nil)))
	storetest.RequireNoError(t, err)
	t.Cleanup(f.listener.Close)
	f.hub.UseLog(f.listener)
	return f
}

// serve starts a GraphQL server whose subscriptions read the feed.
func (f *liveFeed) serve(t *testing.T) string {
	t.Helper()
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: []byte(testJWTSecret)})
	storetest.RequireNoError(t, err)
	pg := backend(t)
	backends := embedded.New(time.Now).Override(stores.Backends{Memories: pg, Feedback: pg, Experiments: pg, IndexStatus: pg})
	backends = events.Publishing(backends, f.hub, nil, events.Domains{})
	srv := httptest.NewServer(graph.NewHandler(graph.Config{
		Backends:          backends,
		Verifier:          verifier,
		Cursors:           relay.NewCursors([]byte("cursor-test-key-of-32-bytes-long")),
		Pages:             relay.Limits{DefaultFirst: 20, MaxFirst: 100},
		MaxTraversalDepth: stores.MaxTraversalDepth,
		MaxBodyBytes:      1 << 20,
		Limits:            graph.Limits{MaxDepth: 15, MaxComplexity: 50000, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10},
		Logger:            slog.New(slog.DiscardHandler),
		Streams:           graph.NewStreams(graph.StreamLimits{}),
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// writer makes memory changes of one tenant directly through the backend.
type writer struct {
	t   *testing.T
	st  stores.MemoryStore
	app uuid.UUID
}

func newWriter(t *testing.T, tenant stores.Tenant) writer {
	t.Helper()
	st := backend(t).Memories(tenant)
	app, err := st.CreateApp(storetest.Ctx(t), "feed-"+uuid.NewString()[:8], "")
	storetest.RequireNoError(t, err)
	return writer{t: t, st: st, app: app.ID}
}

func (w writer) create(content string) stores.Memory {
	w.t.Helper()
	m, err := w.st.CreateMemory(storetest.Ctx(w.t), stores.NewMemory{AppID: w.app, Content: content})
	storetest.RequireNoError(w.t, err)
	return m
}

func (w writer) update(m stores.Memory, content string) stores.Memory {
	w.t.Helper()
	m, err := w.st.UpdateMemory(storetest.Ctx(w.t), m.ID, stores.MemoryUpdate{ExpectedVersion: m.Version, Content: &content})
	storetest.RequireNoError(w.t, err)
	return m
}

type memoryChange struct {
	Kind     string
	MemoryID string
	Version  int
	Cursor   string
	Memory   struct{ Content string }
}

// dialFeed opens a WebSocket for tenant and subscribes to memoryChanged,
// resuming after the cursor when it is not empty.
func dialFeed(t *testing.T, base string, tenant stores.Tenant, after string) *gqlws.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gqlws.Dial(ctx, base+graph.PathGraphQL, map[string]any{"Authorization": "Bearer " + token(t, tenant)}, nil)
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	c.Start()
	vars := map[string]any{}
	if after != "" {
		vars["after"] = after
	}
	_, err = c.Subscribe(ctx, `subscription($after: String) { memoryChanged(after: $after) { kind memoryId version cursor memory { content } } }`, vars)
	storetest.RequireNoError(t, err)
	return c
}

// receive waits for the next message of c: an event, or the errors that ended the subscription.
func receive(t *testing.T, c *gqlws.Client) (memoryChange, []storetest.GraphQLError) {
	t.Helper()
	select {
	case m, ok := <-c.Messages:
		if !ok {
			t.Fatalf("connection closed: %v", <-c.Closed)
		}
		if m.Type == "error" {
			var errs []storetest.GraphQLError
			storetest.RequireNoError(t, json.Unmarshal(m.Payload, &errs))
			return memoryChange{}, errs
		}
		var n struct {
			Data   struct{ MemoryChanged memoryChange }
			Errors []storetest.GraphQLError
		}
		storetest.RequireNoError(t, json.Unmarshal(m.Payload, &n))
		return n.Data.MemoryChanged, n.Errors
	case <-time.After(15 * time.Second):
		t.Fatal("no message within 15s")
	}
	return memoryChange{}, nil
}

func receiveEvent(t *testing.T, c *gqlws.Client) memoryChange {
	t.Helper()
	ev, errs := receive(t, c)
	if len(errs) > 0 {
		t.Fatalf("errors: %+v", errs)
	}
	return ev
}

// requireVersions receives len(want) events of one memory and checks their
// versions and that their cursors are all different.
func requireVersions(t *testing.T, c *gqlws.Client, want ...int) memoryChange {
	t.Helper()
	var last memoryChange
	cursors := map[string]bool{}
	for i, v := range want {
		ev := receiveEvent(t, c)
		if ev.Version != v || ev.Cursor == "" || cursors[ev.Cursor] {
			t.Fatalf("event %d: version %d cursor %q, want version %d with a new cursor (want %v)", i, ev.Version, ev.Cursor, v, want)
		}
		cursors[ev.Cursor] = true
		last = ev
	}
	return last
}

func versions(from, to int) []int {
	var out []int
	for v := from; v <= to; v++ {
		out = append(out, v)
	}
	return out
}

func TestChangeFeed(t *testing.T) {
	f := startFeed(t, 0)
	base := f.serve(t)

	t.Run("a subscriber gets every commit in order while the listener's connection is cut and restored mid-stream", func(t *testing.T) {
		tenant := storetest.NewTenant()
		w := newWriter(t, tenant)
		c := dialFeed(t, base, tenant, "")
		waitSubscribers(t, f.hub, 1)
		m := w.create("v1")
		requireVersions(t, c, 1)
		for i := 2; i <= 20; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		// The listener loses its connection; writes go on (directly, not through the proxy).
		f.proxy.Cut()
		for i := 21; i <= 40; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		f.proxy.Restore()
		for i := 41; i <= 60; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		last := requireVersions(t, c, versions(2, 60)...)
		if last.Memory.Content != "v60" {
			t.Fatalf("last event's memory: %+v", last.Memory)
		}
		if !strings.Contains(f.log.String(), "postgres change listener reconnected") {
			t.Fatalf("the listener did not reconnect; its log:\n%s", f.log.String())
		}
	})

	t.Run("concurrent writers: every commit arrives, in log order, and the log replays exactly what was delivered live", func(t *testing.T) {
		tenant := storetest.NewTenant()
		w := newWriter(t, tenant)
		start := logPosition(t)
		// Two gateways: both number the log, each publishes it to its hub.
		other := startFeed(t, 0)
		subscribe := func(f *liveFeed) stores.ChangeStream {
			st, err := f.hub.Changes(tenant).Subscribe(storetest.Ctx(t), stores.ChangeMemory)
			storetest.RequireNoError(t, err)
			t.Cleanup(st.Close)
			return st
		}
		st, otherSt := subscribe(f), subscribe(other)
		// Eight writers, each creating memories and updating them: their
		// transactions overlap, so positions are taken in one order and
		// commits may finish in another unless the log orders them.
		const writers, memories, updates = 8, 5, 4
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range memories {
					m, err := w.st.CreateMemory(context.Background(), stores.NewMemory{AppID: w.app, Content: "v1"})
					if err != nil {
						t.Error(err)
						return
					}
					for v := 2; v <= updates+1; v++ {
						content := fmt.Sprint("v", v)
						if m, err = w.st.UpdateMemory(context.Background(), m.ID, stores.MemoryUpdate{ExpectedVersion: m.Version, Content: &content}); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		const total = writers * memories * (updates + 1)
		collect := func(st stores.ChangeStream) []stores.Change {
			var live []stores.Change
			for len(live) < total {
				select {
				case c := <-st.Changes():
					live = append(live, c)
				case <-st.Lost():
					t.Fatal("the subscription fell behind")
				case <-time.After(15 * time.Second):
					t.Fatalf("%d of %d changes arrived", len(live), total)
				}
			}
			return live
		}
		live, otherLive := collect(st), collect(otherSt)
		if fmt.Sprint(live) != fmt.Sprint(otherLive) {
			t.Fatal("the two gateways delivered different sequences")
		}
		versions := map[uuid.UUID]int64{}
		for i, c := range live {
			if i > 0 && c.Seq <= live[i-1].Seq {
				t.Fatalf("change %d at position %d after %d: not in log order", i, c.Seq, live[i-1].Seq)
			}
			if c.Version != versions[c.MemoryID]+1 {
				t.Fatalf("memory %v: version %d after %d", c.MemoryID, c.Version, versions[c.MemoryID])
			}
			versions[c.MemoryID] = c.Version
		}
		logged, err := f.listener.ChangeLog(tenant).ChangesAfter(storetest.Ctx(t), start, total+1)
		storetest.RequireNoError(t, err)
		if len(logged) != total {
			t.Fatalf("the log holds %d changes, want %d", len(logged), total)
		}
		for i := range logged {
			if logged[i].Seq != live[i].Seq || logged[i].MemoryID != live[i].MemoryID || logged[i].Version != live[i].Version {
				t.Fatalf("change %d: logged %+v, live %+v", i, logged[i], live[i])
			}
		}
	})

	t.Run("a client that reconnects with after gets exactly the changes it missed, in order, then live ones", func(t *testing.T) {
		tenant := storetest.NewTenant()
		w := newWriter(t, tenant)
		first := dialFeed(t, base, tenant, "")
		waitSubscribers(t, f.hub, 1)
		m := w.create("v1")
		for i := 2; i <= 5; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		seen := requireVersions(t, first, versions(1, 5)...)
		_ = first.Close()
		waitSubscribers(t, f.hub, 0)
		for i := 6; i <= 12; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		again := dialFeed(t, base, tenant, seen.Cursor)
		requireVersions(t, again, versions(6, 12)...)
		for i := 13; i <= 15; i++ {
			m = w.update(m, fmt.Sprint("v", i))
		}
		requireVersions(t, again, versions(13, 15)...)
		select {
		case msg := <-again.Messages:
			t.Fatalf("a duplicate or extra event: %s", msg.Payload)
		default:
		}
	})

	t.Run("two tenants never see each other's logged changes, nor another user's private memory", func(t *testing.T) {
		alice, bob := storetest.NewTenant(), storetest.NewTenant()
		aliceColleague := stores.Tenant{OrgID: alice.OrgID, UserID: uuid.New()}
		start := logPosition(t)
		wa, wb := newWriter(t, alice), newWriter(t, bob)
		ma := wa.create("alice's")
		mb := wb.create("bob's")
		private, err := wa.st.CreateMemory(storetest.Ctx(t), stores.NewMemory{AppID: wa.app, Content: "alice's own", Visibility: stores.VisibilityPrivate})
		storetest.RequireNoError(t, err)
		// requireLog polls (positions are given just after commit) until the
		// tenant's log after start holds as many changes as want, then
		// compares.
		requireLog := func(who string, tenant stores.Tenant, want ...uuid.UUID) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				changes, err := f.listener.ChangeLog(tenant).ChangesAfter(storetest.Ctx(t), start, 100)
				storetest.RequireNoError(t, err)
				var got []uuid.UUID
				for _, c := range changes {
					if c.OrgID != tenant.OrgID {
						t.Fatalf("%s read a change of org %v", who, c.OrgID)
					}
					got = append(got, c.MemoryID)
				}
				switch {
				case len(got) >= len(want) && fmt.Sprint(got) == fmt.Sprint(want):
					return
				case len(got) >= len(want), time.Now().After(deadline):
					t.Fatalf("%s's log %v, want %v", who, got, want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		requireLog("alice", alice, ma.ID, private.ID)
		requireLog("bob", bob, mb.ID)
		// The colleague's view is read once alice's shows both changes numbered.
		requireLog("alice's colleague", aliceColleague, ma.ID)
		// Through GraphQL, resuming from before every write.
		c := dialFeed(t, base, bob, relay.ChangeCursor(start))
		ev := receiveEvent(t, c)
		if ev.MemoryID != relay.UUIDID(relay.KindMemory, mb.ID) {
			t.Fatalf("bob resumed with %+v, want his memory only", ev)
		}
	})

	t.Run("a malformed cursor is BAD_USER_INPUT, one from beyond the log too", func(t *testing.T) {
		tenant := storetest.NewTenant()
		for _, after := range []string{"garbage", relay.UUIDID(relay.KindMemory, uuid.New()), relay.ChangeCursor(logPosition(t) + 1_000_000)} {
			_, errs := receive(t, dialFeed(t, base, tenant, after))
			if len(errs) != 1 || errs[0].Extensions.Code != "BAD_USER_INPUT" {
				t.Fatalf("after %q: errors %+v, want one BAD_USER_INPUT", after, errs)
			}
		}
	})

	t.Run("a cursor older than the retention is CURSOR_EXPIRED", func(t *testing.T) {
		tenant := storetest.NewTenant()
		w := newWriter(t, tenant)
		c := dialFeed(t, base, tenant, "")
		waitSubscribers(t, f.hub, 1)
		w.create("soon pruned")
		old := receiveEvent(t, c)
		w.create("pruned too")
		receiveEvent(t, c)
		// A second listener whose retention is a millisecond prunes both at start.
		pruner := startFeed(t, time.Millisecond)
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, errs := receive(t, dialFeed(t, base, tenant, old.Cursor))
			if len(errs) == 1 && errs[0].Extensions.Code == "CURSOR_EXPIRED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after an expired cursor: errors %+v, want one CURSOR_EXPIRED", errs)
			}
			time.Sleep(20 * time.Millisecond)
		}
		pruner.listener.Close()
	})
}

func TestPublishQueue(t *testing.T) {
	f := startFeed(t, 0)
	guard := guarded.New("postgres-notify", guarded.Options{Timeout: 500 * time.Millisecond, OpenFor: 200 * time.Millisecond})
	q := events.NewPublishQueue(f.listener, 10, guard, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(q.Close)
	tenant := storetest.NewTenant()
	st, err := f.hub.Changes(tenant).Subscribe(storetest.Ctx(t), stores.ChangeEpisodic)
	storetest.RequireNoError(t, err)
	t.Cleanup(st.Close)
	episodic := func(session string) stores.Change {
		return stores.Change{Kind: stores.ChangeEpisodic, OrgID: tenant.OrgID, UserID: tenant.UserID, SessionID: session}
	}
	// arrives publishes the change until the hub delivers it (a send may
	// be dropped while the breaker is still open).
	arrives := func(session string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			q.Publish(episodic(session))
			select {
			case c := <-st.Changes():
				if c.SessionID == session {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the change of session %s never arrived", session)
			}
		}
	}
	arrives("before")

	// PostgreSQL is unreachable: publishing still returns at once, the
	// queue drops what it cannot hold, and the breaker opens.
	f.proxy.Cut()
	start := time.Now()
	for range 1000 {
		q.Publish(episodic("during"))
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("1000 publishes during the outage took %v: publishing waited", took)
	}
	// At most the queue's 10 and the one being sent are kept.
	if q.Dropped() < 989 {
		t.Fatalf("%d changes dropped, want at least 989 of 1000 with a queue of 10", q.Dropped())
	}
	deadline := time.Now().Add(15 * time.Second)
	for guard.State() != gobreaker.StateOpen {
		if time.Now().After(deadline) {
			t.Fatalf("the breaker is %v after the outage, want open", guard.State())
		}
		time.Sleep(10 * time.Millisecond)
	}

	f.proxy.Restore()
	arrives("after")
}

// waitSubscribers polls, with a deadline, until the hub holds n subscriptions.
func waitSubscribers(t *testing.T, hub *events.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for hub.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions, want %d", hub.Stats().Subscribers, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// logPosition is the change log's last position given.
func logPosition(t *testing.T) int64 {
	t.Helper()
	conn, err := pgx.Connect(storetest.Ctx(t), storetest.ServiceEnv(t, "DATABASE_URL"))
	storetest.RequireNoError(t, err)
	defer conn.Close(context.Background())
	var pos int64
	storetest.RequireNoError(t, conn.QueryRow(storetest.Ctx(t), `SELECT last_seq FROM memory_change_log`).Scan(&pos))
	return pos
}
