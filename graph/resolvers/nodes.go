package resolvers

import (
	"context"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"
)

// maxNodes bounds nodes(ids:), like a page.
const maxNodes = 100

// loadNode starts loading the object a global id names and returns the
// thunk that waits for it. An id of a kind that is not a Node is
// BAD_USER_INPUT; one that does not exist (or is another tenant's) gives null.
func loadNode(ctx context.Context, id string) (func() (model.Node, error), error) {
	kind, raw, err := relay.Parse(id)
	if err != nil {
		return nil, err
	}
	switch kind {
	case relay.KindMemory:
		return nodeByUUID(ctx, auth.ScopeMemoriesRead, id, kind, func(l *loaders.Loaders) *dataloader.Loader[uuid.UUID, *stores.Memory] { return l.Memory })
	case relay.KindApp:
		return nodeByUUID(ctx, auth.ScopeMemoriesRead, id, kind, func(l *loaders.Loaders) *dataloader.Loader[uuid.UUID, *stores.App] { return l.App })
	case relay.KindExperiment:
		return nodeByUUID(ctx, auth.ScopeExperimentsRead, id, kind, func(l *loaders.Loaders) *dataloader.Loader[uuid.UUID, *stores.Experiment] { return l.Experiment })
	case relay.KindCodeRepo:
		return nodeByKey(ctx, raw, func(l *loaders.Loaders) *dataloader.Loader[string, *stores.CodeRepo] { return l.Repo })
	case relay.KindCodeFile:
		return nodeByKey(ctx, raw, func(l *loaders.Loaders) *dataloader.Loader[string, *stores.CodeFile] { return l.File })
	case relay.KindCodeSymbol:
		return nodeByKey(ctx, raw, func(l *loaders.Loaders) *dataloader.Loader[string, *stores.CodeSymbol] { return l.Symbol })
	}
	return nil, stores.Invalid("%s ids cannot be fetched with node", kind)
}

// nodeByUUID loads a Node whose store id is a UUID, after the scope check.
func nodeByUUID[V any](ctx context.Context, scope, id string, kind relay.Kind, pick func(*loaders.Loaders) *dataloader.Loader[uuid.UUID, *V]) (func() (model.Node, error), error) {
	l, err := loadersFor(ctx, scope)
	if err != nil {
		return nil, err
	}
	key, err := relay.DecodeUUID(id, kind)
	if err != nil {
		return nil, err
	}
	return nodeThunk(pick(l).Load(ctx, key)), nil
}

// nodeByKey loads a code-graph Node, whose store id is the client's key.
func nodeByKey[V any](ctx context.Context, key string, pick func(*loaders.Loaders) *dataloader.Loader[string, *V]) (func() (model.Node, error), error) {
	l, err := loadersFor(ctx, auth.ScopeCodeGraphRead)
	if err != nil {
		return nil, err
	}
	return nodeThunk(pick(l).Load(ctx, key)), nil
}

// nodeThunk returns a nil interface, not a typed nil pointer, for a missing object.
func nodeThunk[V any](load dataloader.Thunk[*V]) func() (model.Node, error) {
	return func() (model.Node, error) {
		v, err := load()
		if err != nil || v == nil {
			return nil, err
		}
		return v, nil
	}
}
