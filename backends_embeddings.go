package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/graph/resolvers"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/google/uuid"
)

// embeddingCacheTTL keeps a text's vector in Valkey for a month: an
// embedding of a text under one model never changes.
const embeddingCacheTTL = 30 * 24 * time.Hour

// openEmbedder connects the embedding server when EMBEDDINGS_URL is set,
// with its vectors cached in Valkey when VALKEY_URL is set (shared by every
// gateway process), else in process. It returns nil when embeddings are off.
func openEmbedder(ctx context.Context, cfg config.Config, log *slog.Logger) (*embeddings.OpenAI, func(), error) {
	if cfg.EmbeddingsURL == "" {
		return nil, nil, nil
	}
	ec := embeddings.Config{
		URL: cfg.EmbeddingsURL, Model: cfg.EmbeddingsModel, APIKey: cfg.EmbeddingsAPIKey,
		Dimension: cfg.EmbeddingsDimension, Cache: embeddings.NewLRU(10000),
	}
	closeCache := func() {}
	if cfg.ValkeyURL != "" {
		client, _, err := valkey.NewClient(cfg.ValkeyURL)
		if err != nil {
			return nil, nil, fmt.Errorf("VALKEY_URL: %w", err)
		}
		ec.Cache = embeddings.NewValkeyCache(client, embeddingCacheTTL)
		closeCache = func() { _ = client.Close() }
	}
	e, err := embeddings.NewOpenAI(ctx, ec)
	if err != nil {
		closeCache()
		return nil, nil, fmt.Errorf("embedding server: %w", err)
	}
	log.Info("embeddings on", "model", e.Model(), "dimension", e.Dimension(), "shared_cache", cfg.ValkeyURL != "")
	return e, func() { _ = e.Close(); closeCache() }, nil
}

// checkEmbeddingDimension refuses to start when the vector store already
// holds the embedding model's collection with another dimension: every
// vector the gateway would write or search would then be refused. A search
// with a zero vector of the embedder's dimension tells, for any tenant.
func checkEmbeddingDimension(ctx context.Context, b stores.Backends, model string, dim int) error {
	probe := b.Vectors.Vectors(stores.Tenant{OrgID: probeTenant, UserID: probeTenant})
	_, err := probe.SearchVectors(ctx, model, make([]float32, dim), nil, 1)
	if errors.Is(err, stores.ErrInvalid) {
		return fmt.Errorf("the embedding model %s gives %d-dimensional vectors, but the vector store's collection for it has another dimension: %s", model, dim, stores.PublicMessage(err))
	}
	return nil
}

// probeTenant owns nothing; its searches only reveal a collection's shape.
var probeTenant = uuid.MustParse("00000000-0000-4000-8000-0000000000fe")

// embedderOrNil keeps a nil *OpenAI from becoming a non-nil interface.
func embedderOrNil(e *embeddings.OpenAI) resolvers.Embedder {
	if e == nil {
		return nil
	}
	return e
}
