package resolvers

import (
	"context"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// access returns the request's tenant-bound stores after checking that the
// caller holds scope: FORBIDDEN without it, UNAUTHENTICATED without a principal.
func access(ctx context.Context, scope string) (*stores.Bundle, error) {
	if err := auth.Require(ctx, scope); err != nil {
		return nil, err
	}
	b := stores.For(ctx)
	if b == nil {
		return nil, auth.Require(context.Background(), scope)
	}
	return b, nil
}

// loadersFor is access for fields resolved through the request's loaders.
func loadersFor(ctx context.Context, scope string) (*loaders.Loaders, error) {
	if _, err := access(ctx, scope); err != nil {
		return nil, err
	}
	return loaders.For(ctx), nil
}

// pageArgs opens a connection's arguments. The cursor scope names the list
// and the tenant, so a cursor works only in the list and tenant that issued it.
func (r *Resolver) pageArgs(ctx context.Context, list string, first *int, after *string) (stores.PageArgs, string, error) {
	scope := list + ":" + stores.For(ctx).Tenant.OrgID.String()
	args, err := r.Cursors.Args(r.Pages, scope, first, after)
	return args, scope, err
}

// list runs a connection field: it checks the caller's scope, opens the
// page arguments (a cursor works only in the list and tenant that issued
// it), fetches one page and turns it into edges, nodes and page info. It
// binds count to the same bundle for the connection's totalCount, which
// calls it only when selected; count gets the arguments fetch accepted.
func list[T, E any](ctx context.Context, r *Resolver, scope, name string, first *int, after *string,
	fetch func(*stores.Bundle, stores.PageArgs) (stores.Page[T], error),
	count func(context.Context, *stores.Bundle) (int, error),
	edge func(cursor string, node T) E,
) ([]E, []T, model.PageInfo, model.TotalCount, error) {
	b, err := access(ctx, scope)
	if err != nil {
		return nil, nil, model.PageInfo{}, nil, err
	}
	args, cursorScope, err := r.pageArgs(ctx, name, first, after)
	if err != nil {
		return nil, nil, model.PageInfo{}, nil, err
	}
	page, err := fetch(b, args)
	if err != nil {
		return nil, nil, model.PageInfo{}, nil, err
	}
	var edges []E
	nodes, info := page.Items, model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: after != nil && *after != ""}
	if nodes == nil {
		nodes = []T{}
	}
	if cursorsRead(ctx) {
		edges, nodes, info = connection(r, cursorScope, page, after, edge)
	}
	return edges, nodes, info, func(ctx context.Context) (int, error) { return count(ctx, b) }, nil
}

// cursorsRead reports whether the connection field being resolved selects
// its edges or page info, the only fields that read cursors: sealing one
// (an HMAC per item) is a good part of a small page's cost. Unsure (not
// resolving a connection field), it says yes.
func cursorsRead(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return true
	}
	oc, fc := graphql.GetOperationContext(ctx), graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil || !strings.HasSuffix(fc.Field.Definition.Type.Name(), "Connection") {
		return true
	}
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		if f.Name == "edges" || f.Name == "pageInfo" {
			return true
		}
	}
	return false
}

// connection turns a store page into a connection's edges, nodes and page info.
func connection[T, E any](r *Resolver, scope string, p stores.Page[T], after *string, edge func(cursor string, node T) E) ([]E, []T, model.PageInfo) {
	edges := make([]E, len(p.Items))
	nodes := p.Items
	if nodes == nil {
		nodes = []T{}
	}
	info := model.PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: after != nil && *after != ""}
	for i, item := range p.Items {
		c := r.Cursors.Seal(scope, p.Cursors[i])
		edges[i] = edge(c, item)
		if i == 0 {
			info.StartCursor = &c
		}
		if i == len(p.Items)-1 {
			info.EndCursor = &c
		}
	}
	return edges, nodes, info
}

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// loadMemory resolves an optional memory reference from another domain's
// object through the request's memory loader: null when there is none, it
// does not exist, or the caller cannot read memories (with FORBIDDEN).
func loadMemory(ctx context.Context, id *uuid.UUID) (*stores.Memory, error) {
	if id == nil {
		return nil, nil
	}
	l, err := loadersFor(ctx, auth.ScopeMemoriesRead)
	if err != nil {
		return nil, err
	}
	return l.Memory.Load(ctx, *id)()
}

// float32s converts a GraphQL vector ([Float!], float64) to the stores'
// float32, refusing values a float32 cannot hold: NaN, infinities, overflow.
func float32s(v []float64) ([]float32, error) {
	if len(v) == 0 || len(v) > stores.MaxVectorDimension {
		return nil, stores.Invalid("a vector needs 1 to %d values", stores.MaxVectorDimension)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		if math.IsNaN(x) || math.Abs(x) > math.MaxFloat32 {
			return nil, stores.Invalid("vector value %d is not a finite 32-bit float", i)
		}
		out[i] = float32(x)
	}
	return out, nil
}
