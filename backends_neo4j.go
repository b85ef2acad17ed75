package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
)

// openNeo4j puts the code-graph domain on Neo4j when NEO4J_URI is set: it
// connects with NEO4J_USER / NEO4J_PASSWORD, checks that the server answers
// within the store timeout, and creates the (org_id, id) uniqueness
// constraints and name indexes if they are missing. Traversals are capped at
// the configured maximum depth.
func openNeo4j(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error) {
	if cfg.Neo4jURI == "" {
		return nil, nil
	}
	graph, err := neo4j.Open(ctx, cfg.Neo4jURI, cfg.Neo4jUser, cfg.Neo4jPassword, neo4j.Options{
		MaxDepth: cfg.MaxTraversalDepth,
		Timeout:  cfg.StoreTimeout,
	})
	if err != nil {
		// err never holds the password; the URI may, so it is not logged.
		return nil, fmt.Errorf("code graph: %w", err)
	}
	b.CodeGraph = graph
	log.Info("code graph on neo4j", "max_depth", cfg.MaxTraversalDepth)
	return func() {
		if err := graph.Close(context.WithoutCancel(ctx)); err != nil {
			log.Warn("closing neo4j", "err", err)
		}
	}, nil
}
