package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
)

// openNeo4j is replaced by the Neo4j backend's wiring when stores/neo4j lands.
func openNeo4j(_ context.Context, cfg config.Config, _ *slog.Logger, _ *stores.Backends) (func(), error) {
	if cfg.Neo4jURI == "" {
		return nil, nil
	}
	return nil, errors.New("NEO4J_URI is set but this build has no Neo4j backend yet")
}
