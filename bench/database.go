package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/codingbrain/gateway/migrations"
	"github.com/jackc/pgx/v5"
)

// services are the addresses of the real services, from the environment
// e2e/services/env exports.
type services struct {
	appURL, ownerURL       string // the benchmark database, application and owner roles
	valkey                 string
	neo4jURI, neo4jUser    string
	neo4jPassword          string
	qdrant, opensearch     string
	appRole, ownerRole, db string
}

func servicesFromEnv(benchDB string) (services, error) {
	var missing []string
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	s := services{
		appURL: get("DATABASE_URL"), ownerURL: get("DATABASE_OWNER_URL"), valkey: get("VALKEY_URL"),
		neo4jURI: get("NEO4J_URI"), neo4jUser: os.Getenv("NEO4J_USER"), neo4jPassword: get("NEO4J_PASSWORD"),
		qdrant: get("QDRANT_URL"), opensearch: get("OPENSEARCH_URL"), db: benchDB,
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("%s not set: run e2e/services/up, then set -a; source e2e/services/env; set +a", strings.Join(missing, ", "))
	}
	if s.neo4jUser == "" {
		s.neo4jUser = "neo4j"
	}
	var err error
	if s.appURL, s.appRole, err = withDatabase(s.appURL, benchDB); err != nil {
		return s, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if s.ownerURL, s.ownerRole, err = withDatabase(s.ownerURL, benchDB); err != nil {
		return s, fmt.Errorf("DATABASE_OWNER_URL: %w", err)
	}
	return s, nil
}

// withDatabase returns the URL naming another database, and its user.
func withDatabase(raw, db string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return "", "", errors.New("not a postgres://user:password@host/db URL")
	}
	u.Path = "/" + db
	return u.String(), u.User.Username(), nil
}

// createDatabaseSQL makes the benchmark database like e2e/services/postgres/
// setup.sql makes the test one: owned by the owner role, the application
// role may connect and use the schema, pg_stat_statements is there.
const createDatabaseSQL = `\set ON_ERROR_STOP on
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
\connect :"db"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
`

// prepareDatabase creates the benchmark database when it is missing (as the
// PostgreSQL superuser, through `runuser -u postgres -- psql` on this host)
// and migrates it to the schema this build embeds.
func prepareDatabase(ctx context.Context, s services) error {
	conn, err := pgx.Connect(ctx, s.ownerURL)
	if err != nil {
		if !strings.Contains(err.Error(), "does not exist") {
			return fmt.Errorf("connecting to %s as the owner: %w", s.db, err)
		}
		fmt.Fprintf(os.Stderr, "creating database %s (runuser -u postgres -- psql)\n", s.db)
		cmd := exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-d", "postgres",
			"-v", "db="+s.db, "-v", "owner="+s.ownerRole, "-v", "app="+s.appRole)
		cmd.Stdin = strings.NewReader(createDatabaseSQL)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("creating database %s needs the PostgreSQL superuser (create it as setup.sql does, with pg_stat_statements): %w: %s", s.db, err, out)
		}
		if conn, err = pgx.Connect(ctx, s.ownerURL); err != nil {
			return err
		}
	}
	if err := conn.Close(ctx); err != nil {
		return err
	}
	r, err := migrations.Open(s.ownerURL)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }() // Up has committed or failed by then
	return r.Up(ctx, io.Discard)
}
