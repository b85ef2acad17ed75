package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/qdrant"
)

// openQdrant puts the vectors domain on Qdrant when QDRANT_URL (host:port of
// its gRPC endpoint) is set: it checks that the server answers within the
// backend's timeout; collections and their tenant index are made per model
// on first use.
func openQdrant(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error) {
	if cfg.QdrantURL == "" {
		return nil, nil
	}
	vectors, err := qdrant.Open(ctx, cfg.QdrantURL, qdrant.Options{})
	if err != nil {
		return nil, fmt.Errorf("qdrant at %s: %w", cfg.QdrantURL, err)
	}
	b.Vectors = vectors
	log.Info("vectors on qdrant", "addr", cfg.QdrantURL)
	return func() {
		if err := vectors.Close(); err != nil {
			log.Warn("closing qdrant", "err", err)
		}
	}, nil
}
