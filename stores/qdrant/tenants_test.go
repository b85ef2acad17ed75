package qdrant

import (
	"slices"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestOrganisationLifecycle erases a tenant's points from two collections in
// batches of 2; another tenant's points stay.
func TestOrganisationLifecycle(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	gone, kept := storetest.NewTenant(), storetest.NewTenant()
	models := []string{testModel(), testModel()}
	for _, model := range models {
		for tn, n := range map[stores.Tenant]int{gone: 5, kept: 2} {
			var points []stores.VectorPoint
			for i := range n {
				points = append(points, stores.VectorPoint{ID: uuid.New(), Vector: []float32{1, float32(i), 0}})
			}
			storetest.RequireNoError(t, b.Vectors(tn).UpsertVectors(ctx, model, points))
		}
	}
	count := func(tn stores.Tenant) map[string]int64 {
		t.Helper()
		c, err := b.Count(ctx, tn.OrgID)
		storetest.RequireNoError(t, err)
		return c
	}
	before := count(gone)
	for _, model := range models {
		if before["points:"+collectionName(model)] != 5 {
			t.Fatalf("counted %v", before)
		}
	}
	orgs, err := b.Orgs(ctx)
	storetest.RequireNoError(t, err)
	if !slices.Contains(orgs, gone.OrgID) || !slices.Contains(orgs, kept.OrgID) {
		t.Fatal("the listing misses a tenant")
	}
	var removed int64
	for calls := 0; ; calls++ {
		got, done, err := b.EraseBatch(ctx, gone.OrgID, 2)
		storetest.RequireNoError(t, err)
		for _, n := range got {
			if n > 2 {
				t.Fatalf("one batch of 2 removed %d", n)
			}
			removed += n
		}
		if done {
			break
		}
		if calls > 20 {
			t.Fatal("the erasure does not end")
		}
	}
	if removed != 10 {
		t.Fatalf("removed %d points of 10", removed)
	}
	after, keptAfter := count(gone), count(kept)
	for _, model := range models {
		if after["points:"+collectionName(model)] != 0 || keptAfter["points:"+collectionName(model)] != 2 {
			t.Fatalf("after the erasure: %v; the other tenant: %v", after, keptAfter)
		}
	}
}
