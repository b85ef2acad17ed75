package embedded

import (
	"context"
	"encoding/base64"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestMemoriesContract(t *testing.T) {
	storetest.RunMemories(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{Memories: NewMemoryBackend(clock.Now, NewFullTextBackend(clock.Now))},
			Advance:  clock.Advance,
		}
	})
}

// recordingIndex is a FullTextBackend that remembers what it was asked, per org.
type recordingIndex struct {
	mu   sync.Mutex
	docs map[uuid.UUID]map[string]stores.Document
}

func newRecordingIndex() *recordingIndex {
	return &recordingIndex{docs: make(map[uuid.UUID]map[string]stores.Document)}
}

func (r *recordingIndex) FullText(t stores.Tenant) stores.FullTextStore {
	return recordingIndexStore{r: r, org: t.OrgID}
}

func (r *recordingIndex) doc(org uuid.UUID, id uuid.UUID) (stores.Document, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.docs[org][id.String()]
	return d, ok
}

type recordingIndexStore struct {
	r   *recordingIndex
	org uuid.UUID
}

func (s recordingIndexStore) IndexDocuments(_ context.Context, docs []stores.Document) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.docs[s.org] == nil {
		s.r.docs[s.org] = make(map[string]stores.Document)
	}
	for _, d := range docs {
		s.r.docs[s.org][d.ID] = d
	}
	return nil
}

func (s recordingIndexStore) DeleteDocuments(_ context.Context, ids []string) (int, error) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if _, ok := s.r.docs[s.org][id]; ok {
			delete(s.r.docs[s.org], id)
			n++
		}
	}
	return n, nil
}

func (recordingIndexStore) Search(context.Context, stores.SearchQuery, stores.PageArgs) (stores.Page[stores.SearchHit], error) {
	return stores.Page[stores.SearchHit]{}, nil
}

func (recordingIndexStore) CountSearchHits(context.Context, stores.SearchQuery) (int, error) {
	return 0, nil
}

func TestMemoriesMirrorIntoTheFullTextIndex(t *testing.T) {
	clock := storetest.NewManualClock()
	index := newRecordingIndex()
	tenant := storetest.NewTenant()
	st := NewMemoryBackend(clock.Now, index).Memories(tenant)
	ctx := storetest.Ctx(t)
	app, err := st.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)

	m, err := st.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "prefer table tests", Categories: []string{"testing", "go"}})
	storetest.RequireNoError(t, err)
	doc, ok := index.doc(tenant.OrgID, m.ID)
	if !ok || doc.MemoryID == nil || *doc.MemoryID != m.ID || doc.Body != "prefer table tests" ||
		!slices.Equal(doc.Tags, []string{"go", "testing"}) || !doc.CreatedAt.Equal(m.CreatedAt) {
		t.Fatalf("indexed document %+v (present: %v)", doc, ok)
	}

	clock.Advance(time.Minute)
	m, err = st.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("prefer table-driven tests"), Categories: []string{}})
	storetest.RequireNoError(t, err)
	doc, _ = index.doc(tenant.OrgID, m.ID)
	if doc.Body != "prefer table-driven tests" || doc.Tags == nil || len(doc.Tags) != 0 || !doc.CreatedAt.Equal(m.CreatedAt) {
		t.Fatalf("re-indexed document %+v", doc)
	}

	// A refused update leaves the document alone.
	_, err = st.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("stale")})
	storetest.RequireKind(t, err, stores.ErrConflict)
	if doc, _ = index.doc(tenant.OrgID, m.ID); doc.Body != "prefer table-driven tests" {
		t.Fatalf("a refused update re-indexed %+v", doc)
	}

	_, err = st.SetMemoryState(ctx, m.ID, stores.MemoryArchived, nil)
	storetest.RequireNoError(t, err)
	if _, ok := index.doc(tenant.OrgID, m.ID); !ok {
		t.Fatal("an archived memory left the index")
	}
	_, err = st.DeleteMemory(ctx, m.ID, nil)
	storetest.RequireNoError(t, err)
	if _, ok := index.doc(tenant.OrgID, m.ID); ok {
		t.Fatal("a deleted memory is still indexed")
	}
	if len(index.docs) != 1 {
		t.Fatalf("documents were indexed for %d orgs, want only the memory's", len(index.docs))
	}
}

func TestMemoriesBecomeSearchable(t *testing.T) {
	clock := storetest.NewManualClock()
	fullText := NewFullTextBackend(clock.Now)
	memories := NewMemoryBackend(clock.Now, fullText)
	tenant := storetest.NewTenant()
	st := memories.Memories(tenant)
	ctx := storetest.Ctx(t)
	app, err := st.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)
	m, err := st.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "the gateway speaks graphql", Categories: []string{"api"}})
	storetest.RequireNoError(t, err)

	search := func(st stores.FullTextStore) []stores.SearchHit {
		t.Helper()
		page, err := st.Search(ctx, stores.SearchQuery{Text: "graphql", Tags: []string{"api"}}, stores.PageArgs{First: 10})
		storetest.RequireNoError(t, err)
		return page.Items
	}
	hits := search(fullText.FullText(tenant))
	if len(hits) != 1 || hits[0].Document.MemoryID == nil || *hits[0].Document.MemoryID != m.ID {
		t.Fatalf("hits %+v, want the memory", hits)
	}
	if other := search(fullText.FullText(storetest.NewTenant())); len(other) != 0 {
		t.Fatalf("another org finds %+v", other)
	}
	_, err = st.DeleteMemory(ctx, m.ID, nil)
	storetest.RequireNoError(t, err)
	if hits := search(fullText.FullText(tenant)); len(hits) != 0 {
		t.Fatalf("a deleted memory is still found: %+v", hits)
	}
}

func TestMemoriesRefuseWhatPostgreSQLCannotStore(t *testing.T) {
	st := NewMemoryBackend(nil, nil).Memories(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	app, err := st.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)
	for name, in := range map[string]stores.NewMemory{
		"NUL in the content":                {AppID: app.ID, Content: "a\x00b"},
		"NUL in the metadata":               {AppID: app.ID, Content: "x", Metadata: map[string]any{"k": "a\x00b"}},
		"a control character in a category": {AppID: app.ID, Content: "x", Categories: []string{"a\nb"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := st.CreateMemory(ctx, in)
			storetest.RequireKind(t, err, stores.ErrInvalid)
		})
	}
}

func TestMemoryFiltersRefuseTextPostgreSQLCannotCarry(t *testing.T) {
	st := NewMemoryBackend(nil, nil).Memories(storetest.NewTenant())
	for _, text := range []string{"\xff", "a\x00"} {
		_, err := st.ListMemories(storetest.Ctx(t), stores.MemoryFilter{TextContains: text}, stores.PageArgs{First: 1})
		storetest.RequireKind(t, err, stores.ErrInvalid)
	}
}

func TestMemoriesKeepTimeLikePostgreSQL(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("x", 3600))
	st := NewMemoryBackend(func() time.Time { return at }, nil).Memories(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	app, err := st.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)
	m, err := st.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "x", Metadata: map[string]any{"n": 3, "s": struct{ A int }{A: 1}}})
	storetest.RequireNoError(t, err)
	want := time.Date(2026, 3, 4, 4, 6, 7, 123456000, time.UTC)
	if m.CreatedAt != want || app.CreatedAt != want {
		t.Fatalf("created at %v / %v, want %v", m.CreatedAt, app.CreatedAt, want)
	}
	// Metadata comes back as a JSON column would give it.
	if m.Metadata["n"] != 3.0 || m.Metadata["s"].(map[string]any)["A"] != 1.0 {
		t.Fatalf("metadata %#v", m.Metadata)
	}
}

func TestMemoryCursorsAreTypeChecked(t *testing.T) {
	st := NewMemoryBackend(nil, nil).Memories(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	for _, name := range []string{"a", "b", "c"} {
		_, err := st.CreateApp(ctx, name, "")
		storetest.RequireNoError(t, err)
	}
	apps, err := st.ListApps(ctx, stores.PageArgs{First: 1})
	storetest.RequireNoError(t, err)
	_, err = st.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 1, After: apps.Cursors[0]})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	next, err := st.ListApps(ctx, stores.PageArgs{First: 1, After: apps.Cursors[0]})
	storetest.RequireNoError(t, err)
	if len(next.Items) != 1 || next.Items[0].Name != "b" {
		t.Fatalf("next page %+v", next.Items)
	}
	for _, bad := range []string{"dA", base64.RawURLEncoding.EncodeToString([]byte("t|" + uuid.NewString() + "|soon")), base64.RawURLEncoding.EncodeToString([]byte("n|" + uuid.NewString() + "|\xff"))} {
		_, err = st.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 1, After: bad})
		storetest.RequireKind(t, err, stores.ErrInvalid)
		_, err = st.ListCategories(ctx, stores.PageArgs{First: 1, After: bad})
		storetest.RequireKind(t, err, stores.ErrInvalid)
	}
}

func TestMemoriesRaceOnOneVersion(t *testing.T) {
	st := NewMemoryBackend(nil, NewFullTextBackend(nil)).Memories(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	app, err := st.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)
	m, err := st.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "contended"})
	storetest.RequireNoError(t, err)
	const writers = 16
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			_, err := st.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new(string(rune('a' + i)))})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		if err == nil {
			won++
		} else {
			storetest.RequireKind(t, err, stores.ErrConflict)
		}
	}
	got, err := st.Memory(ctx, m.ID)
	storetest.RequireNoError(t, err)
	if won != 1 || got.Version != 2 {
		t.Fatalf("%d writers won, version %d; want exactly one winner at version 2", won, got.Version)
	}
}

func TestMemoryStoreRefusesAnIncompleteTenant(t *testing.T) {
	st := NewMemoryBackend(nil, nil).Memories(stores.Tenant{OrgID: uuid.New()})
	_, err := st.CreateApp(storetest.Ctx(t), "editor", "")
	storetest.RequireKind(t, err, stores.ErrInvalid)
	_, err = st.ListMemories(storetest.Ctx(t), stores.MemoryFilter{}, stores.PageArgs{First: 1})
	storetest.RequireKind(t, err, stores.ErrInvalid)
}
