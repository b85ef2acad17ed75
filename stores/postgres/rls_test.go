package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// tenantTables are the tables that hold tenant rows.
var tenantTables = []string{
	"apps", "memories", "categories", "memory_categories", "experiments", "experiment_variants",
	"experiment_assignments", "experiment_status_history", "feedback_events", "memory_outbox",
}

// connect opens a plain connection (no store in between) with the URL in env.
func connect(t *testing.T, env string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(storetest.Ctx(t), storetest.ServiceEnv(t, env))
	if err != nil {
		t.Fatalf("connect with %s: %v", env, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// seed gives a fresh tenant an app, a categorised memory, an experiment with
// an assignment and a feedback event, through the stores: one row in every
// tenant table.
func seed(t *testing.T, b *postgres.Backend) (stores.Tenant, stores.Memory) {
	t.Helper()
	ctx := storetest.Ctx(t)
	tenant := storetest.NewTenant()
	ms, es, fs := b.Memories(tenant), b.Experiments(tenant), b.Feedback(tenant)
	app, err := ms.CreateApp(ctx, "seed", "")
	storetest.RequireNoError(t, err)
	m, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "seeded", Categories: []string{"seed"}})
	storetest.RequireNoError(t, err)
	e, err := es.CreateExperiment(ctx, stores.NewExperiment{Name: "seed", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
	storetest.RequireNoError(t, err)
	_, err = es.TransitionExperiment(ctx, e.ID, stores.ExperimentRunning, "")
	storetest.RequireNoError(t, err)
	_, err = es.Assignments(ctx, []uuid.UUID{e.ID})
	storetest.RequireNoError(t, err)
	_, err = fs.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &m.ID, Tool: "cli", QueryType: "recall",
		Outcome: stores.OutcomeAccepted, ExperimentID: &e.ID, VariantKey: "a"})
	storetest.RequireNoError(t, err)
	return tenant, m
}

// count returns count(*) of a table through q.
func count(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, table string) int {
	t.Helper()
	var n int
	if err := q.QueryRow(storetest.Ctx(t), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// bindTenant starts a transaction on conn bound to tenant, as the stores do.
func bindTenant(t *testing.T, conn *pgx.Conn, tenant stores.Tenant) pgx.Tx {
	t.Helper()
	ctx := storetest.Ctx(t)
	tx, err := conn.Begin(ctx)
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	_, err = tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)`, tenant.OrgID.String(), tenant.UserID.String())
	storetest.RequireNoError(t, err)
	return tx
}

func requireSQLState(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		t.Fatalf("got error %v, want SQLSTATE %s", err, code)
	}
}

func TestRowLevelSecurity(t *testing.T) {
	b := backend(t)

	t.Run("without a tenant the application role counts zero rows in every table while rows exist", func(t *testing.T) {
		tenant, m := seed(t, b)
		if _, err := b.Memories(tenant).Memory(storetest.Ctx(t), m.ID); err != nil {
			t.Fatalf("the tenant does not see its own memory: %v", err)
		}
		app := connect(t, "DATABASE_URL")
		for _, table := range tenantTables {
			if n := count(t, app, table); n != 0 {
				t.Errorf("SELECT count(*) FROM %s without a tenant = %d, want 0", table, n)
			}
		}
		// Inside a transaction that binds nothing, too.
		tx, err := app.Begin(storetest.Ctx(t))
		storetest.RequireNoError(t, err)
		defer tx.Rollback(context.Background())
		if n := count(t, tx, "memories"); n != 0 {
			t.Errorf("count(*) in an unbound transaction = %d, want 0", n)
		}
		bound := bindTenant(t, connect(t, "DATABASE_URL"), tenant)
		if n := count(t, bound, "memories"); n != 1 {
			t.Errorf("count(*) bound to the tenant = %d, want its 1 memory", n)
		}
	})

	t.Run("a malformed id in the context is an error and returns no rows", func(t *testing.T) {
		seed(t, b)
		for _, setting := range []string{"app.org_id", "app.user_id"} {
			t.Run(setting, func(t *testing.T) {
				app := connect(t, "DATABASE_URL")
				ctx := storetest.Ctx(t)
				tx, err := app.Begin(ctx)
				storetest.RequireNoError(t, err)
				defer tx.Rollback(context.Background())
				_, err = tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true), set_config($2, 'not-a-uuid', true)`, uuid.NewString(), setting)
				storetest.RequireNoError(t, err)
				table := "memories"
				if setting == "app.user_id" {
					table = "experiment_assignments"
				}
				rows, err := tx.Query(ctx, "SELECT * FROM "+table)
				storetest.RequireNoError(t, err)
				n := 0
				for rows.Next() {
					n++
				}
				requireSQLState(t, rows.Err(), "22P02")
				if n != 0 {
					t.Fatalf("%d rows came back before the error", n)
				}
			})
		}
	})

	t.Run("tenants running at once on one pool each see only their own rows", func(t *testing.T) {
		pool, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL"), MaxConns: 4})
		storetest.RequireNoError(t, err)
		t.Cleanup(pool.Close)
		const tenants, rounds = 24, 8
		var wg sync.WaitGroup
		for i := range tenants {
			wg.Go(func() {
				ctx := storetest.Ctx(t)
				tenant := storetest.NewTenant()
				ms := pool.Memories(tenant)
				app, err := ms.CreateApp(ctx, fmt.Sprintf("tenant %d", i), "")
				if err != nil {
					t.Errorf("tenant %d: create app: %v", i, err)
					return
				}
				created, err := ms.CreateMemories(ctx, []stores.NewMemory{
					{AppID: app.ID, Content: "one", Categories: []string{"mine"}}, {AppID: app.ID, Content: "two"}})
				if err != nil {
					t.Errorf("tenant %d: create memories: %v", i, err)
					return
				}
				want := []uuid.UUID{created[0].ID, created[1].ID}
				for range rounds {
					page, err := ms.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 100})
					if err != nil {
						t.Errorf("tenant %d: list: %v", i, err)
						return
					}
					var got []uuid.UUID
					for _, m := range page.Items {
						got = append(got, m.ID)
					}
					slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
					slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
					if !slices.Equal(got, want) {
						t.Errorf("tenant %d sees %v, want its own %v", i, got, want)
						return
					}
					apps, err := ms.ListApps(ctx, stores.PageArgs{First: 100})
					if err != nil || len(apps.Items) != 1 || apps.Items[0].ID != app.ID {
						t.Errorf("tenant %d sees apps %+v (%v), want only its own", i, apps.Items, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("a pooled connection carries no tenant after the tenant's transaction", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		one, err := postgres.Open(ctx, postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL"), MaxConns: 1})
		storetest.RequireNoError(t, err)
		t.Cleanup(one.Close)
		pid := func() uint32 {
			conn, err := one.PoolForTest().Acquire(ctx)
			storetest.RequireNoError(t, err)
			defer conn.Release()
			return conn.Conn().PgConn().PID()
		}
		before := pid()
		tenant, m := seed(t, one)
		if _, err := one.Memories(tenant).Memory(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		conn, err := one.PoolForTest().Acquire(ctx)
		storetest.RequireNoError(t, err)
		defer conn.Release()
		if got := conn.Conn().PgConn().PID(); got != before {
			t.Fatalf("the pool gave another connection (pid %d, then %d)", before, got)
		}
		var org, user *string
		storetest.RequireNoError(t, conn.QueryRow(ctx, `SELECT nullif(current_setting('app.org_id', true), ''), nullif(current_setting('app.user_id', true), '')`).Scan(&org, &user))
		if org != nil || user != nil {
			t.Fatalf("the pooled connection still carries org %v user %v", *org, *user)
		}
		for _, table := range tenantTables {
			if n := count(t, conn, table); n != 0 {
				t.Errorf("the pooled connection counts %d rows in %s, want 0", n, table)
			}
		}
	})

	t.Run("the owner role is bound by FORCE ROW LEVEL SECURITY", func(t *testing.T) {
		tenant, _ := seed(t, b)
		owner := connect(t, "DATABASE_OWNER_URL")
		for _, table := range tenantTables {
			if n := count(t, owner, table); n != 0 {
				t.Errorf("the owner counts %d rows in %s without a tenant, want 0", n, table)
			}
		}
		tx := bindTenant(t, owner, tenant)
		if n := count(t, tx, "memories"); n != 1 {
			t.Errorf("the owner bound to the tenant counts %d memories, want 1", n)
		}
		_, err := tx.Exec(storetest.Ctx(t), `INSERT INTO apps (org_id, id, name) VALUES ($1, $2, 'smuggled')`, uuid.New(), uuid.New())
		requireSQLState(t, err, "42501") // new row violates row-level security policy
	})

	t.Run("the application role cannot become the owner, switch row level security off or bypass it", func(t *testing.T) {
		seed(t, b)
		ownerCfg, err := pgx.ParseConfig(storetest.ServiceEnv(t, "DATABASE_OWNER_URL"))
		storetest.RequireNoError(t, err)
		app := connect(t, "DATABASE_URL")
		ctx := storetest.Ctx(t)
		var super, bypass bool
		storetest.RequireNoError(t, app.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass))
		if super || bypass {
			t.Fatalf("the application role has superuser=%v bypassrls=%v", super, bypass)
		}
		for _, stmt := range []string{
			"SET ROLE " + pgx.Identifier{ownerCfg.User}.Sanitize(),
			"SET SESSION AUTHORIZATION " + pgx.Identifier{ownerCfg.User}.Sanitize(),
			"ALTER TABLE memories DISABLE ROW LEVEL SECURITY",
			"ALTER TABLE memories NO FORCE ROW LEVEL SECURITY",
			"DROP POLICY memories_org ON memories",
			"ALTER ROLE CURRENT_USER BYPASSRLS",
			"TRUNCATE memories",
			"CREATE TABLE escape (id int)",
		} {
			t.Run(stmt, func(t *testing.T) {
				_, err := app.Exec(ctx, stmt)
				requireSQLState(t, err, "42501")
			})
		}
		// Turning row_security off does not show rows: the query fails instead.
		_, err = app.Exec(ctx, "SET row_security = off")
		storetest.RequireNoError(t, err)
		_, err = app.Exec(ctx, "SELECT count(*) FROM memories")
		requireSQLState(t, err, "42501")
	})

	t.Run("every table with an org or user column has row level security enabled and forced", func(t *testing.T) {
		app := connect(t, "DATABASE_URL")
		rows, err := app.Query(storetest.Ctx(t), `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname IN ('org_id', 'user_id') AND NOT a.attisdropped)
ORDER BY c.relname`)
		storetest.RequireNoError(t, err)
		var seen []string
		for rows.Next() {
			var name string
			var enabled, forced bool
			storetest.RequireNoError(t, rows.Scan(&name, &enabled, &forced))
			seen = append(seen, name)
			if !enabled || !forced {
				t.Errorf("table %s: relrowsecurity=%v relforcerowsecurity=%v", name, enabled, forced)
			}
		}
		storetest.RequireNoError(t, rows.Err())
		for _, table := range tenantTables {
			if !slices.Contains(seen, table) {
				t.Errorf("tenant table %s has no org or user column", table)
			}
		}
	})

	t.Run("the application role holds only the privileges the stores use", func(t *testing.T) {
		app := connect(t, "DATABASE_URL")
		ctx := storetest.Ctx(t)
		var n int
		storetest.RequireNoError(t, app.QueryRow(ctx, `SELECT count(*) FROM information_schema.table_privileges
WHERE grantee = current_user AND privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER')`).Scan(&n))
		if n != 0 {
			t.Errorf("the application role holds %d TRUNCATE/REFERENCES/TRIGGER privileges", n)
		}
		var deleteMemories, createSchema bool
		storetest.RequireNoError(t, app.QueryRow(ctx, `SELECT has_table_privilege('memories', 'DELETE'), has_schema_privilege(current_schema(), 'CREATE')`).Scan(&deleteMemories, &createSchema))
		if deleteMemories || createSchema {
			t.Errorf("the application role may delete memories (%v) or create in the schema (%v)", deleteMemories, createSchema)
		}
	})
}
