package stores

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Outcome is what the user did with a memory the platform offered.
type Outcome string

// Outcomes. ACCEPTED counts towards the acceptance rate; the rest do not.
const (
	OutcomeAccepted Outcome = "ACCEPTED"
	OutcomeRejected Outcome = "REJECTED"
	OutcomeIgnored  Outcome = "IGNORED"
	OutcomeEdited   Outcome = "EDITED"
)

// Outcomes lists every outcome in display order.
var Outcomes = []Outcome{OutcomeAccepted, OutcomeRejected, OutcomeIgnored, OutcomeEdited}

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool {
	for _, known := range Outcomes {
		if o == known {
			return true
		}
	}
	return false
}

// FeedbackEvent records one outcome of one retrieval.
type FeedbackEvent struct {
	ID           uuid.UUID
	UserID       uuid.UUID // who gave the feedback
	QueryID      string    // the client's id for the retrieval, 1..128 characters
	MemoryID     *uuid.UUID
	Tool         string // e.g. "vscode", "cli"; 1..64 characters
	QueryType    string // e.g. "recall", "search"; 1..64 characters
	Outcome      Outcome
	LatencyMs    *int // >= 0
	ExperimentID *uuid.UUID
	VariantKey   string // set together with ExperimentID
	CreatedAt    time.Time
}

// NewFeedbackEvent is the input of RecordFeedback.
type NewFeedbackEvent struct {
	QueryID      string
	MemoryID     *uuid.UUID
	Tool         string
	QueryType    string
	Outcome      Outcome
	LatencyMs    *int
	ExperimentID *uuid.UUID
	VariantKey   string
}

// Event makes the event RecordFeedback stores for in, given by user: a new
// id and copies of in's pointers; the store stamps CreatedAt.
func (in NewFeedbackEvent) Event(user uuid.UUID) FeedbackEvent {
	return FeedbackEvent{
		ID:           uuid.New(),
		UserID:       user,
		QueryID:      in.QueryID,
		MemoryID:     CopyPtr(in.MemoryID),
		Tool:         in.Tool,
		QueryType:    in.QueryType,
		Outcome:      in.Outcome,
		LatencyMs:    CopyPtr(in.LatencyMs),
		ExperimentID: CopyPtr(in.ExperimentID),
		VariantKey:   in.VariantKey,
	}
}

// CopyPtr returns a pointer to a copy of *p, or nil, so a stored value
// shares nothing with the caller's.
func CopyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// FeedbackFilter narrows an event list or an aggregate. Zero values mean "any".
type FeedbackFilter struct {
	Since        *time.Time // inclusive
	Until        *time.Time // exclusive
	Outcomes     []Outcome
	Tool         string
	QueryType    string
	ExperimentID *uuid.UUID
	MemoryID     *uuid.UUID
	// AllUsers lists and counts every user's events of the org (org
	// admins); otherwise a user sees only their own raw events. Aggregates
	// ignore it: they always count every event of the org.
	AllUsers bool
}

// OutcomeCount is how many events had one outcome.
type OutcomeCount struct {
	Outcome Outcome
	Count   int
}

// FeedbackStats summarises a set of events.
type FeedbackStats struct {
	Total          int
	Accepted       int
	AcceptanceRate float64        // Accepted / Total, 0 when Total is 0
	Outcomes       []OutcomeCount // one entry per outcome, in Outcomes order
}

// GroupStats is FeedbackStats for one value of a grouping key.
type GroupStats struct {
	Key   string
	Stats FeedbackStats
}

// VariantStats is FeedbackStats for one experiment variant.
type VariantStats struct {
	ExperimentID uuid.UUID
	VariantKey   string
	Stats        FeedbackStats
}

// FeedbackAggregates summarises the events a filter selects.
type FeedbackAggregates struct {
	Overall     FeedbackStats
	ByTool      []GroupStats   // ordered by key
	ByQueryType []GroupStats   // ordered by key
	ByVariant   []VariantStats // ordered by experiment id, then variant key
}

// FeedbackStore appends and summarises an organisation's feedback events.
type FeedbackStore interface {
	// RecordFeedback appends an event for the bound user. ErrInvalid for bad
	// fields or a variant key without an experiment; ErrNotFound when the
	// memory or the experiment does not exist, or the experiment has no such variant.
	RecordFeedback(ctx context.Context, in NewFeedbackEvent) (FeedbackEvent, error)
	// FeedbackEvents pages through the bound user's events (every user's
	// with f.AllUsers), newest first.
	FeedbackEvents(ctx context.Context, f FeedbackFilter, p PageArgs) (Page[FeedbackEvent], error)
	// CountFeedbackEvents counts the events FeedbackEvents would page
	// through with f. ErrInvalid for a bad filter.
	CountFeedbackEvents(ctx context.Context, f FeedbackFilter) (int, error)
	// FeedbackAggregates computes the summary of the events f selects.
	FeedbackAggregates(ctx context.Context, f FeedbackFilter) (FeedbackAggregates, error)
	// PurgeFeedback deletes every event created before the cut-off and returns
	// how many it deleted (the retention policy; callers check the admin scope).
	PurgeFeedback(ctx context.Context, before time.Time) (int64, error)
}

// Rate returns accepted/total, 0 when total is 0.
func Rate(accepted, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(accepted) / float64(total)
}
