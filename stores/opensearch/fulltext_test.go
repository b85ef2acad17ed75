package opensearch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// openTest opens a backend on a shared index of its own (deleted when the
// test ends, with every alias on it and every dedicated index the test made).
func openTest(t *testing.T) *Backend {
	t.Helper()
	addr := storetest.ServiceEnv(t, "OPENSEARCH_URL")
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "cb-test-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, Options{URL: addr, Index: name, AliasPrefix: name + "-alias-"})
	if err != nil {
		t.Fatalf("opening OpenSearch at %s: %v", addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The dedicated indices of moved tenants share the name as a prefix.
		if err := b.call(ctx, http.MethodDelete, "/"+url.PathEscape(name+"*"), url.Values{"expand_wildcards": {"all"}}, nil, nil); err != nil {
			t.Errorf("deleting the test indices %s*: %v", name, err)
		}
		b.Close()
	})
	return b
}

func TestFullTextContract(t *testing.T) {
	b := openTest(t)
	storetest.RunFullText(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{FullText: b}}
	})
}

// rawSearch runs a search body as is against a target (an alias or an index),
// bypassing the store, and returns the doc ids of the hits.
func rawSearch(t *testing.T, b *Backend, target string, body any) []string {
	t.Helper()
	var resp searchResponse
	if err := b.call(storetest.Ctx(t), http.MethodPost, "/"+url.PathEscape(target)+"/_search", nil, body, &resp); err != nil {
		t.Fatalf("searching %s: %v", target, err)
	}
	ids := []string{}
	for _, h := range resp.Hits.Hits {
		ids = append(ids, h.Source.DocID)
	}
	return ids
}

func index(t *testing.T, st stores.FullTextStore, docs ...stores.Document) {
	t.Helper()
	storetest.RequireNoError(t, st.IndexDocuments(storetest.Ctx(t), docs))
}

func searchIDs(t *testing.T, st stores.FullTextStore, text string) []string {
	t.Helper()
	page, err := st.Search(storetest.Ctx(t), stores.SearchQuery{Text: text}, stores.PageArgs{First: 100})
	storetest.RequireNoError(t, err)
	ids := []string{}
	for _, h := range page.Items {
		ids = append(ids, h.Document.ID)
	}
	return ids
}

func TestTenantIsolation(t *testing.T) {
	b := openTest(t)
	me, them := storetest.NewTenant(), storetest.NewTenant()
	mine, theirs := b.FullText(me), b.FullText(them)
	index(t, mine, stores.Document{ID: "mine", Body: "my notes about routing"})
	index(t, theirs, stores.Document{ID: "theirs", Body: "their secret notes about routing", Tags: []string{"secret"}})

	t.Run("a tenant's alias shows only its documents, even to match_all", func(t *testing.T) {
		all := map[string]any{"query": map[string]any{"match_all": map[string]any{}}, "size": 100}
		if got := rawSearch(t, b, b.aliasName(me.OrgID), all); len(got) != 1 || got[0] != "mine" {
			t.Fatalf("match_all through my alias found %v", got)
		}
		if got := rawSearch(t, b, b.Index(), all); len(got) != 2 {
			t.Fatalf("the shared index holds %v, want both tenants' documents", got)
		}
	})

	t.Run("crafted query strings never reach another tenant", func(t *testing.T) {
		for _, text := range []string{
			"secret",
			"org_id:" + them.OrgID.String(),
			them.OrgID.String(),
			`"}}, {"match_all": {}}, {"term": {"org_id": "` + them.OrgID.String() + `"}}`,
			`* OR secret OR _id:*`,
			`tags:secret`,
			`secret" } ] } } , "query": { "match_all": {} } //`,
			`routing notes`,
		} {
			for _, id := range searchIDs(t, mine, text) {
				if id != "mine" {
					t.Fatalf("query %q reached %s", text, id)
				}
			}
		}
		if got := searchIDs(t, mine, "routing notes"); len(got) != 1 || got[0] != "mine" {
			t.Fatalf("routing notes found %v, want only mine", got)
		}
	})

	t.Run("the shared index refuses documents outside the mapping or without routing", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		doc := map[string]any{"org_id": me.OrgID.String(), "doc_id": "x", "body": "x", "created_at": "2026-01-01T00:00:00Z"}
		path := "/" + url.PathEscape(b.Index()) + "/_doc/x"
		if status := statusOf(b.call(ctx, http.MethodPut, path, nil, doc, nil)); status != http.StatusBadRequest {
			t.Fatalf("a document without routing got status %d, want 400", status)
		}
		doc["owner"] = "someone"
		if status := statusOf(b.call(ctx, http.MethodPut, path, url.Values{"routing": {me.OrgID.String()}}, doc, nil)); status != http.StatusBadRequest {
			t.Fatalf("a document with an unmapped field got status %d, want 400", status)
		}
	})

	t.Run("a tenant that never wrote finds and deletes nothing, and gets no alias", func(t *testing.T) {
		fresh := storetest.NewTenant()
		if got := searchIDs(t, b.FullText(fresh), "routing"); len(got) != 0 {
			t.Fatalf("a fresh tenant found %v", got)
		}
		n, err := b.FullText(fresh).DeleteDocuments(storetest.Ctx(t), []string{"mine", "theirs"})
		storetest.RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("a fresh tenant deleted %d documents", n)
		}
		indices, err := b.TenantIndices(storetest.Ctx(t), fresh.OrgID)
		storetest.RequireNoError(t, err)
		if len(indices) != 0 {
			t.Fatalf("searching created an alias on %v", indices)
		}
	})
}

// TestTenantLocalBM25 checks that a search ranks by BM25 with the tenant's
// own statistics: a word rare among the tenant's documents outweighs a common
// one, the score is the BM25 figure computed by hand, and another tenant
// writing the same words many times changes none of it.
func TestTenantLocalBM25(t *testing.T) {
	b := openTest(t)
	me, them := storetest.NewTenant(), storetest.NewTenant()
	mine := b.FullText(me)
	docs := []stores.Document{{ID: "rare", Body: "kestrel common"}}
	for i := range 9 {
		docs = append(docs, stores.Document{ID: fmt.Sprintf("common-%d", i), Body: "common words"})
	}
	index(t, mine, docs...)

	scores := func() map[string]float64 {
		page, err := mine.Search(storetest.Ctx(t), stores.SearchQuery{Text: "kestrel common"}, stores.PageArgs{First: 20})
		storetest.RequireNoError(t, err)
		out := map[string]float64{}
		for _, h := range page.Items {
			out[h.Document.ID] = h.Score
		}
		if len(page.Items) == 0 || page.Items[0].Document.ID != "rare" {
			t.Fatalf("the document with the rare word is not first: %v", out)
		}
		return out
	}
	before := scores()
	// BM25's term-frequency part for tf 1 in a 2-word document, the fixed
	// typical length being 64, times each word's idf among 10 documents.
	tfPart := 2.2 / (1 + 1.2*(0.25+0.75*2/64.0))
	idf := func(df float64) float64 { return math.Log(1 + (10-df+0.5)/(df+0.5)) }
	if want := (idf(1) + idf(10)) * tfPart; math.Abs(before["rare"]-want) > 1e-4*want {
		t.Errorf("score of the rare document %v, want BM25 %v", before["rare"], want)
	}
	if want := idf(10) * tfPart; math.Abs(before["common-0"]-want) > 1e-4*want {
		t.Errorf("score of a common document %v, want BM25 %v", before["common-0"], want)
	}

	var theirs []stores.Document
	for i := range 50 {
		theirs = append(theirs, stores.Document{ID: fmt.Sprintf("t-%d", i), Body: "kestrel kestrel common"})
	}
	index(t, b.FullText(them), theirs...)
	if after := scores(); !maps.Equal(before, after) {
		t.Errorf("another tenant's documents changed the scores: %v, then %v", before, after)
	}
}
