package tenants

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the operator's view of the PostgreSQL data (the owner role):
// every table with an org_id column, whatever migration made it, found in
// the catalog, so a table added later is erased and audited without a change
// here. Each call is one transaction bound with the operator's own setting
// (app.operator_org or app.operator_all, honoured by migration 00006's
// policies for the tables' owner only).
type Postgres struct {
	pool *pgxpool.Pool
	// indexes are the deployment's derived indexes (stores.DerivedIndexes):
	// a memory erased, reassigned or purged queues an outbox entry for each.
	indexes []string
}

// NewPostgres wraps a pool of the owner role (DATABASE_OWNER_URL) of a
// deployment keeping indexes (full text only when empty).
func NewPostgres(pool *pgxpool.Pool, indexes []stores.IndexName) *Postgres {
	if len(indexes) == 0 {
		indexes = stores.DerivedIndexes(false)
	}
	return &Postgres{pool: pool, indexes: stores.IndexNames(indexes)}
}

// PostgresName names the PostgreSQL store in jobs and audits.
const PostgresName = "postgres"

// Name implements Store.
func (p *Postgres) Name() string { return PostgresName }

const (
	bindOperatorOrgSQL = `SELECT set_config('app.operator_org', $1, true)`
	bindOperatorAllSQL = `SELECT set_config('app.operator_all', 'on', true)`

	// tenantTablesSQL lists the tables holding tenant rows with the tables
	// each one references (its foreign keys among them), and whether row
	// level security would hide rows from the operator: RLS on and no
	// operator policy (<table>_operator, migration 00006).
	tenantTablesSQL = `SELECT c.relname::text,
       coalesce(array_agg(DISTINCT r.relname::text) FILTER (WHERE r.relname IS NOT NULL AND r.relname <> c.relname), '{}'),
       c.relrowsecurity AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = c.relname || '_operator')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
LEFT JOIN pg_constraint fk ON fk.conrelid = c.oid AND fk.contype = 'f'
LEFT JOIN pg_class r ON r.oid = fk.confrelid
WHERE c.relkind = 'r'
GROUP BY c.oid, c.relname, c.relrowsecurity`
)

// tenantTables returns the tables with an org_id column, every table after
// the tables whose rows reference it: deleting in this order never breaks a
// foreign key. A table whose rows row level security would hide from the
// operator is an error: erasing or counting it would silently see nothing.
func (p *Postgres) tenantTables(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, tenantTablesSQL)
	if err != nil {
		return nil, fmt.Errorf("listing the tenant tables: %w", err)
	}
	refs := map[string][]string{}
	var names []string
	for rows.Next() {
		var name string
		var to []string
		var hidden bool
		if err := rows.Scan(&name, &to, &hidden); err != nil {
			return nil, err
		}
		if hidden {
			rows.Close()
			return nil, fmt.Errorf("table %s has row level security but no %s_operator policy: the migration that made it must add one (see migration 00006)", name, name)
		}
		refs[name] = to
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(names)
	// Referencing tables first: a table is placed once no unplaced table
	// references it.
	var order []string
	placed := map[string]bool{}
	for len(order) < len(names) {
		progress := false
		for _, t := range names {
			if placed[t] {
				continue
			}
			referenced := false
			for _, other := range names {
				if !placed[other] && other != t && slices.Contains(refs[other], t) {
					referenced = true
					break
				}
			}
			if !referenced {
				order, placed[t], progress = append(order, t), true, true
			}
		}
		if !progress {
			return nil, fmt.Errorf("the tenant tables' foreign keys form a cycle")
		}
	}
	return order, nil
}

// operatorTx runs fn in a transaction bound to org (or, with uuid.Nil, to
// every organisation).
func (p *Postgres) operatorTx(ctx context.Context, org uuid.UUID, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		if org == uuid.Nil {
			_, err = tx.Exec(ctx, bindOperatorAllSQL)
		} else {
			_, err = tx.Exec(ctx, bindOperatorOrgSQL, org.String())
		}
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

// The table names below come from the catalog (tenantTables), never from
// input, and are quoted as identifiers.

// Count implements Store: rows per table.
func (p *Postgres) Count(ctx context.Context, org uuid.UUID) (map[string]int64, error) {
	tables, err := p.tenantTables(ctx)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	err = p.operatorTx(ctx, org, func(tx pgx.Tx) error {
		for _, t := range tables {
			var n int64
			q := `SELECT count(*) FROM ` + pgx.Identifier{t}.Sanitize() + ` WHERE org_id = $1`
			if err := tx.QueryRow(ctx, q, org).Scan(&n); err != nil {
				return fmt.Errorf("counting %s: %w", t, err)
			}
			out[t] = n
		}
		return nil
	})
	return out, err
}

// recordFunc records, in the transaction that removed them, what a batch
// removed: the job's counts are then exact even when the process dies
// between two batches.
type recordFunc func(ctx context.Context, tx pgx.Tx, removed Counts) error

// EraseBatch implements Store: up to batch rows of the first table (in
// foreign-key order) that still holds some, in one transaction.
func (p *Postgres) EraseBatch(ctx context.Context, org uuid.UUID, batch int) (map[string]int64, bool, error) {
	return p.eraseBatch(ctx, org, batch, nil)
}

func (p *Postgres) eraseBatch(ctx context.Context, org uuid.UUID, batch int, record recordFunc) (map[string]int64, bool, error) {
	tables, err := p.tenantTables(ctx)
	if err != nil {
		return nil, false, err
	}
	removed := Counts{}
	done := true
	err = p.operatorTx(ctx, org, func(tx pgx.Tx) error {
		for _, t := range tables {
			name := pgx.Identifier{t}.Sanitize()
			q := `DELETE FROM ` + name + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + name + ` WHERE org_id = $1 LIMIT $2))`
			tag, err := tx.Exec(ctx, q, org, batch)
			if err != nil {
				return fmt.Errorf("erasing from %s: %w", t, err)
			}
			if n := tag.RowsAffected(); n > 0 {
				removed[t] = n
				done = false // there may be more; the next batch tells
				return record.run(ctx, tx, removed)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return removed, done, nil
}

// Orgs implements Store: every org id in any tenant table.
func (p *Postgres) Orgs(ctx context.Context) ([]uuid.UUID, error) {
	tables, err := p.tenantTables(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]bool{}
	err = p.operatorTx(ctx, uuid.Nil, func(tx pgx.Tx) error {
		for _, t := range tables {
			rows, err := tx.Query(ctx, `SELECT DISTINCT org_id FROM `+pgx.Identifier{t}.Sanitize())
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return err
			}
			for _, id := range ids {
				seen[id] = true
			}
		}
		return nil
	})
	return sortedIDs(seen), err
}

// run calls the record function when there is one.
func (f recordFunc) run(ctx context.Context, tx pgx.Tx, removed Counts) error {
	if f == nil {
		return nil
	}
	return f(ctx, tx, removed)
}

// sortedIDs returns a set's ids in order, for stable listings.
func sortedIDs(set map[uuid.UUID]bool) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// A user's rows. Memories the user authored are erased (their feedback
// events lose the reference, their outbox gets a delete so the indexer
// removes the derived documents and vectors) or handed to another user (a
// new version, re-indexed under the new author).
const (
	eraseUserAssignmentsSQL = `DELETE FROM experiment_assignments WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM experiment_assignments WHERE org_id = $1 AND user_id = $2 LIMIT $3))`
	eraseUserFeedbackSQL = `DELETE FROM feedback_events WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM feedback_events WHERE org_id = $1 AND user_id = $2 LIMIT $3))`
	eraseUserMemoriesSQL = `WITH v AS (
    SELECT org_id, id, author_id, version FROM memories WHERE org_id = $1 AND author_id = $2 LIMIT $3 FOR UPDATE),
f AS (UPDATE feedback_events fe SET memory_id = NULL FROM v WHERE fe.org_id = v.org_id AND fe.memory_id = v.id RETURNING 1),
c AS (DELETE FROM memory_categories mc USING v WHERE mc.org_id = v.org_id AND mc.memory_id = v.id RETURNING 1),
o AS (INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
      SELECT org_id, id, 'delete', version + 1, author_id, i.name FROM v CROSS JOIN unnest($4::text[]) AS i(name) RETURNING 1)
DELETE FROM memories m USING v WHERE m.org_id = v.org_id AND m.id = v.id`
	reassignUserMemoriesSQL = `WITH v AS (
    SELECT org_id, id FROM memories WHERE org_id = $1 AND author_id = $2 LIMIT $3 FOR UPDATE),
u AS (UPDATE memories m SET author_id = $4, version = m.version + 1, updated_at = now()
      FROM v WHERE m.org_id = v.org_id AND m.id = v.id RETURNING m.org_id, m.id, m.version, m.state)
INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
SELECT org_id, id, CASE WHEN state = 'DELETED' THEN 'delete' ELSE 'upsert' END, version, $4, i.name FROM u CROSS JOIN unnest($5::text[]) AS i(name)`
)

// eraseUserBatch removes (or, with reassignTo set, hands over) up to batch
// of the user's rows of the first kind that still has some.
func (p *Postgres) eraseUserBatch(ctx context.Context, org, user uuid.UUID, reassignTo *uuid.UUID, batch int, record recordFunc) (Counts, bool, error) {
	type step struct {
		kind string
		sql  string
		args []any
	}
	steps := []step{
		{"experiment_assignments", eraseUserAssignmentsSQL, []any{org, user, batch}},
		{"feedback_events", eraseUserFeedbackSQL, []any{org, user, batch}},
	}
	if reassignTo != nil {
		steps = append(steps, step{"memories_reassigned", reassignUserMemoriesSQL, []any{org, user, batch, *reassignTo, p.indexes}})
	} else {
		steps = append(steps, step{"memories", eraseUserMemoriesSQL, []any{org, user, batch, p.indexes}})
	}
	removed := Counts{}
	done := true
	err := p.operatorTx(ctx, org, func(tx pgx.Tx) error {
		for _, s := range steps {
			tag, err := tx.Exec(ctx, s.sql, s.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", s.kind, err)
			}
			if n := tag.RowsAffected(); n > 0 {
				removed[s.kind], done = n, false
				return record.run(ctx, tx, removed)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return removed, done, nil
}

// Retention purges, across every organisation, in bounded chunks.
const (
	purgeFeedbackSQL = `DELETE FROM feedback_events WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM feedback_events WHERE created_at < $1 LIMIT $2))`
	// A soft-deleted memory's derived documents went with its soft delete;
	// the outbox delete makes sure of it (and tells subscribers).
	purgeDeletedMemoriesSQL = `WITH v AS (
    SELECT org_id, id, author_id, version FROM memories WHERE state = 'DELETED' AND deleted_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED),
f AS (UPDATE feedback_events fe SET memory_id = NULL FROM v WHERE fe.org_id = v.org_id AND fe.memory_id = v.id RETURNING 1),
c AS (DELETE FROM memory_categories mc USING v WHERE mc.org_id = v.org_id AND mc.memory_id = v.id RETURNING 1),
o AS (INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
      SELECT org_id, id, 'delete', version + 1, author_id, i.name FROM v CROSS JOIN unnest($3::text[]) AS i(name) RETURNING 1)
DELETE FROM memories m USING v WHERE m.org_id = v.org_id AND m.id = v.id`
)

// purgeChunk runs one retention statement over every organisation.
func (p *Postgres) purgeChunk(ctx context.Context, sql string, before time.Time, batch int, more ...any) (int64, error) {
	var n int64
	err := p.operatorTx(ctx, uuid.Nil, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{before, batch}, more...)...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
