package opensearch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestPlaceLargeTenants(t *testing.T) {
	b := openTest(t)
	ctx := storetest.Ctx(t)
	big, small := storetest.NewTenant(), storetest.NewTenant()
	bigStore := b.FullText(big)
	for i := range 6 {
		index(t, bigStore, stores.Document{ID: fmt.Sprintf("doc-%d", i), Body: fmt.Sprintf("placement notes %d", i)})
	}
	index(t, b.FullText(small), stores.Document{ID: "a", Body: "placement notes"}, stores.Document{ID: "b", Body: "placement notes"})

	// Searches of the big tenant keep answering, whole, while it moves.
	moveCtx, moveDone := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var searches int
	var searchErr error
	wg.Go(func() {
		for moveCtx.Err() == nil {
			page, err := bigStore.Search(ctx, stores.SearchQuery{Text: "placement notes"}, stores.PageArgs{First: 100})
			if err == nil && len(page.Items) != 6 {
				err = fmt.Errorf("a search found %d of 6 documents", len(page.Items))
			}
			if err != nil {
				searchErr = err
				return
			}
			searches++
		}
	})
	moved, err := b.PlaceLargeTenants(ctx, 5, slog.Default())
	moveDone()
	wg.Wait()
	storetest.RequireNoError(t, err)
	if searchErr != nil {
		t.Fatalf("after %d good searches: %v", searches, searchErr)
	}
	if len(moved) != 1 || moved[0].To != b.DedicatedIndex(big.OrgID) || moved[0].Copied != 6 {
		t.Fatalf("moves: %+v", moved)
	}
	t.Logf("moved the tenant over the threshold; %d searches during the move all answered whole", searches)

	tenants, err := b.Tenants(ctx)
	storetest.RequireNoError(t, err)
	if len(tenants) != 2 ||
		tenants[0].Org != big.OrgID || !tenants[0].Dedicated || tenants[0].Documents != 6 ||
		tenants[1].Org != small.OrgID || tenants[1].Dedicated || tenants[1].Index != b.Index() || tenants[1].Documents != 2 {
		t.Fatalf("tenants: %+v", tenants)
	}

	again, err := b.PlaceLargeTenants(ctx, 5, slog.Default())
	storetest.RequireNoError(t, err)
	if len(again) != 0 {
		t.Fatalf("a second round moved %+v", again)
	}

	// A tenant another replica is moving (its lock taken) is left alone.
	unlock, ok, err := b.lockMove(ctx, small.OrgID)
	storetest.RequireNoError(t, err)
	if !ok {
		t.Fatal("the lock of an idle tenant was refused")
	}
	if _, ok, _ := b.lockMove(ctx, small.OrgID); ok {
		t.Fatal("a held lock was given twice")
	}
	locked, err := b.PlaceLargeTenants(ctx, 1, slog.Default())
	storetest.RequireNoError(t, err)
	if len(locked) != 0 {
		t.Fatalf("a locked tenant was moved: %+v", locked)
	}
	unlock()
	if after, err := b.PlaceLargeTenants(ctx, 1, slog.Default()); err != nil || len(after) != 1 {
		t.Fatalf("after the unlock: %+v %v", after, err)
	}
}
