package storetest

import (
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// runPrivateMemories checks the per-user visibility of memories: a PRIVATE
// memory is its author's alone, and to every other user of the org (and to
// a missing or malformed one) it is exactly a missing id.
func runPrivateMemories(t *testing.T, newHarness NewHarness) {
	t.Run("new memories are ORG unless asked otherwise; an unknown visibility is refused", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "shared by default")
		if m.Visibility != stores.VisibilityOrg {
			t.Fatalf("default visibility %q, want ORG", m.Visibility)
		}
		p, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "mine", Visibility: stores.VisibilityPrivate})
		RequireNoError(t, err)
		got, err := b.Memories.Memory(ctx, p.ID)
		RequireNoError(t, err)
		if got.Visibility != stores.VisibilityPrivate {
			t.Fatalf("read back visibility %q, want PRIVATE", got.Visibility)
		}
		_, err = b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "x", Visibility: "TEAM"})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Memories.SetMemoryVisibility(ctx, m.ID, "TEAM", nil)
		RequireKind(t, err, stores.ErrInvalid)
		memRequireList(t, b, stores.MemoryFilter{}, memNewestFirst(m, p)...)
	})

	t.Run("another user's private memory is a missing id to every read and write", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		shared := memCreate(t, b, app, "team fact")
		p, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "my note", Categories: []string{"notes"}, Visibility: stores.VisibilityPrivate})
		RequireNoError(t, err)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		one := int64(1)

		_, err = colleague.Memories.Memory(ctx, p.ID)
		RequireKind(t, err, stores.ErrNotFound)
		byID, err := colleague.Memories.MemoriesByID(ctx, []uuid.UUID{p.ID, shared.ID})
		RequireNoError(t, err)
		if _, leaked := byID[p.ID]; leaked || len(byID) != 1 {
			t.Fatalf("a colleague's MemoriesByID = %+v, want only the ORG memory", byID)
		}
		memRequireList(t, colleague, stores.MemoryFilter{}, shared.ID)
		memRequireList(t, colleague, stores.MemoryFilter{TextContains: "note"})
		memRequireList(t, colleague, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryActive, stores.MemoryDeleted}}, shared.ID)
		cats, err := colleague.Memories.CategoriesByMemory(ctx, []uuid.UUID{p.ID})
		RequireNoError(t, err)
		if got := cats[p.ID]; got == nil || len(got) != 0 {
			t.Fatalf("a colleague's CategoriesByMemory = %#v, want an empty slice", cats)
		}
		catPage, err := colleague.Memories.ListCategories(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(catPage.Items) != 1 {
			t.Fatalf("categories are org-wide: got %+v", catPage.Items)
		}
		notes := catPage.Items[0].ID
		memRequireList(t, colleague, stores.MemoryFilter{CategoryID: &notes})
		memRequireList(t, b, stores.MemoryFilter{CategoryID: &notes}, p.ID)

		_, err = colleague.Memories.UpdateMemory(ctx, p.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("stolen")})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = colleague.Memories.SetMemoryState(ctx, p.ID, stores.MemoryArchived, &one)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = colleague.Memories.SetMemoryVisibility(ctx, p.ID, stores.VisibilityOrg, &one)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = colleague.Memories.DeleteMemory(ctx, p.ID, &one)
		RequireKind(t, err, stores.ErrNotFound)

		// The author's memory is untouched, and the author sees both.
		got, err := b.Memories.Memory(ctx, p.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, p)
		memRequireCategories(t, b, p.ID, "notes")
		memRequireList(t, b, stores.MemoryFilter{}, memNewestFirst(shared, p)...)
	})

	t.Run("the author changes visibility as a versioned change; nobody else may", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "to be hidden")
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		one := int64(1)

		_, err := colleague.Memories.SetMemoryVisibility(ctx, m.ID, stores.VisibilityPrivate, &one)
		RequireKind(t, err, stores.ErrConflict)
		_, err = b.Memories.SetMemoryVisibility(ctx, m.ID, stores.VisibilityPrivate, valuePtr(int64(7)))
		RequireKind(t, err, stores.ErrConflict)

		hidden, err := b.Memories.SetMemoryVisibility(ctx, m.ID, stores.VisibilityPrivate, &one)
		RequireNoError(t, err)
		if hidden.Visibility != stores.VisibilityPrivate || hidden.Version != 2 || hidden.Content != m.Content {
			t.Fatalf("hidden memory %+v", hidden)
		}
		_, err = colleague.Memories.Memory(ctx, m.ID)
		RequireKind(t, err, stores.ErrNotFound)
		memRequireList(t, colleague, stores.MemoryFilter{})

		shown, err := b.Memories.SetMemoryVisibility(ctx, m.ID, stores.VisibilityOrg, nil)
		RequireNoError(t, err)
		if shown.Visibility != stores.VisibilityOrg || shown.Version != 3 {
			t.Fatalf("shown memory %+v", shown)
		}
		got, err := colleague.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, shown)

		deleted, err := b.Memories.DeleteMemory(ctx, m.ID, nil)
		RequireNoError(t, err)
		_, err = b.Memories.SetMemoryVisibility(ctx, m.ID, stores.VisibilityPrivate, &deleted.Version)
		RequireKind(t, err, stores.ErrConflict)
	})

	t.Run("a batch keeps each memory's visibility", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		ms, err := b.Memories.CreateMemories(ctx, []stores.NewMemory{
			{AppID: app.ID, Content: "one", Visibility: stores.VisibilityPrivate},
			{AppID: app.ID, Content: "two"},
		})
		RequireNoError(t, err)
		if ms[0].Visibility != stores.VisibilityPrivate || ms[1].Visibility != stores.VisibilityOrg {
			t.Fatalf("batch visibilities %q, %q", ms[0].Visibility, ms[1].Visibility)
		}
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		memRequireList(t, colleague, stores.MemoryFilter{}, ms[1].ID)
	})
}

// runPrivateDocuments checks that a PRIVATE document is found, and counted,
// by its author only, whatever the query.
func runPrivateDocuments(t *testing.T, newHarness NewHarness) {
	t.Run("a private document is found and counted by its author only", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		fullTextIndex(t, author.FullText,
			stores.Document{ID: "mine", Body: "secret deploy key rotation", Tags: []string{"ops"}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityPrivate},
			stores.Document{ID: "ours", Body: "deploy checklist", Tags: []string{"ops"}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityOrg},
			stores.Document{ID: "plain", Body: "deploy notes without an author"},
		)
		q := stores.SearchQuery{Text: "deploy"}
		if got := fullTextSet(fullTextIDs(fullTextSearch(t, author.FullText, q))); len(got) != 3 {
			t.Fatalf("the author found %v, want all three", got)
		}
		if got := fullTextSet(fullTextIDs(fullTextSearch(t, colleague.FullText, q))); len(got) != 2 || got["mine"] {
			t.Fatalf("a colleague found %v, want ours and plain", got)
		}
		fullTextRequireCount(t, colleague.FullText, stores.SearchQuery{Text: "secret rotation"}, 0)
		fullTextRequireCount(t, colleague.FullText, stores.SearchQuery{Text: "deploy", Tags: []string{"ops"}}, 1)
		hits := fullTextSearch(t, author.FullText, stores.SearchQuery{Text: "secret"})
		if len(hits) != 1 || hits[0].Document.AuthorID != author.Tenant.UserID || hits[0].Document.Visibility != stores.VisibilityPrivate {
			t.Fatalf("the author's private hit %+v lost its author or visibility", hits)
		}

		// Made ORG by a reindex, it is found by everyone.
		fullTextIndex(t, author.FullText, stores.Document{ID: "mine", Body: "secret deploy key rotation", AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityOrg})
		fullTextRequireCount(t, colleague.FullText, stores.SearchQuery{Text: "secret"}, 1)
	})

	t.Run("another user's write or delete of a private document's id never reaches it", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		mine := stores.Document{ID: "note", Body: "okapi habitat", AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityPrivate}
		fullTextIndex(t, author.FullText, mine)
		n, err := colleague.FullText.DeleteDocuments(Ctx(t), []string{"note"})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("a colleague deleted %d documents by the private id, want 0 like a missing id", n)
		}
		fullTextIndex(t, colleague.FullText, stores.Document{ID: "note", Body: "okapi stripes"})
		if got := fullTextIDs(fullTextSearch(t, author.FullText, stores.SearchQuery{Text: "okapi habitat"})); got != "note,note" {
			t.Fatalf("the author finds %q, want the private note and the colleague's shared one", got)
		}
		if hits := fullTextSearch(t, colleague.FullText, stores.SearchQuery{Text: "okapi"}); len(hits) != 1 || hits[0].Document.Body != "okapi stripes" {
			t.Fatalf("the colleague finds %+v, want only its own shared note", hits)
		}
		n, err = colleague.FullText.DeleteDocuments(Ctx(t), []string{"note"})
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("the colleague deleted %d documents, want its own shared 1", n)
		}
		fullTextRequireCount(t, author.FullText, stores.SearchQuery{Text: "habitat"}, 1)
	})

	t.Run("a document moves between the author's space and the shared one with its visibility", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		doc := stores.Document{ID: "memo", Body: "quokka census", AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityOrg}
		fullTextIndex(t, author.FullText, doc)
		doc.Visibility = stores.VisibilityPrivate
		fullTextIndex(t, author.FullText, doc)
		fullTextRequireCount(t, author.FullText, stores.SearchQuery{Text: "quokka"}, 1)
		fullTextRequireCount(t, colleague.FullText, stores.SearchQuery{Text: "quokka"}, 0)
		doc.Visibility = stores.VisibilityOrg
		fullTextIndex(t, author.FullText, doc)
		fullTextRequireCount(t, author.FullText, stores.SearchQuery{Text: "quokka"}, 1)
		fullTextRequireCount(t, colleague.FullText, stores.SearchQuery{Text: "quokka"}, 1)
		n, err := author.FullText.DeleteDocuments(Ctx(t), []string{"memo"})
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("deleted %d, want 1", n)
		}
		fullTextRequireCount(t, author.FullText, stores.SearchQuery{Text: "quokka"}, 0)
	})

	t.Run("a private document is its author's own and has a known visibility", func(t *testing.T) {
		b := newHarness(t).Bundle(t, NewTenant())
		st := b.FullText
		err := st.IndexDocuments(Ctx(t), []stores.Document{{ID: "x", Body: "x", Visibility: stores.VisibilityPrivate}})
		RequireKind(t, err, stores.ErrInvalid)
		err = st.IndexDocuments(Ctx(t), []stores.Document{{ID: "x", Body: "x", AuthorID: SameOrgOtherUser(b.Tenant).UserID, Visibility: stores.VisibilityPrivate}})
		RequireKind(t, err, stores.ErrInvalid)
		err = st.IndexDocuments(Ctx(t), []stores.Document{{ID: "x", Body: "x", Visibility: "TEAM"}})
		RequireKind(t, err, stores.ErrInvalid)
	})
}

// runPrivateVectors checks that a PRIVATE point is returned to its author only.
func runPrivateVectors(t *testing.T, newHarness NewHarness) {
	t.Run("a private point is returned to its author only", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		model := vectorModel()
		p := vectorIDs(3)
		RequireNoError(t, author.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{
			{ID: p[0], Vector: []float32{1, 0}, Payload: map[string]any{"source": "memory"}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityPrivate},
			{ID: p[1], Vector: []float32{0.9, 0.1}, Payload: map[string]any{"source": "memory"}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityOrg},
			{ID: p[2], Vector: []float32{0.8, 0.2}},
		}))
		hits, err := author.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if got, want := vectorHitIDs(hits), vectorJoin(p...); got != want {
			t.Fatalf("the author found %s, want %s", got, want)
		}
		hits, err = colleague.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if got, want := vectorHitIDs(hits), vectorJoin(p[1], p[2]); got != want {
			t.Fatalf("a colleague found %s, want %s", got, want)
		}
		hits, err = colleague.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, map[string]any{"source": "memory"}, 10)
		RequireNoError(t, err)
		if got, want := vectorHitIDs(hits), vectorJoin(p[1]); got != want {
			t.Fatalf("a colleague's filtered search found %s, want %s", got, want)
		}
		err = author.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{{ID: p[0], Vector: []float32{1, 0}, Visibility: stores.VisibilityPrivate}})
		RequireKind(t, err, stores.ErrInvalid)
		err = colleague.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{{ID: p[0], Vector: []float32{1, 0}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityPrivate}})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("another user's write or delete of a private point's id never reaches it", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		model := vectorModel()
		id := uuid.New()
		RequireNoError(t, author.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{
			{ID: id, Vector: []float32{1, 0}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityPrivate},
		}))
		n, err := colleague.Vectors.DeleteVectors(Ctx(t), model, []uuid.UUID{id})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("a colleague deleted %d points by the private id, want 0 like a missing id", n)
		}
		RequireNoError(t, colleague.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{{ID: id, Vector: []float32{0, 1}}}))
		hits, err := author.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if len(hits) != 2 || hits[0].ID != id || hits[0].Score < 0.99 {
			t.Fatalf("the author finds %+v, want its private point first and the colleague's beside it", hits)
		}
		hits, err = colleague.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if len(hits) != 1 || hits[0].Score > 0.01 {
			t.Fatalf("the colleague finds %+v, want only its own point", hits)
		}
	})

	t.Run("a point moves between the author's space and the shared one with its visibility", func(t *testing.T) {
		h := newHarness(t)
		author := h.Bundle(t, NewTenant())
		colleague := h.Bundle(t, SameOrgOtherUser(author.Tenant))
		model := vectorModel()
		id := uuid.New()
		point := stores.VectorPoint{ID: id, Vector: []float32{1, 0}, AuthorID: author.Tenant.UserID, Visibility: stores.VisibilityOrg}
		seen := func(b *stores.Bundle) int {
			t.Helper()
			hits, err := b.Vectors.SearchVectors(Ctx(t), model, []float32{1, 0}, nil, 10)
			RequireNoError(t, err)
			return len(hits)
		}
		for _, v := range []stores.Visibility{stores.VisibilityOrg, stores.VisibilityPrivate, stores.VisibilityOrg, stores.VisibilityPrivate} {
			point.Visibility = v
			RequireNoError(t, author.Vectors.UpsertVectors(Ctx(t), model, []stores.VectorPoint{point}))
			wantColleague := 1
			if v == stores.VisibilityPrivate {
				wantColleague = 0
			}
			if a, c := seen(author), seen(colleague); a != 1 || c != wantColleague {
				t.Fatalf("after an upsert as %s the author sees %d points and a colleague %d, want 1 and %d", v, a, c, wantColleague)
			}
		}
		n, err := author.Vectors.DeleteVectors(Ctx(t), model, []uuid.UUID{id})
		RequireNoError(t, err)
		if n != 1 || seen(author) != 0 {
			t.Fatalf("deleted %d, want 1 and nothing left", n)
		}
	})
}
