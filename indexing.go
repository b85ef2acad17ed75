package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/telemetry"
)

// startIndexer runs the outbox indexer in the background when memories are
// on PostgreSQL (the embedded stores index synchronously). The returned
// function stops it and waits, within ctx, for the pass in flight.
func startIndexer(cfg config.Config, w wired, embedder indexer.Embedder, metrics *telemetry.Metrics, log *slog.Logger) func(context.Context) {
	if w.outbox == nil || !cfg.Indexer {
		return func(context.Context) {}
	}
	ix := indexer.New(w.outbox, w.backends, indexer.Options{
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
