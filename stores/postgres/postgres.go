// Package postgres implements the memories, feedback and experiments stores
// on PostgreSQL with pgx v5 and a connection pool, under Row Level Security.
//
// Every store call runs in one transaction whose first statement binds the
// tenant with set_config('app.org_id'/'app.user_id', ..., true): the setting
// is transaction-local, so nothing of one tenant survives on a pooled
// connection. The policies (migrations/) compare every row's org_id with it;
// the gateway connects as an application role that cannot bypass them. A call
// that is one statement is sent as one pipelined batch (BEGIN, set_config,
// the statement, COMMIT): one network round trip.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Config.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxConns = 16
)

// Config says how to reach the server.
type Config struct {
	// URL of the application role (DATABASE_URL).
	URL string
	// Timeout bounds every store call (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxConns caps the pool when URL does not set pool_max_conns
	// (DefaultMaxConns when zero).
	MaxConns int32
	// Tracer, when set, sees every statement (tests count them with it). It may
	// also implement pgx.BatchTracer to see the statements of pipelined batches.
	Tracer pgx.QueryTracer
	// Indexes names the derived indexes the outbox indexer keeps for
	// memories, as IndexStatuses reports them (FULL_TEXT when empty).
	Indexes []stores.IndexName
}

// Backend is the process-wide PostgreSQL backend: one pool, shared by every
// tenant-bound store it hands out.
type Backend struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	indexes []stores.IndexName
	// indexNames are the indexes as text: a memory write queues one outbox
	// entry per index.
	indexNames []string
}

// poolConfig parses the URL. An operator's pool_max_conns in the URL is
// kept; cfg.MaxConns applies only when the URL does not set it.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid PostgreSQL URL")
	}
	if !setsMaxConns(cfg.URL) {
		pc.MaxConns = cfg.MaxConns
		if pc.MaxConns <= 0 {
			pc.MaxConns = DefaultMaxConns
		}
	}
	pc.ConnConfig.Tracer = cfg.Tracer
	return pc, nil
}

// keywordMaxConns finds pool_max_conns in the keyword/value form of a
// connection string ("host=db pool_max_conns=40").
var keywordMaxConns = regexp.MustCompile(`(^|\s)pool_max_conns\s*=`)

// setsMaxConns reports whether a connection string ParseConfig accepted sets
// pool_max_conns, in either of its forms.
func setsMaxConns(conn string) bool {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has("pool_max_conns")
	}
	return keywordMaxConns.MatchString(conn)
}

// Open connects a pool and checks, within the timeout, that the server
// answers. It does not touch the schema: see SchemaVersion.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	pc, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, stores.Unavailable("postgres", err)
	}
	indexes := cfg.Indexes
	if len(indexes) == 0 {
		indexes = []stores.IndexName{stores.IndexFullText}
	}
	b := &Backend{pool: pool, timeout: timeout, indexes: indexes, indexNames: stores.IndexNames(indexes)}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, stores.Unavailable("postgres", err)
	}
	return b, nil
}

// Close closes the pool.
func (b *Backend) Close() { b.pool.Close() }

// SchemaVersion returns the schema version goose recorded (0 when its
// table does not exist), so the gateway can refuse to start on a database
// that `gateway migrate up` has not brought to the version it was built for.
func (b *Backend) SchemaVersion(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var exists bool
	if err := b.pool.QueryRow(ctx, schemaTableExistsSQL).Scan(&exists); err != nil {
		return 0, b.mapError(ctx, err)
	}
	if !exists {
		return 0, nil
	}
	var v int64
	if err := b.pool.QueryRow(ctx, schemaVersionSQL).Scan(&v); err != nil {
		return 0, b.mapError(ctx, err)
	}
	return v, nil
}

// goose keeps its bookkeeping in goose_db_version (migrations.VersionTable).
const (
	schemaTableExistsSQL = `SELECT to_regclass('goose_db_version') IS NOT NULL`
	schemaVersionSQL     = `SELECT coalesce(max(version_id), 0) FROM goose_db_version`
)

// Memories binds the memory store to a tenant.
func (b *Backend) Memories(t stores.Tenant) stores.MemoryStore { return &memoryStore{b: b, t: t} }

// IndexStatus binds the index status of the tenant's memories, read from the outbox.
func (b *Backend) IndexStatus(t stores.Tenant) stores.IndexStatusStore {
	return &memoryStore{b: b, t: t}
}

// Feedback binds the feedback store to a tenant.
func (b *Backend) Feedback(t stores.Tenant) stores.FeedbackStore { return &feedbackStore{b: b, t: t} }

// Experiments binds the experiment store to a tenant; assignments are the user's.
func (b *Backend) Experiments(t stores.Tenant) stores.ExperimentStore {
	return &experimentStore{b: b, t: t}
}

// Transaction plumbing.

const (
	beginSQL     = `BEGIN`
	commitSQL    = `COMMIT`
	rollbackSQL  = `ROLLBACK`
	setTenantSQL = `SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)`
)

// pipeline runs the statements queue adds in one transaction bound to t,
// sent as one batch: BEGIN, set_config, the statements, COMMIT. The
// statements' callbacks (QueuedQuery.Query/QueryRow/Exec) read their results.
func (b *Backend) pipeline(ctx context.Context, t stores.Tenant, queue func(*pgx.Batch)) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return b.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		batch := beginBatch(t)
		queue(batch)
		batch.Queue(commitSQL)
		return conn.SendBatch(ctx, batch).Close()
	})
}

// count runs one count(*) statement in a pipelined transaction bound to t,
// under the same policies as the list it counts: one round trip.
func (b *Backend) count(ctx context.Context, t stores.Tenant, sql string, args ...any) (int, error) {
	var n int
	err := b.pipeline(ctx, t, func(batch *pgx.Batch) {
		batch.Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	})
	return n, err
}

// tx runs fn in a transaction bound to t, for calls whose later statements
// depend on what earlier ones returned. fn's statements run on conn.
func (b *Backend) tx(ctx context.Context, t stores.Tenant, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return b.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		if err := conn.SendBatch(ctx, beginBatch(t)).Close(); err != nil {
			return err
		}
		if err := fn(ctx, conn); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, commitSQL)
		return err
	})
}

// beginBatch starts a batch with the transaction and the tenant binding.
func beginBatch(t stores.Tenant) *pgx.Batch {
	batch := &pgx.Batch{}
	batch.Queue(beginSQL)
	batch.Queue(setTenantSQL, t.OrgID.String(), t.UserID.String())
	return batch
}

// withConn bounds ctx by the backend's timeout, runs fn on a pooled
// connection, rolls back a transaction fn left open (after an error), and
// maps the error to the stores' kinds.
func (b *Backend) withConn(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bounded, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	pc, err := b.pool.Acquire(bounded)
	if err != nil {
		return b.mapError(ctx, err)
	}
	defer pc.Release()
	conn := pc.Conn()
	err = fn(bounded, conn)
	if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		// The pool would destroy a connection left in a transaction; a
		// ROLLBACK keeps it usable. If even that fails the pool drops it.
		rbCtx, rbCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_, _ = conn.Exec(rbCtx, rollbackSQL)
		rbCancel()
	}
	if err != nil {
		return b.mapError(ctx, err)
	}
	return nil
}

// errorf wraps an unexpected condition (a bug, not a client's mistake) so
// that it is logged and shown to the client only as an internal error.
func errorf(format string, args ...any) error {
	return fmt.Errorf("postgres: "+format, args...)
}
