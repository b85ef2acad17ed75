package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/jackc/pgx/v5"
)

// postgresTracer, when set (by tests), sees every statement the PostgreSQL
// backend sends; the statement-count test counts them per request.
var postgresTracer pgx.QueryTracer

// openPostgres serves memories, feedback and experiments from PostgreSQL
// when DATABASE_URL is set. The schema must already be at the version this
// build embeds: the gateway never migrates at start (the owner role does,
// with `gateway migrate up`), so a stale schema stops the start-up with a
// message saying so.
func openPostgres(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error) {
	if cfg.DatabaseURL == "" {
		return nil, nil
	}
	pg, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Timeout: cfg.StoreTimeout, Tracer: postgresTracer, Indexes: derivedIndexes(cfg)})
	if err != nil {
		// err never holds the URL (it may hold a password).
		return nil, fmt.Errorf("memories, feedback and experiments store: %w", err)
	}
	have, err := pg.SchemaVersion(ctx)
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("reading the PostgreSQL schema version: %w", err)
	}
	switch want := migrations.Latest(); {
	case have < want:
		pg.Close()
		return nil, fmt.Errorf("the PostgreSQL schema is at version %d, this gateway needs version %d: "+
			"run `gateway migrate up` with DATABASE_OWNER_URL set to the owner role's URL", have, want)
	case have > want:
		pg.Close()
		return nil, fmt.Errorf("the PostgreSQL schema is at version %d, newer than this gateway's %d: run a matching gateway build", have, want)
	}
	b.Memories, b.Feedback, b.Experiments, b.IndexStatus = pg, pg, pg, pg
	log.Info("memories, feedback and experiments on postgres", "schema_version", have)
	return pg.Close, nil
}

// derivedIndexes names the indexes the outbox indexer keeps for memories:
// full-text always, vectors when an embedder computes them.
func derivedIndexes(cfg config.Config) []stores.IndexName {
	if cfg.EmbeddingsURL != "" {
		return []stores.IndexName{stores.IndexFullText, stores.IndexVector}
	}
	return []stores.IndexName{stores.IndexFullText}
}
