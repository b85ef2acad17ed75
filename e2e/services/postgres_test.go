package services_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestPostgresSmoke connects as the application role (DATABASE_URL), checks
// that row level security applies to it, and round-trips a row through a
// temporary table.
func TestPostgresSmoke(t *testing.T) {
	url := storetest.ServiceEnv(t, "DATABASE_URL")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect as the application role: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var user, db string
	var super, bypassRLS bool
	err = conn.QueryRow(ctx, `SELECT current_user, current_database(), rolsuper, rolbypassrls
		FROM pg_roles WHERE rolname = current_user`).Scan(&user, &db, &super, &bypassRLS)
	if err != nil {
		t.Fatalf("query pg_roles: %v", err)
	}
	if db != "codingbrain" {
		t.Errorf("database = %q, want codingbrain", db)
	}
	if super || bypassRLS {
		t.Errorf("application role %q: superuser=%v bypassrls=%v; row level security would not apply", user, super, bypassRLS)
	}

	table := pgx.Identifier{"smoke_" + strings.ToLower(rand.Text())}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE "+table+" (id int PRIMARY KEY, note text NOT NULL)"); err != nil {
		t.Fatalf("create temp table: %v", err)
	}
	want := "written at " + time.Now().Format(time.RFC3339Nano)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, note) VALUES ($1, $2)", 1, want); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got string
	if err := conn.QueryRow(ctx, "SELECT note FROM "+table+" WHERE id = $1", 1).Scan(&got); err != nil {
		t.Fatalf("select: %v", err)
	}
	if got != want {
		t.Errorf("read back %q, want %q", got, want)
	}
}

// TestPostgresOwnerRole checks that the migration role (DATABASE_OWNER_URL)
// owns the database but is no superuser.
func TestPostgresOwnerRole(t *testing.T) {
	url := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect as the owner role: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var super, ownsDB, ownsSchema bool
	err = conn.QueryRow(ctx, `SELECT r.rolsuper,
			(SELECT datdba = r.oid FROM pg_database WHERE datname = current_database()),
			(SELECT nspowner = r.oid FROM pg_namespace WHERE nspname = 'public')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &ownsDB, &ownsSchema)
	if err != nil {
		t.Fatalf("query pg_roles: %v", err)
	}
	if super || !ownsDB || !ownsSchema {
		t.Errorf("owner role: superuser=%v owns database=%v owns schema public=%v; want false, true, true", super, ownsDB, ownsSchema)
	}
}
