package opensearch

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// countIn counts an org's documents in one index, bypassing aliases.
func countIn(t *testing.T, b *Backend, index string, org uuid.UUID) int {
	t.Helper()
	var resp struct {
		Count int `json:"count"`
	}
	body := map[string]termQuery{"query": newTermQuery("org_id", org.String())}
	if err := b.call(storetest.Ctx(t), http.MethodPost, "/"+url.PathEscape(index)+"/_count", nil, body, &resp); err != nil {
		t.Fatalf("counting in %s: %v", index, err)
	}
	return resp.Count
}

func TestMoveTenant(t *testing.T) {
	b := openTest(t)
	ctx := storetest.Ctx(t)
	big, small := storetest.NewTenant(), storetest.NewTenant()
	bigStore, smallStore := b.FullText(big), b.FullText(small)
	var docs []stores.Document
	for i := range 50 {
		docs = append(docs, stores.Document{ID: fmt.Sprintf("doc-%02d", i), Body: fmt.Sprintf("moving notes number %d", i), Tags: []string{"move"}})
	}
	index(t, bigStore, docs...)
	index(t, smallStore, stores.Document{ID: "stays", Body: "moving notes of a small tenant"})
	before := strings.Join(searchIDs(t, bigStore, "moving notes"), ",")

	// Searches keep answering, with the same hits, while the move runs.
	moveCtx, moveDone := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var searches int
	var searchErr error
	wg.Go(func() {
		for moveCtx.Err() == nil {
			page, err := bigStore.Search(ctx, stores.SearchQuery{Text: "moving notes"}, stores.PageArgs{First: 100})
			if err != nil {
				searchErr = err
				return
			}
			ids := make([]string, len(page.Items))
			for i, h := range page.Items {
				ids[i] = h.Document.ID
			}
			if got := strings.Join(ids, ","); got != before {
				searchErr = fmt.Errorf("a search during the move found %q", got)
				return
			}
			searches++
		}
	})
	res, err := b.MoveTenant(ctx, big.OrgID)
	moveDone()
	wg.Wait()
	storetest.RequireNoError(t, err)
	if searchErr != nil {
		t.Fatalf("after %d good searches: %v", searches, searchErr)
	}
	t.Logf("moved %+v; %d searches during the move all answered", res, searches)

	t.Run("the tenant's alias points to its dedicated index and the shared index no longer holds its documents", func(t *testing.T) {
		if res.From != b.Index() || res.To != b.DedicatedIndex(big.OrgID) || res.Copied != 50 || res.Removed != 50 || res.AlreadyMoved {
			t.Fatalf("move reported %+v", res)
		}
		indices, err := b.TenantIndices(ctx, big.OrgID)
		storetest.RequireNoError(t, err)
		if !slices.Equal(indices, []string{res.To}) {
			t.Fatalf("the alias points to %v", indices)
		}
		if n := countIn(t, b, b.Index(), big.OrgID); n != 0 {
			t.Fatalf("the shared index still holds %d of the tenant's documents", n)
		}
		if n := countIn(t, b, res.To, big.OrgID); n != 50 {
			t.Fatalf("the dedicated index holds %d documents, want 50", n)
		}
	})

	t.Run("searches after the move return the same hits", func(t *testing.T) {
		if after := strings.Join(searchIDs(t, bigStore, "moving notes"), ","); after != before {
			t.Fatalf("after the move: %q, before: %q", after, before)
		}
	})

	t.Run("writes after the move land in the dedicated index", func(t *testing.T) {
		index(t, bigStore, stores.Document{ID: "after-move", Body: "written after the move"})
		if got := searchIDs(t, bigStore, "written after"); !slices.Equal(got, []string{"after-move"}) {
			t.Fatalf("the new document is found as %v", got)
		}
		if n := countIn(t, b, res.To, big.OrgID); n != 51 {
			t.Fatalf("the dedicated index holds %d documents, want 51", n)
		}
		if n := countIn(t, b, b.Index(), big.OrgID); n != 0 {
			t.Fatalf("the write landed in the shared index (%d documents)", n)
		}
		n, err := bigStore.DeleteDocuments(ctx, []string{"after-move", "doc-00"})
		storetest.RequireNoError(t, err)
		if n != 2 {
			t.Fatalf("deleting in the dedicated index counted %d", n)
		}
	})

	t.Run("other tenants stay on the shared index and see nothing of the moved one", func(t *testing.T) {
		if got := searchIDs(t, smallStore, "moving notes"); !slices.Equal(got, []string{"stays"}) {
			t.Fatalf("the small tenant found %v", got)
		}
		indices, err := b.TenantIndices(ctx, small.OrgID)
		storetest.RequireNoError(t, err)
		if !slices.Equal(indices, []string{b.Index()}) {
			t.Fatalf("the small tenant's alias points to %v", indices)
		}
		if got := searchIDs(t, bigStore, "small tenant"); len(got) != 0 {
			t.Fatalf("the moved tenant found %v", got)
		}
	})

	t.Run("moving again changes nothing", func(t *testing.T) {
		again, err := b.MoveTenant(ctx, big.OrgID)
		storetest.RequireNoError(t, err)
		if !again.AlreadyMoved || again.Copied != 0 || again.Removed != 0 {
			t.Fatalf("a second move reported %+v", again)
		}
		if got := len(searchIDs(t, bigStore, "moving notes")); got != 49 {
			t.Fatalf("after a second move %d documents match, want 49", got)
		}
	})
}
