package resolvers

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/tenants"
)

// maxErasures bounds organizationErasures.
const maxErasures = 20

// lifecycle checks that the caller is an org admin and that the gateway
// keeps a tenant registry.
func (r *Resolver) lifecycle(ctx context.Context) (auth.Principal, error) {
	if err := auth.Require(ctx, auth.ScopeAdmin); err != nil {
		return auth.Principal{}, err
	}
	p, _ := auth.FromContext(ctx)
	if r.Lifecycle == nil {
		return p, stores.Unavailable("postgres", errors.New("the organisation lifecycle needs the tenant registry (DATABASE_URL)"))
	}
	return p, nil
}

// erasure is the GraphQL view of an erasure job. Its last error stays in
// the operator's `gateway tenant jobs`: it may hold a driver's text.
func erasure(j tenants.Job) model.OrganizationErasure {
	e := model.OrganizationErasure{
		ID: strconv.FormatInt(j.ID, 10), State: model.ErasureState(j.State), RequestedBy: j.RequestedBy,
		CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt,
	}
	for _, store := range tenants.OrgStores {
		counts := map[string]any{}
		for k, v := range j.Counts[store] {
			counts[k] = v
		}
		e.Stores = append(e.Stores, model.ErasureStoreProgress{Store: store, Done: !slices.Contains(j.Pending, store), Counts: counts})
	}
	return e
}
