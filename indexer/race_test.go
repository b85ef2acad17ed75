package indexer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// stall holds the first full-text write through it until released: the
// replica that read a memory and then stalled (a GC pause, a slow network)
// before writing what it read.
type stall struct {
	reached, release chan struct{}
	once             sync.Once
}

func newStall() *stall { return &stall{reached: make(chan struct{}), release: make(chan struct{})} }

func (s *stall) wait(ctx context.Context) {
	first := false
	s.once.Do(func() { first = true; close(s.reached) })
	if first {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
}

type stalledFullText struct {
	stores.FullTextBackend
	stall *stall
}

func (b stalledFullText) FullText(t stores.Tenant) stores.FullTextStore {
	return stalledFullTextStore{b.FullTextBackend.FullText(t), b.stall}
}

type stalledFullTextStore struct {
	stores.FullTextStore
	stall *stall
}

func (s stalledFullTextStore) IndexDocuments(ctx context.Context, docs []stores.Document) error {
	s.stall.wait(ctx)
	return s.FullTextStore.IndexDocuments(ctx, docs)
}

// TestRacingIndexersNeverIndexAnOlderVersion runs two indexers on one
// memory, on PostgreSQL, OpenSearch, Qdrant and the embedding server:
// indexer A reads version 1 and stalls before writing it; meanwhile the
// memory changes (or is deleted) and indexer B indexes version 2; then A
// wakes up and writes version 1 to both indexes. Both must still hold
// version 2 (or nothing after the delete), and the status must say so.
func TestRacingIndexersNeverIndexAnOlderVersion(t *testing.T) {
	s := openRealStack(t)
	for _, race := range []struct {
		name   string
		delete bool
		lease  time.Duration // A's lease; a short one expires while A stalls
	}{
		{"an update while A holds its lease", false, 30 * time.Second},
		{"an update after A's lease expired and B took A's entry too", false, 200 * time.Millisecond},
		{"a delete while A holds its lease", true, 30 * time.Second},
	} {
		t.Run(race.name, func(t *testing.T) {
			tenant := storetest.NewTenant()
			ctx := storetest.Ctx(t)
			gate := newStall()
			stalled := s.backends
			stalled.FullText = stalledFullText{s.backends.FullText, gate}
			opts := indexer.Options{Embedder: s.embedder, Orgs: []uuid.UUID{tenant.OrgID}, Lease: race.lease}
			a := indexer.New(s.outbox, stalled, opts)
			opts.Lease = 0
			b := indexer.New(s.outbox, s.backends, opts)

			mem := s.backends.Memories.Memories(tenant)
			app, err := mem.CreateApp(ctx, "race", "")
			storetest.RequireNoError(t, err)
			v1Token, v2Token := "tok"+randomToken(), "tok"+randomToken()
			v1 := "first draft " + v1Token + " of the rollout plan"
			m, err := mem.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: v1})
			storetest.RequireNoError(t, err)

			aDone := make(chan error, 1)
			go func() {
				n, err := a.Pass(ctx)
				if err == nil && n != 1 {
					t.Errorf("A claimed %d entries, want the create", n)
				}
				aDone <- err
			}()
			select {
			case <-gate.reached:
			case err := <-aDone:
				t.Fatalf("A finished without writing: %v", err)
			case <-ctx.Done():
				t.Fatal("A never reached its write")
			}

			v2 := "second draft " + v2Token + " of the rollout plan"
			if race.delete {
				_, err = mem.DeleteMemory(ctx, m.ID, &m.Version)
			} else {
				_, err = mem.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: m.Version, Content: &v2})
			}
			storetest.RequireNoError(t, err)
			// B drains what it can claim: the change, and A's entry once
			// A's lease has expired.
			want := 1
			if race.lease < time.Second {
				want = 2
			}
			claimed := 0
			storetest.Eventually(t, 30*time.Second, "B indexing the newer version", func() bool {
				n, err := b.Pass(ctx)
				storetest.RequireNoError(t, err)
				claimed += n
				return claimed >= want
			})
			close(gate.release)
			storetest.RequireNoError(t, <-aDone)

			docs := func(token string) int {
				page, err := s.backends.FullText.FullText(tenant).Search(ctx, stores.SearchQuery{Text: token}, stores.PageArgs{First: 10})
				storetest.RequireNoError(t, err)
				return len(page.Items)
			}
			// points returns how many points of the memory a search for
			// content finds, and the best score among them.
			points := func(content string) (int, float64) {
				vec, err := s.embedder.Embed(ctx, []string{content})
				storetest.RequireNoError(t, err)
				hits, err := s.backends.Vectors.Vectors(tenant).SearchVectors(ctx, s.embedder.Model(), vec[0], nil, 10)
				storetest.RequireNoError(t, err)
				n, best := 0, 0.0
				for _, h := range hits {
					if h.MemoryID != nil && *h.MemoryID == m.ID {
						n, best = n+1, max(best, h.Score)
					}
				}
				return n, best
			}
			if n := docs(v1Token); n != 0 {
				t.Fatalf("the stalled indexer's version 1 is back in full text (%d documents)", n)
			}
			statuses, err := s.backends.IndexStatus.IndexStatus(tenant).IndexStatuses(ctx, []uuid.UUID{m.ID})
			storetest.RequireNoError(t, err)
			if race.delete {
				if n, _ := points(v1); n != 0 {
					t.Fatalf("the stalled indexer's version 1 undid the delete in Qdrant (%d points)", n)
				}
			} else {
				if n := docs(v2Token); n != 1 {
					t.Fatalf("version 2 in full text: %d documents, want 1", n)
				}
				if n, score := points(v2); n != 1 || score < 0.999 {
					t.Fatalf("Qdrant holds %d points of the memory, best score %.4f against version 2's embedding: want version 2 alone", n, score)
				}
			}
			if len(statuses[m.ID]) != 2 {
				t.Fatalf("status %+v, want both indexes", statuses[m.ID])
			}
			for _, st := range statuses[m.ID] {
				if st.State != stores.IndexIndexed || st.Version != 2 {
					t.Fatalf("status %+v, want INDEXED at version 2", st)
				}
			}
		})
	}
}
