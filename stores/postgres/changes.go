package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SQL of the change feed, on the channel codingbrain_changes that the
// triggers of migrations/00002_change_notify.sql send on. LISTEN takes no
// parameter: the channel is a constant.
const (
	listenSQL = `LISTEN codingbrain_changes`
	notifySQL = `SELECT pg_notify('codingbrain_changes', $1)`
)

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
// replica, into the local hub: one LISTEN connection per gateway. It is
// also a stores.ChangePublisher: a change the database does not notify by
// itself (an episodic write, stored elsewhere) is sent through the same
// channel, so it reaches every replica's subscribers the same way.
type ChangeListener struct {
	url string
	hub stores.ChangePublisher
	log *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	conn *pgx.Conn // the sending connection, opened on first use
}

// ListenChanges connects, LISTENs, and keeps feeding hub until Close,
// reconnecting with backoff when the connection drops. It returns once the
// first LISTEN is in place, so no change committed after it returns is missed.
func ListenChanges(ctx context.Context, url string, hub stores.ChangePublisher, log *slog.Logger) (*ChangeListener, error) {
	conn, err := listen(ctx, url)
	if err != nil {
		return nil, stores.Unavailable("postgres change listener", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &ChangeListener{url: url, hub: hub, log: log, cancel: cancel, done: make(chan struct{})}
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
	defer close(l.done)
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
			conn = nil
		}
	}
}

// deliver publishes one notification to the local hub.
func (l *ChangeListener) deliver(payload string) {
	var n notification
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.OrgID == uuid.Nil || n.Kind == "" {
		l.log.Warn("postgres change listener: malformed notification ignored")
		return
	}
	l.hub.Publish(stores.Change{
		Kind: n.Kind, OrgID: n.OrgID, UserID: n.UserID,
		MemoryID: n.MemoryID, Version: n.Version, Op: n.Op, SessionID: n.SessionID,
	})
}

// Publish sends c (its ids only) to every replica through NOTIFY. It is for
// changes committed outside PostgreSQL (episodic items in Valkey or in
// process), after their commit. A failure is logged: the write stands.
func (l *ChangeListener) Publish(c stores.Change) {
	payload, err := json.Marshal(notification{
		Kind: c.Kind, OrgID: c.OrgID, UserID: c.UserID,
		MemoryID: c.MemoryID, Version: c.Version, Op: c.Op, SessionID: c.SessionID,
	})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil || l.conn.IsClosed() {
		if l.conn, err = pgx.Connect(ctx, l.url); err != nil {
			l.conn = nil
			l.log.Warn("postgres change notify: cannot connect", "error", err.Error())
			return
		}
	}
	if _, err := l.conn.Exec(ctx, notifySQL, string(payload)); err != nil {
		_ = l.conn.Close(ctx)
		l.conn = nil
		l.log.Warn("postgres change notify failed", "error", err.Error())
	}
}

// Close stops listening and closes both connections.
func (l *ChangeListener) Close() {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		_ = l.conn.Close(context.Background())
		l.conn = nil
	}
}

var _ stores.ChangePublisher = (*ChangeListener)(nil)
