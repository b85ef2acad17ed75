package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/google/uuid"
)

// searchUsage is printed with every usage error of `gateway search`.
const searchUsage = `usage: gateway search move-tenant [--index NAME] ORG
  move-tenant  move organisation ORG (a UUID) from the shared index to a
               dedicated one, re-pointing its alias without downtime
  needs OPENSEARCH_URL`

// searchCommand runs the OpenSearch operations: `gateway search move-tenant ORG`.
func searchCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("gateway search: no subcommand\n" + searchUsage)
	}
	if args[0] != "move-tenant" {
		return fmt.Errorf("gateway search: unknown subcommand %q\n%s", args[0], searchUsage)
	}
	fs := flag.NewFlagSet("gateway search move-tenant", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	index := fs.String("index", opensearch.DefaultIndex, "the shared index the tenant is on")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("gateway search move-tenant: %w\n%s", err, searchUsage)
	}
	if fs.NArg() != 1 {
		return errors.New("gateway search move-tenant: want exactly one ORG\n" + searchUsage)
	}
	org, err := uuid.Parse(fs.Arg(0))
	if err != nil || org == uuid.Nil {
		return fmt.Errorf("gateway search move-tenant: ORG %q is not an organisation UUID", fs.Arg(0))
	}
	addr := getenv("OPENSEARCH_URL")
	if addr == "" {
		return errors.New("gateway search move-tenant: OPENSEARCH_URL is not set")
	}
	// New, not Open: a mistyped --index must not create an index.
	backend, err := opensearch.New(opensearch.Options{URL: addr, Index: *index})
	if err != nil {
		return fmt.Errorf("gateway search move-tenant: %w", err)
	}
	defer backend.Close()
	if err := backend.Ping(ctx); err != nil {
		return fmt.Errorf("opensearch at %s: %w", redactedHost(addr), err)
	}
	res, err := backend.MoveTenant(ctx, org)
	if err != nil {
		return fmt.Errorf("moving org %s: %w", org, err)
	}
	if res.AlreadyMoved {
		_, err = fmt.Fprintf(stdout, "org %s was already on %s; copied %d and removed %d leftover documents from %s\n",
			org, res.To, res.Copied, res.Removed, *index)
		return err
	}
	_, err = fmt.Fprintf(stdout, "moved org %s: %d documents copied from %s to %s, %d removed from %s; alias %s now points to %s\n",
		org, res.Copied, *index, res.To, res.Removed, *index, res.Alias, res.To)
	return err
}
