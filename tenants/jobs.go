package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// JobKind is what a lifecycle job does.
type JobKind string

// The kinds of job.
const (
	// EraseOrg removes an organisation from every store and marks it ERASED.
	EraseOrg JobKind = "ERASE_ORG"
	// EraseUser removes one user's data inside an organisation.
	EraseUser JobKind = "ERASE_USER"
	// PurgeOrphan is EraseOrg for an organisation that holds data but is
	// absent from the registry, or erased.
	PurgeOrphan JobKind = "PURGE_ORPHAN"
)

// JobState is where a job is.
type JobState string

// The states of a job. A job whose process died stays RUNNING (or PENDING)
// until a runner takes it up again.
const (
	JobPending JobState = "PENDING"
	JobRunning JobState = "RUNNING"
	JobDone    JobState = "DONE"
)

// OrgStores are the stores an organisation erasure goes through, in order:
// PostgreSQL first, so the outbox indexer has nothing left to write into the
// search indexes once those are emptied.
var OrgStores = []string{PostgresName, "valkey", "neo4j", "qdrant", "opensearch"}

// userStores are the stores a user erasure goes through (the derived
// documents and vectors follow through the outbox).
var userStores = []string{PostgresName, "valkey"}

// Job is one lifecycle job: its durable state and its audit record.
type Job struct {
	ID          int64
	Kind        JobKind
	Org         uuid.UUID
	User        *uuid.UUID
	ReassignTo  *uuid.UUID
	State       JobState
	RequestedBy string
	// Pending are the stores still to do, in order.
	Pending []string
	// Counts are, per store, what it removed so far.
	Counts     map[string]Counts
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

const jobColumns = `id, kind, target_org, target_user, reassign_to, state, requested_by, pending, counts, coalesce(last_error, ''), created_at, updated_at, finished_at`

func scanJob(row pgx.Row) (Job, error) {
	var j Job
	var counts []byte
	err := row.Scan(&j.ID, &j.Kind, &j.Org, &j.User, &j.ReassignTo, &j.State, &j.RequestedBy, &j.Pending, &counts, &j.LastError, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt)
	if err != nil {
		return Job{}, err
	}
	if err := json.Unmarshal(counts, &j.Counts); err != nil {
		return Job{}, fmt.Errorf("job %d: counts: %w", j.ID, err)
	}
	return j, nil
}

// Jobs reads and writes the tenant_jobs table. Starting a job and reading it
// work as the application role (an org admin's mutation) or as the operator.
type Jobs struct {
	pool *pgxpool.Pool
}

// NewJobs wraps a pool of either role.
func NewJobs(pool *pgxpool.Pool) *Jobs { return &Jobs{pool: pool} }

const (
	lockOrgSQL          = `SELECT status FROM organizations WHERE id = $1 FOR UPDATE`
	insertOrgErasingSQL = `INSERT INTO organizations (id, status) VALUES ($1, 'ERASING')`
	setOrgStatusSQL     = `UPDATE organizations SET status = $2, updated_at = now() WHERE id = $1`
	insertJobSQL        = `INSERT INTO tenant_jobs (kind, target_org, target_user, reassign_to, requested_by, pending)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + jobColumns
	jobSQL           = `SELECT ` + jobColumns + ` FROM tenant_jobs WHERE id = $1`
	orgJobsSQL       = `SELECT ` + jobColumns + ` FROM tenant_jobs WHERE target_org = $1 ORDER BY id DESC LIMIT $2`
	unfinishedJobSQL = `SELECT ` + jobColumns + ` FROM tenant_jobs WHERE target_org = $1 AND kind = ANY($2) AND state IN ('PENDING', 'RUNNING') ORDER BY id LIMIT 1`
	unfinishedSQL    = `SELECT id FROM tenant_jobs WHERE state IN ('PENDING', 'RUNNING') ORDER BY id`
)

// StartOrgErase records an erasure of org (EraseOrg, or PurgeOrphan for an
// org absent from the registry or erased) requested by by, and moves the org
// to ERASING in the same transaction: from then on its tokens are refused.
// Returns stores.ErrNotFound for EraseOrg of an organisation the registry
// does not hold, and stores.ErrConflict when the org is already erasing or
// erased (PurgeOrphan: when it is registered and not erased); nothing is
// changed then.
func (j *Jobs) StartOrgErase(ctx context.Context, kind JobKind, org uuid.UUID, by string) (Job, error) {
	if kind != EraseOrg && kind != PurgeOrphan {
		return Job{}, fmt.Errorf("StartOrgErase: kind %s", kind)
	}
	var job Job
	err := pgx.BeginFunc(ctx, j.pool, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, lockOrgSQL, org).Scan(&status)
		registered := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		switch {
		case kind == EraseOrg && !registered:
			return stores.NotFound("organisation %s is not registered", org)
		case status == StatusErasing:
			return j.alreadyErasing(ctx, tx, org)
		case kind == EraseOrg && status == StatusErased:
			return stores.Conflict("organisation %s was already erased", org)
		case kind == PurgeOrphan && registered && status != StatusErased:
			return stores.Conflict("organisation %s is registered (%s), not an orphan: erase it instead", org, status)
		case !registered:
			if _, err := tx.Exec(ctx, insertOrgErasingSQL, org); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, setOrgStatusSQL, org, StatusErasing); err != nil {
				return err
			}
		}
		job, err = scanJob(tx.QueryRow(ctx, insertJobSQL, kind, org, nil, nil, by, OrgStores))
		return err
	})
	return job, mapJobError(org, err)
}

// alreadyErasing is the conflict of a second erasure, naming the first.
func (j *Jobs) alreadyErasing(ctx context.Context, tx pgx.Tx, org uuid.UUID) error {
	running, err := scanJob(tx.QueryRow(ctx, unfinishedJobSQL, org, []string{string(EraseOrg), string(PurgeOrphan)}))
	if err != nil {
		return stores.Conflict("organisation %s is already being erased", org)
	}
	return stores.Conflict("organisation %s is already being erased by job %d (started %s)", org, running.ID, running.CreatedAt.UTC().Format(time.RFC3339))
}

// mapJobError turns the unique index of unfinished erasures (two starts
// racing) into the same conflict.
func mapJobError(org uuid.UUID, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return stores.Conflict("organisation %s is already being erased", org)
	}
	return err
}

// StartUserErase records an erasure of user in org: their episodic items,
// experiment assignments and feedback events, and the memories they
// authored, erased or, with reassignTo set, handed to that user. Returns
// stores.ErrNotFound when org is not an ACTIVE registered organisation.
func (j *Jobs) StartUserErase(ctx context.Context, org, user uuid.UUID, reassignTo *uuid.UUID, by string) (Job, error) {
	if user == uuid.Nil {
		return Job{}, stores.Invalid("the user id must not be the nil UUID")
	}
	if reassignTo != nil && (*reassignTo == user || *reassignTo == uuid.Nil) {
		return Job{}, stores.Invalid("memories must be reassigned to another user")
	}
	var status Status
	if err := j.pool.QueryRow(ctx, orgStatusSQL, org).Scan(&status); errors.Is(err, pgx.ErrNoRows) || (err == nil && status != StatusActive) {
		return Job{}, stores.NotFound("organisation %s is not an active registered organisation", org)
	} else if err != nil {
		return Job{}, err
	}
	return scanJob(j.pool.QueryRow(ctx, insertJobSQL, EraseUser, org, user, reassignTo, by, userStores))
}

// Get returns job id; stores.ErrNotFound when there is none.
func (j *Jobs) Get(ctx context.Context, id int64) (Job, error) {
	job, err := scanJob(j.pool.QueryRow(ctx, jobSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, stores.NotFound("no lifecycle job %d", id)
	}
	return job, err
}

// ForOrg returns the organisation's newest jobs, newest first.
func (j *Jobs) ForOrg(ctx context.Context, org uuid.UUID, limit int) ([]Job, error) {
	rows, err := j.pool.Query(ctx, orgJobsSQL, org, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Job, error) { return scanJob(row) })
}

// Unfinished returns the organisation's unfinished erasure, if any.
func (j *Jobs) Unfinished(ctx context.Context, org uuid.UUID) (Job, bool, error) {
	job, err := scanJob(j.pool.QueryRow(ctx, unfinishedJobSQL, org, []string{string(EraseOrg), string(PurgeOrphan), string(EraseUser)}))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, false, nil
	}
	return job, err == nil, err
}

// Runner runs lifecycle jobs as the operator, store by store in bounded
// batches, recording each store's progress in the job row: a job whose
// process dies is taken up again where its progress says, and redoes at most
// one batch (every batch is idempotent).
type Runner struct {
	pool   *pgxpool.Pool // the owner role
	pg     *Postgres
	stores map[string]Store
	opts   RunnerOptions
}

// RunnerOptions tune a Runner.
type RunnerOptions struct {
	// Batch bounds every store call (DefaultBatch when zero).
	Batch int
	// Grace is how long after a job's start its first deletion waits, so
	// that every gateway's organisation snapshot has seen the ERASING
	// status and writes in flight have ended (the registry refresh plus
	// the store timeout).
	Grace time.Duration
	// Indexes are the deployment's derived indexes (stores.DerivedIndexes):
	// what a user's erased or reassigned memories queue outbox entries for.
	Indexes []stores.IndexName
	// AfterStore, when set, is called once a store's completion is
	// recorded (tests stop a run there).
	AfterStore func(store string)
	Logger     *slog.Logger
}

// DefaultBatch is the default bound of one store call.
const DefaultBatch = 500

// NewRunner runs jobs over the owner pool and the given stores (PostgreSQL
// included by the runner itself); a store of a job that is not configured
// here is skipped (its data lives in an embedded store of the gateway's
// process, which nothing outlives).
func NewRunner(pool *pgxpool.Pool, others []Store, opts RunnerOptions) *Runner {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pg := NewPostgres(pool, opts.Indexes)
	r := &Runner{pool: pool, pg: pg, stores: map[string]Store{PostgresName: pg}, opts: opts}
	for _, s := range others {
		r.stores[s.Name()] = s
	}
	return r
}

// Stores returns the configured stores in OrgStores order.
func (r *Runner) Stores() []Store {
	var out []Store
	for _, name := range OrgStores {
		if s, ok := r.stores[name]; ok {
			out = append(out, s)
		}
	}
	return out
}

// Jobs reads and writes the jobs as the operator.
func (r *Runner) Jobs() *Jobs { return NewJobs(r.pool) }

const (
	// The lock key space of lifecycle jobs (pg_try_advisory_lock(key, id)).
	jobLockSpace  = 1701
	tryLockJobSQL = `SELECT pg_try_advisory_lock($1, $2::int)`
	unlockJobSQL  = `SELECT pg_advisory_unlock($1, $2::int)`
	setRunningSQL = `UPDATE tenant_jobs SET state = 'RUNNING', updated_at = now() WHERE id = $1 AND state IN ('PENDING', 'RUNNING')`
	addCountsSQL  = `UPDATE tenant_jobs SET counts = jsonb_set(counts, ARRAY[$2::text],
    (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM (
        SELECT k, sum(v)::bigint AS v FROM (
            SELECT key AS k, value::bigint AS v FROM jsonb_each_text(coalesce(counts -> $2, '{}'))
            UNION ALL SELECT key, value::bigint FROM jsonb_each_text($3::jsonb)) s GROUP BY k) t)),
    updated_at = now() WHERE id = $1`
	storeDoneSQL  = `UPDATE tenant_jobs SET pending = array_remove(pending, $2), updated_at = now() WHERE id = $1`
	jobErrorSQL   = `UPDATE tenant_jobs SET last_error = $2, updated_at = now() WHERE id = $1`
	finishJobSQL  = `UPDATE tenant_jobs SET state = 'DONE', last_error = NULL, finished_at = now(), updated_at = now() WHERE id = $1`
	markErasedSQL = `UPDATE organizations SET status = 'ERASED', name = '', updated_at = now() WHERE id = $1 AND status = 'ERASING'`
)

// Run runs job id to its end, or until an error (recorded in the job, which
// stays unfinished so that a later Run resumes it). Only one process runs a
// job at a time: a session advisory lock, released by PostgreSQL when the
// process dies, so a crashed run leaves nothing to clean up. Returns
// stores.ErrConflict when another process holds the job.
func (r *Runner) Run(ctx context.Context, id int64) (Job, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return Job{}, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, tryLockJobSQL, jobLockSpace, id).Scan(&locked); err != nil {
		return Job{}, err
	}
	if !locked {
		return Job{}, stores.Conflict("job %d is being run by another process", id)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), unlockJobSQL, jobLockSpace, id) }()

	job, err := r.Jobs().Get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if job.State == JobDone {
		return job, nil
	}
	if _, err := r.pool.Exec(ctx, setRunningSQL, id); err != nil {
		return job, err
	}
	if err := r.waitGrace(ctx, job); err != nil {
		return job, err
	}
	for _, name := range slices.Clone(job.Pending) {
		if err := r.runStore(ctx, job, name); err != nil {
			err = fmt.Errorf("job %d, %s: %w", id, name, err)
			_, _ = r.pool.Exec(context.WithoutCancel(ctx), jobErrorSQL, id, err.Error())
			return job, err
		}
		if r.opts.AfterStore != nil {
			r.opts.AfterStore(name)
		}
	}
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if job.Kind != EraseUser {
			if _, err := tx.Exec(ctx, markErasedSQL, job.Org); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, finishJobSQL, id)
		return err
	})
	if err != nil {
		return job, err
	}
	return r.Jobs().Get(ctx, id)
}

// waitGrace waits until the job is Grace old.
func (r *Runner) waitGrace(ctx context.Context, job Job) error {
	wait := time.Until(job.CreatedAt.Add(r.opts.Grace))
	if wait <= 0 {
		return nil
	}
	r.opts.Logger.Info("waiting for every gateway to refuse the organisation's tokens", "job", job.ID, "wait", wait.String())
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runStore removes the job's data from one store, batch by batch, adding
// each batch's counts to the job, then records the store as done.
func (r *Runner) runStore(ctx context.Context, job Job, name string) error {
	store, ok := r.stores[name]
	if !ok {
		r.opts.Logger.Warn("store not configured here: nothing to erase in it", "job", job.ID, "store", name)
		_, err := r.pool.Exec(ctx, storeDoneSQL, job.ID, name)
		return err
	}
	// PostgreSQL records each batch's counts in the batch's own
	// transaction; the other stores right after the batch (a crash in
	// between undercounts that one batch).
	record := func(ctx context.Context, tx pgx.Tx, removed Counts) error {
		b, err := json.Marshal(removed)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, addCountsSQL, job.ID, name, string(b))
		return err
	}
	for {
		var removed Counts
		var done bool
		var err error
		recorded := name == PostgresName
		switch {
		case name == PostgresName && job.Kind != EraseUser:
			removed, done, err = r.pg.eraseBatch(ctx, job.Org, r.opts.Batch, record)
		case name == PostgresName:
			removed, done, err = r.pg.eraseUserBatch(ctx, job.Org, *job.User, job.ReassignTo, r.opts.Batch, record)
		case job.Kind != EraseUser:
			removed, done, err = store.EraseBatch(ctx, job.Org, r.opts.Batch)
		default:
			us, ok := store.(UserStore)
			if !ok {
				done = true
				break
			}
			removed, done, err = us.EraseUserBatch(ctx, job.Org, *job.User, r.opts.Batch)
		}
		if err != nil {
			return err
		}
		if len(removed) > 0 && !recorded {
			if err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return record(ctx, tx, removed) }); err != nil {
				return err
			}
		}
		if done {
			_, err := r.pool.Exec(ctx, storeDoneSQL, job.ID, name)
			return err
		}
	}
}

// RunUnfinished runs every unfinished job that no other process holds, oldest
// first; the background worker calls it.
func (r *Runner) RunUnfinished(ctx context.Context) error {
	rows, err := r.pool.Query(ctx, unfinishedSQL)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if _, err := r.Run(ctx, id); err != nil && !errors.Is(err, stores.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Audit counts what each configured store holds for org.
func (r *Runner) Audit(ctx context.Context, org uuid.UUID) (map[string]Counts, error) {
	out := map[string]Counts{}
	for _, s := range r.Stores() {
		c, err := s.Count(ctx, org)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		out[s.Name()] = c
	}
	return out, nil
}

// Orphan is an organisation holding data in some stores while the registry
// does not hold it, or holds it as erased.
type Orphan struct {
	Org    uuid.UUID
	Status Status // "" when unregistered
	Stores []string
}

// Orphans lists, store by store, the organisations that hold data there and
// are absent from the registry or erased.
func (r *Runner) Orphans(ctx context.Context) ([]Orphan, error) {
	rows, err := r.pool.Query(ctx, snapshotSQL)
	if err != nil {
		return nil, err
	}
	registry := map[uuid.UUID]Status{}
	for rows.Next() {
		var id uuid.UUID
		var s Status
		if err := rows.Scan(&id, &s); err != nil {
			return nil, err
		}
		registry[id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	found := map[uuid.UUID]*Orphan{}
	for _, s := range r.Stores() {
		orgs, err := s.Orgs(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		for _, org := range orgs {
			status, registered := registry[org]
			if registered && status != StatusErased {
				continue
			}
			o := found[org]
			if o == nil {
				o = &Orphan{Org: org, Status: status}
				found[org] = o
			}
			o.Stores = append(o.Stores, s.Name())
		}
	}
	set := map[uuid.UUID]bool{}
	for id := range found {
		set[id] = true
	}
	out := make([]Orphan, 0, len(found))
	for _, id := range sortedIDs(set) {
		out = append(out, *found[id])
	}
	return out, nil
}

// Postgres is the runner's PostgreSQL store (the retention purges run on it).
func (r *Runner) Postgres() *Postgres { return r.pg }

const (
	organizationSQL     = `SELECT id, name, status, created_at, updated_at FROM organizations WHERE id = $1`
	registerNamedOrgSQL = `INSERT INTO organizations (id, name) VALUES ($1, $2)`
	changeOrgStatusSQL  = `UPDATE organizations SET status = $2, updated_at = now() WHERE id = $1 AND status IN ('ACTIVE', 'SUSPENDED')`
)

// Organization returns the registry's row of org.
func (j *Jobs) Organization(ctx context.Context, org uuid.UUID) (Organization, bool, error) {
	var o Organization
	err := j.pool.QueryRow(ctx, organizationSQL, org).Scan(&o.ID, &o.Name, &o.Status, &o.CreatedAt, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}

// Register adds an ACTIVE organisation to the registry. Returns
// stores.ErrConflict when it is already there.
func (j *Jobs) Register(ctx context.Context, org uuid.UUID, name string) error {
	_, err := j.pool.Exec(ctx, registerNamedOrgSQL, org, name)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return stores.Conflict("organisation %s is already registered", org)
	}
	return err
}

// SetStatus suspends or reactivates an organisation. Returns
// stores.ErrNotFound when it is not registered and stores.ErrConflict when
// it is erasing or erased (an erasure is not undone).
func (j *Jobs) SetStatus(ctx context.Context, org uuid.UUID, to Status) error {
	if to != StatusActive && to != StatusSuspended {
		return stores.Invalid("an organisation is set ACTIVE or SUSPENDED, not %s", to)
	}
	tag, err := j.pool.Exec(ctx, changeOrgStatusSQL, org, to)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	o, ok, err := j.Organization(ctx, org)
	switch {
	case err != nil:
		return err
	case !ok:
		return stores.NotFound("organisation %s is not registered", org)
	default:
		return stores.Conflict("organisation %s is %s", org, o.Status)
	}
}
