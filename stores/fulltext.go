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
	// IndexDocuments inserts or replaces documents by id (at most MaxBatchSize).
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
