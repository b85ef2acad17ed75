package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
)

// openQdrant is replaced by the Qdrant backend's wiring when stores/qdrant lands.
func openQdrant(_ context.Context, cfg config.Config, _ *slog.Logger, _ *stores.Backends) (func(), error) {
	if cfg.QdrantURL == "" {
		return nil, nil
	}
	return nil, errors.New("QDRANT_URL is set but this build has no Qdrant backend yet")
}
