package tenants_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/tenants"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// env is the database as both roles: the application role's pool and store
// backend, and the owner role's pool the jobs run on.
type env struct {
	app   *pgxpool.Pool
	owner *pgxpool.Pool
	pg    *postgres.Backend
}

var migrateOnce sync.Once

func newEnv(t *testing.T) env {
	t.Helper()
	appURL := storetest.ServiceEnv(t, "DATABASE_URL")
	ownerURL := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	ctx := storetest.Ctx(t)
	migrateOnce.Do(func() {
		r, err := migrations.Open(ownerURL)
		storetest.RequireNoError(t, err)
		defer r.Close()
		storetest.RequireNoError(t, r.Up(ctx, io.Discard))
	})
	app, err := pgxpool.New(ctx, appURL)
	storetest.RequireNoError(t, err)
	owner, err := pgxpool.New(ctx, ownerURL)
	storetest.RequireNoError(t, err)
	pg, err := postgres.Open(ctx, postgres.Config{URL: appURL})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { app.Close(); owner.Close(); pg.Close() })
	return env{app: app, owner: owner, pg: pg}
}

// rows counts an org's rows of a table matching a condition, as the operator.
func (e env) rows(t *testing.T, org uuid.UUID, table, where string, args ...any) int {
	t.Helper()
	var n int
	err := pgx.BeginFunc(storetest.Ctx(t), e.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(storetest.Ctx(t), `SELECT set_config('app.operator_org', $1, true)`, org.String()); err != nil {
			return err
		}
		q := `SELECT count(*) FROM ` + pgx.Identifier{table}.Sanitize() + ` WHERE org_id = $1 AND ` + where
		return tx.QueryRow(storetest.Ctx(t), q, append([]any{org}, args...)...).Scan(&n)
	})
	storetest.RequireNoError(t, err)
	return n
}

func TestRegistry(t *testing.T) {
	e := newEnv(t)
	ctx := storetest.Ctx(t)
	jobs := tenants.NewJobs(e.owner)
	member := func(org uuid.UUID) auth.Principal {
		return auth.Principal{OrgID: org, UserID: uuid.New(), Scopes: []string{auth.ScopeMemoriesRead}}
	}
	admin := func(org uuid.UUID) auth.Principal {
		return auth.Principal{OrgID: org, UserID: uuid.New(), Scopes: []string{auth.ScopeMemoriesRead, auth.ScopeAdmin}}
	}

	t.Run("an unknown organisation is registered on first use by default", func(t *testing.T) {
		r, err := tenants.NewRegistry(ctx, e.app, tenants.RegisterUnknown, time.Hour)
		storetest.RequireNoError(t, err)
		org := uuid.New()
		p, err := r.Admit(ctx, member(org))
		storetest.RequireNoError(t, err)
		if !slices.Equal(p.Scopes, []string{auth.ScopeMemoriesRead}) {
			t.Fatalf("scopes %v", p.Scopes)
		}
		o, ok, err := jobs.Organization(ctx, org)
		storetest.RequireNoError(t, err)
		if !ok || o.Status != tenants.StatusActive {
			t.Fatalf("registered %+v %v", o, ok)
		}
	})

	t.Run("an unknown organisation is refused when so configured", func(t *testing.T) {
		r, err := tenants.NewRegistry(ctx, e.app, tenants.RefuseUnknown, time.Hour)
		storetest.RequireNoError(t, err)
		org := uuid.New()
		if _, err := r.Admit(ctx, member(org)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("an unknown org in refuse mode: %v", err)
		}
		if _, ok, _ := jobs.Organization(ctx, org); ok {
			t.Fatal("refuse mode registered the org")
		}
		storetest.RequireNoError(t, jobs.Register(ctx, org, "acme"))
		storetest.RequireKind(t, jobs.Register(ctx, org, "acme"), stores.ErrConflict)
		if _, err := r.Admit(ctx, member(org)); err != nil {
			t.Fatalf("a registered org in refuse mode: %v", err)
		}
	})

	t.Run("a suspended organisation's tokens are refused after the next refresh", func(t *testing.T) {
		r, err := tenants.NewRegistry(ctx, e.app, tenants.RegisterUnknown, 20*time.Millisecond)
		storetest.RequireNoError(t, err)
		runCtx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		go r.Run(runCtx, slog.New(slog.DiscardHandler))
		org := uuid.New()
		storetest.RequireNoError(t, jobs.Register(ctx, org, ""))
		storetest.RequireNoError(t, jobs.SetStatus(ctx, org, tenants.StatusSuspended))
		storetest.Eventually(t, 5*time.Second, "the suspension to be seen", func() bool {
			_, err := r.Admit(ctx, admin(org))
			return errors.Is(err, auth.ErrUnauthenticated)
		})
		storetest.RequireNoError(t, jobs.SetStatus(ctx, org, tenants.StatusActive))
		storetest.Eventually(t, 5*time.Second, "the reactivation to be seen", func() bool {
			_, err := r.Admit(ctx, member(org))
			return err == nil
		})
		storetest.RequireKind(t, jobs.SetStatus(ctx, uuid.New(), tenants.StatusSuspended), stores.ErrNotFound)
	})

	t.Run("an erasing organisation serves its admins the admin scope alone", func(t *testing.T) {
		r, err := tenants.NewRegistry(ctx, e.app, tenants.RegisterUnknown, time.Hour)
		storetest.RequireNoError(t, err)
		org := uuid.New()
		_, err = r.Admit(ctx, member(org))
		storetest.RequireNoError(t, err)
		job, err := r.StartErase(ctx, org, "admin")
		storetest.RequireNoError(t, err)
		if _, err := r.Admit(ctx, member(org)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("a member of an erasing org: %v", err)
		}
		p, err := r.Admit(ctx, admin(org))
		storetest.RequireNoError(t, err)
		if !slices.Equal(p.Scopes, []string{auth.ScopeAdmin}) {
			t.Fatalf("an admin of an erasing org keeps %v", p.Scopes)
		}
		_, err = r.StartErase(ctx, org, "admin")
		storetest.RequireKind(t, err, stores.ErrConflict)
		storetest.RequireKind(t, jobs.SetStatus(ctx, org, tenants.StatusActive), stores.ErrConflict)
		list, err := r.Erasures(ctx, org, 20)
		storetest.RequireNoError(t, err)
		if len(list) != 1 || list[0].ID != job.ID || list[0].State != tenants.JobPending {
			t.Fatalf("erasures %+v", list)
		}
	})
}

// seedUsers writes, in one org, two memories and feedback by leaver, one
// memory by stayer, feedback by stayer on leaver's memory, and leaver's
// assignment in a running experiment.
func seedUsers(t *testing.T, e env, org, leaver, stayer uuid.UUID) {
	t.Helper()
	ctx := storetest.Ctx(t)
	lt, st := stores.Tenant{OrgID: org, UserID: leaver}, stores.Tenant{OrgID: org, UserID: stayer}
	app, err := e.pg.Memories(lt).CreateApp(ctx, "app-"+uuid.NewString()[:8], "")
	storetest.RequireNoError(t, err)
	mine, err := e.pg.Memories(lt).CreateMemories(ctx, []stores.NewMemory{
		{AppID: app.ID, Content: "leaver's note", Categories: []string{"c"}},
		{AppID: app.ID, Content: "leaver's private note", Visibility: stores.VisibilityPrivate},
	})
	storetest.RequireNoError(t, err)
	_, err = e.pg.Memories(st).CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "stayer's note"})
	storetest.RequireNoError(t, err)
	for _, tn := range []stores.Tenant{lt, st} {
		_, err = e.pg.Feedback(tn).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &mine[0].ID, Tool: "t", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		storetest.RequireNoError(t, err)
	}
	exp, err := e.pg.Experiments(st).CreateExperiment(ctx, stores.NewExperiment{Name: "e", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
	storetest.RequireNoError(t, err)
	_, err = e.pg.Experiments(st).TransitionExperiment(ctx, exp.ID, stores.ExperimentRunning, "")
	storetest.RequireNoError(t, err)
	got, err := e.pg.Experiments(lt).Assignments(ctx, []uuid.UUID{exp.ID})
	storetest.RequireNoError(t, err)
	if len(got) != 1 {
		t.Fatalf("assignments %v", got)
	}
}

func TestEraseUser(t *testing.T) {
	e := newEnv(t)
	ctx := storetest.Ctx(t)
	runner := tenants.NewRunner(e.owner, nil, tenants.RunnerOptions{Batch: 1})

	t.Run("erases the user's rows and memories, which leave the indexes through the outbox", func(t *testing.T) {
		org, leaver, stayer := uuid.New(), uuid.New(), uuid.New()
		storetest.RequireNoError(t, runner.Jobs().Register(ctx, org, ""))
		seedUsers(t, e, org, leaver, stayer)
		job, err := runner.Jobs().StartUserErase(ctx, org, leaver, nil, "test")
		storetest.RequireNoError(t, err)
		job, err = runner.Run(ctx, job.ID)
		storetest.RequireNoError(t, err)
		if job.State != tenants.JobDone || job.Counts["postgres"]["memories"] != 2 || job.Counts["postgres"]["feedback_events"] != 1 || job.Counts["postgres"]["experiment_assignments"] != 1 {
			t.Fatalf("job %+v", job)
		}
		for table, where := range map[string]string{
			"memories": "author_id = $2", "feedback_events": "user_id = $2", "experiment_assignments": "user_id = $2",
		} {
			if n := e.rows(t, org, table, where, leaver); n != 0 {
				t.Errorf("%d %s of the erased user remain", n, table)
			}
		}
		if n := e.rows(t, org, "memory_outbox", "op = 'delete' AND author_id = $2", leaver); n != 2 {
			t.Errorf("%d outbox deletes for the erased memories, want 2", n)
		}
		if n := e.rows(t, org, "memories", "author_id = $2", stayer); n != 1 {
			t.Errorf("the other user's memories: %d", n)
		}
		if n := e.rows(t, org, "feedback_events", "user_id = $2 AND memory_id IS NULL", stayer); n != 1 {
			t.Errorf("the other user's feedback on an erased memory: %d kept without the reference, want 1", n)
		}
		if o, _, _ := runner.Jobs().Organization(ctx, org); o.Status != tenants.StatusActive {
			t.Errorf("erasing a user changed the org to %s", o.Status)
		}
	})

	t.Run("hands the user's memories to another user", func(t *testing.T) {
		org, leaver, stayer := uuid.New(), uuid.New(), uuid.New()
		storetest.RequireNoError(t, runner.Jobs().Register(ctx, org, ""))
		seedUsers(t, e, org, leaver, stayer)
		job, err := runner.Jobs().StartUserErase(ctx, org, leaver, &stayer, "test")
		storetest.RequireNoError(t, err)
		job, err = runner.Run(ctx, job.ID)
		storetest.RequireNoError(t, err)
		if job.Counts["postgres"]["memories_reassigned"] != 2 {
			t.Fatalf("job %+v", job)
		}
		if n := e.rows(t, org, "memories", "author_id = $2 AND version = 2", stayer); n != 2 {
			t.Errorf("%d memories handed over with a new version, want 2", n)
		}
		if n := e.rows(t, org, "memory_outbox", "op = 'upsert' AND author_id = $2 AND memory_version = 2", stayer); n != 2 {
			t.Errorf("%d outbox upserts under the new author, want 2", n)
		}
		if n := e.rows(t, org, "feedback_events", "user_id = $2", leaver); n != 0 {
			t.Errorf("the erased user's feedback remains: %d", n)
		}
	})

	t.Run("bad inputs change nothing", func(t *testing.T) {
		user := uuid.New()
		_, err := runner.Jobs().StartUserErase(ctx, uuid.New(), user, nil, "test")
		storetest.RequireKind(t, err, stores.ErrNotFound)
		org := uuid.New()
		storetest.RequireNoError(t, runner.Jobs().Register(ctx, org, ""))
		_, err = runner.Jobs().StartUserErase(ctx, org, user, &user, "test")
		storetest.RequireKind(t, err, stores.ErrInvalid)
		if jobs, _ := runner.Jobs().ForOrg(ctx, org, 10); len(jobs) != 0 {
			t.Fatalf("a refused user erasure left jobs: %+v", jobs)
		}
	})
}

func TestRetention(t *testing.T) {
	e := newEnv(t)
	ctx := storetest.Ctx(t)
	org, user := uuid.New(), uuid.New()
	tn := stores.Tenant{OrgID: org, UserID: user}
	app, err := e.pg.Memories(tn).CreateApp(ctx, "app", "")
	storetest.RequireNoError(t, err)
	var ids []uuid.UUID
	for range 3 {
		m, err := e.pg.Memories(tn).CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "to forget", Categories: []string{"c"}})
		storetest.RequireNoError(t, err)
		ids = append(ids, m.ID)
	}
	for _, id := range ids[:2] {
		_, err := e.pg.Memories(tn).DeleteMemory(ctx, id, nil)
		storetest.RequireNoError(t, err)
	}
	for range 5 {
		_, err := e.pg.Feedback(tn).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &ids[0], Tool: "t", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		storetest.RequireNoError(t, err)
	}
	_, err = e.pg.Feedback(tn).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "recent", Tool: "t", QueryType: "recall", Outcome: stores.OutcomeAccepted})
	storetest.RequireNoError(t, err)
	// Age this org's rows (only these: other tests share the database).
	err = pgx.BeginFunc(ctx, e.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.operator_org', $1, true)`, org.String()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE memories SET deleted_at = now() - interval '40 days' WHERE org_id = $1 AND state = 'DELETED'`, org); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE feedback_events SET created_at = now() - interval '40 days' WHERE org_id = $1 AND query_id = 'q'`, org)
		return err
	})
	storetest.RequireNoError(t, err)

	// Chunks of 2 rows. What this pass counts may include other tests'
	// rows, or miss some of ours that a server's own retention (another
	// test package, same database) purged first: the rows left tell.
	pg := tenants.NewPostgres(e.owner, nil)
	_, err = pg.Purge(ctx, time.Now(), tenants.Retention{DeletedMemories: 30 * 24 * time.Hour, Feedback: 30 * 24 * time.Hour, Batch: 2})
	storetest.RequireNoError(t, err)
	if n := e.rows(t, org, "memories", "true"); n != 1 {
		t.Errorf("%d memories left, want the live one", n)
	}
	if n := e.rows(t, org, "feedback_events", "true"); n != 1 {
		t.Errorf("%d feedback events left, want the recent one", n)
	}
	if n := e.rows(t, org, "memory_outbox", "op = 'delete' AND memory_id = ANY($2)", ids[:2]); n < 2 {
		t.Errorf("the purged memories' outbox deletes: %d", n)
	}

	t.Run("a zero window keeps everything", func(t *testing.T) {
		purged, err := pg.Purge(ctx, time.Now().Add(365*24*time.Hour), tenants.Retention{})
		storetest.RequireNoError(t, err)
		if purged != (tenants.Purged{}) {
			t.Fatalf("purged %+v with no window", purged)
		}
	})
}

func TestOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := storetest.Ctx(t)
	runner := tenants.NewRunner(e.owner, nil, tenants.RunnerOptions{})
	orphan := uuid.New()
	_, err := e.pg.Memories(stores.Tenant{OrgID: orphan, UserID: uuid.New()}).CreateApp(ctx, "left behind", "")
	storetest.RequireNoError(t, err)
	registered := uuid.New()
	storetest.RequireNoError(t, runner.Jobs().Register(ctx, registered, ""))
	_, err = e.pg.Memories(stores.Tenant{OrgID: registered, UserID: uuid.New()}).CreateApp(ctx, "kept", "")
	storetest.RequireNoError(t, err)

	list, err := runner.Orphans(ctx)
	storetest.RequireNoError(t, err)
	found := map[uuid.UUID]tenants.Orphan{}
	for _, o := range list {
		found[o.Org] = o
	}
	if o, ok := found[orphan]; !ok || o.Status != "" || !slices.Equal(o.Stores, []string{"postgres"}) {
		t.Fatalf("the orphan is listed as %+v (%v)", o, ok)
	}
	if _, ok := found[registered]; ok {
		t.Fatal("a registered org is listed as an orphan")
	}
	_, err = runner.Jobs().StartOrgErase(ctx, tenants.PurgeOrphan, registered, "test")
	storetest.RequireKind(t, err, stores.ErrConflict)

	job, err := runner.Jobs().StartOrgErase(ctx, tenants.PurgeOrphan, orphan, "test")
	storetest.RequireNoError(t, err)
	job, err = runner.Run(ctx, job.ID)
	storetest.RequireNoError(t, err)
	if job.State != tenants.JobDone || job.Counts["postgres"]["apps"] != 1 {
		t.Fatalf("job %+v", job)
	}
	counts, err := runner.Audit(ctx, orphan)
	storetest.RequireNoError(t, err)
	if counts["postgres"].Total() != 0 {
		t.Fatalf("after the purge: %v", counts)
	}
	if o, _, _ := runner.Jobs().Organization(ctx, orphan); o.Status != tenants.StatusErased || o.Name != "" {
		t.Fatalf("the purged orphan is %+v in the registry", o)
	}
}
