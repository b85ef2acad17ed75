package valkey

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// TestOrgUsersFindsEveryUserOfOneOrg checks the scan tenant export starts
// from, on one server and on a cluster (where the users' keys live on
// different masters): every user of the org with a live item, and no user
// of another org.
func TestOrgUsersFindsEveryUserOfOneOrg(t *testing.T) {
	for _, variable := range []string{"VALKEY_URL", "VALKEY_CLUSTER_URL"} {
		t.Run(variable, func(t *testing.T) {
			b := openEnv(t, variable)
			ctx := storetest.Ctx(t)
			org := uuid.New()
			var want []uuid.UUID
			for range 5 {
				tenant := stores.Tenant{OrgID: org, UserID: uuid.New()}
				put(t, (&cleaned{t: t, b: b}).Episodic(tenant), "s", "i", 1, time.Minute)
				want = append(want, tenant.UserID)
			}
			put(t, (&cleaned{t: t, b: b}).Episodic(storetest.NewTenant()), "s", "i", 1, time.Minute)
			got, err := b.OrgUsers(ctx, org)
			storetest.RequireNoError(t, err)
			slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			if !slices.Equal(got, want) {
				t.Fatalf("OrgUsers = %v, want %v", got, want)
			}
		})
	}
}
