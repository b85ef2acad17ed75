package main

// The operator subcommands: everything the binary does besides serving.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/tenantio"
	"github.com/codingbrain/gateway/tenants"
	"github.com/google/uuid"
)

// migrateUsage says how to call the migrate subcommand.
const migrateUsage = "usage: gateway migrate [--database-owner-url URL] up|down|status"

// migrate runs the embedded goose migrations as the owner role
// (DATABASE_OWNER_URL, or --database-owner-url): `up` applies every pending
// one, `down` rolls back the newest, `status` lists them. The gateway never
// migrates at start; production runs this as a separate step.
func migrate(ctx context.Context, args []string, p process) error {
	fs := flag.NewFlagSet("gateway migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ownerURL := fs.String("database-owner-url", p.getenv("DATABASE_OWNER_URL"), "PostgreSQL URL of the owner role")
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
	return run(r, ctx, p.stdout)
}

// schema prints the GraphQL SDL the gateway serves.
func schema(p process) error {
	_, err := io.WriteString(p.stdout, graph.SDL())
	return err
}

// token prints a signed HS256 token: `gateway token --org ORG --user UUID`.
func token(args []string, p process) error {
	fs := flag.NewFlagSet("gateway token", flag.ContinueOnError)
	org := fs.String("org", demoOrg.String(), "organisation id (UUID)")
	user := fs.String("user", demoUser.String(), "user id (UUID)")
	scopes := fs.String("scopes", strings.Join(auth.AllScopes(), ","), "comma-separated scopes")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	secret := fs.String("jwt-secret", p.getenv("GATEWAY_JWT_SECRET"), "HS256 secret (env GATEWAY_JWT_SECRET); the development secret when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	orgID, err := uuid.Parse(*org)
	if err != nil {
		return fmt.Errorf("--org %q is not a UUID", *org)
	}
	userID, err := uuid.Parse(*user)
	if err != nil {
		return fmt.Errorf("--user %q is not a UUID", *user)
	}
	key := *secret
	if key == "" {
		key = auth.DevelopmentSecret
	}
	var list []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	tok, err := auth.Issue([]byte(key), auth.Principal{UserID: userID, OrgID: orgID, Scopes: list}, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(p.stdout, tok)
	return err
}

// searchUsage is printed with every usage error of `gateway search`.
const searchUsage = `usage: gateway search move-tenant [--index NAME] ORG
       gateway search tenants [--index NAME]
  move-tenant  move organisation ORG (a UUID) from the shared index to a
               dedicated one, re-pointing its alias without downtime
  tenants      list every organisation: the index it lives on, whether that
               is its own, and its document count, largest first
  needs OPENSEARCH_URL`

// searchCommand runs the OpenSearch operations: `gateway search move-tenant
// ORG` and `gateway search tenants`.
func searchCommand(ctx context.Context, args []string, p process) error {
	if len(args) == 0 {
		return errors.New("gateway search: no subcommand\n" + searchUsage)
	}
	sub := args[0]
	if sub != "move-tenant" && sub != "tenants" {
		return fmt.Errorf("gateway search: unknown subcommand %q\n%s", sub, searchUsage)
	}
	fs := flag.NewFlagSet("gateway search "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	index := fs.String("index", opensearch.DefaultIndex, "the shared index")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("gateway search %s: %w\n%s", sub, err, searchUsage)
	}
	var org uuid.UUID
	switch {
	case sub == "tenants" && fs.NArg() != 0:
		return errors.New("gateway search tenants: takes no argument\n" + searchUsage)
	case sub == "move-tenant" && fs.NArg() != 1:
		return errors.New("gateway search move-tenant: want exactly one ORG\n" + searchUsage)
	case sub == "move-tenant":
		var err error
		if org, err = uuid.Parse(fs.Arg(0)); err != nil || org == uuid.Nil {
			return fmt.Errorf("gateway search move-tenant: ORG %q is not an organisation UUID", fs.Arg(0))
		}
	}
	addr := p.getenv("OPENSEARCH_URL")
	if addr == "" {
		return fmt.Errorf("gateway search %s: OPENSEARCH_URL is not set", sub)
	}
	// New, not Open: a mistyped --index must not create an index.
	backend, err := opensearch.New(opensearch.Options{URL: addr, Index: *index})
	if err != nil {
		return fmt.Errorf("gateway search %s: %w", sub, err)
	}
	defer backend.Close()
	if err := backend.Ping(ctx); err != nil {
		return fmt.Errorf("opensearch at %s: %w", redactedHost(addr), err)
	}
	if sub == "tenants" {
		return listTenants(ctx, backend, p.stdout)
	}
	res, err := backend.MoveTenant(ctx, org)
	if err != nil {
		return fmt.Errorf("moving org %s: %w", org, err)
	}
	if res.AlreadyMoved {
		_, err = fmt.Fprintf(p.stdout, "org %s was already on %s; copied %d and removed %d leftover documents from %s\n",
			org, res.To, res.Copied, res.Removed, *index)
		return err
	}
	_, err = fmt.Fprintf(p.stdout, "moved org %s: %d documents copied from %s to %s, %d removed from %s; alias %s now points to %s\n",
		org, res.Copied, *index, res.To, res.Removed, *index, res.Alias, res.To)
	return err
}

// listTenants prints `gateway search tenants`: one line a tenant.
func listTenants(ctx context.Context, backend *opensearch.Backend, out io.Writer) error {
	tenants, err := backend.Tenants(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ORG\tINDEX\tPLACEMENT\tDOCUMENTS")
	for _, t := range tenants {
		placement := "shared"
		if t.Dedicated {
			placement = "dedicated"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Org, t.Index, placement, t.Documents)
	}
	return tw.Flush()
}

// tenantUsage is printed with every usage error of `gateway tenant`.
const tenantUsage = `usage: gateway tenant erase [--resume] [--batch N] [--by WHO] ORG
       gateway tenant erase-user [--reassign-to USER] [--batch N] [--by WHO] ORG USER
       gateway tenant audit ORG
       gateway tenant orphans [--purge] [ORG...]
       gateway tenant jobs ORG
       gateway tenant register [--name NAME] ORG
       gateway tenant suspend ORG | activate ORG
       gateway tenant retention
  erase      erase organisation ORG from every store (a durable job; --resume
             continues an erasure that was interrupted)
  erase-user erase one user's data in ORG; their memories are erased, or
             handed to --reassign-to
  audit      print what each store holds for ORG, per kind
  orphans    list organisations holding data but unregistered or erased
             (only the ORGs given, if any); --purge erases those listed
  jobs       print ORG's lifecycle jobs, newest first
  register, suspend, activate   manage the registry
  retention  apply the retention windows once (GATEWAY_DELETED_MEMORY_RETENTION,
             GATEWAY_FEEDBACK_RETENTION)
  needs DATABASE_OWNER_URL, and the URL of every store to reach
` + tenantio.Usage

// tenantCommands are the subcommands of `gateway tenant`, by name.
var tenantCommands = map[string]func(ctx context.Context, fs *flag.FlagSet, args []string, p process) error{
	"erase":      tenantErase,
	"erase-user": tenantEraseUser,
	"audit":      tenantAudit,
	"orphans":    tenantOrphans,
	"jobs":       tenantJobs,
	"register":   tenantRegister,
	"suspend":    tenantSetStatus(tenants.StatusSuspended),
	"activate":   tenantSetStatus(tenants.StatusActive),
	"retention":  tenantRetention,
}

// tenantCommand dispatches `gateway tenant SUBCOMMAND`.
func tenantCommand(ctx context.Context, args []string, p process) error {
	if len(args) == 0 {
		return errors.New("gateway tenant: no subcommand\n" + tenantUsage)
	}
	if args[0] == "export" || args[0] == "import" {
		// tenantio prefixes its own errors with the command's name.
		return tenantio.Command(ctx, args[0], args[1:], tenantio.IO{Getenv: p.getenv, Stdin: p.stdin, Stdout: p.stdout, Stderr: p.stderr})
	}
	run, ok := tenantCommands[args[0]]
	if !ok {
		return fmt.Errorf("gateway tenant: unknown subcommand %q\n%s", args[0], tenantUsage)
	}
	fs := flag.NewFlagSet("gateway tenant "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := run(ctx, fs, args[1:], p); err != nil {
		return fmt.Errorf("gateway tenant %s: %w", args[0], err)
	}
	return nil
}

// outboxUsage is printed with every usage error of `gateway outbox`.
const outboxUsage = `usage: gateway outbox status
       gateway outbox retry (--org ORG | --all)
       gateway outbox reindex --org ORG [--index full-text|vector] [--page N] [--wait=false]
  status   entries waiting, parked, and the oldest waiting, per organisation and index
  retry    re-queue parked entries (after their cause was fixed)
  reindex  queue every memory of ORG for its derived indexes (both unless
           --index), page by page, then wait for the indexers to drain them
  needs DATABASE_URL`

// outboxCommand runs the outbox operations against PostgreSQL as the
// application role: the worker policy lets it read and re-queue every
// organisation's entries, and a reindex acts under the org's binding.
func outboxCommand(ctx context.Context, args []string, p process) error {
	if len(args) == 0 {
		return errors.New("gateway outbox: no subcommand\n" + outboxUsage)
	}
	sub := args[0]
	if sub != "status" && sub != "retry" && sub != "reindex" {
		return fmt.Errorf("gateway outbox: unknown subcommand %q\n%s", sub, outboxUsage)
	}
	fs := flag.NewFlagSet("gateway outbox "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	org := fs.String("org", "", "organisation id (UUID)")
	all := fs.Bool("all", false, "every organisation (retry)")
	index := fs.String("index", "", "full-text or vector (reindex; both when empty)")
	page := fs.Int("page", 1000, "memories queued per transaction (reindex)")
	wait := fs.Bool("wait", true, "wait until the indexers have drained the queued entries (reindex)")
	timeout := fs.Duration("timeout", time.Hour, "how long the whole run may take")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("gateway outbox %s: %w\n%s", sub, err, outboxUsage)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("gateway outbox %s: unexpected arguments %q\n%s", sub, fs.Args(), outboxUsage)
	}
	var orgID uuid.UUID
	if *org != "" {
		var err error
		if orgID, err = uuid.Parse(*org); err != nil || orgID == uuid.Nil {
			return fmt.Errorf("gateway outbox %s: --org %q is not an organisation UUID", sub, *org)
		}
	}
	indexes := []stores.IndexName{stores.IndexFullText, stores.IndexVector}
	switch {
	case sub == "retry" && (orgID == uuid.Nil) == !*all:
		return errors.New("gateway outbox retry: give --org ORG or --all\n" + outboxUsage)
	case sub == "reindex" && orgID == uuid.Nil:
		return errors.New("gateway outbox reindex: --org ORG is required\n" + outboxUsage)
	case sub == "reindex" && *page <= 0:
		return errors.New("gateway outbox reindex: --page must be positive")
	case sub == "reindex" && *index == "full-text":
		indexes = []stores.IndexName{stores.IndexFullText}
	case sub == "reindex" && *index == "vector":
		indexes = []stores.IndexName{stores.IndexVector}
	case *index != "":
		return fmt.Errorf("gateway outbox %s: --index %q is not full-text or vector (and only reindex takes it)", sub, *index)
	}
	dbURL := p.getenv("DATABASE_URL")
	if dbURL == "" {
		return fmt.Errorf("gateway outbox %s: DATABASE_URL is not set", sub)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	pg, err := postgres.Open(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		return fmt.Errorf("gateway outbox %s: %w", sub, err)
	}
	defer pg.Close()
	outbox := pg.Outbox()
	switch sub {
	case "status":
		return printOutboxStatus(ctx, outbox, p.stdout)
	case "retry":
		var orgs []uuid.UUID
		if orgID != uuid.Nil {
			orgs = []uuid.UUID{orgID}
		}
		n, err := outbox.Retry(ctx, orgs)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.stdout, "re-queued %d parked entries\n", n)
		return err
	}
	err = outbox.Reindex(ctx, orgID, indexes, *page, func(done, total int64) {
		_, _ = fmt.Fprintf(p.stdout, "queued %d/%d memories of org %s\n", done, total, orgID)
	})
	if err != nil || !*wait {
		return err
	}
	return waitForOutbox(ctx, outbox, orgID, p.stdout)
}

// printOutboxStatus prints `gateway outbox status`: one line per
// organisation and index with entries, the oldest backlog first.
func printOutboxStatus(ctx context.Context, outbox *postgres.Outbox, out io.Writer) error {
	lags, err := outbox.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ORG\tINDEX\tPENDING\tOLDEST\tPARKED\tLAST PARKED REASON")
	for _, l := range lags {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", l.OrgID, l.Index, l.Pending, l.Oldest.Round(time.Second), l.Parked, l.LastError)
	}
	return tw.Flush()
}

// waitForOutbox prints the org's remaining entries every few seconds until
// the indexers have applied (or parked) them all.
func waitForOutbox(ctx context.Context, outbox *postgres.Outbox, org uuid.UUID, out io.Writer) error {
	start := time.Now()
	for {
		lags, err := outbox.Status(ctx)
		if err != nil {
			return err
		}
		pending, parked := 0, 0
		for _, l := range lags {
			if l.OrgID == org {
				pending += l.Pending
				parked += l.Parked
			}
		}
		if pending == 0 {
			_, err := fmt.Fprintf(out, "reindexed org %s in %s; %d entries parked\n", org, time.Since(start).Round(time.Second), parked)
			return err
		}
		_, _ = fmt.Fprintf(out, "waiting for the indexers: %d entries pending\n", pending)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting with %d entries pending (the indexers keep draining them): %w", pending, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
