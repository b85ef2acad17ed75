package stores

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// ExperimentStatus is where an experiment is in its life cycle.
type ExperimentStatus string

// Experiment statuses; CanTransition says which moves are legal.
const (
	ExperimentDraft     ExperimentStatus = "DRAFT"
	ExperimentRunning   ExperimentStatus = "RUNNING"
	ExperimentPaused    ExperimentStatus = "PAUSED"
	ExperimentCompleted ExperimentStatus = "COMPLETED"
	ExperimentArchived  ExperimentStatus = "ARCHIVED"
)

// Valid reports whether s is a known status.
func (s ExperimentStatus) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// transitions: draft -> running <-> paused -> completed -> archived; a
// running experiment may also complete directly.
var transitions = map[ExperimentStatus][]ExperimentStatus{
	ExperimentDraft:     {ExperimentRunning},
	ExperimentRunning:   {ExperimentPaused, ExperimentCompleted},
	ExperimentPaused:    {ExperimentRunning, ExperimentCompleted},
	ExperimentCompleted: {ExperimentArchived},
	ExperimentArchived:  nil,
}

// CanTransition reports whether an experiment may move from one status to another.
func CanTransition(from, to ExperimentStatus) bool {
	for _, next := range transitions[from] {
		if next == to {
			return true
		}
	}
	return false
}

// Experiment is an A/B test of retrieval settings across an org's users.
type Experiment struct {
	ID          uuid.UUID
	Name        string // 1..MaxNameLength characters, unique within the org
	Description string
	Status      ExperimentStatus
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Variant is one arm of an experiment.
type Variant struct {
	ID           uuid.UUID
	ExperimentID uuid.UUID
	Key          string         // 1..MaxNameLength characters, unique within the experiment
	Weight       int            // > 0; the share of users is Weight / sum of weights
	Config       map[string]any // a JSON object, never nil
	Position     int            // order of declaration, from 0
}

// NewVariant is a variant in NewExperiment.
type NewVariant struct {
	Key    string
	Weight int
	Config map[string]any
}

// NewExperiment is the input of CreateExperiment: 1..MaxVariants variants.
type NewExperiment struct {
	Name        string
	Description string
	Variants    []NewVariant
}

// MaxVariants bounds an experiment's arms.
const MaxVariants = 20

// StatusChange is one entry of an experiment's status history.
type StatusChange struct {
	From      *ExperimentStatus // nil for the creation entry
	To        ExperimentStatus
	ChangedBy uuid.UUID
	Reason    string
	ChangedAt time.Time
}

// Assignment is the variant a user gets in an experiment. It is deterministic
// (PickVariant) and stored on first assignment, so it survives weight edits.
type Assignment struct {
	ExperimentID uuid.UUID
	UserID       uuid.UUID
	Variant      Variant
	AssignedAt   time.Time
}

// ExperimentStore holds an organisation's experiments.
type ExperimentStore interface {
	// CreateExperiment creates a DRAFT experiment with its variants and a first
	// history entry. ErrInvalid for bad names, weights or configs; ErrConflict
	// if the name is taken.
	CreateExperiment(ctx context.Context, in NewExperiment) (Experiment, error)
	// Experiment returns one experiment. ErrNotFound if missing.
	Experiment(ctx context.Context, id uuid.UUID) (Experiment, error)
	// ExperimentsByID returns the experiments that exist among ids. One round trip.
	ExperimentsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Experiment, error)
	// ListExperiments pages through experiments, newest first; an empty
	// statuses slice means every status.
	ListExperiments(ctx context.Context, statuses []ExperimentStatus, p PageArgs) (Page[Experiment], error)
	// CountExperiments counts the experiments ListExperiments would page
	// through with statuses. ErrInvalid for an unknown status.
	CountExperiments(ctx context.Context, statuses []ExperimentStatus) (int, error)
	// TransitionExperiment moves an experiment to a new status and appends the
	// change to its history in the same transaction. ErrNotFound if missing;
	// ErrConflict for a move CanTransition refuses.
	TransitionExperiment(ctx context.Context, id uuid.UUID, to ExperimentStatus, reason string) (Experiment, error)
	// VariantsByExperiment returns each experiment's variants in position
	// order; every id is a key. One round trip.
	VariantsByExperiment(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Variant, error)
	// StatusHistory returns each experiment's history, oldest first; every id is a key.
	StatusHistory(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]StatusChange, error)
	// Assignments returns the bound user's assignment in each experiment among
	// ids that has one: a stored assignment, or a new one (PickVariant, then
	// stored) when the experiment is RUNNING. Experiments that are missing, or
	// not running and never assigned, are absent from the map. One round trip
	// to read plus one to store new assignments.
	Assignments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Assignment, error)
}

// PickVariant chooses a user's variant deterministically: the first 8 bytes of
// sha256(experiment id || user id), modulo the total weight, land in one
// variant's share of the cumulative weights (in position order). Every backend
// uses this function so a user gets the same variant whichever one serves.
func PickVariant(experimentID, userID uuid.UUID, variants []Variant) (Variant, bool) {
	total := 0
	for _, v := range variants {
		total += v.Weight
	}
	if total <= 0 {
		return Variant{}, false
	}
	h := sha256.New()
	h.Write(experimentID[:])
	h.Write(userID[:])
	point := int(binary.BigEndian.Uint64(h.Sum(nil)[:8]) % uint64(total))
	for _, v := range variants {
		if point < v.Weight {
			return v, true
		}
		point -= v.Weight
	}
	return variants[len(variants)-1], true
}
