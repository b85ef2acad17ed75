package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/codingbrain/gateway/migrations"
)

// migrateUsage says how to call the migrate subcommand.
const migrateUsage = "usage: gateway migrate [--database-owner-url URL] up|down|status"

// migrate runs the embedded goose migrations as the owner role
// (DATABASE_OWNER_URL, or --database-owner-url): `up` applies every pending
// one, `down` rolls back the newest, `status` lists them. The gateway never
// migrates at start; production runs this as a separate step.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ownerURL := fs.String("database-owner-url", getenv("DATABASE_OWNER_URL"), "PostgreSQL URL of the owner role")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long the whole run may take")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, migrateUsage)
	}
	if fs.NArg() != 1 {
		return errors.New(migrateUsage)
	}
	command := fs.Arg(0)
	var run func(*migrations.Runner, context.Context, io.Writer) error
	switch command {
	case "up":
		run = (*migrations.Runner).Up
	case "down":
		run = (*migrations.Runner).Down
	case "status":
		run = (*migrations.Runner).Status
	default:
		return fmt.Errorf("unknown migrate command %q\n%s", command, migrateUsage)
	}
	r, err := migrations.Open(*ownerURL)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }() // the migration has committed or failed by then
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return run(r, ctx, stdout)
}
