package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
)

// openPostgres is replaced by the PostgreSQL backend's wiring when stores/postgres lands.
func openPostgres(_ context.Context, cfg config.Config, _ *slog.Logger, _ *stores.Backends) (func(), error) {
	if cfg.DatabaseURL == "" {
		return nil, nil
	}
	return nil, errors.New("DATABASE_URL is set but this build has no PostgreSQL backend yet")
}
