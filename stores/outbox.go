package stores

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// OutboxEntry is one queued change of a memory for the derived indexes
// (full-text, vectors): which memory, at which version, upserted or deleted.
// It carries no content: the indexer reads the memory under its org binding.
type OutboxEntry struct {
	ID            int64
	OrgID         uuid.UUID
	MemoryID      uuid.UUID
	Op            ChangeOp
	MemoryVersion int64
	// Attempts counts the claims so far, the current one included: an entry
	// claimed for the first time has 1, so Attempts-1 attempts have failed.
	Attempts    int
	LastError   string
	AvailableAt time.Time
	CreatedAt   time.Time
	ParkedAt    *time.Time // set when the indexer gave up on the entry
	// AuthorID is the memory's author: the indexer reads the memory under
	// the author's binding, the only one that sees it when it is private.
	// uuid.Nil (an entry queued before the outbox recorded authors) reads as
	// the indexer's own user, which sees every ORG memory.
	AuthorID uuid.UUID
}

// Outbox is the durable queue of memory changes that the indexer drains
// into the derived indexes (stores/postgres keeps it in the write's own
// transaction). Unlike the stores it is not bound to a tenant: it hands out
// entries of every organisation, ids and versions only.
type Outbox interface {
	// Claim leases up to limit ready entries for lease; concurrent claimers
	// get disjoint entries. orgs, when not empty, limits the claim to those
	// organisations.
	Claim(ctx context.Context, limit int, lease time.Duration, orgs []uuid.UUID) ([]OutboxEntry, error)
	// Complete removes applied entries.
	Complete(ctx context.Context, ids []int64) error
	// Fail records a failed attempt: the entry becomes ready again at
	// retryAt, or is parked (kept, visible to admins, never retried) when park is set.
	Fail(ctx context.Context, id int64, reason string, retryAt time.Time, park bool) error
	// Backlog reports how many entries wait (parked ones excluded) and the age of the oldest.
	Backlog(ctx context.Context) (int, time.Duration, error)
}
