package indexer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/guarded"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// realStack opens the memory store on PostgreSQL and the two derived
// indexes through proxies the test can cut, each behind a guard as in the
// gateway.
type realStack struct {
	backends            stores.Backends
	outbox              *postgres.Outbox
	search, vecs, embed *storetest.Proxy
	embedder            *embeddings.OpenAI
	searchTimeout       time.Duration
}

func openRealStack(t *testing.T) realStack {
	t.Helper()
	dbURL := storetest.ServiceEnv(t, "DATABASE_URL")
	owner := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	osURL := storetest.ServiceEnv(t, "OPENSEARCH_URL")
	qdrantAddr := storetest.ServiceEnv(t, "QDRANT_URL")
	embURL := storetest.ServiceEnv(t, "EMBEDDINGS_URL")
	ctx := storetest.Ctx(t)

	r, err := migrations.Open(owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Up(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	pg, err := postgres.Open(ctx, postgres.Config{URL: dbURL, Indexes: []stores.IndexName{stores.IndexFullText, stores.IndexVector}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)

	s := realStack{outbox: pg.Outbox(), searchTimeout: 5 * time.Second}
	s.search = storetest.StartProxy(t, strings.TrimPrefix(osURL, "http://"))
	s.vecs = storetest.StartProxy(t, qdrantAddr)
	index := "cb-indexer-test-" + randomToken()
	os, err := opensearch.Open(ctx, opensearch.Options{URL: "http://" + s.search.Addr(), Index: index, Timeout: s.searchTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(os.Close)
	q, err := qdrant.Open(ctx, s.vecs.Addr(), qdrant.Options{Timeout: s.searchTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	embTarget, err := url.Parse(embURL)
	if err != nil {
		t.Fatal(err)
	}
	s.embed = storetest.StartProxy(t, embTarget.Host)
	embTarget.Host = s.embed.Addr()
	s.embedder, err = embeddings.NewOpenAI(ctx, embeddings.Config{URL: embTarget.String(), Model: "all-MiniLM-L6-v2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.embedder.Close() })

	fast := guarded.Options{Timeout: s.searchTimeout, OpenFor: 200 * time.Millisecond}
	s.backends = guarded.Wrap(stores.Backends{Memories: pg, IndexStatus: pg}, guarded.New("postgres", fast)).
		Override(guarded.Wrap(stores.Backends{FullText: os}, guarded.New("opensearch", fast))).
		Override(guarded.Wrap(stores.Backends{Vectors: q}, guarded.New("qdrant", fast)))
	return s
}

func randomToken() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestIndexerLosesNothingWhileAnIndexIsDown keeps OpenSearch, then Qdrant,
// then the embedding server down for longer than 20 attempts of the
// indexer, running with the shipped defaults but for a shorter backoff cap,
// while memories are created, updated and deleted; once the backend is back,
// every acknowledged change is reflected exactly once in both indexes, and
// nothing was parked. While the embedding server is down, full text keeps up.
func TestIndexerLosesNothingWhileAnIndexIsDown(t *testing.T) {
	s := openRealStack(t)
	outages := []struct {
		name  string
		proxy *storetest.Proxy
		index stores.IndexName
	}{{"OpenSearch", s.search, stores.IndexFullText}, {"Qdrant", s.vecs, stores.IndexVector}, {"the embedding server", s.embed, stores.IndexVector}}
	tenants := make([]stores.Tenant, len(outages))
	orgs := make([]uuid.UUID, len(outages))
	for i := range tenants {
		tenants[i] = storetest.NewTenant()
		orgs[i] = tenants[i].OrgID
	}
	// Dedicated to the test's organisations, so other tests' entries in the
	// shared outbox neither slow it down nor get taken from them.
	ix := indexer.New(s.outbox, s.backends, indexer.Options{MaxBackoff: 500 * time.Millisecond, Embedder: s.embedder, Orgs: orgs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	for i, outage := range outages {
		t.Run("with "+outage.name+" down for more than 20 attempts, every acknowledged write is searchable once after it returns", func(t *testing.T) {
			tenant := tenants[i]
			mem := s.backends.Memories.Memories(tenant)
			// Longer than storetest.Ctx: the outage alone lasts 10 s or more.
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			app, err := mem.CreateApp(wctx, "indexer-test", "")
			storetest.RequireNoError(t, err)

			outage.proxy.Cut()
			const n = 12
			tokens := make([]string, n)
			contents := make([]string, n)
			ids := make([]uuid.UUID, n)
			for i := range n {
				tokens[i] = "tok" + randomToken()
				contents[i] = fmt.Sprintf("note %s about webhook retries %d", tokens[i], i)
				m, err := mem.CreateMemory(wctx, stores.NewMemory{AppID: app.ID, Content: contents[i]})
				storetest.RequireNoError(t, err)
				ids[i] = m.ID
			}
			// Update the first three (new token), delete the last two.
			for i := range 3 {
				tokens[i] = "tok" + randomToken()
				contents[i] = fmt.Sprintf("edited %s about backoff", tokens[i])
				_, err := mem.UpdateMemory(wctx, ids[i], stores.MemoryUpdate{ExpectedVersion: 1, Content: &contents[i]})
				storetest.RequireNoError(t, err)
			}
			for _, i := range []int{n - 2, n - 1} {
				_, err := mem.DeleteMemory(wctx, ids[i], nil)
				storetest.RequireNoError(t, err)
			}
			// The last two were deleted; the embedding outage adds one after them.
			live := func(i int) bool { return i < n-2 || i >= n }
			fullText := s.backends.FullText.FullText(tenant)
			searchable := func(i int) bool {
				page, err := fullText.Search(wctx, stores.SearchQuery{Text: tokens[i]}, stores.PageArgs{First: 5})
				if err != nil {
					return false
				}
				if !live(i) {
					return len(page.Items) == 0
				}
				return len(page.Items) == 1 && *page.Items[0].Document.MemoryID == ids[i]
			}

			// Hold the outage until every entry of the index that is down has
			// failed more than 20 times: far past the old MaxAttempts.
			began := time.Now()
			storetest.Eventually(t, 120*time.Second, "every entry of "+string(outage.index)+" to fail more than 20 times", func() bool {
				pending, err := s.outbox.Pending(wctx, tenant.OrgID, ids)
				storetest.RequireNoError(t, err)
				waiting := 0
				for _, entries := range pending {
					for _, e := range entries {
						if e.ParkedAt != nil {
							t.Fatalf("entry %+v was parked during an outage", e)
						}
						if e.Index == outage.index {
							if e.Attempts <= 20 {
								return false
							}
							waiting++
						}
					}
				}
				return waiting > 0
			})
			t.Logf("%s down %s: every %s entry attempted more than 20 times", outage.name, time.Since(began).Round(time.Millisecond), outage.index)

			if outage.proxy == s.embed {
				// Full text does not wait for the embedder: already applied,
				// and a new memory is searchable by text within 5 s.
				for i := range n {
					if !searchable(i) {
						t.Fatalf("change %d is not in full text while only the embedding server is down", i)
					}
				}
				token := "tok" + randomToken()
				written := time.Now()
				m, err := mem.CreateMemory(wctx, stores.NewMemory{AppID: app.ID, Content: "late note " + token})
				storetest.RequireNoError(t, err)
				ix.Wake()
				storetest.Eventually(t, 5*time.Second, "a new memory searchable by full text with the embedding server down", func() bool {
					page, err := fullText.Search(wctx, stores.SearchQuery{Text: token}, stores.PageArgs{First: 5})
					return err == nil && len(page.Items) == 1
				})
				t.Logf("with the embedding server down, a new memory was searchable by full text after %s", time.Since(written).Round(time.Millisecond))
				// The entry is completed just after the write it applied.
				storetest.Eventually(t, 2*time.Second, "full text INDEXED at version 1, the vector PENDING at 0", func() bool {
					status, err := s.backends.IndexStatus.IndexStatus(tenant).IndexStatuses(wctx, []uuid.UUID{m.ID})
					storetest.RequireNoError(t, err)
					got := map[stores.IndexName]stores.IndexStatus{}
					for _, st := range status[m.ID] {
						got[st.Index] = st
					}
					if got[stores.IndexVector].State != stores.IndexPending || got[stores.IndexVector].Version != 0 {
						t.Fatalf("index status with the embedding server down: %+v", status[m.ID])
					}
					return got[stores.IndexFullText].State == stores.IndexIndexed && got[stores.IndexFullText].Version == 1
				})
				tokens, contents, ids = append(tokens, token), append(contents, m.Content), append(ids, m.ID)
			}
			restored := time.Now()
			outage.proxy.Restore()
			ix.Wake()

			vectors := s.backends.Vectors.Vectors(tenant)
			storetest.Eventually(t, 60*time.Second, "every change searchable in full text", func() bool {
				for i := range ids {
					if !searchable(i) {
						return false
					}
				}
				return true
			})
			storetest.Eventually(t, 60*time.Second, "every live memory's vector stored once, deleted ones gone", func() bool {
				for i := range ids {
					v, err := s.embedder.Embed(wctx, []string{contents[i]})
					if err != nil {
						return false
					}
					hits, err := vectors.SearchVectors(wctx, s.embedder.Model(), v[0], nil, 20)
					if err != nil {
						return false
					}
					count := 0
					for _, h := range hits {
						if h.MemoryID != nil && *h.MemoryID == ids[i] {
							count++
						}
					}
					if want := map[bool]int{true: 1, false: 0}[live(i)]; count != want {
						return false
					}
				}
				return true
			})
			t.Logf("%s outage: all %d changes searchable %s after it came back", outage.name, len(ids)+5, time.Since(restored).Round(time.Millisecond))
			storetest.Eventually(t, 10*time.Second, "the outbox of the org drained, nothing parked", func() bool {
				pending, err := s.outbox.Pending(wctx, tenant.OrgID, ids)
				storetest.RequireNoError(t, err)
				for _, entries := range pending {
					if len(entries) > 0 {
						return false
					}
				}
				return true
			})
		})
	}
}

// corruptingEmbedder is the real embedder, except that while corrupt is set
// it answers a vector of the wrong dimension for texts containing poison: a
// misbehaving embedding server, whose answers Qdrant refuses.
type corruptingEmbedder struct {
	indexer.Embedder
	poison  string
	corrupt atomic.Bool
}

func (c *corruptingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vectors, err := c.Embedder.Embed(ctx, texts)
	if err != nil || !c.corrupt.Load() {
		return vectors, err
	}
	for i, text := range texts {
		if strings.Contains(text, c.poison) {
			vectors[i] = vectors[i][:3]
		}
	}
	return vectors, nil
}

// TestIndexerParksOnlyWhatRetryingCannotFix: a vector of the wrong
// dimension is parked with its reason, alone (the memories of its batch are
// indexed), and re-queued by Retry once the cause is fixed.
func TestIndexerParksOnlyWhatRetryingCannotFix(t *testing.T) {
	s := openRealStack(t)
	tenant := storetest.NewTenant()
	embedder := &corruptingEmbedder{Embedder: s.embedder, poison: "poison" + randomToken()}
	embedder.corrupt.Store(true)
	ix := indexer.New(s.outbox, s.backends, indexer.Options{MaxBackoff: 500 * time.Millisecond, Embedder: embedder, Orgs: []uuid.UUID{tenant.OrgID}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })

	wctx := storetest.Ctx(t)
	mem := s.backends.Memories.Memories(tenant)
	app, err := mem.CreateApp(wctx, "parking", "")
	storetest.RequireNoError(t, err)
	batch := []stores.NewMemory{{AppID: app.ID, Content: "a healthy note " + randomToken()}, {AppID: app.ID, Content: "a note with " + embedder.poison},
		{AppID: app.ID, Content: "another healthy note " + randomToken()}}
	created, err := mem.CreateMemories(wctx, batch) // one transaction: one claim takes them together
	storetest.RequireNoError(t, err)
	ids := []uuid.UUID{created[0].ID, created[1].ID, created[2].ID}
	go func() { defer close(done); _ = ix.Run(ctx) }()

	vectorState := func() map[uuid.UUID]stores.IndexStatus {
		status, err := s.backends.IndexStatus.IndexStatus(tenant).IndexStatuses(wctx, ids)
		storetest.RequireNoError(t, err)
		out := map[uuid.UUID]stores.IndexStatus{}
		for id, st := range status {
			for _, one := range st {
				if one.Index == stores.IndexVector {
					out[id] = one
				}
			}
		}
		return out
	}
	storetest.Eventually(t, 30*time.Second, "the bad vector parked, its neighbours indexed", func() bool {
		got := vectorState()
		return got[ids[0]].State == stores.IndexIndexed && got[ids[1]].State == stores.IndexFailed && got[ids[2]].State == stores.IndexIndexed
	})
	parked := func() stores.OutboxEntry {
		t.Helper()
		pending, err := s.outbox.Pending(wctx, tenant.OrgID, ids[1:2])
		storetest.RequireNoError(t, err)
		for _, e := range pending[ids[1]] {
			if e.Index == stores.IndexVector {
				return e
			}
		}
		t.Fatalf("no vector entry left for the bad memory: %+v", pending)
		return stores.OutboxEntry{}
	}
	bad := parked()
	if bad.ParkedAt == nil || !strings.Contains(bad.LastError, "dimension") {
		t.Fatalf("the bad entry: %+v, want it parked with a reason about the dimension", bad)
	}
	t.Logf("parked with the reason %q", bad.LastError)
	// Parked means no longer retried: once a later memory's vector is
	// indexed (the lane claimed again), the parked entry's attempts are
	// where they were.
	later, err := mem.CreateMemory(wctx, stores.NewMemory{AppID: app.ID, Content: "a later note " + randomToken()})
	storetest.RequireNoError(t, err)
	ix.Wake()
	storetest.Eventually(t, 30*time.Second, "a later memory's vector indexed", func() bool {
		status, err := s.backends.IndexStatus.IndexStatus(tenant).IndexStatuses(wctx, []uuid.UUID{later.ID})
		storetest.RequireNoError(t, err)
		for _, st := range status[later.ID] {
			if st.Index == stores.IndexVector {
				return st.State == stores.IndexIndexed
			}
		}
		return false
	})
	if again := parked(); again.Attempts != bad.Attempts || again.ParkedAt == nil {
		t.Fatalf("a parked entry was attempted again: %+v, was %+v", again, bad)
	}

	embedder.corrupt.Store(false) // the operator fixed the embedding server
	n, err := s.outbox.Retry(wctx, []uuid.UUID{tenant.OrgID})
	storetest.RequireNoError(t, err)
	if n != 1 {
		t.Fatalf("Retry re-queued %d entries, want 1", n)
	}
	ix.Wake()
	storetest.Eventually(t, 30*time.Second, "the re-queued vector indexed", func() bool {
		got := vectorState()
		return got[ids[1]].State == stores.IndexIndexed && got[ids[1]].Version == 1
	})
}
