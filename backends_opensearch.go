package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
)

// openOpenSearch is replaced by the OpenSearch backend's wiring when stores/opensearch lands.
func openOpenSearch(_ context.Context, cfg config.Config, _ *slog.Logger, _ *stores.Backends) (func(), error) {
	if cfg.OpenSearchURL == "" {
		return nil, nil
	}
	return nil, errors.New("OPENSEARCH_URL is set but this build has no OpenSearch backend yet")
}
