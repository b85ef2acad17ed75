package postgres

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

	outboxColumns = `id, org_id, memory_id, index_name, op, memory_version, attempts, coalesce(last_error, ''), available_at, created_at, parked_at, author_id`

	// Claims the oldest available entries of one index nobody else holds
	// (SKIP LOCKED) and leases them: they become available again when the
	// lease ends, unless completed or failed before.
	claimOutboxSQL = `WITH c AS (
  SELECT id FROM memory_outbox
  WHERE index_name = $4 AND parked_at IS NULL AND available_at <= now()
    AND ($3::uuid[] IS NULL OR org_id = ANY($3::uuid[]))
  ORDER BY available_at, id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE memory_outbox o
SET available_at = now() + $2::interval, attempts = o.attempts + 1
FROM c WHERE o.id = c.id
RETURNING o.id, o.org_id, o.memory_id, o.index_name, o.op, o.memory_version, o.attempts, coalesce(o.last_error, ''), o.available_at, o.created_at, o.parked_at, o.author_id`

	completeOutboxSQL = `DELETE FROM memory_outbox WHERE id = ANY($1::bigint[])`

	extendOutboxSQL = `UPDATE memory_outbox SET available_at = now() + $2::interval
WHERE id = ANY($1::bigint[]) AND parked_at IS NULL`

	failOutboxSQL = `UPDATE memory_outbox o
SET last_error = f.reason, available_at = f.retry_at, parked_at = CASE WHEN f.park THEN now() END
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::boolean[]) AS f(id, reason, retry_at, park)
WHERE o.id = f.id`

	// Under the org's own binding (the tenant select policy), not the worker's.
	pendingOutboxSQL = `SELECT ` + outboxColumns + ` FROM memory_outbox
WHERE memory_id = ANY($1::uuid[])
ORDER BY memory_id, memory_version`
)

func scanOutbox(row pgx.CollectableRow) (stores.OutboxEntry, error) {
	var e stores.OutboxEntry
	var author *uuid.UUID
	err := row.Scan(&e.ID, &e.OrgID, &e.MemoryID, &e.Index, &e.Op, &e.MemoryVersion, &e.Attempts, &e.LastError, &e.AvailableAt, &e.CreatedAt, &e.ParkedAt, &author)
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

// Claim leases up to limit available entries of one index for lease, oldest
// first. Concurrent claimers get disjoint entries. orgs, when not empty,
// limits the claim to those organisations (an indexer dedicated to some
// tenants); nil claims every organisation's entries.
func (o *Outbox) Claim(ctx context.Context, index stores.IndexName, limit int, lease time.Duration, orgs []uuid.UUID) ([]stores.OutboxEntry, error) {
	if limit <= 0 || lease <= 0 {
		return nil, stores.Invalid("claim needs a positive limit and lease")
	}
	var out []stores.OutboxEntry
	err := o.worker(ctx, func(b *pgx.Batch) {
		var only []uuid.UUID
		if len(orgs) > 0 {
			only = orgs
		}
		b.Queue(claimOutboxSQL, limit, lease, only, index).Query(func(rows pgx.Rows) (err error) {
			out, err = pgx.CollectRows(rows, scanOutbox)
			return err
		})
	})
	if out == nil {
		out = []stores.OutboxEntry{}
	}
	return out, err
}

// Extend renews the lease of entries the indexer is still applying.
func (o *Outbox) Extend(ctx context.Context, ids []int64, lease time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	return o.worker(ctx, func(b *pgx.Batch) { b.Queue(extendOutboxSQL, ids, lease) })
}

// Complete removes entries the indexer has applied.
func (o *Outbox) Complete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return o.worker(ctx, func(b *pgx.Batch) { b.Queue(completeOutboxSQL, ids) })
}

// Fail records why entries could not be applied and when to retry them;
// a parked one is set aside (parked_at) and no longer claimed.
func (o *Outbox) Fail(ctx context.Context, failures []stores.OutboxFailure) error {
	if len(failures) == 0 {
		return nil
	}
	ids := make([]int64, len(failures))
	reasons := make([]string, len(failures))
	retryAt := make([]time.Time, len(failures))
	park := make([]bool, len(failures))
	for i, f := range failures {
		ids[i], reasons[i], retryAt[i], park[i] = f.ID, f.Reason, f.RetryAt, f.Park
	}
	return o.worker(ctx, func(b *pgx.Batch) { b.Queue(failOutboxSQL, ids, reasons, retryAt, park) })
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

// backlogSQL counts the entries still to apply, the age of the oldest, and
// the parked ones.
const backlogSQL = `SELECT count(*) FILTER (WHERE parked_at IS NULL),
  coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)::float8,
  count(*) FILTER (WHERE parked_at IS NOT NULL)
FROM memory_outbox WHERE index_name = ANY($1::text[])`

// Backlog reports, for the given indexes, how many entries wait (parked ones
// excluded), how old the oldest is, and how many are parked: the indexer's
// lag, for metrics and /readyz.
func (o *Outbox) Backlog(ctx context.Context, indexes []stores.IndexName) (stores.OutboxBacklog, error) {
	var (
		out stores.OutboxBacklog
		age float64
	)
	err := o.worker(ctx, func(b *pgx.Batch) {
		b.Queue(backlogSQL, indexes).QueryRow(func(row pgx.Row) error { return row.Scan(&out.Pending, &age, &out.Parked) })
	})
	out.Oldest = time.Duration(age * float64(time.Second))
	return out, err
}

// OutboxLag is the backlog of one organisation in one index, as `gateway
// outbox status` prints it.
type OutboxLag struct {
	OrgID uuid.UUID
	Index stores.IndexName
	stores.OutboxBacklog
	// LastError is the reason of the newest parked entry, if any.
	LastError string
}

const statusSQL = `SELECT org_id, index_name,
  count(*) FILTER (WHERE parked_at IS NULL),
  coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)::float8,
  count(*) FILTER (WHERE parked_at IS NOT NULL),
  coalesce((array_agg(last_error ORDER BY parked_at DESC) FILTER (WHERE parked_at IS NOT NULL))[1], '')
FROM memory_outbox
GROUP BY org_id, index_name
ORDER BY 4 DESC, org_id, index_name`

// Status reports the backlog per organisation and index, the oldest first.
func (o *Outbox) Status(ctx context.Context) ([]OutboxLag, error) {
	var out []OutboxLag
	err := o.worker(ctx, func(b *pgx.Batch) {
		b.Queue(statusSQL).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var (
					l   OutboxLag
					age float64
				)
				if err := rows.Scan(&l.OrgID, &l.Index, &l.Pending, &age, &l.Parked, &l.LastError); err != nil {
					return err
				}
				l.Oldest = time.Duration(age * float64(time.Second))
				out = append(out, l)
			}
			return rows.Err()
		})
	})
	return out, err
}

// retrySQL re-queues parked entries, of some organisations or all of them.
const retrySQL = `UPDATE memory_outbox
SET parked_at = NULL, attempts = 0, available_at = now()
WHERE parked_at IS NOT NULL AND ($1::uuid[] IS NULL OR org_id = ANY($1::uuid[]))`

// Retry re-queues the parked entries of orgs (every organisation when nil)
// and returns how many it re-queued: after the cause was fixed, they are
// claimed again like new ones.
func (o *Outbox) Retry(ctx context.Context, orgs []uuid.UUID) (int64, error) {
	var n int64
	err := o.worker(ctx, func(b *pgx.Batch) {
		var only []uuid.UUID
		if len(orgs) > 0 {
			only = orgs
		}
		b.Queue(retrySQL, only).Exec(func(ct pgconn.CommandTag) error {
			n = ct.RowsAffected()
			return nil
		})
	})
	return n, err
}

const (
	// Lifts the private-memory restriction for reads in this transaction,
	// so that a reindex queues every author's memories (migration 00004).
	reindexSQL = `SELECT set_config('app.outbox_reindex', 'on', true)`

	countReindexSQL = `SELECT count(*) FROM memories`

	// Queues one page of the org's memories (by id), for each index named:
	// live ones upserted, deleted ones removed from the index.
	reindexPageSQL = `WITH page AS (
  SELECT org_id, id, version, state, author_id FROM memories
  WHERE ($1::uuid IS NULL OR id > $1::uuid)
  ORDER BY id
  LIMIT $2
), queued AS (
  INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
  SELECT p.org_id, p.id, CASE WHEN p.state = 'DELETED' THEN 'delete' ELSE 'upsert' END, p.version, p.author_id, i.name
  FROM page p CROSS JOIN unnest($3::text[]) AS i(name)
)
SELECT count(*), (SELECT id FROM page ORDER BY id DESC LIMIT 1) FROM page`
)

// Reindex queues every memory of an organisation for the given indexes,
// page by page (one transaction each, so a large tenant never holds one
// long transaction), calling progress after each page with the memories
// queued so far and the total. The indexers then rebuild the derived
// documents from PostgreSQL as they drain the entries.
func (o *Outbox) Reindex(ctx context.Context, orgID uuid.UUID, indexes []stores.IndexName, page int, progress func(done, total int64)) error {
	if orgID == uuid.Nil || len(indexes) == 0 || page <= 0 {
		return stores.Invalid("reindex needs an organisation, an index and a positive page size")
	}
	names := make([]string, len(indexes))
	for i, index := range indexes {
		names[i] = string(index)
	}
	// The reindex acts for the org, not for a user: any non-nil user id
	// satisfies the binding, and the private restriction is lifted.
	t := stores.Tenant{OrgID: orgID, UserID: orgID}
	var total, done int64
	err := o.b.pipeline(ctx, t, func(b *pgx.Batch) {
		b.Queue(reindexSQL)
		b.Queue(countReindexSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
	})
	if err != nil {
		return err
	}
	var after *uuid.UUID
	for {
		var (
			n    int64
			last *uuid.UUID
		)
		err := o.b.pipeline(ctx, t, func(b *pgx.Batch) {
			b.Queue(reindexSQL)
			b.Queue(reindexPageSQL, after, page, names).QueryRow(func(row pgx.Row) error { return row.Scan(&n, &last) })
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		done += n
		after = last
		progress(done, max(total, done))
	}
}
