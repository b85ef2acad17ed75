package stores

import (
	"context"

	"github.com/google/uuid"
)

// ChangeKind says which domain a committed change belongs to.
type ChangeKind string

// Change kinds. Each is published only after the write it describes has
// committed, never for a write that was merely attempted.
const (
	// ChangeMemory: a memory was created, updated, had its state changed or was deleted.
	ChangeMemory ChangeKind = "MEMORY"
	// ChangeMemoryIndex: a derived search index (full-text, vector) caught up
	// with a memory, or failed to. Published by the outbox indexer.
	ChangeMemoryIndex ChangeKind = "MEMORY_INDEX"
	// ChangeFeedback: a feedback event was recorded or purged.
	ChangeFeedback ChangeKind = "FEEDBACK"
	// ChangeEpisodic: an item of an episodic session was put or expired.
	ChangeEpisodic ChangeKind = "EPISODIC"
)

// ChangeOp is what a memory change did to the row.
type ChangeOp string

// Change operations, as the outbox records them.
const (
	OpUpsert ChangeOp = "upsert"
	OpDelete ChangeOp = "delete"
)

// Change is one committed change of one tenant. It carries ids, not data:
// a subscriber reads the changed object back through its own tenant-bound
// stores, so a change can cross replicas (PostgreSQL NOTIFY) without
// carrying content. Memory is an optional snapshot taken at commit by an
// in-process source; a subscriber may use it instead of reading the row.
type Change struct {
	Kind  ChangeKind
	OrgID uuid.UUID
	// UserID is set for personal data (episodic sessions): only that user's
	// subscriptions receive it. uuid.Nil means the whole organisation.
	UserID uuid.UUID
	// MemoryID and Version name the memory and the version the change
	// committed (ChangeMemory, ChangeMemoryIndex, and ChangeFeedback when the
	// feedback names a memory).
	MemoryID uuid.UUID
	Version  int64
	Op       ChangeOp
	// SessionID names the episodic session (ChangeEpisodic).
	SessionID string
	// Memory is the memory as committed, when the source has it at hand.
	Memory *Memory
	// Seq is the change's position in the change log (ChangeLog): it grows
	// in commit order. 0 for a change the log does not keep (feedback,
	// episodic).
	Seq int64
}

// ChangeFeed delivers the committed changes of the tenant it is bound to.
// A subscription never sees another tenant's changes, whatever ids it asks
// about: the tenant is bound when the feed is made, not passed per call.
type ChangeFeed interface {
	// Subscribe returns a stream of the tenant's changes of the given kinds
	// (all kinds when none are given). The stream has a bounded buffer: a
	// subscriber that falls behind loses the subscription, and Lost is
	// closed, instead of making the publisher wait or grow memory.
	// ErrUnavailable when the feed cannot take subscriptions.
	Subscribe(ctx context.Context, kinds ...ChangeKind) (ChangeStream, error)
	// Resume is Subscribe for memory changes that first replays, from the
	// change log, the tenant's changes after the log position after, in
	// order, then goes live with no gap and no duplicate at the seam.
	// ErrExpired when the log no longer holds what followed after;
	// ErrInvalid for a position the log never reached.
	Resume(ctx context.Context, after int64) (ChangeStream, error)
}

// ChangeLog is the durable, ordered log of one tenant's memory changes,
// kept for a retention window.
type ChangeLog interface {
	// ChangesAfter returns at most limit of the tenant's changes whose Seq
	// is above after, in Seq order. Every change committed with a Seq at
	// or below the highest one returned is visible already: a reader that
	// continues after it skips nothing. ErrExpired when changes following
	// after were pruned; ErrInvalid when after is beyond any Seq assigned.
	ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error)
}

// ChangeLogBackend hands out change logs bound to one tenant.
type ChangeLogBackend interface{ ChangeLog(Tenant) ChangeLog }

// ChangeStream is one subscription to a ChangeFeed.
type ChangeStream interface {
	// Changes yields the changes in commit order per object.
	Changes() <-chan Change
	// Lost is closed when the subscriber fell behind and changes were dropped;
	// the subscription then delivers nothing more.
	Lost() <-chan struct{}
	// Close ends the subscription; it is safe to call more than once.
	Close()
}

// ChangePublisher takes committed changes: the in-process hub that feeds
// the subscriptions (events.Hub), or a broker that carries them to every
// replica, which publish them to their own hubs (stores/postgres).
type ChangePublisher interface {
	Publish(Change)
}

// ChangeBackend hands out change feeds bound to one tenant.
type ChangeBackend interface{ Changes(Tenant) ChangeFeed }

// IndexName names a derived search index of memories.
type IndexName string

// Derived indexes of memories.
const (
	IndexFullText IndexName = "FULL_TEXT"
	IndexVector   IndexName = "VECTOR"
)

// DerivedIndexes are the indexes a deployment keeps for memories: full
// text always, vectors when it has an embedding server. Every writer of the
// outbox queues one entry per index in this list, and the indexer drains
// each; an entry for an index the deployment does not keep would wait
// forever.
func DerivedIndexes(withVectors bool) []IndexName {
	if withVectors {
		return []IndexName{IndexFullText, IndexVector}
	}
	return []IndexName{IndexFullText}
}

// IndexNames are indexes as the text the outbox stores.
func IndexNames(indexes []IndexName) []string {
	names := make([]string, len(indexes))
	for i, index := range indexes {
		names[i] = string(index)
	}
	return names
}

// IndexState is where a derived index is for one memory.
type IndexState string

// Index states.
const (
	IndexPending IndexState = "PENDING"
	IndexIndexed IndexState = "INDEXED"
	IndexFailed  IndexState = "FAILED"
)

// IndexStatus is one index's state for one memory.
type IndexStatus struct {
	Index IndexName
	State IndexState
	// Version is the memory version the index holds (0 when none yet).
	Version int64
}

// IndexStatusStore reports how far the derived search indexes of the
// tenant's memories are. The domain follows the memory store: with memories
// on PostgreSQL the outbox tells (stores/postgres); stores/embedded indexes
// full text in the write and, with an embedding server, vectors in the
// background.
type IndexStatusStore interface {
	// IndexStatuses returns, for each id that exists, the status of every
	// configured index. One round trip.
	IndexStatuses(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]IndexStatus, error)
}
