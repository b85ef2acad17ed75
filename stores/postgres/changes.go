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
// of migrations/00002_change_notify.sql (feedback) and 00005_change_log.sql
// (memories: a wake-up to number and read the log) send on, and the change
// log of 00005. LISTEN takes no parameter: the channel is a constant. The
// cross-tenant statements (numbering, the listener's reads, pruning) run
// with app.change_feed = 'on' in their transaction; they see ids and
// versions only.
const (
	listenSQL   = `LISTEN codingbrain_changes`
	notifySQL   = `SELECT pg_notify('codingbrain_changes', $1)`
	feedModeSQL = `SELECT set_config('app.change_feed', 'on', true)`

	// numberSQL gives log positions to up to $1 committed rows (see the
	// migration for why this makes "seq > cursor" skip nothing).
	numberSQL     = `SELECT number_memory_changes($1)`
	changeColumns = `seq, org_id, memory_id, memory_version, op`
	// logAfterSQL reads the numbered changes after a position: every
	// tenant's in feed mode, the bound tenant's otherwise (the policies keep
	// to its org and hide others' private memories).
	logAfterSQL = `SELECT ` + changeColumns + ` FROM memory_changes WHERE seq > $1 ORDER BY seq LIMIT $2`
	// logBoundsSQL: below pruned_through rows are gone; above last_seq no
	// position was ever given.
	logBoundsSQL = `SELECT pruned_through, last_seq FROM memory_change_log`
	// pruneSQL deletes one bounded batch of numbered changes older than the
	// cutoff, oldest first, and moves the horizon past them.
	pruneSQL = `WITH pruned AS (
		DELETE FROM memory_changes WHERE seq IN (
			SELECT seq FROM memory_changes WHERE seq IS NOT NULL AND committed_at < $1 ORDER BY seq LIMIT $2)
		RETURNING seq)
	UPDATE memory_change_log SET pruned_through = greatest(pruned_through, (SELECT max(seq) FROM pruned))
	WHERE EXISTS (SELECT 1 FROM pruned)
	RETURNING (SELECT count(*) FROM pruned)`
)

// logWakeKind is the kind of the memory triggers' notification: changes
// were logged, number and read them.
const logWakeKind = "MEMORY_LOG"

// Defaults of ListenConfig.
const (
	DefaultChangeRetention = 24 * time.Hour
	// replayPage is how many logged changes one numbering, read or prune statement handles.
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

// notification is the payload: ids and a version, never content.
type notification struct {
	Kind      stores.ChangeKind `json:"k"`
	OrgID     uuid.UUID         `json:"o"`
	UserID    uuid.UUID         `json:"u,omitempty"`
	MemoryID  uuid.UUID         `json:"m,omitempty"`
	Version   int64             `json:"v,omitempty"`
	Op        stores.ChangeOp   `json:"op,omitempty"`
	SessionID string            `json:"s,omitempty"`
}

// ChangeListener feeds the changes committed in PostgreSQL, by any
// replica, into the local hub: one LISTEN connection per gateway. Memory
// changes come from the change log: a notification (or, failing one, a
// poll every few seconds) makes the listener number what committed and
// publish, in log order, every change after the last position it
// delivered. So a listener that lost its connection catches up from the
// log when it is back, and no subscriber misses a commit. It also serves
// the tenant-bound change log (stores.ChangeLogBackend), prunes it, and
// sends the changes the database does not notify by itself (episodic
// writes, stored elsewhere) through the same channel (Send), so they reach
// every replica the same way.
type ChangeListener struct {
	url       string
	retention time.Duration
	hub       stores.ChangePublisher
	log       *slog.Logger
	// pg is a small pool of the listener's own, for the log and sends.
	pg *Backend
	// wake tells follow that the log has news (a notification, a reconnect).
	wake chan struct{}

	cancel  context.CancelFunc
	running sync.WaitGroup // receive, follow and prune
	// lastSeq is the log position last delivered (owned by follow).
	lastSeq int64
}

// logPoll is how often the listener reads the log without being woken: it
// bounds the delay of a change whose notification was lost.
const logPoll = 2 * time.Second

// ListenChanges connects, LISTENs, and keeps feeding hub until Close,
// reconnecting with backoff when the connection drops. It returns once the
// first LISTEN is in place and the log's position read, so every change
// committed after it returns is delivered.
func ListenChanges(ctx context.Context, cfg ListenConfig, hub stores.ChangePublisher, log *slog.Logger) (*ChangeListener, error) {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultChangeRetention
	}
	pg, err := Open(ctx, Config{URL: cfg.URL, Timeout: cfg.Timeout, MaxConns: 4})
	if err != nil {
		return nil, err
	}
	l := &ChangeListener{url: cfg.URL, retention: cfg.Retention, hub: hub, log: log, pg: pg, wake: make(chan struct{}, 1)}
	conn, err := listen(ctx, cfg.URL)
	if err != nil {
		pg.Close()
		return nil, stores.Unavailable("postgres change listener", err)
	}
	// Start at the newest position: nothing older has subscribers yet.
	err = pg.withConn(ctx, func(ctx context.Context, conn *pgx.Conn) error {
		var pruned int64
		return conn.QueryRow(ctx, logBoundsSQL).Scan(&pruned, &l.lastSeq)
	})
	if err != nil {
		_ = conn.Close(ctx)
		pg.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.running.Add(3)
	go l.receive(runCtx, conn)
	go l.follow(runCtx)
	go l.prune(runCtx)
	l.signal() // number what committed before the first LISTEN
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

// signal wakes follow; wake-ups that come while it is busy fold into one.
func (l *ChangeListener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// receive waits for notifications, reconnecting with backoff. Once the
// connection is back, follow is woken to catch up from the log with what
// committed while it was down.
func (l *ChangeListener) receive(ctx context.Context, conn *pgx.Conn) {
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
		if conn, err = listen(ctx, l.url); err != nil {
			l.log.Warn("postgres change listener cannot reconnect", "error", err.Error())
			continue
		}
		l.log.Info("postgres change listener reconnected; catching up from the change log")
		l.signal()
	}
}

// follow numbers and publishes the log's changes whenever woken, and every
// logPoll. A failure (the database is down) is retried at the next wake-up
// or poll; lastSeq only moves past what was published, so nothing is skipped.
func (l *ChangeListener) follow(ctx context.Context) {
	defer l.running.Done()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-time.After(logPoll):
		}
		delivered, err := l.catchUp(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				l.log.Warn("postgres change listener cannot read the change log; retrying", "error", err.Error())
			}
			failing = true
		case failing:
			l.log.Info("postgres change listener caught up from the change log", "delivered", delivered, "position", l.lastSeq)
			failing = false
		}
	}
}

// catchUp numbers the committed changes, then publishes every change after
// lastSeq, in order. Each numbering pass is a transaction of its own: its
// lock must end with it.
func (l *ChangeListener) catchUp(ctx context.Context) (int, error) {
	for {
		var numbered int
		err := l.feedTx(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			return conn.QueryRow(ctx, numberSQL, replayPage).Scan(&numbered)
		})
		if err != nil {
			return 0, err
		}
		if numbered < replayPage {
			break
		}
	}
	total := 0
	for {
		var page []stores.Change
		err := l.feedTx(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			rows, err := conn.Query(ctx, logAfterSQL, l.lastSeq, replayPage)
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

// deliver publishes one notification to the local hub; a memory
// notification only wakes follow, which reads the log.
func (l *ChangeListener) deliver(payload string) {
	var n notification
	switch err := json.Unmarshal([]byte(payload), &n); {
	case err == nil && n.Kind == logWakeKind:
		l.signal()
		return
	case err != nil || n.OrgID == uuid.Nil || n.Kind == "":
		l.log.Warn("postgres change listener: malformed notification ignored")
		return
	}
	l.hub.Publish(stores.Change{
		Kind: n.Kind, OrgID: n.OrgID, UserID: n.UserID,
		MemoryID: n.MemoryID, Version: n.Version, Op: n.Op, SessionID: n.SessionID,
	})
}

// prune deletes the changes older than the retention, in bounded batches,
// now and then every quarter of the retention (at most a minute). Every
// replica prunes; two replicas' batches only wait for each other on the
// log's bounds row, for the time of one batch.
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
		rows, err := conn.Query(ctx, logAfterSQL, after, limit)
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
