package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// UnknownOrgs says what the gateway does with a token whose organisation the
// registry does not hold.
type UnknownOrgs string

const (
	// RegisterUnknown registers it, ACTIVE, on first use: organisations
	// come into being with their first token, as before the registry.
	RegisterUnknown UnknownOrgs = "register"
	// RefuseUnknown refuses it: organisations are created by an operator.
	RefuseUnknown UnknownOrgs = "refuse"
)

// Registry is the gateway's view of the organizations table: a snapshot of
// every organisation's status, refreshed in the background, so checking a
// token's organisation costs no round trip.
type Registry struct {
	pool    *pgxpool.Pool
	unknown UnknownOrgs
	refresh time.Duration

	mu     sync.RWMutex
	status map[uuid.UUID]Status
	since  time.Time // the database's clock at the last read
}

// NewRegistry reads the registry through pool (the application role) and
// keeps its snapshot at most refresh old once Run runs.
func NewRegistry(ctx context.Context, pool *pgxpool.Pool, unknown UnknownOrgs, refresh time.Duration) (*Registry, error) {
	if unknown != RegisterUnknown && unknown != RefuseUnknown {
		return nil, fmt.Errorf("unknown organisations: want %q or %q, not %q", RegisterUnknown, RefuseUnknown, unknown)
	}
	r := &Registry{pool: pool, unknown: unknown, refresh: refresh}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

const (
	snapshotSQL    = `SELECT id, status FROM organizations`
	changedSQL     = `SELECT id, status FROM organizations WHERE updated_at >= $1`
	orgStatusSQL   = `SELECT status FROM organizations WHERE id = $1`
	registerOrgSQL = `INSERT INTO organizations (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`
	nowSQL         = `SELECT now()`
)

// A refresh reads the rows changed since the previous one (minus
// changeOverlap: a row's updated_at is its transaction's start, which may
// commit a little after a later-started read), and every fullReloadEvery
// refreshes the whole table, which also forgets rows an operator deleted.
const (
	changeOverlap   = time.Minute
	fullReloadEvery = 150
)

// load replaces the snapshot with the table.
func (r *Registry) load(ctx context.Context) error {
	var since time.Time
	if err := r.pool.QueryRow(ctx, nowSQL).Scan(&since); err != nil {
		return stores.Unavailable("postgres", fmt.Errorf("reading the organisations: %w", err))
	}
	status, err := r.read(ctx, snapshotSQL)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.status, r.since = status, since
	r.mu.Unlock()
	return nil
}

// refreshChanges merges the rows changed since the previous read.
func (r *Registry) refreshChanges(ctx context.Context) error {
	var now time.Time
	if err := r.pool.QueryRow(ctx, nowSQL).Scan(&now); err != nil {
		return stores.Unavailable("postgres", fmt.Errorf("reading the organisations: %w", err))
	}
	r.mu.RLock()
	since := r.since.Add(-changeOverlap)
	r.mu.RUnlock()
	changed, err := r.read(ctx, changedSQL, since)
	if err != nil {
		return err
	}
	r.mu.Lock()
	maps.Copy(r.status, changed)
	r.since = now
	r.mu.Unlock()
	return nil
}

// read runs a query of (id, status) rows.
func (r *Registry) read(ctx context.Context, sql string, args ...any) (map[uuid.UUID]Status, error) {
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, stores.Unavailable("postgres", fmt.Errorf("reading the organisations: %w", err))
	}
	out := map[uuid.UUID]Status{}
	for rows.Next() {
		var id uuid.UUID
		var s Status
		if err := rows.Scan(&id, &s); err != nil {
			return nil, err
		}
		out[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, stores.Unavailable("postgres", err)
	}
	return out, nil
}

// Run refreshes the snapshot every refresh interval until ctx ends; a failed
// refresh keeps the previous snapshot (logged).
func (r *Registry) Run(ctx context.Context, log *slog.Logger) {
	tick := time.NewTicker(r.refresh)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		refresh := r.refreshChanges
		if n%fullReloadEvery == 0 {
			refresh = r.load
		}
		if err := refresh(ctx); err != nil && ctx.Err() == nil {
			log.Warn("refreshing the organisation registry", "err", err)
		}
	}
}

// cached returns the snapshot's status of org.
func (r *Registry) cached(org uuid.UUID) (Status, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.status[org]
	return s, ok
}

// remember records a status this process wrote or read, ahead of the next
// refresh.
func (r *Registry) remember(org uuid.UUID, s Status) {
	r.mu.Lock()
	r.status[org] = s
	r.mu.Unlock()
}

// lookup returns org's status, from the snapshot or, for an organisation it
// does not hold (new since the last refresh, or unknown), from the table,
// registering it first when unknown organisations are registered.
func (r *Registry) lookup(ctx context.Context, org uuid.UUID) (Status, bool, error) {
	if s, ok := r.cached(org); ok {
		return s, true, nil
	}
	if r.unknown == RegisterUnknown {
		if _, err := r.pool.Exec(ctx, registerOrgSQL, org); err != nil {
			return "", false, stores.Unavailable("postgres", fmt.Errorf("registering an organisation: %w", err))
		}
	}
	var s Status
	err := r.pool.QueryRow(ctx, orgStatusSQL, org).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, stores.Unavailable("postgres", fmt.Errorf("reading an organisation: %w", err))
	}
	r.remember(org, s)
	return s, true, nil
}

// ErrOrgRefused is wrapped (with auth.ErrUnauthenticated) by Admit's refusals.
var ErrOrgRefused = errors.New("organisation refused")

// refusal is a token refused for its organisation: UNAUTHENTICATED, with a
// message the client may read.
type refusal struct{ msg string }

func (e refusal) Error() string   { return "unauthenticated: " + e.msg }
func (e refusal) Unwrap() []error { return []error{auth.ErrUnauthenticated, ErrOrgRefused} }

// Admit decides whether a verified token's organisation is served: an
// ACTIVE one in full; an ERASING or ERASED one only to an org admin, whose
// token keeps the admin scope alone (it may follow its erasure, nothing
// else: every write needs a domain scope); anything else is refused with an
// error wrapping auth.ErrUnauthenticated. An unreachable registry for an
// organisation not in the snapshot is stores.ErrUnavailable.
func (r *Registry) Admit(ctx context.Context, p auth.Principal) (auth.Principal, error) {
	s, ok, err := r.lookup(ctx, p.OrgID)
	switch {
	case err != nil:
		return p, err
	case !ok:
		return p, refusal{"the organisation is not registered"}
	case s == StatusActive:
		return p, nil
	case (s == StatusErasing || s == StatusErased) && p.Has(auth.ScopeAdmin):
		p.Scopes = []string{auth.ScopeAdmin}
		return p, nil
	case s == StatusSuspended:
		return p, refusal{"the organisation is suspended"}
	case s == StatusErasing:
		return p, refusal{"the organisation is being erased"}
	default:
		return p, refusal{"the organisation was erased"}
	}
}

// StartErase records an erasure of org asked for by an org admin (by) and
// refuses the org's tokens in this process at once (the others within their
// refresh). Returns what Jobs.StartOrgErase returns.
func (r *Registry) StartErase(ctx context.Context, org uuid.UUID, by string) (Job, error) {
	job, err := NewJobs(r.pool).StartOrgErase(ctx, EraseOrg, org, by)
	if err != nil {
		return Job{}, err
	}
	r.remember(org, StatusErasing)
	return job, nil
}

// Erasures returns the organisation's erasures, newest first.
func (r *Registry) Erasures(ctx context.Context, org uuid.UUID, limit int) ([]Job, error) {
	jobs, err := NewJobs(r.pool).ForOrg(ctx, org, limit)
	if err != nil {
		return nil, err
	}
	out := jobs[:0]
	for _, j := range jobs {
		if j.Kind != EraseUser {
			out = append(out, j)
		}
	}
	return out, nil
}
