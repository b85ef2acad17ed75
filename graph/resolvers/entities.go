package resolvers

import (
	"context"

	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/graph-gophers/dataloader/v7"
)

// findEntities resolves every representation of one entity type in a
// federation `_entities` request with one batch call of the caller's
// tenant-bound store (100 memories: one MemoriesByID, whatever the timing),
// then primes the request's loader with what it found, so that the rest of
// the request (a nested field, another representation) reads from it. An id
// of another tenant, of nothing, or malformed, answers null, exactly like
// `node(id:)`.
func findEntities[K comparable, V any](ctx context.Context, scope string, kind relay.Kind, ids []string,
	decode func(string, relay.Kind) (K, error),
	fetch func(*stores.Bundle) func(context.Context, []K) (map[K]V, error),
	loader func(*loaders.Loaders) *dataloader.Loader[K, *V],
) ([]*V, error) {
	b, err := access(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := make([]*V, len(ids))
	keys := make([]K, 0, len(ids))
	for _, id := range ids {
		if key, err := decode(id, kind); err == nil {
			keys = append(keys, key)
		}
	}
	found, err := fetch(b)(ctx, keys)
	if err != nil {
		return nil, err
	}
	l := loaders.For(ctx)
	for i, id := range ids {
		key, err := decode(id, kind)
		if err != nil {
			continue
		}
		if v, ok := found[key]; ok {
			out[i] = &v
			if l != nil {
				loader(l).Prime(ctx, key, &v)
			}
		}
	}
	return out, nil
}

// decodeKey opens a global id whose raw part is a client key (code graph).
func decodeKey(id string, kind relay.Kind) (string, error) { return relay.Decode(id, kind) }
