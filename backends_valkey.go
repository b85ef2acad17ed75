package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
)

// openValkey is replaced by the Valkey backend's wiring when stores/valkey lands.
func openValkey(_ context.Context, cfg config.Config, _ *slog.Logger, _ *stores.Backends) (func(), error) {
	if cfg.ValkeyURL == "" {
		return nil, nil
	}
	return nil, errors.New("VALKEY_URL is set but this build has no Valkey backend yet")
}
