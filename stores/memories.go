package stores

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// MemoryState is where a memory is in its life cycle.
type MemoryState string

// Memory states. DELETED is a soft delete: the row stays, lists skip it
// unless asked for it explicitly.
const (
	MemoryActive   MemoryState = "ACTIVE"
	MemoryPaused   MemoryState = "PAUSED"
	MemoryArchived MemoryState = "ARCHIVED"
	MemoryDeleted  MemoryState = "DELETED"
)

// Valid reports whether s is a known state.
func (s MemoryState) Valid() bool {
	switch s {
	case MemoryActive, MemoryPaused, MemoryArchived, MemoryDeleted:
		return true
	}
	return false
}

// Visibility says who may see a memory.
type Visibility string

// Visibilities. A PRIVATE memory is visible to its author only, through every
// store (PostgreSQL policies, full-text documents, vector payloads); an ORG
// memory to every member of its organisation.
const (
	VisibilityPrivate Visibility = "PRIVATE"
	VisibilityOrg     Visibility = "ORG"
)

// Valid reports whether v is a known visibility.
func (v Visibility) Valid() bool { return v == VisibilityPrivate || v == VisibilityOrg }

// VisibleTo reports whether a memory of this visibility written by author
// may be seen by user: the rule every store enforces.
func (v Visibility) VisibleTo(author, user uuid.UUID) bool {
	return v != VisibilityPrivate || author == user
}

// Memory is one remembered fact about code, owned by an organisation and
// written by one of its users through an app.
type Memory struct {
	ID        uuid.UUID
	AppID     uuid.UUID
	AuthorID  uuid.UUID // the user who created it
	Content   string
	Metadata  map[string]any // a JSON object, never nil
	State     MemoryState
	Version   int64 // starts at 1, +1 on every change; optimistic locking compares it
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt *time.Time
	// Visibility is PRIVATE (only AuthorID sees the memory) or ORG.
	Visibility Visibility
}

// App is a client application that writes memories (an editor plugin, a CLI).
type App struct {
	ID          uuid.UUID
	Name        string // unique within the org
	Description string
	CreatedAt   time.Time
}

// Category labels memories; categories are created on first use by name.
type Category struct {
	ID        uuid.UUID
	Name      string // unique within the org, 1..64 characters
	CreatedAt time.Time
}

// NewMemory is the input of a memory creation.
type NewMemory struct {
	AppID      uuid.UUID
	Content    string         // 1..MaxMemoryContent bytes of UTF-8
	Metadata   map[string]any // nil means {}
	Categories []string       // names; created when missing
	Visibility Visibility     // "" means VisibilityOrg
}

// MemoryUpdate changes a memory. Nil fields are left alone. ExpectedVersion
// must equal the stored version, or the update fails with ErrConflict.
type MemoryUpdate struct {
	ExpectedVersion int64
	Content         *string
	Metadata        map[string]any // nil: unchanged
	AppID           *uuid.UUID
	Categories      []string // nil: unchanged; empty: remove all
}

// MemoryFilter narrows a memory list. Zero values mean "any".
type MemoryFilter struct {
	States        []MemoryState // empty: every state but DELETED
	AppID         *uuid.UUID
	CategoryID    *uuid.UUID
	TextContains  string // case-insensitive substring of the content
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// Limits shared by every implementation, so they refuse the same input.
const (
	MaxMemoryContent = 64 << 10
	MaxNameLength    = 64
	MaxBatchSize     = 100
)

// MemoryStore holds an organisation's memories, apps and categories. It
// shows the bound user the ORG memories and the user's own PRIVATE ones:
// another user's PRIVATE memory behaves exactly like a missing id, in every
// read and every write.
// Lists are ordered newest first (created_at desc, id desc).
type MemoryStore interface {
	// Memory returns one memory, soft-deleted ones included. ErrNotFound if it
	// does not exist in this org.
	Memory(ctx context.Context, id uuid.UUID) (Memory, error)
	// MemoriesByID returns the memories that exist among ids, keyed by id
	// (missing ids are simply absent). One backend round trip, for loaders.
	MemoriesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Memory, error)
	// ListMemories pages through the org's memories. ErrInvalid for a bad cursor or filter.
	ListMemories(ctx context.Context, f MemoryFilter, p PageArgs) (Page[Memory], error)
	// CountMemories counts the memories ListMemories would page through
	// with f, on every page. ErrInvalid for a bad filter.
	CountMemories(ctx context.Context, f MemoryFilter) (int, error)
	// CreateMemory stores a new ACTIVE memory at version 1. ErrInvalid for bad
	// content or metadata; ErrNotFound if the app does not exist.
	CreateMemory(ctx context.Context, in NewMemory) (Memory, error)
	// CreateMemories stores all or none (atomic), at most MaxBatchSize.
	CreateMemories(ctx context.Context, in []NewMemory) ([]Memory, error)
	// UpdateMemory applies u. ErrNotFound if missing; ErrConflict on a version
	// mismatch or when the memory is deleted.
	UpdateMemory(ctx context.Context, id uuid.UUID, u MemoryUpdate) (Memory, error)
	// SetMemoryState moves a memory to ACTIVE, PAUSED or ARCHIVED (DELETED goes
	// through DeleteMemory). expectedVersion, when non-nil, is checked like
	// UpdateMemory's. ErrConflict when the memory is deleted.
	SetMemoryState(ctx context.Context, id uuid.UUID, state MemoryState, expectedVersion *int64) (Memory, error)
	// SetMemoryVisibility makes a memory PRIVATE (to its author) or ORG,
	// version +1, through the outbox like every change. Only the author may:
	// ErrConflict for another user's ORG memory, ErrNotFound for one the
	// user cannot see. expectedVersion is checked like UpdateMemory's;
	// ErrConflict when the memory is deleted.
	SetMemoryVisibility(ctx context.Context, id uuid.UUID, v Visibility, expectedVersion *int64) (Memory, error)
	// DeleteMemory soft-deletes: state DELETED, DeletedAt set, version +1.
	// Deleting a deleted memory is ErrNotFound.
	DeleteMemory(ctx context.Context, id uuid.UUID, expectedVersion *int64) (Memory, error)

	// CreateApp adds an app. ErrConflict if the name is taken.
	CreateApp(ctx context.Context, name, description string) (App, error)
	// AppsByID returns the apps that exist among ids. One round trip.
	AppsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]App, error)
	// ListApps pages through apps ordered by name.
	ListApps(ctx context.Context, p PageArgs) (Page[App], error)
	// CountApps counts the org's apps.
	CountApps(ctx context.Context) (int, error)

	// ListCategories pages through categories ordered by name.
	ListCategories(ctx context.Context, p PageArgs) (Page[Category], error)
	// CountCategories counts the org's categories.
	CountCategories(ctx context.Context) (int, error)
	// CategoriesByMemory returns each memory's categories ordered by name;
	// every id in memoryIDs is a key (an empty, non-nil slice when it has none).
	CategoriesByMemory(ctx context.Context, memoryIDs []uuid.UUID) (map[uuid.UUID][]Category, error)
}
