package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/telemetry"
	"github.com/google/uuid"
)

// outboxQueue adapts the PostgreSQL outbox to the indexer's queue.
type outboxQueue struct{ o *postgres.Outbox }

func (q outboxQueue) Claim(ctx context.Context, limit int, lease time.Duration, orgs []uuid.UUID) ([]indexer.Entry, error) {
	claimed, err := q.o.Claim(ctx, limit, lease, orgs)
	out := make([]indexer.Entry, len(claimed))
	for i, e := range claimed {
		// The outbox counts this claim among its attempts; the indexer counts failures.
		out[i] = indexer.Entry{ID: e.ID, OrgID: e.OrgID, MemoryID: e.MemoryID, Attempts: e.Attempts - 1, CreatedAt: e.CreatedAt, AuthorID: e.AuthorID}
	}
	return out, err
}

func (q outboxQueue) Complete(ctx context.Context, ids []int64) error { return q.o.Complete(ctx, ids) }

func (q outboxQueue) Fail(ctx context.Context, id int64, reason string, retryAt time.Time, park bool) error {
	return q.o.Fail(ctx, id, reason, retryAt, park)
}

func (q outboxQueue) Backlog(ctx context.Context) (int, time.Duration, error) {
	return q.o.Backlog(ctx)
}

// startIndexer runs the outbox indexer in the background when memories are
// on PostgreSQL (the embedded stores index synchronously). The returned
// function stops it and waits, within ctx, for the pass in flight.
func startIndexer(cfg config.Config, w wired, embedder indexer.Embedder, metrics *telemetry.Metrics, log *slog.Logger) func(context.Context) {
	if w.outbox == nil || !cfg.Indexer {
		return func(context.Context) {}
	}
	ix := indexer.New(outboxQueue{w.outbox}, w.backends, indexer.Options{
		Poll: 100 * time.Millisecond, Embedder: embedder, Observer: metrics, Logger: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ix.Run(ctx)
	}()
	log.Info("outbox indexer running", "vectors", embedder != nil)
	return func(deadline context.Context) {
		cancel()
		select {
		case <-done:
		case <-deadline.Done():
			log.Warn("the outbox indexer did not stop in time; its entries will be claimed again after their lease")
		}
	}
}
