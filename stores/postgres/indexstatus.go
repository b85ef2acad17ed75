package postgres

import (
	"context"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// indexStatusSQL reads, per existing memory and per index with unapplied
// outbox entries, how many wait, how many are parked, and the oldest
// version waiting (the index holds the version before it). A memory with no
// entry for an index comes back once, with a NULL index: every index holds
// its current version.
const indexStatusSQL = `SELECT m.id, m.version, o.index_name,
  count(o.id) FILTER (WHERE o.parked_at IS NULL),
  count(o.id) FILTER (WHERE o.parked_at IS NOT NULL),
  coalesce(min(o.memory_version) - 1, m.version)
FROM memories m
LEFT JOIN memory_outbox o ON o.org_id = m.org_id AND o.memory_id = m.id
WHERE m.id = ANY($1::uuid[])
GROUP BY m.id, m.version, o.index_name`

// IndexStatuses tells, from the outbox, whether each derived index holds
// each memory's current version: INDEXED when no entry of that index waits
// for it, PENDING while one does, FAILED when one was parked. Each index
// drains its own entries, so full text can be INDEXED while the vector is
// PENDING. One statement answers a whole page.
func (s *memoryStore) IndexStatuses(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.IndexStatus, error) {
	out := make(map[uuid.UUID][]stores.IndexStatus, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	type progress struct {
		version int64
		byIndex map[stores.IndexName]stores.IndexStatus
	}
	found := map[uuid.UUID]*progress{}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(indexStatusSQL, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					id               uuid.UUID
					index            *string
					version, indexed int64
					pending, parked  int64
				)
				if err := rows.Scan(&id, &version, &index, &pending, &parked, &indexed); err != nil {
					return err
				}
				p := found[id]
				if p == nil {
					p = &progress{version: version, byIndex: map[stores.IndexName]stores.IndexStatus{}}
					found[id] = p
				}
				if index == nil {
					continue
				}
				state := stores.IndexPending
				if parked > 0 {
					state = stores.IndexFailed
				}
				p.byIndex[stores.IndexName(*index)] = stores.IndexStatus{Index: stores.IndexName(*index), State: state, Version: indexed}
			}
			return rows.Err()
		})
	})
	for id, p := range found {
		for _, index := range s.b.indexes {
			status, waiting := p.byIndex[index]
			if !waiting {
				status = stores.IndexStatus{Index: index, State: stores.IndexIndexed, Version: p.version}
			}
			out[id] = append(out[id], status)
		}
	}
	return out, err
}
