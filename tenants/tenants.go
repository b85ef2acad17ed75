// Package tenants is the lifecycle of organisations across the five stores:
// the registry (which organisations exist and whether their tokens are
// honoured), the durable jobs that erase an organisation or a user
// everywhere, the audit that counts what each store holds for an
// organisation, the orphan sweep, and the retention purges.
//
// The registry is read by the gateway as the application role; the jobs run
// as the operator (the owner role, DATABASE_OWNER_URL), which migration 00006
// lets through row level security with its own binding.
package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Status is where an organisation is in its life.
type Status string

// The statuses of an organisation. Only ACTIVE organisations' tokens are
// honoured in full; an org admin of an ERASING or ERASED one may still read
// its erasure's status.
const (
	StatusActive    Status = "ACTIVE"
	StatusSuspended Status = "SUSPENDED"
	StatusErasing   Status = "ERASING"
	StatusErased    Status = "ERASED"
)

// Organization is one row of the registry.
type Organization struct {
	ID        uuid.UUID
	Name      string
	Status    Status
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Counts are, per kind of item ("memories", "keys", "points:emb_x"), how
// many a store holds or removed.
type Counts map[string]int64

// Total is the sum over every kind.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Store is one backend seen whole, by the operator: what an organisation
// holds there, how to remove it in bounded batches, and which organisations
// hold anything at all. Every method is idempotent; an error leaves the
// store as the completed batches left it.
type Store interface {
	// Name names the store in job progress, audits and errors.
	Name() string
	// Count returns how many items of each kind org holds (kinds with none
	// may be left out).
	Count(ctx context.Context, org uuid.UUID) (map[string]int64, error)
	// EraseBatch removes at most about batch items of org and returns what
	// it removed; done is true once nothing of org is left.
	EraseBatch(ctx context.Context, org uuid.UUID, batch int) (removed map[string]int64, done bool, err error)
	// Orgs lists the organisations that hold anything in the store.
	Orgs(ctx context.Context) ([]uuid.UUID, error)
}

// UserStore is a store that can remove one user's own data inside an
// organisation (episodic items; PostgreSQL's user rows are handled by the
// job itself, with the caller's choice for authored memories).
type UserStore interface {
	Store
	// EraseUserBatch removes at most about batch items of the user.
	EraseUserBatch(ctx context.Context, org, user uuid.UUID, batch int) (removed map[string]int64, done bool, err error)
}

// ParseOrg reads an organisation id given by an operator or a client.
func ParseOrg(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%q is not an organisation id (a UUID)", s)
	}
	return id, nil
}
