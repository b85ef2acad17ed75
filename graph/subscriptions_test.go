package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// live wires the in-process change feed (every domain embedded) and the
// stream limits into a test server, and keeps the pieces for the test.
type live struct {
	hub     *events.Hub
	streams *graph.Streams
}

func withLive(l *live, limits graph.StreamLimits) func(*graph.Config) {
	return func(cfg *graph.Config) {
		l.hub = events.NewHub(0)
		l.streams = graph.NewStreams(limits)
		cfg.Backends = events.Publishing(cfg.Backends, l.hub, nil, events.AllDomains)
		cfg.Streams = l.streams
	}
}

// waitSubscribers polls, with a deadline, until the hub holds n
// subscriptions: a subscribe message has no reply to wait for.
func (l *live) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.hub.Stats().Subscribers < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions, want %d", l.hub.Stats().Subscribers, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func testLimits() graph.StreamLimits {
	l := graph.DefaultStreamLimits
	l.KeepAlive = 0
	return l
}

// dial opens a graphql-transport-ws connection with token in connection_init.
func (s *testServer) dial(t *testing.T, token string) *gqlws.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gqlws.Dial(ctx, s.url+graph.PathGraphQL, map[string]any{"Authorization": "Bearer " + token}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func subscribe(t *testing.T, c *gqlws.Client, query string, vars map[string]any) string {
	t.Helper()
	id, err := c.Subscribe(context.Background(), query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// next waits for the next message of any operation on c.
func next(t *testing.T, c *gqlws.Client) gqlws.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages:
		if !ok {
			t.Fatalf("connection closed: %v", <-c.Closed)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return gqlws.Message{}
}

// nextData waits for a next message and decodes its data into v.
func nextData(t *testing.T, c *gqlws.Client, v any) {
	t.Helper()
	m := next(t, c)
	if m.Type != "next" {
		t.Fatalf("want next, got %s %s", m.Type, m.Payload)
	}
	var n gqlws.Next
	if err := json.Unmarshal(m.Payload, &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Errors) > 0 {
		t.Fatalf("errors: %s", m.Payload)
	}
	if err := json.Unmarshal(n.Data, v); err != nil {
		t.Fatal(err)
	}
}

// quiet asserts that c receives nothing while a marker event reaches
// another subscriber: the marker proves the feed has moved past the events
// c must not see, so no sleep is needed.
func quiet(t *testing.T, c *gqlws.Client) {
	t.Helper()
	select {
	case m := <-c.Messages:
		t.Fatalf("unexpected message %s %s", m.Type, m.Payload)
	default:
	}
}

type changeEvent struct {
	MemoryChanged struct {
		Kind     string
		MemoryID string
		Version  int
		Memory   *struct {
			ID      string
			Content string
			State   string
			Version int
			App     struct{ Name string }
		}
	}
}

const memoryChangedQuery = `subscription($f: MemoryChangeFilter) { memoryChanged(filter: $f) { kind memoryId version memory { id content state version app { name } } } }`

func TestMemoryChangedArrivesInCommitOrder(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "vscode")

	c := s.dial(t, tok)
	c.Start()
	subscribe(t, c, memoryChangedQuery, nil)
	l.waitSubscribers(t, 1)

	m := s.createMemory(t, tok, app, "v1")
	// Concurrent writers: the store serialises them by version; each
	// succeeds only at the version it expects, so the commit order is 1..n.
	const updates = 30
	for v := 1; v <= updates; v++ {
		s.do(t, tok, `mutation($in: UpdateMemoryInput!) { updateMemory(input: $in) { memory { version } } }`,
			map[string]any{"in": map[string]any{"id": m.ID, "expectedVersion": v, "content": "content"}}).ok(t, nil)
	}
	s.do(t, tok, `mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { version } } }`, map[string]any{"id": m.ID}).ok(t, nil)

	for v := 1; v <= updates+2; v++ {
		var ev changeEvent
		nextData(t, c, &ev)
		got := ev.MemoryChanged
		want := "UPDATED"
		switch v {
		case 1:
			want = "CREATED"
		case updates + 2:
			want = "DELETED"
		}
		if got.Version != v || got.Kind != want || got.MemoryID != m.ID || got.Memory == nil || got.Memory.Version != v || got.Memory.App.Name != "vscode" {
			t.Fatalf("event %d: got %+v (memory %+v)", v, got, got.Memory)
		}
	}
}

// With memories embedded, the hub keeps the last changes in process: a
// client resumes after a cursor as it does on PostgreSQL (whose tests, in
// stores/postgres, also cut the listener's connection and expire cursors).
func TestMemoryChangedResumesAfterACursor(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	aliceTok, bobTok := s.token(t, alice), s.token(t, bob)
	app := s.createApp(t, aliceTok, "vscode")
	const query = `subscription($after: String) { memoryChanged(after: $after) { memoryId version cursor } }`
	type event struct {
		MemoryChanged struct {
			MemoryID string
			Version  int
			Cursor   string
		}
	}
	receive := func(c *gqlws.Client, memoryID string, version int) string {
		t.Helper()
		var ev event
		nextData(t, c, &ev)
		if got := ev.MemoryChanged; got.MemoryID != memoryID || got.Version != version || got.Cursor == "" {
			t.Fatalf("got %+v, want memory %s at version %d with a cursor", got, memoryID, version)
		}
		return ev.MemoryChanged.Cursor
	}
	update := func(id string, version int) {
		s.do(t, aliceTok, `mutation($in: UpdateMemoryInput!) { updateMemory(input: $in) { memory { version } } }`,
			map[string]any{"in": map[string]any{"id": id, "expectedVersion": version - 1, "content": fmt.Sprint("v", version)}}).ok(t, nil)
	}

	first := s.dial(t, aliceTok)
	first.Start()
	subscribe(t, first, query, nil)
	l.waitSubscribers(t, 1)
	m := s.createMemory(t, aliceTok, app, "v1")
	update(m.ID, 2)
	receive(first, m.ID, 1)
	cursor := receive(first, m.ID, 2)
	_ = first.Close()
	l.waitSubscribers(t, 0)
	update(m.ID, 3)
	update(m.ID, 4)

	again := s.dial(t, aliceTok)
	again.Start()
	subscribe(t, again, query, map[string]any{"after": cursor})
	receive(again, m.ID, 3)
	receive(again, m.ID, 4)
	update(m.ID, 5)
	receive(again, m.ID, 5)

	// Bob resuming from the same position sees none of alice's changes.
	bobs := s.dial(t, bobTok)
	bobs.Start()
	subscribe(t, bobs, query, map[string]any{"after": cursor})
	bobMemory := s.createMemory(t, bobTok, s.createApp(t, bobTok, "cli"), "bob's")
	receive(bobs, bobMemory.ID, 1)

	bad := s.dial(t, aliceTok)
	bad.Start()
	subscribe(t, bad, query, map[string]any{"after": "garbage"})
	msg := next(t, bad)
	var n gqlws.Next
	if err := json.Unmarshal(msg.Payload, &n); err != nil || msg.Type != "next" || len(n.Errors) != 1 || n.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Fatalf("after a garbage cursor: %s %s, want one error with BAD_USER_INPUT", msg.Type, msg.Payload)
	}
}

func TestSubscriptionsNeverCrossTenants(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	aTok, bTok := s.token(t, alice), s.token(t, bob)
	aApp, bApp := s.createApp(t, aTok, "a"), s.createApp(t, bTok, "b")
	aMem := s.createMemory(t, aTok, aApp, "alice's secret")

	a, b := s.dial(t, aTok), s.dial(t, bTok)
	a.Start()
	b.Start()
	subscribe(t, a, memoryChangedQuery, nil)
	subscribe(t, b, memoryChangedQuery, nil)
	subscribe(t, b, `subscription($id: ID!) { memoryIndexStatus(id: $id) { memoryId searchable } }`, map[string]any{"id": aMem.ID})
	subscribe(t, b, `subscription { episodicSession(id: "shared-name") { sessionId items { content } } }`, nil)
	l.waitSubscribers(t, 3)

	// Bob's guess at Alice's memory id answers exactly like a missing id.
	// A NOT_FOUND sent as a "next" result is followed by that subscription's
	// "complete" (an "error" message ends it without one): wait for it too,
	// so it is not mistaken for an event below.
	var sawNotFound, sawEmptySession, awaitComplete bool
	for !sawNotFound || !sawEmptySession || awaitComplete {
		m := next(t, b)
		switch {
		case (m.Type == "error" || m.Type == "next") && strings.Contains(string(m.Payload), `"code":"NOT_FOUND"`):
			sawNotFound, awaitComplete = true, m.Type == "next"
		case m.Type == "next" && strings.Contains(string(m.Payload), `"items":[]`):
			sawEmptySession = true
		case m.Type == "complete":
			awaitComplete = false
		default:
			t.Fatalf("bob got %s %s", m.Type, m.Payload)
		}
	}
	if !sawNotFound || !sawEmptySession {
		t.Fatalf("not found %v, empty session %v", sawNotFound, sawEmptySession)
	}

	// Alice writes a lot; Bob writes one marker afterwards.
	for i := range 5 {
		s.createMemory(t, aTok, aApp, "alice "+string(rune('a'+i)))
	}
	s.do(t, aTok, `mutation { putEpisodicItem(input: {sessionId: "shared-name", content: "alice's file"}) { item { id } } }`, nil).ok(t, nil)
	s.createMemory(t, bTok, bApp, "bob marker")

	var ev changeEvent
	nextData(t, b, &ev)
	if ev.MemoryChanged.Memory.Content != "bob marker" {
		t.Fatalf("bob saw %+v", ev.MemoryChanged.Memory)
	}
	quiet(t, b)
	for range 5 {
		nextData(t, a, &ev)
		if !strings.HasPrefix(ev.MemoryChanged.Memory.Content, "alice") {
			t.Fatalf("alice saw %+v", ev.MemoryChanged.Memory)
		}
	}
	quiet(t, a)
}

func TestSlowConsumerIsCutOffWhileOthersKeepReceiving(t *testing.T) {
	var l live
	limits := testLimits()
	limits.QueueSize = 4
	s := newTestServer(t, withLive(&l, limits))
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "vscode")

	fast, slow := s.dial(t, tok), s.dial(t, tok)
	fast.Start()
	subscribe(t, fast, memoryChangedQuery, nil)
	subscribe(t, slow, memoryChangedQuery, nil) // slow does not read until it is cut off
	l.waitSubscribers(t, 2)
	// Big memories fill the socket buffers quickly.
	content := strings.Repeat("x", 60<<10)
	const writes = 300
	received := make(chan int)
	go func() {
		n := 0
		for m := range fast.Messages {
			if m.Type == "next" {
				n++
			}
			if n == writes {
				break
			}
		}
		received <- n
	}()
	// Write until the slow consumer is cut off, then let it read (it is told
	// why only if it reads within the write timeout), then write the rest.
	written := 0
	for ; written < writes && l.streams.CutOff() == 0; written++ {
		s.createMemory(t, tok, app, content)
	}
	if l.streams.CutOff() == 0 {
		t.Fatalf("the slow consumer was not cut off after %d writes", written)
	}
	slow.Start()
	for ; written < writes; written++ {
		s.createMemory(t, tok, app, content)
	}
	if n := <-received; n != writes {
		t.Fatalf("the fast consumer got %d of %d", n, writes)
	}
	got := 0
	for range slow.Messages {
		got++
	}
	closed := <-slow.Closed
	if closed.Code != graph.CloseSlowConsumer || !strings.Contains(closed.Reason, "slow consumer") {
		t.Fatalf("slow consumer closed with %+v after %d messages", closed, got)
	}
	if got >= writes {
		t.Fatalf("the slow consumer got all %d messages", got)
	}
	t.Logf("slow consumer got %d of %d messages, then %d %q", got, writes, closed.Code, closed.Reason)
}

func TestTokenExpiryClosesTheConnection(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	tok, err := auth.Issue(s.secret, auth.Principal{UserID: alice.UserID, OrgID: alice.OrgID, Scopes: auth.AllScopes()}, time.Second, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, tok)
	c.Start()
	subscribe(t, c, memoryChangedQuery, nil)
	for range c.Messages {
	}
	closed := <-c.Closed
	if closed.Code != graph.CloseUnauthorized || !strings.Contains(closed.Reason, "token expired") {
		t.Fatalf("closed with %+v", closed)
	}

	// A bad token never gets a connection.
	ctx := context.Background()
	if _, err := gqlws.Dial(ctx, s.url+graph.PathGraphQL, map[string]any{"Authorization": "Bearer nonsense"}, nil); err == nil || !strings.Contains(err.Error(), "4401") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := gqlws.Dial(ctx, s.url+graph.PathGraphQL, nil, nil); err == nil || !strings.Contains(err.Error(), "4401") {
		t.Fatalf("no token: %v", err)
	}
}

func TestStreamLimits(t *testing.T) {
	var l live
	limits := testLimits()
	limits.MaxConnectionsPerTenant = 1
	limits.MaxSubscriptionsPerConnection = 2
	s := newTestServer(t, withLive(&l, limits))
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	tok := s.token(t, alice)

	c := s.dial(t, tok)
	c.Start()
	subscribe(t, c, memoryChangedQuery, nil)
	subscribe(t, c, memoryChangedQuery, nil)
	subscribe(t, c, memoryChangedQuery, nil)
	m := next(t, c)
	if !strings.Contains(string(m.Payload), "too many subscriptions on this connection (the limit is 2)") {
		t.Fatalf("third subscription: %s %s", m.Type, m.Payload)
	}

	_, err := gqlws.Dial(context.Background(), s.url+graph.PathGraphQL, map[string]any{"Authorization": "Bearer " + tok}, nil)
	if err == nil || !strings.Contains(err.Error(), "4429") || !strings.Contains(err.Error(), "too many live connections") {
		t.Fatalf("second connection of the tenant: %v", err)
	}
	// Another tenant is not affected.
	s.dial(t, s.token(t, bob))
}

func TestServerSentEvents(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "cli")

	body, _ := json.Marshal(map[string]any{"query": memoryChangedQuery})
	req, _ := http.NewRequest(http.MethodPost, s.url+graph.PathGraphQL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	waitFor := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), prefix) {
				return lines.Text()
			}
		}
		t.Fatalf("stream ended before %q: %v", prefix, lines.Err())
		return ""
	}
	waitFor(":") // the stream is open: the subscription is registered
	// The subscription is live once the hub counts it.
	deadline := time.Now().Add(5 * time.Second)
	for l.hub.Stats().Subscribers == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronising
	}
	s.createMemory(t, tok, app, "over SSE")
	waitFor("event: next")
	data := waitFor("data: ")
	if !strings.Contains(data, `"content":"over SSE"`) || !strings.Contains(data, `"kind":"CREATED"`) {
		t.Fatalf("data %s", data)
	}
}

func TestShutdownCompletesOpenStreams(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	c := s.dial(t, tok)
	c.Start()
	id := subscribe(t, c, `subscription { episodicSession(id: "s") { sessionId } }`, nil)
	var ev struct{ EpisodicSession struct{ SessionID string } }
	nextData(t, c, &ev)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.streams.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m := next(t, c); m.Type != "complete" || m.ID != id {
		t.Fatalf("want complete of %s, got %s %s", id, m.Type, m.Payload)
	}
	for range c.Messages {
	}
	if closed := <-c.Closed; closed.Code != graph.CloseGoingAway {
		t.Fatalf("closed with %+v", closed)
	}
}

func TestFeedbackAndEpisodicSubscriptions(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	c := s.dial(t, tok)
	c.Start()
	subscribe(t, c, `subscription { feedbackAggregates { overall { total } } }`, nil)
	var agg struct {
		FeedbackAggregates struct{ Overall struct{ Total int } }
	}
	nextData(t, c, &agg)
	if agg.FeedbackAggregates.Overall.Total != 0 {
		t.Fatalf("initial %+v", agg)
	}
	const n = 20
	for i := range n {
		s.do(t, tok, `mutation($q: String!) { recordFeedback(input: {queryId: $q, tool: "cli", queryType: "recall", outcome: ACCEPTED}) { event { id } } }`,
			map[string]any{"q": uuid.NewString()[:8] + string(rune('a'+i))}).ok(t, nil)
	}
	// Coalesced: however many arrive, the totals climb to n in few messages.
	messages := 0
	for agg.FeedbackAggregates.Overall.Total < n {
		nextData(t, c, &agg)
		messages++
	}
	if messages > 3 {
		t.Fatalf("%d messages for %d feedback events within a few seconds: not coalesced", messages, n)
	}

	c2 := s.dial(t, tok)
	c2.Start()
	subscribe(t, c2, `subscription { episodicSession(id: "s1") { sessionId items { id content } } }`, nil)
	var sess struct {
		EpisodicSession struct {
			SessionID string
			Items     []struct{ ID, Content string }
		}
	}
	nextData(t, c2, &sess)
	s.do(t, tok, `mutation { putEpisodicItem(input: {sessionId: "s1", itemId: "i1", content: "opened retry.go"}) { item { id } } }`, nil).ok(t, nil)
	nextData(t, c2, &sess)
	if len(sess.EpisodicSession.Items) != 1 || sess.EpisodicSession.Items[0].Content != "opened retry.go" {
		t.Fatalf("after put: %+v", sess)
	}
	s.do(t, tok, `mutation { expireEpisodicItem(input: {sessionId: "s1", itemId: "i1"}) { sessionId } }`, nil).ok(t, nil)
	nextData(t, c2, &sess)
	if len(sess.EpisodicSession.Items) != 0 {
		t.Fatalf("after expiry: %+v", sess)
	}
}

// countingMemories counts the batched reads a federation request causes.
type countingMemories struct {
	stores.MemoryBackend
	calls *atomic.Int64
}

func (b countingMemories) Memories(t stores.Tenant) stores.MemoryStore {
	return countingMemoryStore{MemoryStore: b.MemoryBackend.Memories(t), calls: b.calls}
}

type countingMemoryStore struct {
	stores.MemoryStore
	calls *atomic.Int64
}

func (s countingMemoryStore) MemoriesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Memory, error) {
	s.calls.Add(1)
	return s.MemoryStore.MemoriesByID(ctx, ids)
}

func TestFederationEntities(t *testing.T) {
	var calls atomic.Int64
	s := newTestServer(t, func(cfg *graph.Config) {
		cfg.Backends.Memories = countingMemories{MemoryBackend: cfg.Backends.Memories, calls: &calls}
	})
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	aTok, bTok := s.token(t, alice), s.token(t, bob)
	app := s.createApp(t, aTok, "vscode")
	var reps []map[string]any
	for i := range 100 {
		m := s.createMemory(t, aTok, app, "memory "+string(rune('A'+i%26)))
		reps = append(reps, map[string]any{"__typename": "Memory", "id": m.ID})
	}
	const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Memory { id content app { name } } } }`

	calls.Store(0)
	var out struct {
		Entities []*struct{ ID, Content string } `json:"_entities"`
	}
	s.do(t, aTok, q, map[string]any{"r": reps}).ok(t, &out)
	if len(out.Entities) != 100 || out.Entities[99] == nil || out.Entities[99].ID != reps[99]["id"] {
		t.Fatalf("entities: %d", len(out.Entities))
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("_entities for 100 memories made %d MemoriesByID calls, want 1", got)
	}
	t.Logf("_entities for 100 memories: %d batched memory store call(s)", calls.Load())

	// Bob asking for Alice's ids gets nulls, as for ids that do not exist.
	resp := s.do(t, bTok, q, map[string]any{"r": reps[:2]})
	var bobOut struct {
		Entities []*struct{ ID string } `json:"_entities"`
	}
	_ = json.Unmarshal(resp.Data, &bobOut)
	if len(bobOut.Entities) != 2 || bobOut.Entities[0] != nil || bobOut.Entities[1] != nil {
		t.Fatalf("bob got %s", resp.Data)
	}
	if len(resp.Errors) > 0 {
		t.Fatalf("bob's errors %+v", resp.Errors)
	}

	// The subgraph SDL is public, like the SDL endpoint, for the router.
	var svc struct {
		Service struct{ SDL string } `json:"_service"`
	}
	s.do(t, "", `{ _service { sdl } }`, nil).ok(t, &svc)
	for _, want := range []string{`@key(fields: "id")`, "type Subscription", "@link"} {
		if !strings.Contains(svc.Service.SDL, want) {
			t.Fatalf("_service sdl lacks %q", want)
		}
	}
}
