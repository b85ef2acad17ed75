package postgres

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Outbox is the memory outbox (stores.Outbox). Unlike the stores it is not
// bound to a tenant: it claims entries of every organisation, under the
// worker policy of the outbox table (app.outbox_worker = 'on'), which shows
// ids and versions only. Every memory write adds its entry in the write's own
// transaction, so an acknowledged write is never lost while an index is down.
type Outbox struct {
	b *Backend
}

// Outbox returns the process-wide outbox of the backend.
func (b *Backend) Outbox() *Outbox { return &Outbox{b: b} }

var _ stores.Outbox = (*Outbox)(nil)

const (
	workerSQL = `SELECT set_config('app.outbox_worker', 'on', true)`

	outboxColumns = `id, org_id, memory_id, op, memory_version, attempts, coalesce(last_error, ''), available_at, created_at, parked_at, author_id`

	// Claims the oldest available entries nobody else holds (SKIP LOCKED)
	// and leases them: they become available again when the lease ends,
	// unless completed or failed before.
	claimOutboxSQL = `WITH c AS (
  SELECT id FROM memory_outbox
  WHERE parked_at IS NULL AND available_at <= now()
    AND ($3::uuid[] IS NULL OR org_id = ANY($3::uuid[]))
  ORDER BY available_at, id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE memory_outbox o
SET available_at = now() + $2::interval, attempts = o.attempts + 1
FROM c WHERE o.id = c.id
RETURNING o.id, o.org_id, o.memory_id, o.op, o.memory_version, o.attempts, coalesce(o.last_error, ''), o.available_at, o.created_at, o.parked_at, o.author_id`

	completeOutboxSQL = `DELETE FROM memory_outbox WHERE id = ANY($1::bigint[])`

	failOutboxSQL = `UPDATE memory_outbox
SET last_error = $2, available_at = $3, parked_at = CASE WHEN $4::boolean THEN now() END
WHERE id = $1`

	// Under the org's own binding (the tenant select policy), not the worker's.
	pendingOutboxSQL = `SELECT ` + outboxColumns + ` FROM memory_outbox
WHERE memory_id = ANY($1::uuid[])
ORDER BY memory_id, memory_version`
)

func scanOutbox(row pgx.CollectableRow) (stores.OutboxEntry, error) {
	var e stores.OutboxEntry
	var author *uuid.UUID
	err := row.Scan(&e.ID, &e.OrgID, &e.MemoryID, &e.Op, &e.MemoryVersion, &e.Attempts, &e.LastError, &e.AvailableAt, &e.CreatedAt, &e.ParkedAt, &author)
	if author != nil {
		e.AuthorID = *author
	}
	e.AvailableAt, e.CreatedAt = e.AvailableAt.UTC(), e.CreatedAt.UTC()
	if e.ParkedAt != nil {
		at := e.ParkedAt.UTC()
		e.ParkedAt = &at
	}
	return e, err
}

// worker runs statements in one transaction with the worker binding.
func (o *Outbox) worker(ctx context.Context, queue func(*pgx.Batch)) error {
	return o.b.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		batch := &pgx.Batch{}
		batch.Queue(beginSQL)
		batch.Queue(workerSQL)
		queue(batch)
		batch.Queue(commitSQL)
		return conn.SendBatch(ctx, batch).Close()
	})
}

// Claim leases up to limit available entries for lease, oldest first.
// Concurrent claimers get disjoint entries. orgs, when not empty, limits the
// claim to those organisations (an indexer dedicated to some tenants); nil
// claims every organisation's entries.
func (o *Outbox) Claim(ctx context.Context, limit int, lease time.Duration, orgs []uuid.UUID) ([]stores.OutboxEntry, error) {
	if limit <= 0 || lease <= 0 {
		return nil, stores.Invalid("claim needs a positive limit and lease")
	}
	var out []stores.OutboxEntry
	err := o.worker(ctx, func(b *pgx.Batch) {
		var only []uuid.UUID
		if len(orgs) > 0 {
			only = orgs
		}
		b.Queue(claimOutboxSQL, limit, lease, only).Query(func(rows pgx.Rows) (err error) {
			out, err = pgx.CollectRows(rows, scanOutbox)
			return err
		})
	})
	if out == nil {
		out = []stores.OutboxEntry{}
	}
	return out, err
}

// Complete removes entries the indexer has applied.
func (o *Outbox) Complete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return o.worker(ctx, func(b *pgx.Batch) { b.Queue(completeOutboxSQL, ids) })
}

// Fail records why an entry could not be applied and when to retry it; with
// park set the entry is set aside (parked_at) and no longer claimed.
func (o *Outbox) Fail(ctx context.Context, id int64, errText string, retryAt time.Time, park bool) error {
	return o.worker(ctx, func(b *pgx.Batch) { b.Queue(failOutboxSQL, id, errText, retryAt, park) })
}

// Pending returns the entries still queued for the given memories of one
// org, keyed by memory id, in version order: what the index status of those
// memories is waiting for. It reads under the org's binding.
func (o *Outbox) Pending(ctx context.Context, orgID uuid.UUID, memoryIDs []uuid.UUID) (map[uuid.UUID][]stores.OutboxEntry, error) {
	out := make(map[uuid.UUID][]stores.OutboxEntry, len(memoryIDs))
	if len(memoryIDs) == 0 {
		return out, nil
	}
	// Pending acts for the org, not for a user: any non-nil user id satisfies
	// the binding, and no user-bound table is read.
	t := stores.Tenant{OrgID: orgID, UserID: orgID}
	err := o.b.pipeline(ctx, t, func(b *pgx.Batch) {
		b.Queue(pendingOutboxSQL, memoryIDs).Query(func(rows pgx.Rows) error {
			entries, err := pgx.CollectRows(rows, scanOutbox)
			for _, e := range entries {
				out[e.MemoryID] = append(out[e.MemoryID], e)
			}
			return err
		})
	})
	return out, err
}

// backlogSQL counts the entries still to apply and the age of the oldest.
const backlogSQL = `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM memory_outbox WHERE parked_at IS NULL`

// Backlog reports how many entries wait (parked ones excluded) and how old
// the oldest is: the indexer's lag, for metrics.
func (o *Outbox) Backlog(ctx context.Context) (int, time.Duration, error) {
	var (
		n   int
		age float64
	)
	err := o.worker(ctx, func(b *pgx.Batch) {
		b.Queue(backlogSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&n, &age) })
	})
	return n, time.Duration(age * float64(time.Second)), err
}
