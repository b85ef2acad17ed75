package main

// `gateway tenant ...`: the organisation lifecycle as operator commands
// (package tenants), run as the owner role (DATABASE_OWNER_URL) with every
// configured store.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores/neo4j"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/codingbrain/gateway/tenants"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// operator is what a tenant subcommand works with: the job runner over the
// owner role and every store whose setting is present.
type operator struct {
	runner *tenants.Runner
	close  func()
}

// openOperator opens the owner pool and every configured store, outside the
// guards: an operator's job reports a store's failure as it is.
func openOperator(ctx context.Context, p process, opts tenants.RunnerOptions) (*operator, error) {
	cfg, _, err := config.Load("gateway tenant", nil, p.getenv)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseOwnerURL == "" {
		return nil, errors.New("DATABASE_OWNER_URL is not set: the tenant commands run as the owner role")
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseOwnerURL)
	if err != nil {
		return nil, errors.New("DATABASE_OWNER_URL is not a valid PostgreSQL URL")
	}
	op := &operator{close: pool.Close}
	fail := func(err error) (*operator, error) { op.close(); return nil, err }
	if err := pool.Ping(ctx); err != nil {
		return fail(fmt.Errorf("postgres (owner role): %w", err))
	}
	var others []tenants.Store
	closeAlso := func(f func()) {
		prev := op.close
		op.close = func() { f(); prev() }
	}
	if cfg.ValkeyURL != "" {
		b, err := valkey.Open(ctx, cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
		if err != nil {
			return fail(err)
		}
		closeAlso(func() { _ = b.Close() })
		others = append(others, b)
	}
	if cfg.Neo4jURI != "" {
		b, err := neo4j.Open(ctx, cfg.Neo4jURI, cfg.Neo4jUser, cfg.Neo4jPassword, neo4j.Options{MaxDepth: cfg.MaxTraversalDepth, Timeout: cfg.StoreTimeout})
		if err != nil {
			return fail(err)
		}
		closeAlso(func() { _ = b.Close(context.WithoutCancel(ctx)) })
		others = append(others, b)
	}
	if cfg.QdrantURL != "" {
		b, err := qdrant.Open(ctx, cfg.QdrantURL, qdrant.Options{Timeout: cfg.StoreTimeout})
		if err != nil {
			return fail(err)
		}
		closeAlso(func() { _ = b.Close() })
		others = append(others, b)
	}
	if cfg.OpenSearchURL != "" {
		b, err := opensearch.New(opensearch.Options{URL: cfg.OpenSearchURL, Timeout: cfg.StoreTimeout})
		if err != nil {
			return fail(err)
		}
		closeAlso(b.Close)
		if err := b.Ping(ctx); err != nil {
			return fail(fmt.Errorf("opensearch at %s: %w", redactedHost(cfg.OpenSearchURL), err))
		}
		others = append(others, b)
	}
	if opts.Grace < 0 {
		opts.Grace = cfg.OrgRefresh + cfg.StoreTimeout
	}
	opts.Indexes = derivedIndexes(cfg)
	op.runner = tenants.NewRunner(pool, others, opts)
	return op, nil
}

// parseArgs parses the flags and wants exactly n arguments, the first an org.
func parseArgs(fs *flag.FlagSet, args []string, n int) (uuid.UUID, error) {
	if err := fs.Parse(args); err != nil {
		return uuid.Nil, fmt.Errorf("%w\n%s", err, tenantUsage)
	}
	if fs.NArg() != n {
		return uuid.Nil, fmt.Errorf("want %d argument(s), got %d\n%s", n, fs.NArg(), tenantUsage)
	}
	if n == 0 {
		return uuid.Nil, nil
	}
	return tenants.ParseOrg(fs.Arg(0))
}

// runnerFlags are the flags of the commands that run jobs.
type runnerFlags struct {
	batch      *int
	by         *string
	pauseAfter *string
}

func addRunnerFlags(fs *flag.FlagSet) runnerFlags {
	return runnerFlags{
		batch: fs.Int("batch", tenants.DefaultBatch, "most items one store call removes"),
		by:    fs.String("by", "operator", "who asks, for the audit record"),
		// A crash drill: the job stops (the process hangs until killed)
		// once that store's completion is recorded.
		pauseAfter: fs.String("pause-after", "", "after this store is done, print a line and wait to be killed (crash drills)"),
	}
}

func (f runnerFlags) options(p process) tenants.RunnerOptions {
	opts := tenants.RunnerOptions{Batch: *f.batch, Grace: -1, Logger: newLogger(p.stderr, "info")}
	if store := *f.pauseAfter; store != "" {
		opts.AfterStore = func(done string) {
			if done == store {
				_, _ = fmt.Fprintf(p.stdout, "paused after %s\n", done)
				time.Sleep(math.MaxInt64) // until killed
			}
		}
	}
	return opts
}

func tenantErase(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	rf := addRunnerFlags(fs)
	resume := fs.Bool("resume", false, "continue the organisation's unfinished erasure")
	org, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	op, err := openOperator(ctx, p, rf.options(p))
	if err != nil {
		return err
	}
	defer op.close()
	jobs := op.runner.Jobs()
	var job tenants.Job
	if *resume {
		var ok bool
		if job, ok, err = jobs.Unfinished(ctx, org); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("organisation %s has no unfinished erasure to resume", org)
		}
	} else if job, err = jobs.StartOrgErase(ctx, tenants.EraseOrg, org, *rf.by); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(p.stdout, "job %d: erasing organisation %s\n", job.ID, org)
	return runAndReport(ctx, op.runner, job.ID, p.stdout)
}

// runAndReport runs a job and prints what each store removed.
func runAndReport(ctx context.Context, r *tenants.Runner, id int64, out io.Writer) error {
	job, err := r.Run(ctx, id)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "job %d: %s\n", job.ID, job.State)
	return printCounts(out, job.Counts)
}

// printCounts prints one line per store and kind, in order.
func printCounts(out io.Writer, counts map[string]tenants.Counts) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "STORE\tKIND\tCOUNT")
	for _, store := range tenants.OrgStores {
		c, ok := counts[store]
		if !ok {
			continue
		}
		kinds := make([]string, 0, len(c))
		for k := range c {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\n", store, k, c[k])
		}
	}
	return tw.Flush()
}

func tenantEraseUser(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	rf := addRunnerFlags(fs)
	reassign := fs.String("reassign-to", "", "hand the user's memories to this user instead of erasing them")
	org, err := parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	user, err := uuid.Parse(fs.Arg(1))
	if err != nil {
		return fmt.Errorf("USER %q is not a UUID", fs.Arg(1))
	}
	var to *uuid.UUID
	if *reassign != "" {
		id, err := uuid.Parse(*reassign)
		if err != nil {
			return fmt.Errorf("--reassign-to %q is not a UUID", *reassign)
		}
		to = &id
	}
	opts := rf.options(p)
	opts.Grace = 0 // the org stays active: there is no token cache to wait for
	op, err := openOperator(ctx, p, opts)
	if err != nil {
		return err
	}
	defer op.close()
	job, err := op.runner.Jobs().StartUserErase(ctx, org, user, to, *rf.by)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(p.stdout, "job %d: erasing user %s of organisation %s\n", job.ID, user, org)
	return runAndReport(ctx, op.runner, job.ID, p.stdout)
}

func tenantAudit(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	org, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	op, err := openOperator(ctx, p, tenants.RunnerOptions{})
	if err != nil {
		return err
	}
	defer op.close()
	counts, err := op.runner.Audit(ctx, org)
	if err != nil {
		return err
	}
	status := "unregistered"
	if o, ok, err := op.runner.Jobs().Organization(ctx, org); err != nil {
		return err
	} else if ok {
		status = string(o.Status)
	}
	_, _ = fmt.Fprintf(p.stdout, "organisation %s: %s\n", org, status)
	return printCounts(p.stdout, counts)
}

func tenantOrphans(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	rf := addRunnerFlags(fs)
	purge := fs.Bool("purge", false, "erase every orphan listed")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, tenantUsage)
	}
	only := map[uuid.UUID]bool{}
	for _, arg := range fs.Args() {
		org, err := tenants.ParseOrg(arg)
		if err != nil {
			return err
		}
		only[org] = true
	}
	opts := rf.options(p)
	opts.Grace = 0 // orphans have no tokens in use
	op, err := openOperator(ctx, p, opts)
	if err != nil {
		return err
	}
	defer op.close()
	all, err := op.runner.Orphans(ctx)
	if err != nil {
		return err
	}
	orphans := all[:0]
	for _, o := range all {
		if len(only) == 0 || only[o.Org] {
			orphans = append(orphans, o)
		}
	}
	tw := tabwriter.NewWriter(p.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ORG\tREGISTRY\tSTORES")
	for _, o := range orphans {
		status := string(o.Status)
		if status == "" {
			status = "unregistered"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Org, status, strings.Join(o.Stores, ","))
	}
	if err := tw.Flush(); err != nil || !*purge {
		return err
	}
	for _, o := range orphans {
		job, err := op.runner.Jobs().StartOrgErase(ctx, tenants.PurgeOrphan, o.Org, *rf.by)
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(p.stdout, "job %d: purging orphan %s\n", job.ID, o.Org)
		if err := runAndReport(ctx, op.runner, job.ID, p.stdout); err != nil {
			return err
		}
	}
	return nil
}

func tenantJobs(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	org, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	op, err := openOperator(ctx, p, tenants.RunnerOptions{})
	if err != nil {
		return err
	}
	defer op.close()
	jobs, err := op.runner.Jobs().ForOrg(ctx, org, 50)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(p.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "JOB\tKIND\tSTATE\tBY\tSTARTED\tFINISHED\tPENDING\tERROR")
	for _, j := range jobs {
		finished := "-"
		if j.FinishedAt != nil {
			finished = j.FinishedAt.UTC().Format(time.RFC3339)
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Kind, j.State, j.RequestedBy,
			j.CreatedAt.UTC().Format(time.RFC3339), finished, strings.Join(j.Pending, ","), j.LastError)
	}
	return tw.Flush()
}

func tenantRegister(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	name := fs.String("name", "", "the organisation's name")
	org, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	op, err := openOperator(ctx, p, tenants.RunnerOptions{})
	if err != nil {
		return err
	}
	defer op.close()
	if err := op.runner.Jobs().Register(ctx, org, *name); err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.stdout, "organisation %s registered\n", org)
	return err
}

func tenantSetStatus(to tenants.Status) func(context.Context, *flag.FlagSet, []string, process) error {
	return func(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
		org, err := parseArgs(fs, args, 1)
		if err != nil {
			return err
		}
		op, err := openOperator(ctx, p, tenants.RunnerOptions{})
		if err != nil {
			return err
		}
		defer op.close()
		if err := op.runner.Jobs().SetStatus(ctx, org, to); err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.stdout, "organisation %s is %s\n", org, to)
		return err
	}
}

func tenantRetention(ctx context.Context, fs *flag.FlagSet, args []string, p process) error {
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	cfg, _, err := config.Load("gateway tenant", nil, p.getenv)
	if err != nil {
		return err
	}
	op, err := openOperator(ctx, p, tenants.RunnerOptions{})
	if err != nil {
		return err
	}
	defer op.close()
	purged, err := op.runner.Postgres().Purge(ctx, time.Now(), retention(cfg))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.stdout, "purged %d soft-deleted memories and %d feedback events\n", purged.Memories, purged.Feedback)
	return err
}

// retention is the retention windows of the settings.
func retention(cfg config.Config) tenants.Retention {
	return tenants.Retention{DeletedMemories: cfg.DeletedMemoryRetention, Feedback: cfg.FeedbackRetention, Batch: tenants.DefaultBatch}
}
