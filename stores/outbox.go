package stores

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// OutboxEntry is one queued change of a memory for one derived index
// (FULL_TEXT or VECTOR): which memory, at which version, upserted or
// deleted. A change queues one entry per index the deployment keeps, so each
// index progresses at its own pace. It carries no content: the indexer reads
// the memory under its org binding.
type OutboxEntry struct {
	ID            int64
	OrgID         uuid.UUID
	MemoryID      uuid.UUID
	Index         IndexName
	Op            ChangeOp
	MemoryVersion int64
	// Attempts counts the claims so far, the current one included: an entry
	// claimed for the first time has 1, so Attempts-1 attempts have failed.
	Attempts    int
	LastError   string
	AvailableAt time.Time
	CreatedAt   time.Time
	ParkedAt    *time.Time // set when retrying cannot help; LastError says why
	// AuthorID is the memory's author: the indexer reads the memory under
	// the author's binding, the only one that sees it when it is private.
	// uuid.Nil (an entry queued before the outbox recorded authors) reads as
	// the indexer's own user, which sees every ORG memory.
	AuthorID uuid.UUID
}

// OutboxFailure is one failed attempt at an entry: the entry becomes ready
// again at RetryAt, or, with Park, is set aside until an operator re-queues it.
type OutboxFailure struct {
	ID      int64
	Reason  string
	RetryAt time.Time
	Park    bool
}

// OutboxBacklog is the indexer's lag: entries still to apply (parked ones
// excluded), the age of the oldest of them, and entries parked.
type OutboxBacklog struct {
	Pending int
	Oldest  time.Duration
	Parked  int
}

// Outbox is the durable queue of memory changes that the indexer drains
// into the derived indexes (stores/postgres keeps it in the write's own
// transaction). Unlike the stores it is not bound to a tenant: it hands out
// entries of every organisation, ids and versions only.
type Outbox interface {
	// Claim leases up to limit ready entries of one index for lease;
	// concurrent claimers get disjoint entries. orgs, when not empty, limits
	// the claim to those organisations.
	Claim(ctx context.Context, index IndexName, limit int, lease time.Duration, orgs []uuid.UUID) ([]OutboxEntry, error)
	// Extend renews the lease of entries still being applied, so that a
	// short lease frees a crashed claimer's entries soon without freeing a
	// slow live claimer's.
	Extend(ctx context.Context, ids []int64, lease time.Duration) error
	// Complete removes applied entries.
	Complete(ctx context.Context, ids []int64) error
	// Fail records failed attempts, in one call whatever their number.
	Fail(ctx context.Context, failures []OutboxFailure) error
	// Backlog reports the lag of the given indexes together.
	Backlog(ctx context.Context, indexes []IndexName) (OutboxBacklog, error)
}
