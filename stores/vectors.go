package stores

import (
	"context"
	"regexp"
	"unicode/utf8"

	"github.com/google/uuid"
)

// VectorPoint is an embedding stored under a model.
type VectorPoint struct {
	ID       uuid.UUID // the memory id when the point embeds a memory
	Vector   []float32
	MemoryID *uuid.UUID
	Payload  map[string]any // JSON object of scalars and string lists; keys org_id and memory_id are reserved
	// AuthorID and Visibility carry a memory's visibility into its point: a
	// PRIVATE point is found only by its author ("" means ORG).
	AuthorID   uuid.UUID
	Visibility Visibility
	// Version and Deleted order the writes of one point as Document's do
	// (VersionRank): a versioned point replaces only an older one, and a
	// Deleted point is a tombstone that removes the point and keeps older
	// writes out (its Vector may be empty; it is never found).
	Version int64
	Deleted bool
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
	MaxPayloadKeys     = 64   // keys of one payload
	MaxPayloadKey      = 256  // bytes of one payload key
	MaxPayloadString   = 4096 // bytes of one payload string
	MaxPayloadList     = 256  // entries of one payload string list
)

// PayloadStrings returns the payload value v of key k as a list of strings,
// or ErrInvalid when it is not a list of at most MaxPayloadList UTF-8
// strings of at most MaxPayloadString bytes. Every vector backend checks
// payload lists with it, so all refuse the same input.
func PayloadStrings(k string, v any) ([]string, error) {
	var list []string
	switch x := v.(type) {
	case []string:
		list = x
	case []any:
		list = make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, Invalid("payload value of %q must be a scalar or a list of strings", k)
			}
			list = append(list, s)
		}
	default:
		return nil, Invalid("payload value of %q must be a scalar or a list of strings", k)
	}
	if len(list) > MaxPayloadList {
		return nil, Invalid("payload list %q must have at most %d entries", k, MaxPayloadList)
	}
	for _, s := range list {
		if !utf8.ValidString(s) || len(s) > MaxPayloadString {
			return nil, Invalid("payload strings must be at most %d bytes of UTF-8", MaxPayloadString)
		}
	}
	return list, nil
}

var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidModelName reports whether s can name an embedding model, and with it a
// collection (emb_<model>): letters, digits, '.', '_' and '-'.
func ValidModelName(s string) bool { return modelName.MatchString(s) }

// VectorStore holds an organisation's embeddings, one collection per model.
// SearchVectors never returns a PRIVATE point of another user than the bound one.
// A model's dimension is fixed by its first upsert; cosine distance.
type VectorStore interface {
	// UpsertVectors inserts or replaces points (at most MaxBatchSize). A
	// versioned point (Version > 0) replaces only an older one; an older or
	// equal one is ignored without error. A versioned delete (Deleted) of a
	// model that has no collection yet writes nothing: there is no point to
	// protect, and no dimension to create one with.
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
