package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/tenants"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lifecycle is the organisation lifecycle as the server runs it.
type lifecycle struct {
	registry *tenants.Registry // nil without PostgreSQL
	stop     func()
}

// jobPoll is how often a server with the owner role looks for lifecycle
// jobs to run (an erasure an org admin asked for, one whose process died).
const jobPoll = 5 * time.Second

// openLifecycle opens the tenant registry when memories are on PostgreSQL
// (DATABASE_URL): every token's organisation is checked against it. With
// DATABASE_OWNER_URL as well, the server runs the lifecycle jobs and the
// retention purge in the background, as the owner role, over every real
// backend (others).
func openLifecycle(ctx context.Context, cfg config.Config, others []tenants.Store, log *slog.Logger) (lifecycle, error) {
	if cfg.DatabaseURL == "" {
		return lifecycle{stop: func() {}}, nil
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return lifecycle{}, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL")
	}
	pc.MaxConns = 2 // the registry refresh, a first-use registration, an erasure start
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return lifecycle{}, fmt.Errorf("the tenant registry: %w", err)
	}
	registry, err := tenants.NewRegistry(ctx, pool, tenants.UnknownOrgs(cfg.UnknownOrgs), cfg.OrgRefresh)
	if err != nil {
		pool.Close()
		return lifecycle{}, fmt.Errorf("the tenant registry: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { registry.Run(runCtx, log) })
	closers := []func(){pool.Close}
	if cfg.DatabaseOwnerURL != "" {
		owner, err := pgxpool.New(ctx, cfg.DatabaseOwnerURL)
		if err != nil {
			cancel()
			wg.Wait()
			pool.Close()
			return lifecycle{}, fmt.Errorf("DATABASE_OWNER_URL is not a valid PostgreSQL URL")
		}
		closers = append(closers, owner.Close)
		runner := tenants.NewRunner(owner, others, tenants.RunnerOptions{Grace: cfg.OrgRefresh + cfg.StoreTimeout, Logger: log, Indexes: derivedIndexes(cfg)})
		wg.Go(func() { runJobs(runCtx, runner, log) })
		wg.Go(func() { runner.Postgres().RunRetention(runCtx, retention(cfg), cfg.RetentionInterval, log) })
		log.Info("organisation lifecycle jobs and retention running", "deleted_memory_retention", cfg.DeletedMemoryRetention.String(), "feedback_retention", cfg.FeedbackRetention.String())
	}
	return lifecycle{registry: registry, stop: func() {
		cancel()
		wg.Wait()
		for _, c := range closers {
			c()
		}
	}}, nil
}

// runJobs runs every unfinished lifecycle job, every jobPoll, until ctx ends.
func runJobs(ctx context.Context, runner *tenants.Runner, log *slog.Logger) {
	tick := time.NewTicker(jobPoll)
	defer tick.Stop()
	for {
		if err := runner.RunUnfinished(ctx); err != nil && ctx.Err() == nil {
			log.Warn("lifecycle jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
