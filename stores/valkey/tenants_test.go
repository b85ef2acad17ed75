package valkey

import (
	"slices"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestOrganisationLifecycle counts, erases one user of, then erases an
// organisation's keys in small batches, on one server and on a cluster,
// without touching another organisation's.
func TestOrganisationLifecycle(t *testing.T) {
	for _, variable := range []string{"VALKEY_URL", "VALKEY_CLUSTER_URL"} {
		t.Run(variable, func(t *testing.T) {
			b := openEnv(t, variable)
			ctx := storetest.Ctx(t)
			org := uuid.New()
			leaver, stayer := stores.Tenant{OrgID: org, UserID: uuid.New()}, stores.Tenant{OrgID: org, UserID: uuid.New()}
			other := storetest.NewTenant()
			c := &cleaned{t: t, b: b}
			for _, tn := range []stores.Tenant{leaver, stayer, other} {
				for _, s := range []string{"s1", "s2"} {
					put(t, c.Episodic(tn), s, "i1", 1, time.Hour)
				}
			}
			count := func(org uuid.UUID) map[string]int64 {
				t.Helper()
				n, err := b.Count(ctx, org)
				storetest.RequireNoError(t, err)
				return n
			}
			before := count(org)
			if before["users"] != 2 || before["keys"] == 0 {
				t.Fatalf("counted %v", before)
			}
			otherBefore := count(other.OrgID)

			orgs, err := b.Orgs(ctx)
			storetest.RequireNoError(t, err)
			if !slices.Contains(orgs, org) || !slices.Contains(orgs, other.OrgID) {
				t.Fatalf("the listing misses an organisation")
			}

			drain := func(step func() (map[string]int64, bool, error)) int64 {
				t.Helper()
				var removed int64
				for {
					got, done, err := step()
					storetest.RequireNoError(t, err)
					removed += got["keys"]
					if done {
						return removed
					}
				}
			}
			gone := drain(func() (map[string]int64, bool, error) { return b.EraseUserBatch(ctx, org, leaver.UserID, 2) })
			if left := count(org); left["users"] != 1 || left["keys"]+gone != before["keys"] {
				t.Fatalf("after erasing a user: %v (removed %d of %v)", left, gone, before)
			}
			if len(tenantKeys(t, b, leaver)) != 0 || len(tenantKeys(t, b, stayer)) == 0 {
				t.Fatal("the user erasure removed the wrong keys")
			}
			drain(func() (map[string]int64, bool, error) { return b.EraseBatch(ctx, org, 3) })
			if left := count(org); left["keys"] != 0 || left["users"] != 0 {
				t.Fatalf("after erasing the organisation: %v", left)
			}
			if after := count(other.OrgID); after["keys"] != otherBefore["keys"] {
				t.Fatalf("the other organisation went from %v to %v", otherBefore, after)
			}
		})
	}
}
