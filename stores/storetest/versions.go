package storetest

import (
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// runVersionedDocuments checks that versioned writes of a document are
// ordered by version whatever order they arrive in: the newer wins, an older
// one arriving later is ignored, a delete is never undone by a late write,
// and writing the same version again changes nothing.
func runVersionedDocuments(t *testing.T, newHarness NewHarness) {
	setup := func(t *testing.T) (stores.FullTextStore, stores.Tenant, Harness) {
		t.Helper()
		tenant := NewTenant()
		h := newHarness(t)
		return h.Bundle(t, tenant).FullText, tenant, h
	}
	memory := func(id uuid.UUID, version int64, body string) stores.Document {
		m := id
		return stores.Document{ID: id.String(), MemoryID: &m, Body: body, Version: version}
	}
	found := func(t *testing.T, st stores.FullTextStore, word string) string {
		t.Helper()
		return fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: word}))
	}

	t.Run("versioned documents: the newer version wins, an older one arriving later is ignored", func(t *testing.T) {
		st, _, _ := setup(t)
		id := uuid.New()
		fullTextIndex(t, st, memory(id, 1, "apricot"))
		fullTextIndex(t, st, memory(id, 2, "blueberry"))
		fullTextIndex(t, st, memory(id, 1, "apricot")) // the stalled writer of v1
		if got := found(t, st, "apricot"); got != "" {
			t.Fatalf("a late v1 replaced v2: apricot found %q", got)
		}
		if got := found(t, st, "blueberry"); got != id.String() {
			t.Fatalf("v2 is gone: blueberry found %q", got)
		}
		// The same version again is harmless, and so is a batch mixing them.
		fullTextIndex(t, st, memory(id, 2, "blueberry"), memory(uuid.New(), 1, "cherry"))
		if got := found(t, st, "blueberry"); got != id.String() {
			t.Fatalf("rewriting v2 lost it: blueberry found %q", got)
		}
		fullTextIndex(t, st, memory(id, 3, "damson"))
		if got := found(t, st, "blueberry damson"); got != id.String() {
			t.Fatalf("v3 over v2: found %q", got)
		}
		fullTextRequireCount(t, st, stores.SearchQuery{Text: "blueberry"}, 0)
		if hits := fullTextSearch(t, st, stores.SearchQuery{Text: "damson"}); len(hits) != 1 || hits[0].Document.Version != 3 {
			t.Fatalf("a hit of v3: %+v, want its version", hits)
		}
	})

	t.Run("versioned documents: a delete is never undone by a late write of an older version", func(t *testing.T) {
		st, _, _ := setup(t)
		id := uuid.New()
		fullTextIndex(t, st, memory(id, 1, "elderberry"))
		tombstone := memory(id, 2, "")
		tombstone.Deleted = true
		fullTextIndex(t, st, tombstone)
		fullTextIndex(t, st, memory(id, 1, "elderberry"))
		if got := found(t, st, "elderberry"); got != "" {
			t.Fatalf("a late v1 undid the delete at v2: found %q", got)
		}
		// Also when the delete comes first, before any write reached the index.
		other := uuid.New()
		gone := memory(other, 3, "")
		gone.Deleted = true
		fullTextIndex(t, st, gone, gone)
		fullTextIndex(t, st, memory(other, 2, "elderberry fig"), memory(other, 3, "elderberry fig"))
		if got := found(t, st, "elderberry fig"); got != "" {
			t.Fatalf("writes at or below a delete's version came back: found %q", got)
		}
		// A newer version (a restored memory) is indexed again.
		fullTextIndex(t, st, memory(id, 4, "fig"))
		if got := found(t, st, "fig elderberry"); got != id.String() {
			t.Fatalf("v4 after the delete at v2: found %q", got)
		}
		n, err := st.DeleteDocuments(Ctx(t), []string{other.String()})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("deleting a deleted document counted %d", n)
		}
		fullTextRequireCount(t, st, stores.SearchQuery{Text: "elderberry"}, 0)
	})

	t.Run("versioned documents: a late write of an older visibility does not bring the document back", func(t *testing.T) {
		st, tenant, h := setup(t)
		id := uuid.New()
		private := memory(id, 1, "grape")
		private.AuthorID, private.Visibility = tenant.UserID, stores.VisibilityPrivate
		shared := memory(id, 2, "guava")
		shared.AuthorID, shared.Visibility = tenant.UserID, stores.VisibilityOrg
		fullTextIndex(t, st, shared)
		fullTextIndex(t, st, private) // late v1, in the author's own space
		if got := found(t, st, "grape guava"); got != id.String() {
			t.Fatalf("want v2 once, found %q", got)
		}
		if got := found(t, st, "grape"); got != "" {
			t.Fatalf("a late private v1 came back beside v2: grape found %q", got)
		}

		// The other way round: a memory made PRIVATE at v2 must not leak
		// to the org through a late write of its ORG v1.
		id = uuid.New()
		colleague := h.Bundle(t, SameOrgOtherUser(tenant)).FullText
		private, shared = memory(id, 2, "kiwi"), memory(id, 1, "kiwi")
		private.AuthorID, private.Visibility = tenant.UserID, stores.VisibilityPrivate
		shared.AuthorID, shared.Visibility = tenant.UserID, stores.VisibilityOrg
		fullTextIndex(t, st, private)
		fullTextIndex(t, st, shared)
		if got := found(t, colleague, "kiwi"); got != "" {
			t.Fatalf("a late ORG v1 leaked the private v2 to a colleague: found %q", got)
		}
		if got := found(t, st, "kiwi"); got != id.String() {
			t.Fatalf("the author finds %q, want the private v2 once", got)
		}
	})

	t.Run("versioned documents: the first versioned write replaces an unversioned document, however often it was written", func(t *testing.T) {
		st, _, _ := setup(t)
		id := uuid.New()
		for range 6 { // written before versions existed, retried or rebuilt
			fullTextIndex(t, st, memory(id, 0, "lemon"))
		}
		fullTextIndex(t, st, memory(id, 1, "lime"))
		if got := found(t, st, "lemon lime"); got != id.String() || found(t, st, "lemon") != "" {
			t.Fatalf("v1 over an unversioned document: lime found %q, lemon %q", got, found(t, st, "lemon"))
		}
	})

	t.Run("versioned documents: a versioned delete needs a version", func(t *testing.T) {
		st, _, _ := setup(t)
		d := memory(uuid.New(), 0, "")
		d.Deleted = true
		RequireKind(t, st.IndexDocuments(Ctx(t), []stores.Document{d}), stores.ErrInvalid)
		d.Version = -1
		RequireKind(t, st.IndexDocuments(Ctx(t), []stores.Document{d}), stores.ErrInvalid)
	})
}

// runVersionedVectors checks versioned points as runVersionedDocuments
// checks documents.
func runVersionedVectors(t *testing.T, newHarness NewHarness) {
	setup := func(t *testing.T) (stores.VectorStore, stores.Tenant, string, Harness) {
		t.Helper()
		tenant := NewTenant()
		h := newHarness(t)
		return h.Bundle(t, tenant).Vectors, tenant, vectorModel(), h
	}
	point := func(id uuid.UUID, version int64, v ...float32) stores.VectorPoint {
		m := id
		return stores.VectorPoint{ID: id, MemoryID: &m, Vector: v, Version: version, Payload: map[string]any{"v": version}}
	}
	// nearest returns the ids and versions (from the payload) of every point.
	nearest := func(t *testing.T, st stores.VectorStore, model string) []stores.VectorHit {
		t.Helper()
		hits, err := st.SearchVectors(Ctx(t), model, []float32{1, 1}, nil, stores.MaxVectorLimit)
		RequireNoError(t, err)
		return hits
	}
	upsert := func(t *testing.T, st stores.VectorStore, model string, points ...stores.VectorPoint) {
		t.Helper()
		RequireNoError(t, st.UpsertVectors(Ctx(t), model, points))
	}
	version := func(h stores.VectorHit) any { return h.Payload["v"] }

	t.Run("versioned points: the newer version wins, an older one arriving later is ignored", func(t *testing.T) {
		st, _, model, _ := setup(t)
		id := uuid.New()
		upsert(t, st, model, point(id, 1, 1, 0))
		upsert(t, st, model, point(id, 2, 0, 1))
		upsert(t, st, model, point(id, 1, 1, 0))
		hits := nearest(t, st, model)
		if len(hits) != 1 || hits[0].ID != id || version(hits[0]) != int64(2) {
			t.Fatalf("after v1, v2, late v1: %+v, want v2 alone", hits)
		}
		upsert(t, st, model, point(id, 2, 0, 1))
		upsert(t, st, model, point(id, 3, 1, 1))
		hits = nearest(t, st, model)
		if len(hits) != 1 || version(hits[0]) != int64(3) {
			t.Fatalf("after v2 again and v3: %+v, want v3 alone", hits)
		}
	})

	t.Run("versioned points: a delete is never undone by a late write of an older version", func(t *testing.T) {
		st, _, model, _ := setup(t)
		id, later := uuid.New(), uuid.New()
		upsert(t, st, model, point(id, 1, 1, 0))
		gone := stores.VectorPoint{ID: id, Version: 2, Deleted: true}
		upsert(t, st, model, gone)
		upsert(t, st, model, point(id, 1, 1, 0))
		// The delete may also come first, and twice.
		goneFirst := stores.VectorPoint{ID: later, Version: 3, Deleted: true}
		upsert(t, st, model, goneFirst, goneFirst)
		upsert(t, st, model, point(later, 3, 0, 1), point(later, 2, 0, 1))
		if hits := nearest(t, st, model); len(hits) != 0 {
			t.Fatalf("deleted points came back: %+v", hits)
		}
		n, err := st.DeleteVectors(Ctx(t), model, []uuid.UUID{id, later})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("deleting deleted points counted %d", n)
		}
		upsert(t, st, model, point(id, 4, 1, 0))
		if hits := nearest(t, st, model); len(hits) != 1 || version(hits[0]) != int64(4) {
			t.Fatalf("v4 after the delete at v2: %+v", hits)
		}
	})

	t.Run("versioned points: the first versioned write replaces an unversioned point", func(t *testing.T) {
		st, _, model, _ := setup(t)
		id := uuid.New()
		upsert(t, st, model, point(id, 0, 1, 0))
		upsert(t, st, model, point(id, 0, 1, 0))
		upsert(t, st, model, point(id, 1, 0, 1))
		if hits := nearest(t, st, model); len(hits) != 1 || version(hits[0]) != int64(1) {
			t.Fatalf("v1 over an unversioned point: %+v", hits)
		}
	})

	t.Run("versioned points: a delete of a model without points writes nothing", func(t *testing.T) {
		st, _, model, _ := setup(t)
		upsert(t, st, model, stores.VectorPoint{ID: uuid.New(), Version: 1, Deleted: true})
		if hits := nearest(t, st, model); len(hits) != 0 {
			t.Fatalf("a delete made points: %+v", hits)
		}
	})

	t.Run("versioned points: a late write of an older visibility does not bring the point back", func(t *testing.T) {
		st, tenant, model, h := setup(t)
		id := uuid.New()
		private := point(id, 1, 1, 0)
		private.AuthorID, private.Visibility = tenant.UserID, stores.VisibilityPrivate
		shared := point(id, 2, 0, 1)
		shared.AuthorID, shared.Visibility = tenant.UserID, stores.VisibilityOrg
		upsert(t, st, model, shared)
		upsert(t, st, model, private)
		if hits := nearest(t, st, model); len(hits) != 1 || version(hits[0]) != int64(2) {
			t.Fatalf("after ORG v2 and a late PRIVATE v1: %+v, want v2 alone", hits)
		}

		// The other way round: a point made PRIVATE at v2 must not leak to
		// the org through a late write of its ORG v1.
		colleague := h.Bundle(t, SameOrgOtherUser(tenant)).Vectors
		id = uuid.New()
		private, shared = point(id, 2, 1, 1), point(id, 1, 1, 1)
		private.AuthorID, private.Visibility = tenant.UserID, stores.VisibilityPrivate
		shared.AuthorID, shared.Visibility = tenant.UserID, stores.VisibilityOrg
		upsert(t, st, model, private)
		upsert(t, st, model, shared)
		for _, h := range nearest(t, colleague, model) {
			if h.ID == id {
				t.Fatalf("a late ORG v1 leaked the private v2 to a colleague: %+v", h)
			}
		}
		if hits := nearest(t, st, model); len(hits) != 2 {
			t.Fatalf("the author finds %+v, want the ORG v2 and the private v2", hits)
		}
	})
}
