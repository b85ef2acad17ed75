package opensearch

import (
	"fmt"
	"slices"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// TestOrganisationLifecycle erases a tenant moved to a dedicated index and
// one on the shared index, in batches of 3 documents: documents, aliases and
// the dedicated index go, a third tenant keeps everything.
func TestOrganisationLifecycle(t *testing.T) {
	b := openTest(t)
	ctx := storetest.Ctx(t)
	moved, shared, kept := storetest.NewTenant(), storetest.NewTenant(), storetest.NewTenant()
	for _, tn := range []stores.Tenant{moved, shared, kept} {
		var docs []stores.Document
		for i := range 7 {
			docs = append(docs, stores.Document{ID: fmt.Sprintf("d%d", i), Body: "lifecycle notes"})
		}
		index(t, b.FullText(tn), docs...)
	}
	_, err := b.MoveTenant(ctx, moved.OrgID)
	storetest.RequireNoError(t, err)

	orgs, err := b.Orgs(ctx)
	storetest.RequireNoError(t, err)
	for _, tn := range []stores.Tenant{moved, shared, kept} {
		if !slices.Contains(orgs, tn.OrgID) {
			t.Fatalf("the listing misses %s: %v", tn.OrgID, orgs)
		}
	}
	counts, err := b.Count(ctx, moved.OrgID)
	storetest.RequireNoError(t, err)
	if counts["documents"] != 7 || counts["aliases"] != 1 || counts["dedicated_indices"] != 1 {
		t.Fatalf("the moved tenant counts %v", counts)
	}

	for _, tn := range []stores.Tenant{moved, shared} {
		var removed int64
		for calls := 0; ; calls++ {
			got, done, err := b.EraseBatch(ctx, tn.OrgID, 3)
			storetest.RequireNoError(t, err)
			removed += got["documents"]
			if got["documents"] > 3 {
				t.Fatalf("one batch removed %d documents", got["documents"])
			}
			if done {
				break
			}
			if calls > 10 {
				t.Fatal("the erasure does not end")
			}
		}
		if removed != 7 {
			t.Fatalf("removed %d documents of 7", removed)
		}
		counts, err := b.Count(ctx, tn.OrgID)
		storetest.RequireNoError(t, err)
		for kind, n := range counts {
			if n != 0 {
				t.Errorf("after the erasure %s still holds %d %s", tn.OrgID, n, kind)
			}
		}
	}
	if got := searchIDs(t, b.FullText(kept), "lifecycle"); len(got) != 7 {
		t.Fatalf("the kept tenant finds %v", got)
	}
	if _, done, err := b.EraseBatch(ctx, moved.OrgID, 3); err != nil || !done {
		t.Fatalf("erasing again: done %v, %v", done, err)
	}
}
