package postgres

import (
	"context"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// indexStatusSQL reads, per existing memory, its version and its unapplied
// outbox entries: how many wait, how many are parked, and the oldest
// version waiting (the index holds the version before it).
const indexStatusSQL = `SELECT m.id, m.version,
  count(o.id) FILTER (WHERE o.parked_at IS NULL),
  count(o.id) FILTER (WHERE o.parked_at IS NOT NULL),
  coalesce(min(o.memory_version) - 1, m.version)
FROM memories m
LEFT JOIN memory_outbox o ON o.org_id = m.org_id AND o.memory_id = m.id
WHERE m.id = ANY($1::uuid[])
GROUP BY m.id, m.version`

// IndexStatuses tells, from the outbox, whether each memory's derived
// indexes hold its current version: INDEXED when no entry waits for it,
// PENDING while one does, FAILED when one was parked. The indexer applies a
// memory's entry to every configured index at once, so they share a state.
func (s *memoryStore) IndexStatuses(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.IndexStatus, error) {
	out := make(map[uuid.UUID][]stores.IndexStatus, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(indexStatusSQL, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					id               uuid.UUID
					version, indexed int64
					pending, parked  int64
				)
				if err := rows.Scan(&id, &version, &pending, &parked, &indexed); err != nil {
					return err
				}
				state := stores.IndexIndexed
				switch {
				case parked > 0:
					state = stores.IndexFailed
				case pending > 0:
					state = stores.IndexPending
				}
				for _, index := range s.b.indexes {
					out[id] = append(out[id], stores.IndexStatus{Index: index, State: state, Version: indexed})
				}
			}
			return rows.Err()
		})
	})
	return out, err
}
