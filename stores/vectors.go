package stores

import (
	"context"
	"regexp"

	"github.com/google/uuid"
)

// VectorPoint is an embedding stored under a model.
type VectorPoint struct {
	ID       uuid.UUID // the memory id when the point embeds a memory
	Vector   []float32
	MemoryID *uuid.UUID
	Payload  map[string]any // JSON object of scalars and string lists; keys org_id and memory_id are reserved
}

// VectorHit is one kNN result.
type VectorHit struct {
	ID       uuid.UUID
	Score    float64 // cosine similarity, higher is closer
	MemoryID *uuid.UUID
	Payload  map[string]any
}

// Bounds on vector input.
const (
	MaxVectorDimension = 4096
	MaxVectorLimit     = 100
)

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidModelName reports whether s can name an embedding model, and with it a
// collection (emb_<model>): letters, digits, '.', '_' and '-'.
func ValidModelName(s string) bool { return modelName.MatchString(s) }

// VectorStore holds an organisation's embeddings, one collection per model.
// A model's dimension is fixed by its first upsert; cosine distance.
type VectorStore interface {
	// UpsertVectors inserts or replaces points (at most MaxBatchSize).
	// ErrInvalid for a bad model name, an empty or over-long vector, a
	// dimension other than the model's, a non-finite value or a reserved payload key.
	UpsertVectors(ctx context.Context, model string, points []VectorPoint) error
	// DeleteVectors removes points by id and returns how many existed.
	DeleteVectors(ctx context.Context, model string, ids []uuid.UUID) (int, error)
	// SearchVectors returns the limit nearest points whose payload equals every
	// entry of filter (scalar values). An unknown model gives an empty,
	// non-nil slice; a dimension mismatch is ErrInvalid.
	SearchVectors(ctx context.Context, model string, vector []float32, filter map[string]any, limit int) ([]VectorHit, error)
}
