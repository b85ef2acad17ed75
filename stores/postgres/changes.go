package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SQL of the change feed: the channel codingbrain_changes that the triggers
// of migrations/00002_change_notify.sql (feedback) and
// 00005_change_log.sql (memories, with their log position) send on, and the
// change log of 00005. LISTEN takes no parameter: the channel is a constant.
// The cross-tenant statements (the listener's replay, pruning) run with
// app.change_feed = 'on' in their transaction; they see ids and versions only.
const (
	listenSQL   = `LISTEN codingbrain_changes`
	notifySQL   = `SELECT pg_notify('codingbrain_changes', $1)`
	feedModeSQL = `SELECT set_config('app.change_feed', 'on', true)`

	changeColumns = `seq, org_id, memory_id, memory_version, op`
	// replaySQL reads every tenant's changes after a position.
	replaySQL = `SELECT ` + changeColumns + ` FROM memory_changes WHERE seq > $1 ORDER BY seq LIMIT $2`
	// lastSeqSQL is the highest committed position (the listener starts there).
	lastSeqSQL = `SELECT coalesce(max(seq), 0) FROM memory_changes`
	// logBoundsSQL says whether a tenant's cursor is still served: below
	// pruned_through rows are gone; above the sequence's last value no
	// position was ever assigned.
	logBoundsSQL = `SELECT h.pruned_through, CASE WHEN s.is_called THEN s.last_value ELSE 0 END
		FROM memory_change_horizon h, memory_change_seq s`
	// tenantChangesSQL reads the bound tenant's changes after a position
	// (the policies keep to its org and hide others' private memories).
	tenantChangesSQL = `SELECT ` + changeColumns + ` FROM memory_changes WHERE seq > $1 ORDER BY seq LIMIT $2`
	// pruneSQL deletes one bounded batch of changes older than the cutoff,
	// oldest first, and moves the horizon past them.
	pruneSQL = `WITH pruned AS (
		DELETE FROM memory_changes WHERE seq IN (
			SELECT seq FROM memory_changes WHERE committed_at < $1 ORDER BY seq LIMIT $2)
		RETURNING seq)
	UPDATE memory_change_horizon SET pruned_through = greatest(pruned_through, (SELECT max(seq) FROM pruned))
	WHERE EXISTS (SELECT 1 FROM pruned)
	RETURNING (SELECT count(*) FROM pruned)`
)

// Defaults of ListenConfig.
const (
	DefaultChangeRetention = 24 * time.Hour
	// replayPage is how many logged changes one replay or prune statement handles.
	replayPage = 1000
)

// ListenConfig says how the change listener connects and keeps the log.
type ListenConfig struct {
	// URL of the application role (DATABASE_URL).
	URL string
	// Timeout bounds each statement of the log (DefaultTimeout when zero).
	Timeout time.Duration
	// Retention is how long the change log keeps a change
	// (DefaultChangeRetention when zero); older ones are pruned in bounded
	// batches, and a cursor that points before them is expired.
	Retention time.Duration
}

// notification is the payload: ids, a version and the log position, never content.
type notification struct {
	Kind      stores.ChangeKind `json:"k"`
	OrgID     uuid.UUID         `json:"o"`
	UserID    uuid.UUID         `json:"u,omitempty"`
	MemoryID  uuid.UUID         `json:"m,omitempty"`
	Version   int64             `json:"v,omitempty"`
	Op        stores.ChangeOp   `json:"op,omitempty"`
	SessionID string            `json:"s,omitempty"`
	Seq       int64             `json:"c,omitempty"`
}

// ChangeListener feeds the changes committed in PostgreSQL, by any
// replica, into the local hub: one LISTEN connection per gateway. When that
// connection drops, it reconnects and replays from the change log what
// committed after the last position it delivered, before anything newer,
// so no subscriber misses a commit. It also serves the tenant-bound change
// log (stores.ChangeLogBackend), prunes it, and sends the changes the
// database does not notify by itself (episodic writes, stored elsewhere)
// through the same channel (Send), so they reach every replica the same way.
type ChangeListener struct {
	url       string
	retention time.Duration
	hub       stores.ChangePublisher
	log       *slog.Logger
	// pg is a small pool of the listener's own, for the log and sends.
	pg *Backend

	cancel  context.CancelFunc
	running sync.WaitGroup // run and prune
	// lastSeq is the log position last delivered (owned by run).
	lastSeq int64
}

// ListenChanges connects, LISTENs, and keeps feeding hub until Close,
// reconnecting with backoff when the connection drops. It returns once the
// first LISTEN is in place, so no change committed after it returns is missed.
func ListenChanges(ctx context.Context, cfg ListenConfig, hub stores.ChangePublisher, log *slog.Logger) (*ChangeListener, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultChangeRetention
	}
	pg, err := Open(ctx, Config{URL: cfg.URL, Timeout: cfg.Timeout, MaxConns: 4})
	if err != nil {
		return nil, err
	}
	l := &ChangeListener{url: cfg.URL, retention: cfg.Retention, hub: hub, log: log, pg: pg}
	conn, err := listen(ctx, cfg.URL)
	if err != nil {
		pg.Close()
		return nil, stores.Unavailable("postgres change listener", err)
	}
	// Start at the newest committed change: nothing older has subscribers.
	if l.lastSeq, err = l.newestSeq(ctx); err != nil {
		_ = conn.Close(ctx)
		pg.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.running.Add(2)
	go l.prune(runCtx)
	go l.run(runCtx, conn)
	return l, nil
}

func listen(ctx context.Context, url string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, listenSQL); err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

func (l *ChangeListener) run(ctx context.Context, conn *pgx.Conn) {
	defer l.running.Done()
	backoff := 100 * time.Millisecond
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				_ = conn.Close(context.Background())
				conn = nil
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("postgres change listener lost its connection; reconnecting", "error", err.Error())
				break
			}
			backoff = 100 * time.Millisecond
			l.deliver(n.Payload)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		var err error
		if conn, err = l.reconnect(ctx); err != nil {
			l.log.Warn("postgres change listener cannot reconnect", "error", err.Error())
		}
	}
}

// reconnect LISTENs again, then replays from the log what committed while
// the connection was down. Notifications that arrive meanwhile wait on the
// new connection; those the replay already delivered are skipped by
// position. A failed replay drops the connection, so that nothing newer is
// delivered over a gap.
func (l *ChangeListener) reconnect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := listen(ctx, l.url)
	if err != nil {
		return nil, err
	}
	replayed, err := l.replay(ctx)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	l.log.Info("postgres change listener reconnected", "replayed", replayed, "position", l.lastSeq)
	return conn, nil
}

// replay publishes every logged change after lastSeq, in order.
func (l *ChangeListener) replay(ctx context.Context) (int, error) {
	total := 0
	for {
		var page []stores.Change
		err := l.feedTx(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			rows, err := conn.Query(ctx, replaySQL, l.lastSeq, replayPage)
			if err != nil {
				return err
			}
			page, err = pgx.CollectRows(rows, scanChange)
			return err
		})
		if err != nil {
			return total, err
		}
		for _, c := range page {
			l.hub.Publish(c)
			l.lastSeq = c.Seq
		}
		total += len(page)
		if len(page) < replayPage {
			return total, nil
		}
	}
}

func (l *ChangeListener) newestSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := l.feedTx(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, lastSeqSQL).Scan(&seq)
	})
	return seq, err
}

// feedTx runs fn in a transaction that works across tenants on the change log.
func (l *ChangeListener) feedTx(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	return l.pg.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		batch := &pgx.Batch{}
		batch.Queue(beginSQL)
		batch.Queue(feedModeSQL)
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		if err := fn(ctx, conn); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, commitSQL)
		return err
	})
}

func scanChange(row pgx.CollectableRow) (stores.Change, error) {
	c := stores.Change{Kind: stores.ChangeMemory}
	err := row.Scan(&c.Seq, &c.OrgID, &c.MemoryID, &c.Version, &c.Op)
	return c, err
}

// deliver publishes one notification to the local hub, unless the replay
// of a reconnect delivered its position already.
func (l *ChangeListener) deliver(payload string) {
	var n notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.OrgID == uuid.Nil || n.Kind == "" {
		l.log.Warn("postgres change listener: malformed notification ignored")
		return
	}
	if n.Seq != 0 {
		if n.Seq <= l.lastSeq {
			return
		}
		l.lastSeq = n.Seq
	}
	l.hub.Publish(stores.Change{
		Kind: n.Kind, OrgID: n.OrgID, UserID: n.UserID,
		MemoryID: n.MemoryID, Version: n.Version, Op: n.Op, SessionID: n.SessionID, Seq: n.Seq,
	})
}

// prune deletes the changes older than the retention, in bounded batches,
// now and then every pruneInterval. Every replica prunes; batches of two
// replicas never collide on a row for long (each deletes the oldest).
func (l *ChangeListener) prune(ctx context.Context) {
	defer l.running.Done()
	interval := min(l.retention/4, time.Minute)
	for {
		for {
			var n int64
			err := l.feedTx(ctx, func(ctx context.Context, conn *pgx.Conn) error {
				err := conn.QueryRow(ctx, pruneSQL, time.Now().Add(-l.retention), replayPage).Scan(&n)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil // nothing was old enough
				}
				return err
			})
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("pruning the change log failed; retrying later", "error", err.Error())
				}
				break
			}
			if n < replayPage {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Send sends c (its ids only) to every replica through NOTIFY. It is for
// changes committed outside PostgreSQL (episodic items in Valkey or in
// process), after their commit; events.PublishQueue calls it from its one
// sender, behind a breaker, so that no write waits on it.
func (l *ChangeListener) Send(ctx context.Context, c stores.Change) error {
	payload, err := json.Marshal(notification{
		Kind: c.Kind, OrgID: c.OrgID, UserID: c.UserID,
		MemoryID: c.MemoryID, Version: c.Version, Op: c.Op, SessionID: c.SessionID,
	})
	if err != nil {
		return err
	}
	return l.pg.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, notifySQL, string(payload))
		return err
	})
}

// ChangeLog binds the change log to a tenant.
func (l *ChangeListener) ChangeLog(t stores.Tenant) stores.ChangeLog {
	return changeLog{pg: l.pg, t: t, retention: l.retention}
}

type changeLog struct {
	pg        *Backend
	t         stores.Tenant
	retention time.Duration
}

func (c changeLog) ChangesAfter(ctx context.Context, after int64, limit int) ([]stores.Change, error) {
	if after < 0 {
		return nil, stores.Invalid("the change cursor is malformed")
	}
	var out []stores.Change
	var prunedThrough, last int64
	// The rows are read before the bounds, each statement with its own
	// snapshot: a prune that deleted rows after the cursor before the
	// first read has moved the horizon by the second, so what was read is
	// either complete or refused as expired.
	err := c.pg.tx(ctx, c.t, func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, tenantChangesSQL, after, limit)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, scanChange); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, logBoundsSQL).Scan(&prunedThrough, &last); err != nil {
			return err
		}
		switch {
		case after < prunedThrough:
			return stores.Expired("the change cursor has expired: the change log keeps %s of changes; "+
				"subscribe without after and read the current state again", c.retention)
		case after > last:
			return stores.Invalid("the change cursor does not belong to this change log")
		}
		return nil
	})
	return out, err
}

// Close stops listening and pruning, and closes the connections.
func (l *ChangeListener) Close() {
	l.cancel()
	l.running.Wait()
	l.pg.Close()
}

var _ stores.ChangeLogBackend = (*ChangeListener)(nil)
