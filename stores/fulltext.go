package stores

import (
	"context"
	"math"
	"time"

	"github.com/google/uuid"
)

// Document is a full-text searchable text. Memories are indexed as documents
// whose ID is the memory id; clients may index other documents too.
type Document struct {
	ID        string // ValidCodeID rules: 1..512 characters, no control characters
	MemoryID  *uuid.UUID
	Title     string
	Body      string // up to MaxMemoryContent bytes
	Tags      []string
	CreatedAt time.Time
	// AuthorID and Visibility carry a memory's visibility into its document:
	// a PRIVATE document is found only by its author. Other documents are
	// ORG ("" means ORG) and have no author.
	AuthorID   uuid.UUID
	Visibility Visibility
	// Version, when positive, orders the writes of one document (a
	// memory's version): a write older than the one stored is ignored, so a
	// late writer never replaces newer content. Zero is an unversioned
	// write, which replaces whatever is there (documents clients index).
	Version int64
	// Deleted makes the write a versioned delete: the document goes, and a
	// tombstone at Version keeps any later write of an older version out
	// (it is never found, counted or highlighted). At equal versions a
	// delete wins. Needs a positive Version; of the other fields only ID,
	// MemoryID, AuthorID and Visibility count.
	Deleted bool
}

// MaxDerivedVersion bounds the version of a derived write: its rank stays
// exact as a float64 (Qdrant's range conditions) and leaves room above it
// for a backend's own offset (OpenSearch's external versions).
const MaxDerivedVersion = 1 << 50

// VersionRank orders derived writes of one document or point: by version,
// and at equal versions a delete after an upsert (a memory that vanished
// from its store is deleted at the last version it was known at). Every
// backend compares writes by it.
func VersionRank(version int64, deleted bool) int64 {
	if deleted {
		return 2*version + 1
	}
	return 2 * version
}

// TombstonesOtherSpace reports whether a versioned write leaves a tombstone
// in the id space its visibility does not use (the shared one, or its
// author's own; see PrivateOwner): there it removes the document or point of
// an earlier visibility and keeps out a late write of one. A live write at
// version 1 has no earlier version, so it leaves none, which spares a
// tombstone per memory that never changed.
func TombstonesOtherSpace(version int64, deleted bool) bool {
	return deleted || version > 1
}

// SearchHit is one full-text result.
type SearchHit struct {
	Document   Document
	Score      float64
	Highlights []string // fragments of Body with matched terms wrapped in <em>...</em>, HTML-escaped otherwise
}

// SearchQuery is a full-text query. Text is plain words typed by a person,
// never query syntax.
type SearchQuery struct {
	Text string   // 1..1024 characters
	Tags []string // every tag must match
}

// FullTextStore holds an organisation's searchable documents. Search and
// CountSearchHits never see a PRIVATE document of another user than the
// bound one. A PRIVATE document is the bound user's own and lives in that
// user's id space (see PrivateOwner): another user's IndexDocuments or
// DeleteDocuments of the same id never reaches it. Writing a document
// replaces the bound user's document of that id in both spaces.
type FullTextStore interface {
	// IndexDocuments inserts or replaces documents by id (at most
	// MaxBatchSize). A versioned document (Version > 0) replaces only an
	// older one (by VersionRank); an older or equal one is ignored without
	// error, so a retried or late write is harmless.
	IndexDocuments(ctx context.Context, docs []Document) error
	// DeleteDocuments removes documents by id and returns how many existed.
	DeleteDocuments(ctx context.Context, ids []string) (int, error)
	// Search pages through the documents matching q by relevance (BM25),
	// ties by id. ErrInvalid for an empty text or a bad cursor.
	Search(ctx context.Context, q SearchQuery, p PageArgs) (Page[SearchHit], error)
	// CountSearchHits counts every document Search would page through for q,
	// exactly. ErrInvalid for an empty or oversized text or bad tags.
	CountSearchHits(ctx context.Context, q SearchQuery) (int, error)
}

// SearchCursor is search_after: the score and document id of the last hit
// seen. Every full-text backend pages with it, so a cursor reads the same
// whichever backend made it.
type SearchCursor struct {
	Score float64 `json:"s"`
	ID    string  `json:"i"`
}

// Encode gives the cursor a client hands back as after.
func (c SearchCursor) Encode() string { return encodeJSONCursor(c) }

// CheckSearchPage checks a Search call's query and page and returns the
// position to continue after (nil on the first page).
func CheckSearchPage(q SearchQuery, p PageArgs) (*SearchCursor, error) {
	if err := CheckSearchQuery(q); err != nil {
		return nil, err
	}
	if err := CheckPage(p); err != nil {
		return nil, err
	}
	if p.After == "" {
		return nil, nil
	}
	var c SearchCursor
	if !decodeJSONCursor(p.After, &c) || CheckDocumentID(c.ID) != nil ||
		math.IsNaN(c.Score) || math.IsInf(c.Score, 0) {
		return nil, Invalid("malformed cursor")
	}
	return &c, nil
}
