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

// stall holds the first write through it until released: the replica that
// read a memory and then stalled (a GC pause, a slow network) before
// writing what it read.
type stall struct {
	reached, release chan struct{}
	once             sync.Once
	test             context.Context // ends the wait should the test end first
}

func newStall(test context.Context) *stall {
	return &stall{reached: make(chan struct{}), release: make(chan struct{}), test: test}
}

func (s *stall) wait() {
	first := false
	s.once.Do(func() { first = true; close(s.reached) })
	if first {
		select {
		case <-s.release:
		case <-s.test.Done():
		}
	}
}

// written reports, once, that a write of one memory at one version (a
// document or a point, live or deleted) went through.
type written struct {
	memory  uuid.UUID
	version int64
	done    chan struct{}
	once    sync.Once
}

func newWritten(memory uuid.UUID, version int64) *written {
	return &written{memory: memory, version: version, done: make(chan struct{})}
}

func (w *written) saw(memory *uuid.UUID, version int64) {
	if memory != nil && *memory == w.memory && version == w.version {
		w.once.Do(func() { close(w.done) })
	}
}

// hooked wraps the derived stores of an indexer: before each write it waits
// on a stall (nil: none), after each successful one it reports what it wrote.
type hooked struct {
	stores.Backends
	fullTextStall, vectorStall *stall
	fullTextSeen, vectorSeen   *written
}

func (h hooked) backends() stores.Backends {
	b := h.Backends
	b.FullText, b.Vectors = hookedFullText{h.FullText, h}, hookedVectors{h.Vectors, h}
	return b
}

type hookedFullText struct {
	stores.FullTextBackend
	h hooked
}

func (b hookedFullText) FullText(t stores.Tenant) stores.FullTextStore {
	return hookedFullTextStore{b.FullTextBackend.FullText(t), b.h}
}

type hookedFullTextStore struct {
	stores.FullTextStore
	h hooked
}

func (s hookedFullTextStore) IndexDocuments(ctx context.Context, docs []stores.Document) error {
	if s.h.fullTextStall != nil {
		s.h.fullTextStall.wait()
	}
	err := s.FullTextStore.IndexDocuments(ctx, docs)
	if err == nil && s.h.fullTextSeen != nil {
		for _, d := range docs {
			s.h.fullTextSeen.saw(d.MemoryID, d.Version)
		}
	}
	return err
}

type hookedVectors struct {
	stores.VectorBackend
	h hooked
}

func (b hookedVectors) Vectors(t stores.Tenant) stores.VectorStore {
	return hookedVectorStore{b.VectorBackend.Vectors(t), b.h}
}

type hookedVectorStore struct {
	stores.VectorStore
	h hooked
}

func (s hookedVectorStore) UpsertVectors(ctx context.Context, model string, points []stores.VectorPoint) error {
	if s.h.vectorStall != nil {
		s.h.vectorStall.wait()
	}
	err := s.VectorStore.UpsertVectors(ctx, model, points)
	if err == nil && s.h.vectorSeen != nil {
		for _, p := range points {
			s.h.vectorSeen.saw(p.MemoryID, p.Version)
		}
	}
	return err
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
		lease  time.Duration // A's lease; a short one may expire while A stalls
	}{
		{"an update while A holds its lease", false, 30 * time.Second},
		{"an update while A's lease may expire", false, 200 * time.Millisecond},
		{"a delete while A holds its lease", true, 30 * time.Second},
	} {
		t.Run(race.name, func(t *testing.T) {
			tenant := storetest.NewTenant()
			ctx := storetest.Ctx(t)
			mem := s.backends.Memories.Memories(tenant)
			app, err := mem.CreateApp(ctx, "race", "")
			storetest.RequireNoError(t, err)
			v1Token, v2Token := "tok"+randomToken(), "tok"+randomToken()
			v1 := "first draft " + v1Token + " of the rollout plan"
			v2 := "second draft " + v2Token + " of the rollout plan"
			m, err := mem.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: v1})
			storetest.RequireNoError(t, err)

			// A reads version 1 and is held at its first write to each index.
			stalled := hooked{Backends: s.backends, fullTextStall: newStall(ctx), vectorStall: newStall(ctx)}
			a := indexer.New(s.outbox, stalled.backends(), indexer.Options{
				Embedder: s.embedder, Orgs: []uuid.UUID{tenant.OrgID}, Lease: race.lease, Poll: 50 * time.Millisecond,
			})
			aCtx, stopA := context.WithCancel(ctx)
			aDone := make(chan error, 1)
			go func() { aDone <- a.Run(aCtx) }()
			// Each index has a lane of its own: A is held at both writes.
			for _, held := range []*stall{stalled.fullTextStall, stalled.vectorStall} {
				select {
				case <-held.reached:
				case err := <-aDone:
					t.Fatalf("A stopped before writing: %v", err)
				case <-ctx.Done():
					t.Fatal("A never reached its write")
				}
			}
			// A claims nothing more; its write in flight stays held.
			stopA()

			if race.delete {
				_, err = mem.DeleteMemory(ctx, m.ID, &m.Version)
			} else {
				_, err = mem.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: m.Version, Content: &v2})
			}
			storetest.RequireNoError(t, err)

			// B indexes version 2 in both indexes while A is held.
			watched := hooked{Backends: s.backends, fullTextSeen: newWritten(m.ID, 2), vectorSeen: newWritten(m.ID, 2)}
			b := indexer.New(s.outbox, watched.backends(), indexer.Options{
				Embedder: s.embedder, Orgs: []uuid.UUID{tenant.OrgID}, Poll: 50 * time.Millisecond,
			})
			bCtx, stopB := context.WithCancel(ctx)
			bDone := make(chan error, 1)
			go func() { bDone <- b.Run(bCtx) }()
			t.Cleanup(func() {
				stopB()
				if err := <-bDone; err != nil {
					t.Errorf("B: %v", err)
				}
			})
			for _, seen := range []*written{watched.fullTextSeen, watched.vectorSeen} {
				select {
				case <-seen.done:
				case <-ctx.Done():
					t.Fatal("B never wrote version 2")
				}
			}

			// A wakes up and writes what it read: version 1.
			close(stalled.fullTextStall.release)
			close(stalled.vectorStall.release)
			storetest.RequireNoError(t, <-aDone)

			status := s.backends.IndexStatus.IndexStatus(tenant)
			storetest.Eventually(t, 20*time.Second, "both indexes reported INDEXED at version 2", func() bool {
				statuses, err := status.IndexStatuses(ctx, []uuid.UUID{m.ID})
				storetest.RequireNoError(t, err)
				indexed := 0
				for _, st := range statuses[m.ID] {
					if st.State == stores.IndexIndexed && st.Version == 2 {
						indexed++
					}
				}
				return indexed == 2 && len(statuses[m.ID]) == 2
			})

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
			if race.delete {
				if n, _ := points(v1); n != 0 {
					t.Fatalf("the stalled indexer's version 1 undid the delete in Qdrant (%d points)", n)
				}
				return
			}
			if n := docs(v2Token); n != 1 {
				t.Fatalf("version 2 in full text: %d documents, want 1", n)
			}
			if n, score := points(v2); n != 1 || score < 0.999 {
				t.Fatalf("Qdrant holds %d points of the memory, best score %.4f against version 2's embedding: want version 2 alone", n, score)
			}
		})
	}
}
