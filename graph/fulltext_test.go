package graph_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

const indexDocumentsMutation = `mutation($input: IndexDocumentsInput!) { indexDocuments(input: $input) { documentIds } }`

const deleteDocumentsMutation = `mutation($input: DeleteDocumentsInput!) { deleteDocuments(input: $input) { deletedCount } }`

const fullTextSearchQuery = `query($text: String!, $tags: [String!], $first: Int, $after: String) {
  search(text: $text, tags: $tags, first: $first, after: $after) {
    edges { cursor node { score highlights document { id title body tags createdAt memory { id content } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

type searchPageJSON struct {
	Edges []struct {
		Cursor string
		Node   struct {
			Score      float64
			Highlights []string
			Document   struct {
				ID, Title, Body, CreatedAt string
				Tags                       []string
				Memory                     *struct{ ID, Content string }
			}
		}
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

// ids returns the document ids of a page's hits, in order.
func (p searchPageJSON) ids() []string {
	out := []string{}
	for _, e := range p.Edges {
		out = append(out, e.Node.Document.ID)
	}
	return out
}

// indexDocuments indexes documents through the API.
func indexDocuments(t *testing.T, s *testServer, tok string, docs ...map[string]any) {
	t.Helper()
	s.do(t, tok, indexDocumentsMutation, map[string]any{"input": map[string]any{"documents": docs}}).ok(t, nil)
}

// searchDocuments runs a search through the API; vars beyond the text are optional.
func searchDocuments(t *testing.T, s *testServer, tok, text string, vars map[string]any) searchPageJSON {
	t.Helper()
	all := map[string]any{"text": text}
	for k, v := range vars {
		all[k] = v
	}
	var out struct {
		Search searchPageJSON `json:"search"`
	}
	s.do(t, tok, fullTextSearchQuery, all).ok(t, &out)
	return out.Search
}

func TestFullText(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	tok := s.token(t, tenant)
	indexDocuments(t, s, tok,
		map[string]any{"id": "retry", "title": "Retries", "body": "The client retries failed requests with exponential Backoff.", "tags": []string{"go", "http"}},
		map[string]any{"id": "cap", "body": "backoff is capped at thirty seconds", "tags": []string{"go"}},
		map[string]any{"id": "cache", "body": "the cache is warmed at start"},
	)

	t.Run("a search finds the documents holding its words, with highlights", func(t *testing.T) {
		page := searchDocuments(t, s, tok, "backoff", nil)
		if got := page.ids(); len(got) != 2 || !reflect.DeepEqual(map[string]bool{got[0]: true, got[1]: true}, map[string]bool{"retry": true, "cap": true}) {
			t.Fatalf("hits %v, want retry and cap", got)
		}
		for _, e := range page.Edges {
			n := e.Node
			if n.Score <= 0 || len(n.Highlights) == 0 || !strings.Contains(strings.ToLower(n.Highlights[0]), "<em>backoff</em>") {
				t.Fatalf("hit %+v", n)
			}
		}
		var retry = page.Edges[0].Node.Document
		if retry.ID != "retry" {
			retry = page.Edges[1].Node.Document
		}
		if retry.Title != "Retries" || !reflect.DeepEqual(retry.Tags, []string{"go", "http"}) || retry.CreatedAt == "" || retry.Memory != nil {
			t.Fatalf("document %+v", retry)
		}
		if page.PageInfo.HasNextPage || page.PageInfo.HasPreviousPage {
			t.Fatalf("page info %+v", page.PageInfo)
		}
	})

	t.Run("tags keep only documents carrying every one of them", func(t *testing.T) {
		if got := searchDocuments(t, s, tok, "backoff", map[string]any{"tags": []string{"go", "http"}}).ids(); !reflect.DeepEqual(got, []string{"retry"}) {
			t.Fatalf("hits %v", got)
		}
		if got := searchDocuments(t, s, tok, "backoff", map[string]any{"tags": []string{"rust"}}).ids(); len(got) != 0 {
			t.Fatalf("hits %v", got)
		}
	})

	t.Run("query syntax is read as plain words", func(t *testing.T) {
		got := searchDocuments(t, s, tok, `body:cache* OR "warmed" AND -{"match_all":{}}`, nil).ids()
		if !reflect.DeepEqual(got, []string{"cache"}) {
			t.Fatalf("hits %v, want only the document holding the words", got)
		}
		if got := searchDocuments(t, s, tok, `* ?`, nil).ids(); len(got) != 0 {
			t.Fatalf("wildcards matched %v", got)
		}
	})

	t.Run("paging through cursors visits every hit once, in order", func(t *testing.T) {
		var docs []map[string]any
		for i := range 7 {
			docs = append(docs, map[string]any{"id": fmt.Sprintf("needle-%d", i), "body": strings.Repeat("hay ", i) + "needle"})
		}
		indexDocuments(t, s, tok, docs...)
		all := searchDocuments(t, s, tok, "needle", map[string]any{"first": 7}).ids()
		var paged []string
		var after any
		for pages := 0; ; pages++ {
			if pages > 7 {
				t.Fatal("paging does not end")
			}
			page := searchDocuments(t, s, tok, "needle", map[string]any{"first": 3, "after": after})
			paged = append(paged, page.ids()...)
			if page.PageInfo.HasPreviousPage != (after != nil) {
				t.Fatalf("hasPreviousPage %v after %v", page.PageInfo.HasPreviousPage, after)
			}
			if page.Edges[len(page.Edges)-1].Cursor != *page.PageInfo.EndCursor || page.Edges[0].Cursor != *page.PageInfo.StartCursor {
				t.Fatalf("cursors %+v", page.PageInfo)
			}
			if !page.PageInfo.HasNextPage {
				break
			}
			after = *page.PageInfo.EndCursor
		}
		if len(all) != 7 || !reflect.DeepEqual(paged, all) {
			t.Fatalf("pages visited %v, one page holds %v", paged, all)
		}
	})

	t.Run("a cursor continues only the search that issued it", func(t *testing.T) {
		page := searchDocuments(t, s, tok, "needle", map[string]any{"first": 1})
		for _, vars := range []map[string]any{
			{"text": "backoff", "after": *page.PageInfo.EndCursor},
			{"text": "needle", "tags": []string{"go"}, "after": *page.PageInfo.EndCursor},
		} {
			s.do(t, tok, fullTextSearchQuery, vars).code(t, graph.CodeBadUserInput)
		}
	})

	t.Run("a body's HTML is escaped in its highlights", func(t *testing.T) {
		indexDocuments(t, s, tok, map[string]any{"id": "xss", "body": `zebra <script>alert("pwned")</script>`})
		page := searchDocuments(t, s, tok, "zebra", nil)
		if len(page.Edges) != 1 {
			t.Fatalf("hits %v", page.ids())
		}
		h := page.Edges[0].Node.Highlights
		if len(h) != 1 || strings.Contains(h[0], "<script>") || !strings.Contains(h[0], "&lt;script&gt;") || !strings.Contains(h[0], "<em>zebra</em>") {
			t.Fatalf("highlights %q", h)
		}
	})

	t.Run("indexing an existing id replaces the document", func(t *testing.T) {
		indexDocuments(t, s, tok, map[string]any{"id": "cache", "body": "the cache is now cold"})
		if got := searchDocuments(t, s, tok, "warmed", nil).ids(); len(got) != 0 {
			t.Fatalf("old words still match %v", got)
		}
		if got := searchDocuments(t, s, tok, "cold", nil).ids(); !reflect.DeepEqual(got, []string{"cache"}) {
			t.Fatalf("hits %v", got)
		}
	})

	t.Run("a document holding a memory resolves it", func(t *testing.T) {
		app := s.createApp(t, tok, "fulltext-app")
		m := s.createMemory(t, tok, app, "a memory about kangaroos")
		indexDocuments(t, s, tok, map[string]any{"id": "about-memory", "body": "wombat notes", "memoryId": m.ID})
		page := searchDocuments(t, s, tok, "wombat", nil)
		if len(page.Edges) != 1 || page.Edges[0].Node.Document.Memory == nil || page.Edges[0].Node.Document.Memory.ID != m.ID {
			t.Fatalf("hits %+v", page.Edges)
		}
	})

	t.Run("a document's memory without memories:read is null with a FORBIDDEN error, the hit resolves", func(t *testing.T) {
		searchOnly := s.token(t, tenant, auth.ScopeSearchRead)
		r := s.do(t, searchOnly, fullTextSearchQuery, map[string]any{"text": "wombat"})
		e := r.code(t, graph.CodeForbidden)
		if len(e.Path) == 0 || e.Path[len(e.Path)-1] != "memory" {
			t.Fatalf("error path %v", e.Path)
		}
		var page searchPageJSON
		r.field(t, "search", &page)
		if len(page.Edges) != 1 || page.Edges[0].Node.Document.ID != "about-memory" || page.Edges[0].Node.Document.Memory != nil {
			t.Fatalf("page %+v", page)
		}
	})

	t.Run("deleteDocuments says how many existed and they are no longer found", func(t *testing.T) {
		var out struct {
			DeleteDocuments struct{ DeletedCount int } `json:"deleteDocuments"`
		}
		s.do(t, tok, deleteDocumentsMutation, map[string]any{"input": map[string]any{"ids": []string{"cap", "never-indexed"}}}).ok(t, &out)
		if out.DeleteDocuments.DeletedCount != 1 {
			t.Fatalf("deleted %d", out.DeleteDocuments.DeletedCount)
		}
		if got := searchDocuments(t, s, tok, "backoff", nil).ids(); !reflect.DeepEqual(got, []string{"retry"}) {
			t.Fatalf("hits %v", got)
		}
	})
}

func TestFullTextRefusesBadInput(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	indexDocuments(t, s, tok, map[string]any{"id": "d", "body": "some words"})

	doc := func(overrides map[string]any) map[string]any {
		d := map[string]any{"id": "x", "body": "b"}
		for k, v := range overrides {
			d[k] = v
		}
		return map[string]any{"input": map[string]any{"documents": []map[string]any{d}}}
	}
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"empty search text", fullTextSearchQuery, map[string]any{"text": ""}},
		{"search text of spaces only", fullTextSearchQuery, map[string]any{"text": "   "}},
		{"search text over 1024 characters", fullTextSearchQuery, map[string]any{"text": strings.Repeat("a", 1025)}},
		{"a forged cursor", fullTextSearchQuery, map[string]any{"text": "words", "after": "eyJzIjoxLCJpIjoiZCJ9"}},
		{"a cursor that is not base64", fullTextSearchQuery, map[string]any{"text": "words", "after": "!!"}},
		{"first of zero", fullTextSearchQuery, map[string]any{"text": "words", "first": 0}},
		{"first above the cap", fullTextSearchQuery, map[string]any{"text": "words", "first": 101}},
		{"an empty tag", fullTextSearchQuery, map[string]any{"text": "words", "tags": []string{""}}},
		{"no documents", indexDocumentsMutation, map[string]any{"input": map[string]any{"documents": []any{}}}},
		{"an empty document id", indexDocumentsMutation, doc(map[string]any{"id": ""})},
		{"a document id with a control character", indexDocumentsMutation, doc(map[string]any{"id": "a\x00b"})},
		{"a memory id that is no id", indexDocumentsMutation, doc(map[string]any{"memoryId": "nope"})},
		{"a category id as a memory id", indexDocumentsMutation, doc(map[string]any{"memoryId": relay.UUIDID(relay.KindCategory, uuid.New())})},
		{"a body over 64 KiB", indexDocumentsMutation, doc(map[string]any{"body": strings.Repeat("a", 64<<10+1)})},
		{"no ids to delete", deleteDocumentsMutation, map[string]any{"input": map[string]any{"ids": []string{}}}},
		{"an empty id to delete", deleteDocumentsMutation, map[string]any{"input": map[string]any{"ids": []string{""}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is BAD_USER_INPUT", func(t *testing.T) {
			if e := s.do(t, tok, tc.query, tc.vars).code(t, graph.CodeBadUserInput); e.Message == "" {
				t.Fatal("the error has no message")
			}
		})
	}

	t.Run("the empty text error says what is wrong", func(t *testing.T) {
		if e := s.do(t, tok, fullTextSearchQuery, map[string]any{"text": ""}).code(t, graph.CodeBadUserInput); e.Message != "text must not be empty" {
			t.Fatalf("message %q", e.Message)
		}
	})

	t.Run("a memory id that names no memory is NOT_FOUND", func(t *testing.T) {
		s.do(t, tok, indexDocumentsMutation, doc(map[string]any{"memoryId": relay.UUIDID(relay.KindMemory, uuid.New())})).code(t, graph.CodeNotFound)
	})

	t.Run("nothing was indexed by the refused writes", func(t *testing.T) {
		if got := searchDocuments(t, s, tok, "b", nil).ids(); len(got) != 0 {
			t.Fatalf("hits %v", got)
		}
	})
}

func TestFullTextNeedsScopes(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	indexDocuments(t, s, s.token(t, tenant), map[string]any{"id": "d", "body": "guarded words"})
	readOnly := s.token(t, tenant, auth.ScopeSearchRead)
	memoriesOnly := s.token(t, tenant, auth.ScopeMemoriesRead)
	indexVars := map[string]any{"input": map[string]any{"documents": []any{map[string]any{"id": "e", "body": "guarded too"}}}}
	deleteVars := map[string]any{"input": map[string]any{"ids": []string{"d"}}}

	cases := []struct {
		name, token, query, code string
		vars                     map[string]any
	}{
		{"searching without a token is UNAUTHENTICATED", "", fullTextSearchQuery, graph.CodeUnauthenticated, map[string]any{"text": "guarded"}},
		{"indexing without a token is UNAUTHENTICATED", "", indexDocumentsMutation, graph.CodeUnauthenticated, indexVars},
		{"searching without search:read is FORBIDDEN", memoriesOnly, fullTextSearchQuery, graph.CodeForbidden, map[string]any{"text": "guarded"}},
		{"indexing with search:read only is FORBIDDEN", readOnly, indexDocumentsMutation, graph.CodeForbidden, indexVars},
		{"deleting with search:read only is FORBIDDEN", readOnly, deleteDocumentsMutation, graph.CodeForbidden, deleteVars},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.token, tc.query, tc.vars).code(t, tc.code)
		})
	}

	t.Run("the refused writes changed nothing", func(t *testing.T) {
		if got := searchDocuments(t, s, readOnly, "guarded", nil).ids(); !reflect.DeepEqual(got, []string{"d"}) {
			t.Fatalf("hits %v", got)
		}
	})
}

func TestFullTextIsolatesTenants(t *testing.T) {
	s := newTestServer(t)
	tokA, tokB := s.token(t, storetest.NewTenant()), s.token(t, storetest.NewTenant())
	app := s.createApp(t, tokA, "a-app")
	memory := s.createMemory(t, tokA, app, "tenant A remembers platypus")
	indexDocuments(t, s, tokA,
		map[string]any{"id": "secret", "body": "tenant A's echidna plans", "tags": []string{"private"}, "memoryId": memory.ID},
		map[string]any{"id": "other", "body": "more echidna notes"},
	)
	before := searchDocuments(t, s, tokA, "echidna", nil)

	t.Run("another tenant searching tenant A's words finds nothing, as for words nobody indexed", func(t *testing.T) {
		theirs := s.do(t, tokB, fullTextSearchQuery, map[string]any{"text": "echidna platypus"})
		none := s.do(t, tokB, fullTextSearchQuery, map[string]any{"text": "unindexed-word"})
		theirs.ok(t, nil)
		none.ok(t, nil)
		if string(theirs.Data) != string(none.Data) {
			t.Fatalf("tenant A's words give %s, unknown words %s", theirs.Data, none.Data)
		}
		var page searchPageJSON
		theirs.field(t, "search", &page)
		if len(page.Edges) != 0 {
			t.Fatalf("hits %v", page.ids())
		}
	})

	t.Run("another tenant's cursor is BAD_USER_INPUT", func(t *testing.T) {
		page := searchDocuments(t, s, tokA, "echidna", map[string]any{"first": 1})
		s.do(t, tokB, fullTextSearchQuery, map[string]any{"text": "echidna", "after": *page.PageInfo.EndCursor}).code(t, graph.CodeBadUserInput)
	})

	t.Run("another tenant deleting tenant A's documents deletes nothing, as for unknown ids", func(t *testing.T) {
		var theirs, none struct {
			DeleteDocuments struct{ DeletedCount int } `json:"deleteDocuments"`
		}
		s.do(t, tokB, deleteDocumentsMutation, map[string]any{"input": map[string]any{"ids": []string{"secret", "other"}}}).ok(t, &theirs)
		s.do(t, tokB, deleteDocumentsMutation, map[string]any{"input": map[string]any{"ids": []string{uuid.NewString()}}}).ok(t, &none)
		if theirs.DeleteDocuments.DeletedCount != 0 || none.DeleteDocuments.DeletedCount != 0 {
			t.Fatalf("deleted %d and %d", theirs.DeleteDocuments.DeletedCount, none.DeleteDocuments.DeletedCount)
		}
	})

	t.Run("another tenant indexing tenant A's memory gets NOT_FOUND, as for a random memory", func(t *testing.T) {
		for _, m := range []string{memory.ID, relay.UUIDID(relay.KindMemory, uuid.New())} {
			s.do(t, tokB, indexDocumentsMutation, map[string]any{"input": map[string]any{"documents": []any{
				map[string]any{"id": "steal", "body": "b", "memoryId": m},
			}}}).code(t, graph.CodeNotFound)
		}
	})

	t.Run("another tenant indexing tenant A's document id stores a document of its own", func(t *testing.T) {
		indexDocuments(t, s, tokB, map[string]any{"id": "secret", "body": "tenant B's echidna"})
		page := searchDocuments(t, s, tokB, "echidna", nil)
		if len(page.Edges) != 1 || page.Edges[0].Node.Document.Body != "tenant B's echidna" || page.Edges[0].Node.Document.Memory != nil {
			t.Fatalf("tenant B's hits %+v", page.Edges)
		}
	})

	t.Run("tenant A's documents are unchanged", func(t *testing.T) {
		after := searchDocuments(t, s, tokA, "echidna", nil)
		if !reflect.DeepEqual(before.ids(), after.ids()) || len(after.Edges) != 2 {
			t.Fatalf("hits changed from %v to %v", before.ids(), after.ids())
		}
		for i := range after.Edges {
			if !reflect.DeepEqual(before.Edges[i].Node, after.Edges[i].Node) {
				t.Fatalf("hit changed from %+v to %+v", before.Edges[i].Node, after.Edges[i].Node)
			}
		}
		for _, e := range after.Edges {
			if d := e.Node.Document; d.ID == "secret" && (d.Memory == nil || d.Memory.ID != memory.ID || d.Body != "tenant A's echidna plans") {
				t.Fatalf("document %+v", d)
			}
		}
	})
}
