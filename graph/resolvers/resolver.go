// Package resolvers implements the GraphQL schema (graph/schema) over the
// tenant-bound stores bundle and the per-request loaders, both taken from the
// request context. One file per schema file; gqlgen keeps the method bodies
// when it regenerates.
package resolvers

//go:generate sh -c "cd ../.. && go run ./graph/internal/execgen"

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/tenants"
	"github.com/google/uuid"
)

// Resolver holds the gateway's process-wide settings. Per-request state (the
// tenant-bound store bundle, the dataloaders, the principal) travels in the context.
type Resolver struct {
	// Cursors seals the cursors of every connection.
	Cursors relay.Cursors
	// Pages bounds connection page sizes.
	Pages relay.Limits
	// MaxTraversalDepth caps the depth argument of code-graph traversals.
	MaxTraversalDepth int
	// DefaultMemoryVisibility is given to new memories that name none;
	// empty means ORG.
	DefaultMemoryVisibility stores.Visibility
	// Now is the clock of subscriptions' sliding windows and expiry timers
	// (the stores' clock); nil means time.Now.
	Now func() time.Time
	// Embedder turns query text into a vector; nil without an embedding server.
	Embedder Embedder
	// Lifecycle starts and reads the erasure of the caller's organisation;
	// nil without the tenant registry (memories not on PostgreSQL).
	Lifecycle Lifecycle
}

// Lifecycle is the organisation lifecycle an org admin reaches
// (tenants.Registry).
type Lifecycle interface {
	// StartErase records an erasure of org asked for by by and refuses the
	// org's tokens from then on. Returns stores.ErrConflict when one is
	// under way or the org was erased.
	StartErase(ctx context.Context, org uuid.UUID, by string) (tenants.Job, error)
	// Erasures returns org's erasures, newest first, at most limit.
	Erasures(ctx context.Context, org uuid.UUID, limit int) ([]tenants.Job, error)
}

// Embedder embeds query text (embeddings.OpenAI in production).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}
