package opensearch

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// oldIndexDefinition is an index as created before private memories: the
// strict mapping without author_id and visibility.
func oldIndexDefinition(t *testing.T) indexDefinition {
	t.Helper()
	var mapping map[string]any
	if err := json.Unmarshal([]byte(documentMapping), &mapping); err != nil {
		t.Fatal(err)
	}
	props := mapping["properties"].(map[string]any)
	delete(props, "author_id")
	delete(props, "visibility")
	raw, err := json.Marshal(mapping)
	if err != nil {
		t.Fatal(err)
	}
	def := newIndexDefinition(1)
	def.Mappings = raw
	return def
}

func TestIndicesMadeBeforePrivateMemoriesTakeTheirFields(t *testing.T) {
	b := openTest(t)
	ctx := storetest.Ctx(t)

	t.Run("the shared index, when the backend opens", func(t *testing.T) {
		old := b.Index() + "-old-shared"
		storetest.RequireNoError(t, b.call(ctx, http.MethodPut, "/"+url.PathEscape(old), nil, oldIndexDefinition(t), nil))
		reopened, err := Open(ctx, Options{URL: b.opts.URL, Index: old, AliasPrefix: b.Index() + "-old-alias-"})
		storetest.RequireNoError(t, err)
		t.Cleanup(reopened.Close)
		requirePrivateDocumentsWork(t, reopened, storetest.NewTenant())
	})

	t.Run("a moved tenant's dedicated index, before the tenant's first write", func(t *testing.T) {
		author := storetest.NewTenant()
		dedicated := b.DedicatedIndex(author.OrgID)
		storetest.RequireNoError(t, b.call(ctx, http.MethodPut, "/"+url.PathEscape(dedicated), nil, oldIndexDefinition(t), nil))
		alias := "/" + url.PathEscape(dedicated) + "/_alias/" + url.PathEscape(b.aliasName(author.OrgID))
		storetest.RequireNoError(t, b.call(ctx, http.MethodPut, alias, nil, newTenantAlias(author.OrgID), nil))
		requirePrivateDocumentsWork(t, b, author)
	})
}

// requirePrivateDocumentsWork writes a private document through b and
// checks that its author finds it and a colleague does not.
func requirePrivateDocumentsWork(t *testing.T, b *Backend, author stores.Tenant) {
	t.Helper()
	colleague := storetest.SameOrgOtherUser(author)
	ctx := storetest.Ctx(t)
	err := b.FullText(author).IndexDocuments(ctx, []stores.Document{
		{ID: "mine", Body: "narwhal tusk notes", AuthorID: author.UserID, Visibility: stores.VisibilityPrivate},
	})
	storetest.RequireNoError(t, err)
	for _, c := range []struct {
		who  stores.Tenant
		want int
	}{{author, 1}, {colleague, 0}} {
		n, err := b.FullText(c.who).CountSearchHits(ctx, stores.SearchQuery{Text: "narwhal"})
		storetest.RequireNoError(t, err)
		if n != c.want {
			t.Fatalf("%v counts %d hits, want %d", c.who.UserID, n, c.want)
		}
	}
}
