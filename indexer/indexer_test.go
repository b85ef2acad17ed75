package indexer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
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
	backends      stores.Backends
	outbox        *postgres.Outbox
	search, vecs  *storetest.Proxy
	embedder      *embeddings.OpenAI
	searchTimeout time.Duration
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
	s.embedder, err = embeddings.NewOpenAI(ctx, embeddings.Config{URL: embURL, Model: "all-MiniLM-L6-v2"})
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

// TestIndexerLosesNothingWhileAnIndexIsDown writes memories while one derived
// index is unreachable, brings it back, and checks that every acknowledged
// change becomes searchable once, as it was last written.
func TestIndexerLosesNothingWhileAnIndexIsDown(t *testing.T) {
	s := openRealStack(t)
	tenants := []stores.Tenant{storetest.NewTenant(), storetest.NewTenant()}
	// Dedicated to the test's organisations, so other tests' entries in the
	// shared outbox neither slow it down nor get taken from them.
	ix := indexer.New(s.outbox, s.backends, indexer.Options{
		Poll: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, MaxAttempts: 1000, Embedder: s.embedder,
		Orgs: []uuid.UUID{tenants[0].OrgID, tenants[1].OrgID},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	for i, outage := range []struct {
		name  string
		proxy *storetest.Proxy
	}{{"OpenSearch", s.search}, {"Qdrant", s.vecs}} {
		t.Run("with "+outage.name+" down, every acknowledged write is searchable after it returns", func(t *testing.T) {
			tenant := tenants[i]
			mem := s.backends.Memories.Memories(tenant)
			wctx := storetest.Ctx(t)
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
			restored := time.Now()
			outage.proxy.Restore()
			ix.Wake()

			fullText := s.backends.FullText.FullText(tenant)
			vectors := s.backends.Vectors.Vectors(tenant)
			searchable := func(i int) bool {
				page, err := fullText.Search(wctx, stores.SearchQuery{Text: tokens[i]}, stores.PageArgs{First: 5})
				if err != nil {
					return false
				}
				deleted := i >= n-2
				if deleted {
					return len(page.Items) == 0
				}
				return len(page.Items) == 1 && *page.Items[0].Document.MemoryID == ids[i]
			}
			storetest.Eventually(t, 60*time.Second, "every change searchable in full text", func() bool {
				for i := range n {
					if !searchable(i) {
						return false
					}
				}
				return true
			})
			storetest.Eventually(t, 60*time.Second, "every live memory's vector stored, deleted ones gone", func() bool {
				for i := range n {
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
					if want := map[bool]int{true: 0, false: 1}[i >= n-2]; count != want {
						return false
					}
				}
				return true
			})
			t.Logf("%s outage: all %d changes searchable %s after it came back", outage.name, n+5, time.Since(restored).Round(time.Millisecond))
		})
	}
}
