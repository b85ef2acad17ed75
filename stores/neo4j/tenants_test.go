package neo4j

import (
	"slices"
	"testing"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestOrganisationLifecycle erases a tenant's graph one item per batch:
// relationships first, then nodes; another tenant's graph answers as before.
func TestOrganisationLifecycle(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	gone, goneTenant := store(t)
	kept, keptTenant := store(t)
	graph(t, gone, map[string][]string{"f1": {"a", "b"}, "f2": {"c"}}, "a>b", "b>c")
	graph(t, kept, map[string][]string{"f1": {"a", "b"}}, "a>b")
	keptBefore := reach(t, kept, 2, "a", "b")

	counts, err := b.Count(ctx, goneTenant.OrgID)
	storetest.RequireNoError(t, err)
	if counts["repos"] != 1 || counts["files"] != 2 || counts["symbols"] != 3 || counts["edges"] == 0 {
		t.Fatalf("counted %v", counts)
	}
	orgs, err := b.Orgs(ctx)
	storetest.RequireNoError(t, err)
	if !slices.Contains(orgs, goneTenant.OrgID) || !slices.Contains(orgs, keptTenant.OrgID) {
		t.Fatal("the listing misses a tenant")
	}

	var kinds []string
	removed := map[string]int64{}
	for calls := 0; ; calls++ {
		got, done, err := b.EraseBatch(ctx, goneTenant.OrgID, 1)
		storetest.RequireNoError(t, err)
		for k, n := range got {
			if n != 1 {
				t.Fatalf("one batch of 1 removed %d %s", n, k)
			}
			removed[k] += n
			kinds = append(kinds, k)
		}
		if done {
			break
		}
		if calls > 50 {
			t.Fatal("the erasure does not end")
		}
	}
	if removed["nodes"] != 6 || removed["edges"] != counts["edges"] || slices.Index(kinds, "nodes") < slices.Index(kinds, "edges") {
		t.Fatalf("removed %v in the order %v", removed, kinds)
	}
	after, err := b.Count(ctx, goneTenant.OrgID)
	storetest.RequireNoError(t, err)
	for kind, n := range after {
		if n != 0 {
			t.Errorf("after the erasure %d %s remain", n, kind)
		}
	}
	if got := reach(t, kept, 2, "a", "b"); got != keptBefore {
		t.Fatalf("the other tenant's graph changed:\n%s\n%s", keptBefore, got)
	}
}
