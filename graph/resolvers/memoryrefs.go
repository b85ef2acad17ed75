package resolvers

import (
	"context"

	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// memoryRefs decodes the optional memoryId arguments of a write to another
// domain (an episodic item, a vector point, a document) and checks, in one
// store call, that each names a memory of the caller's organisation. A
// memory of another organisation is NOT_FOUND exactly like one that never
// existed, and so is another user's private memory, so a write cannot
// attach a memory the caller cannot read. The result has one entry per
// argument, nil where none was given, and the memories named, by id: a
// document or point naming a memory takes its author and visibility.
func memoryRefs(ctx context.Context, b *stores.Bundle, ids []*string) ([]*uuid.UUID, map[uuid.UUID]stores.Memory, error) {
	out := make([]*uuid.UUID, len(ids))
	var lookup []uuid.UUID
	given := map[uuid.UUID]string{}
	for i, id := range ids {
		u, err := relay.DecodeOptionalUUID(id, relay.KindMemory)
		if err != nil {
			return nil, nil, err
		}
		if u == nil {
			continue
		}
		out[i] = u
		if _, dup := given[*u]; !dup {
			given[*u] = *id
			lookup = append(lookup, *u)
		}
	}
	if len(lookup) == 0 {
		return out, map[uuid.UUID]stores.Memory{}, nil
	}
	found, err := b.Memories.MemoriesByID(ctx, lookup)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range lookup {
		if _, ok := found[u]; !ok {
			return nil, nil, stores.NotFound("memory %q not found", given[u])
		}
	}
	return out, found, nil
}
