package resolvers

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/vektah/gqlparser/v2/ast"
)

// newMemory converts a createMemory input to the store's.
func (r *Resolver) newMemory(in model.CreateMemoryInput) (stores.NewMemory, error) {
	appID, err := relay.DecodeUUID(in.AppID, relay.KindApp)
	if err != nil {
		return stores.NewMemory{}, err
	}
	visibility := r.DefaultMemoryVisibility
	if in.Visibility != nil {
		visibility = *in.Visibility
	}
	return stores.NewMemory{AppID: appID, Content: in.Content, Metadata: in.Metadata, Categories: in.Categories, Visibility: visibility}, nil
}

// memoryFilter converts a memories filter to the store's.
func memoryFilter(in *model.MemoryFilter) (stores.MemoryFilter, error) {
	if in == nil {
		return stores.MemoryFilter{}, nil
	}
	appID, err := relay.DecodeOptionalUUID(in.AppID, relay.KindApp)
	if err != nil {
		return stores.MemoryFilter{}, err
	}
	categoryID, err := relay.DecodeOptionalUUID(in.CategoryID, relay.KindCategory)
	if err != nil {
		return stores.MemoryFilter{}, err
	}
	return stores.MemoryFilter{
		States:        in.States,
		AppID:         appID,
		CategoryID:    categoryID,
		TextContains:  deref(in.TextContains),
		CreatedAfter:  in.CreatedAfter,
		CreatedBefore: in.CreatedBefore,
	}, nil
}

// version converts an optional expectedVersion argument.
func version(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

// prefetchMemoryFields loads the apps, the categories and the index status of a page of
// memories, when the query selects them, with one store call each (side by
// side), and primes the request's loaders with them: the field resolvers then
// find every key cached. Leaving it to the loaders alone splits long pages:
// a batch collects keys for its wait window from the first resolver that
// asks, and on a busy machine a page's resolvers do not all ask within it
// (5 to 10 statements instead of 3, docs/BENCHMARKS.md).
//
// It reports whether the page's memories then answer every selected field
// without waiting: each is a stored field, an id, or a primed app or
// categories load, so the page can be marshalled without a goroutine per
// memory (loaders.MarkPrimed).
func prefetchMemoryFields(ctx context.Context, b *stores.Bundle, page []stores.Memory) bool {
	l := loaders.For(ctx)
	if len(page) == 0 || l == nil {
		return false
	}
	fields := selectedMemoryFields(ctx)
	var failed atomic.Bool
	var wg sync.WaitGroup
	if fields["app"] {
		wg.Go(func() {
			appIDs := make([]uuid.UUID, 0, len(page))
			seen := map[uuid.UUID]bool{}
			for _, m := range page {
				if !seen[m.AppID] {
					seen[m.AppID] = true
					appIDs = append(appIDs, m.AppID)
				}
			}
			apps, err := b.Memories.AppsByID(ctx, appIDs)
			if err != nil {
				failed.Store(true)
				return // the field resolvers load, and report, on their own
			}
			for _, id := range appIDs {
				if a, ok := apps[id]; ok {
					l.App.Prime(ctx, id, &a)
				} else {
					l.App.Prime(ctx, id, nil)
				}
			}
		})
	}
	if fields["categories"] {
		wg.Go(func() {
			if !primeByMemory(ctx, page, b.Memories.CategoriesByMemory, l.MemoryCategories) {
				failed.Store(true)
			}
		})
	}
	if fields["indexStatus"] {
		wg.Go(func() {
			if !primeByMemory(ctx, page, b.IndexStatus.IndexStatuses, l.IndexStatus) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return false
	}
	for name := range fields {
		if !answersWhenPrimed[name] {
			return false
		}
	}
	return true
}

// markPrimedPage lets the executor marshal the connection's nodes and edges
// without a goroutine per memory (execution.MarshalPrimedSlice).
func markPrimedPage(ctx context.Context, c model.MemoryConnection) {
	l := loaders.For(ctx)
	if len(c.Nodes) > 0 {
		l.MarkPrimed(&c.Nodes[0])
	}
	if len(c.Edges) > 0 {
		l.MarkPrimed(&c.Edges[0])
	}
}

// answersWhenPrimed are the fields of Memory that answer without waiting
// once prefetchMemoryFields primed the page (App and Category have no field
// that waits). A field added to Memory is not here until it is known not to
// wait, so a page selecting it keeps a goroutine per memory.
var answersWhenPrimed = map[string]bool{
	"__typename": true, "id": true, "content": true, "metadata": true, "state": true, "version": true,
	"createdAt": true, "updatedAt": true, "deletedAt": true, "authorId": true, "visibility": true,
	"app": true, "categories": true, "indexStatus": true,
}

// primeByMemory loads a list per memory of the page with one store call and
// primes the loader with it; on an error (false) the field resolvers load,
// and report, on their own.
func primeByMemory[V any](ctx context.Context, page []stores.Memory, fetch func(context.Context, []uuid.UUID) (map[uuid.UUID][]V, error),
	loader *dataloader.Loader[uuid.UUID, []V]) bool {
	ids := make([]uuid.UUID, len(page))
	for i, m := range page {
		ids[i] = m.ID
	}
	found, err := fetch(ctx, ids)
	if err != nil {
		return false
	}
	for _, id := range ids {
		v := found[id]
		if v == nil {
			v = []V{}
		}
		loader.Prime(ctx, id, v)
	}
	return true
}

// selectedMemoryFields names the fields the query selects on the memories
// of a connection, through nodes { ... } and edges { node { ... } }.
func selectedMemoryFields(ctx context.Context) map[string]bool {
	oc := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	out := map[string]bool{}
	if oc == nil || fc == nil {
		return out
	}
	add := func(set ast.SelectionSet) {
		for _, f := range graphql.CollectFields(oc, set, nil) {
			out[f.Name] = true
		}
	}
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		switch f.Name {
		case "nodes":
			add(f.Selections)
		case "edges":
			for _, e := range graphql.CollectFields(oc, f.Selections, nil) {
				if e.Name == "node" {
					add(e.Selections)
				}
			}
		}
	}
	return out
}
