package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunFullText checks a FullTextBackend. It expects a write to be searchable
// when IndexDocuments or DeleteDocuments returns (a server-backed store waits
// for the refresh). Relevance is checked by order only (a document with more
// of the query ranks higher, equal scores rank by id), never by exact scores.
func RunFullText(t *testing.T, newHarness NewHarness) {
	setup := func(t *testing.T) stores.FullTextStore {
		t.Helper()
		h := newHarness(t)
		return h.Bundle(t, NewTenant()).FullText
	}

	t.Run("only matching documents are returned, the better match first", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		fullTextIndex(t, st,
			stores.Document{ID: "both", Body: "the quick brown fox"},
			stores.Document{ID: "dog", Body: "a lazy dog sleeps all day"},
			stores.Document{ID: "fox", Body: "fox only here"},
			stores.Document{ID: "none", Body: "nothing to see"},
		)
		if got := fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: "quick"})); got != "both" {
			t.Fatalf("quick found %q, want both", got)
		}
		hits := fullTextSearch(t, st, stores.SearchQuery{Text: "Quick FOX"})
		if got := fullTextIDs(hits); got != "both,fox" {
			t.Fatalf("quick fox found %q, want both above fox", got)
		}
		for _, h := range hits {
			if h.Score <= 0 {
				t.Fatalf("hit %s scored %v", h.Document.ID, h.Score)
			}
		}
		if hits[0].Score <= hits[1].Score {
			t.Fatalf("scores %v and %v: the document with both terms must score higher", hits[0].Score, hits[1].Score)
		}
		// Every term is optional, but a hit has at least one.
		got := fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: "fox dog unicorn"}))
		if set := fullTextSet(got); len(set) != 3 || !set["both"] || !set["dog"] || !set["fox"] {
			t.Fatalf("fox dog unicorn found %q", got)
		}
		page, err := st.Search(ctx, stores.SearchQuery{Text: "unicorn"}, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if page.Items == nil || page.Cursors == nil || len(page.Items) != 0 || page.HasNextPage {
			t.Fatalf("no match gave %#v", page)
		}
	})

	t.Run("documents round-trip and reindexing replaces them", func(t *testing.T) {
		st := setup(t)
		mem := uuid.New()
		created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		fullTextIndex(t, st, stores.Document{ID: "m", MemoryID: &mem, Title: "Routing", Body: "alpha routing notes", Tags: []string{"go", "api"}, CreatedAt: created})
		hits := fullTextSearch(t, st, stores.SearchQuery{Text: "alpha"})
		if len(hits) != 1 {
			t.Fatalf("alpha found %d documents", len(hits))
		}
		d := hits[0].Document
		sort.Strings(d.Tags)
		if d.ID != "m" || d.MemoryID == nil || *d.MemoryID != mem || d.Title != "Routing" || d.Body != "alpha routing notes" ||
			strings.Join(d.Tags, ",") != "api,go" || !d.CreatedAt.Equal(created) {
			t.Fatalf("document came back as %+v", d)
		}
		fullTextIndex(t, st, stores.Document{ID: "m", Body: "beta only", Tags: []string{"rust"}})
		if got := fullTextSearch(t, st, stores.SearchQuery{Text: "alpha"}); len(got) != 0 {
			t.Fatalf("the replaced body still matches: %+v", got)
		}
		if got := fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: "beta", Tags: []string{"rust"}})); got != "m" {
			t.Fatalf("beta found %q, want m", got)
		}
		if got := fullTextSearch(t, st, stores.SearchQuery{Text: "beta", Tags: []string{"go"}}); len(got) != 0 {
			t.Fatalf("the replaced tags still match: %+v", got)
		}
	})

	t.Run("every tag of the query must be on the document", func(t *testing.T) {
		st := setup(t)
		fullTextIndex(t, st,
			stores.Document{ID: "go-api", Body: "request handler", Tags: []string{"go", "api"}},
			stores.Document{ID: "go", Body: "request handler", Tags: []string{"go"}},
			stores.Document{ID: "api", Body: "request handler", Tags: []string{"api"}},
			stores.Document{ID: "untagged", Body: "request handler"},
		)
		cases := []struct {
			tags []string
			want string
		}{
			{nil, "api,go,go-api,untagged"},
			{[]string{"go"}, "go,go-api"},
			{[]string{"api", "go"}, "go-api"},
			{[]string{"rust"}, ""},
			{[]string{"Go"}, ""},
		}
		for _, c := range cases {
			if got := fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: "handler", Tags: c.tags})); got != c.want {
				t.Fatalf("tags %v: %q, want %q", c.tags, got, c.want)
			}
		}
	})

	t.Run("highlights wrap the matches and escape the rest", func(t *testing.T) {
		st := setup(t)
		body := `<i>Router</i> setup: <script>alert("x")</script> & friends`
		fullTextIndex(t, st, stores.Document{ID: "xss", Body: body})
		hits := fullTextSearch(t, st, stores.SearchQuery{Text: "router"})
		if len(hits) != 1 {
			t.Fatalf("router found %d documents", len(hits))
		}
		if hits[0].Document.Body != body {
			t.Fatalf("the document body came back changed: %q", hits[0].Document.Body)
		}
		all := strings.Join(hits[0].Highlights, "\n")
		if !strings.Contains(all, "<em>Router</em>") {
			t.Fatalf("highlights %q do not wrap the match", hits[0].Highlights)
		}
		if strings.Contains(all, "<script") || !strings.Contains(all, "&lt;script&gt;") {
			t.Fatalf("highlights %q do not escape the markup", hits[0].Highlights)
		}
		if strings.Count(all, "<em>") != strings.Count(all, "</em>") || strings.Count(all, "<") != 2*strings.Count(all, "<em>") {
			t.Fatalf("highlights %q carry markup other than <em>", hits[0].Highlights)
		}
	})

	t.Run("equal scores rank by id and pages walk every hit once", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		for _, id := range []string{"doc-3", "doc-1", "doc-5", "doc-2", "doc-4"} {
			fullTextIndex(t, st, stores.Document{ID: id, Body: "same words here"})
		}
		if got := fullTextWalk(t, st, stores.SearchQuery{Text: "words"}, 2); got != "doc-1,doc-2,doc-3,doc-4,doc-5" {
			t.Fatalf("walked %q", got)
		}
		fullTextIndex(t, st,
			stores.Document{ID: "m1", Body: "mixed mixed mixed scores"},
			stores.Document{ID: "m2", Body: "mixed scores in a longer body of text"},
			stores.Document{ID: "m3", Body: "mixed"},
			stores.Document{ID: "m4", Body: "scores only"},
			stores.Document{ID: "m5", Body: "mixed scores mixed"},
		)
		q := stores.SearchQuery{Text: "mixed scores"}
		page, err := st.Search(ctx, q, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		for i := 1; i < len(page.Items); i++ {
			a, b := page.Items[i-1], page.Items[i]
			if b.Score > a.Score || (b.Score == a.Score && b.Document.ID < a.Document.ID) {
				t.Fatalf("hits out of order: %s (%v) before %s (%v)", a.Document.ID, a.Score, b.Document.ID, b.Score)
			}
		}
		if got, want := fullTextWalk(t, st, q, 2), fullTextIDs(page.Items); got != want || len(page.Items) != 5 {
			t.Fatalf("walked %q, one page gives %q", got, want)
		}
		for _, bad := range []string{"!!!", "bm90IGEgY3Vyc29y", "{}"} {
			_, err := st.Search(ctx, q, stores.PageArgs{First: 2, After: bad})
			RequireKind(t, err, stores.ErrInvalid)
		}
	})

	t.Run("counts agree with the pages walked, across tags and tenants", func(t *testing.T) {
		h := newHarness(t)
		ctx := Ctx(t)
		mine := h.Bundle(t, NewTenant()).FullText
		theirs := h.Bundle(t, NewTenant()).FullText
		for i := range 7 {
			tags := []string{"all"}
			if i%2 == 0 {
				tags = append(tags, "even")
			}
			fullTextIndex(t, mine, stores.Document{ID: fmt.Sprintf("c-%d", i), Body: "counted words", Tags: tags})
		}
		fullTextIndex(t, mine, stores.Document{ID: "other", Body: "unrelated text"})
		fullTextIndex(t, theirs, stores.Document{ID: "c-0", Body: "counted words too"}, stores.Document{ID: "t-1", Body: "words"})
		if got := fullTextWalk(t, mine, stores.SearchQuery{Text: "counted"}, 3); len(strings.Split(got, ",")) != 7 {
			t.Fatalf("walked %q, want 7 hits", got)
		}
		if got := fullTextWalk(t, mine, stores.SearchQuery{Text: "words", Tags: []string{"even"}}, 2); got != "c-0,c-2,c-4,c-6" {
			t.Fatalf("walked %q with the even tag", got)
		}
		fullTextRequireCount(t, mine, stores.SearchQuery{Text: "counted unrelated"}, 8)
		fullTextRequireCount(t, mine, stores.SearchQuery{Text: "nothing"}, 0)
		fullTextRequireCount(t, theirs, stores.SearchQuery{Text: "counted words"}, 2)
		fullTextRequireCount(t, h.Bundle(t, NewTenant()).FullText, stores.SearchQuery{Text: "counted"}, 0)
		for _, q := range []stores.SearchQuery{{Text: " "}, {Text: strings.Repeat("a", 1025)}, {Text: "x", Tags: []string{""}}} {
			_, err := mine.CountSearchHits(ctx, q)
			RequireKind(t, err, stores.ErrInvalid)
		}
	})

	t.Run("delete removes documents and counts those that existed", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		fullTextIndex(t, st,
			stores.Document{ID: "a", Body: "shared term"},
			stores.Document{ID: "b", Body: "shared term"},
			stores.Document{ID: "c", Body: "shared term"},
		)
		n, err := st.DeleteDocuments(ctx, []string{"a", "b", "nosuch"})
		RequireNoError(t, err)
		if n != 2 {
			t.Fatalf("deleted %d, want 2", n)
		}
		n, err = st.DeleteDocuments(ctx, []string{"a"})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("deleting again counted %d", n)
		}
		if got := fullTextIDs(fullTextSearch(t, st, stores.SearchQuery{Text: "shared"})); got != "c" {
			t.Fatalf("after delete: %q", got)
		}
	})

	t.Run("invalid input is refused", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		fullTextIndex(t, st, stores.Document{ID: "ok", Body: "a b c"})
		for _, text := range []string{"", strings.Repeat("a", 1025)} {
			_, err := st.Search(ctx, stores.SearchQuery{Text: text}, stores.PageArgs{First: 10})
			RequireKind(t, err, stores.ErrInvalid)
		}
		if _, err := st.Search(ctx, stores.SearchQuery{Text: strings.Repeat("é", 1024)}, stores.PageArgs{First: 10}); err != nil {
			t.Fatalf("a 1024-character text was refused: %v", err)
		}
		for _, d := range []stores.Document{
			{ID: "", Body: "x"},
			{ID: "bad\x00", Body: "x"},
			{ID: "bad\n", Body: "x"},
			{ID: strings.Repeat("i", 513), Body: "x"},
			{ID: "big", Body: strings.Repeat("x", stores.MaxMemoryContent+1)},
		} {
			err := st.IndexDocuments(ctx, []stores.Document{{ID: "fine", Body: "refused batch"}, d})
			RequireKind(t, err, stores.ErrInvalid)
		}
		tooMany := make([]stores.Document, stores.MaxBatchSize+1)
		for i := range tooMany {
			tooMany[i] = stores.Document{ID: fmt.Sprintf("many-%d", i), Body: "refused batch"}
		}
		RequireKind(t, st.IndexDocuments(ctx, tooMany), stores.ErrInvalid)
		if got := fullTextSearch(t, st, stores.SearchQuery{Text: "refused batch"}); len(got) != 0 {
			t.Fatalf("refused batches stored %d documents", len(got))
		}
		RequireNoError(t, st.IndexDocuments(ctx, tooMany[:stores.MaxBatchSize]))
		RequireNoError(t, st.IndexDocuments(ctx, []stores.Document{{ID: strings.Repeat("i", 512), Body: strings.Repeat("x", stores.MaxMemoryContent)}}))
	})

	t.Run("query syntax is plain words and never reaches another org", func(t *testing.T) {
		h := newHarness(t)
		ctx := Ctx(t)
		mine := h.Bundle(t, NewTenant()).FullText
		theirs := h.Bundle(t, NewTenant()).FullText
		fullTextIndex(t, theirs,
			stores.Document{ID: "their-secret", Body: "secret org_id match_all query string everything"},
			stores.Document{ID: "their-notes", Body: "notes OR AND NOT all star"},
		)
		fullTextIndex(t, mine, stores.Document{ID: "my-notes", Body: "my own notes"})
		for _, text := range []string{
			`org_id:* OR *`,
			`{"match_all":{}}`,
			`{"query":{"match_all":{}}}`,
			`"secret" AND *:*`,
			`+secret -nothing`,
			`secret~ secre* s?cret`,
			`\" ) ] } / ( [ {`,
			`*`,
			`_id:their-secret`,
			`notes OR org_id:*`,
			`<script>notes</script>`,
		} {
			page, err := mine.Search(ctx, stores.SearchQuery{Text: text}, stores.PageArgs{First: 100})
			if err != nil {
				t.Fatalf("query %q failed: %v", text, err)
			}
			for _, hit := range page.Items {
				if hit.Document.ID != "my-notes" {
					t.Fatalf("query %q reached %s", text, hit.Document.ID)
				}
			}
		}
		if got := fullTextIDs(fullTextSearch(t, mine, stores.SearchQuery{Text: `notes OR org_id:*`})); got != "my-notes" {
			t.Fatalf("a query with syntax characters found %q, want my-notes", got)
		}
	})

	t.Run("another org's documents are invisible and unchangeable", func(t *testing.T) {
		h := newHarness(t)
		ctx := Ctx(t)
		me := NewTenant()
		mine := h.Bundle(t, me).FullText
		theirs := h.Bundle(t, NewTenant()).FullText
		colleague := h.Bundle(t, SameOrgOtherUser(me)).FullText
		fullTextIndex(t, mine,
			stores.Document{ID: "shared-id", Body: "mine apples"},
			stores.Document{ID: "only-mine", Body: "mine pears"},
		)
		fullTextIndex(t, theirs, stores.Document{ID: "shared-id", Body: "theirs apples"})

		if got := fullTextIDs(fullTextSearch(t, theirs, stores.SearchQuery{Text: "mine pears apples"})); got != "shared-id" {
			t.Fatalf("their search found %q, want their own shared-id", got)
		}
		n, err := theirs.DeleteDocuments(ctx, []string{"only-mine"})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("they deleted %d of my documents", n)
		}
		hits := fullTextSearch(t, mine, stores.SearchQuery{Text: "apples pears theirs"})
		if got := fullTextIDs(hits); got != "only-mine,shared-id" && got != "shared-id,only-mine" {
			t.Fatalf("my search found %q", got)
		}
		for _, hit := range hits {
			if !strings.HasPrefix(hit.Document.Body, "mine ") {
				t.Fatalf("my document %s now reads %q", hit.Document.ID, hit.Document.Body)
			}
		}
		n, err = theirs.DeleteDocuments(ctx, []string{"shared-id"})
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("their delete of their shared-id counted %d", n)
		}
		if got := fullTextIDs(fullTextSearch(t, mine, stores.SearchQuery{Text: "apples"})); got != "shared-id" {
			t.Fatalf("their delete removed mine: %q", got)
		}
		// Documents belong to the org: a colleague finds and deletes them.
		if got := fullTextIDs(fullTextSearch(t, colleague, stores.SearchQuery{Text: "pears"})); got != "only-mine" {
			t.Fatalf("a colleague found %q", got)
		}
		n, err = colleague.DeleteDocuments(ctx, []string{"only-mine", "shared-id"})
		RequireNoError(t, err)
		if n != 2 {
			t.Fatalf("a colleague's delete counted %d", n)
		}
	})

	runPrivateDocuments(t, newHarness)
	runVersionedDocuments(t, newHarness)
}

func fullTextIndex(t *testing.T, st stores.FullTextStore, docs ...stores.Document) {
	t.Helper()
	RequireNoError(t, st.IndexDocuments(Ctx(t), docs))
}

// fullTextSearch returns the first 100 hits of q, checking that the count
// of all hits agrees when they fit on that page.
func fullTextSearch(t *testing.T, st stores.FullTextStore, q stores.SearchQuery) []stores.SearchHit {
	t.Helper()
	page, err := st.Search(Ctx(t), q, stores.PageArgs{First: 100})
	RequireNoError(t, err)
	if page.Items == nil || len(page.Items) != len(page.Cursors) {
		t.Fatalf("search %q: %d items, %d cursors", q.Text, len(page.Items), len(page.Cursors))
	}
	if !page.HasNextPage {
		fullTextRequireCount(t, st, q, len(page.Items))
	}
	return page.Items
}

// fullTextWalk pages through every hit of q, first at a time, checking that
// no hit comes twice.
func fullTextWalk(t *testing.T, st stores.FullTextStore, q stores.SearchQuery, first int) string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page, err := st.Search(Ctx(t), q, stores.PageArgs{First: first, After: after})
		RequireNoError(t, err)
		if len(page.Items) > first || len(page.Items) != len(page.Cursors) {
			t.Fatalf("page of %d items, %d cursors, first %d", len(page.Items), len(page.Cursors), first)
		}
		for _, h := range page.Items {
			if seen[h.Document.ID] {
				t.Fatalf("%s came twice", h.Document.ID)
			}
			seen[h.Document.ID] = true
			ids = append(ids, h.Document.ID)
		}
		if !page.HasNextPage {
			fullTextRequireCount(t, st, q, len(ids))
			return strings.Join(ids, ",")
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
}

// fullTextRequireCount fails unless CountSearchHits of q is want.
func fullTextRequireCount(t *testing.T, st stores.FullTextStore, q stores.SearchQuery, want int) {
	t.Helper()
	n, err := st.CountSearchHits(Ctx(t), q)
	RequireNoError(t, err)
	if n != want {
		t.Fatalf("CountSearchHits(%q, tags %v) = %d, want %d", q.Text, q.Tags, n, want)
	}
}

func fullTextIDs(hits []stores.SearchHit) string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Document.ID
	}
	return strings.Join(ids, ",")
}

func fullTextSet(joined string) map[string]bool {
	set := map[string]bool{}
	for _, id := range strings.Split(joined, ",") {
		if id != "" {
			set[id] = true
		}
	}
	return set
}
