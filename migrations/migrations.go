// Package migrations holds the PostgreSQL schema of the memories, feedback
// and experiments domains as goose SQL migrations embedded into the binary,
// and runs them. They run as the owner role (DATABASE_OWNER_URL), never at
// gateway start: `gateway migrate up` is an operator's step, and the gateway
// refuses to start on a database that is not at Latest().
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver goose runs on
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// files are the migrations, named NNNNN_what.sql.
//
//go:embed *.sql
var files embed.FS

// VersionTable is goose's bookkeeping table; the application role may read
// it so that the gateway can check the schema version at start.
const VersionTable = "goose_db_version"

// Latest returns the version of the newest embedded migration: the version a
// database must be at for this build of the gateway.
func Latest() int64 {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	var latest int64
	for _, e := range entries {
		v, err := goose.NumericComponent(path.Base(e.Name()))
		if err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

// Runner applies the embedded migrations to one database.
type Runner struct {
	db       *sql.DB
	provider *goose.Provider
}

// Open connects to the database as the owner role. Concurrent runners (two
// replicas, two test packages) serialise on a session advisory lock, so a
// second Up finds nothing left to do instead of failing.
func Open(ownerURL string) (*Runner, error) {
	if ownerURL == "" {
		return nil, errors.New("DATABASE_OWNER_URL is not set: migrations run as the owner role")
	}
	db, err := sql.Open("pgx", ownerURL)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker), goose.WithTableName(VersionTable))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("migrations: %w", err), db.Close())
	}
	return &Runner{db: db, provider: provider}, nil
}

// Close releases the connection.
func (r *Runner) Close() error { return r.db.Close() }

// Up applies every pending migration and writes one line per migration to out.
func (r *Runner) Up(ctx context.Context, out io.Writer) error {
	results, err := r.provider.Up(ctx)
	printErr := printResults(out, results)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if printErr != nil || len(results) > 0 {
		return printErr
	}
	v, _ := r.provider.GetDBVersion(ctx)
	return report(out, "no migrations to run, at version %d\n", v)
}

// Down rolls back the newest applied migration.
func (r *Runner) Down(ctx context.Context, out io.Writer) error {
	result, err := r.provider.Down(ctx)
	var printErr error
	if result != nil {
		printErr = printResults(out, []*goose.MigrationResult{result})
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return printErr
}

// Status writes each migration with its state and when it was applied.
func (r *Runner) Status(ctx context.Context, out io.Writer) error {
	statuses, err := r.provider.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		if err := report(out, "%05d  %-40s %s\n", s.Source.Version, path.Base(s.Source.Path), applied); err != nil {
			return err
		}
	}
	return nil
}

func printResults(out io.Writer, results []*goose.MigrationResult) error {
	for _, r := range results {
		if err := report(out, "%s\n", r.String()); err != nil {
			return err
		}
	}
	return nil
}

// report writes one line of the operator's report; a failed write (a closed
// pipe) fails the command rather than passing for success.
func report(out io.Writer, format string, args ...any) error {
	if _, err := fmt.Fprintf(out, format, args...); err != nil {
		return fmt.Errorf("migrations: writing the report: %w", err)
	}
	return nil
}

// Version returns the version the database is at, 0 when goose's table does
// not exist yet.
func (r *Runner) Version(ctx context.Context) (int64, error) {
	return r.provider.GetDBVersion(ctx)
}
