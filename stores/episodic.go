package stores

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// EpisodicItem is one thing a user's working session touched (a file opened,
// a memory recalled, a note), kept for a limited time.
type EpisodicItem struct {
	ID        string // 1..128 characters of [A-Za-z0-9._:-]; generated when not given
	SessionID string
	Content   string         // up to MaxMemoryContent bytes
	MemoryID  *uuid.UUID     // set when the item refers to a memory (recall boosts it)
	Metadata  map[string]any // a JSON object, never nil
	Weight    float64        // importance, > 0; the ranking score is Weight x decay
	CreatedAt time.Time
	TouchedAt time.Time // last put (or read with touch); the decay clock starts here
	ExpiresAt time.Time
	Score     float64 // set by SessionItems: Weight x 2^(-(now-TouchedAt)/halfLife)
}

// NewEpisodicItem is the input of PutItem. Putting an existing item id
// replaces its content and refreshes its touch time and TTL.
type NewEpisodicItem struct {
	ID       string // empty: a new random id
	Content  string
	MemoryID *uuid.UUID
	Metadata map[string]any
	Weight   float64 // 0 means 1
	TTL      time.Duration
}

// SessionSummary describes one live session.
type SessionSummary struct {
	ID            string
	ItemCount     int
	LastTouchedAt time.Time
	ExpiresAt     time.Time // when its last item expires
}

// SortSessions puts sessions in the order Sessions returns them: the most
// recently touched first, then by id.
func SortSessions(sessions []SessionSummary) {
	sort.Slice(sessions, func(i, j int) bool {
		if !sessions[i].LastTouchedAt.Equal(sessions[j].LastTouchedAt) {
			return sessions[i].LastTouchedAt.After(sessions[j].LastTouchedAt)
		}
		return sessions[i].ID < sessions[j].ID
	})
}

// Bounds on episodic input, shared by every implementation.
const (
	MinEpisodicTTL      = time.Second
	MaxEpisodicTTL      = 30 * 24 * time.Hour
	MaxSessionItems     = 1000
	DefaultEpisodicTTL  = time.Hour
	DefaultHalfLife     = 15 * time.Minute
	MaxSessionsListed   = 1000
	maxEpisodicIDLength = 128
)

var episodicID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ValidEpisodicID reports whether s can name a session or an item: the
// characters are safe inside any key syntax (Valkey keys, hash tags).
func ValidEpisodicID(s string) bool {
	return len(s) <= maxEpisodicIDLength && episodicID.MatchString(s)
}

// Decay returns 2^(-age/halfLife): 1 for a fresh item, 0.5 one half-life later.
func Decay(age, halfLife time.Duration) float64 {
	if age <= 0 {
		return 1
	}
	return math.Exp2(-float64(age) / float64(halfLife))
}

// EpisodicStore holds the bound user's short-lived session context.
type EpisodicStore interface {
	// PutItem stores (or replaces) an item with its TTL. ErrInvalid for a bad
	// id, an empty content or a TTL outside [MinEpisodicTTL, MaxEpisodicTTL];
	// ErrConflict when the session already holds MaxSessionItems live items.
	PutItem(ctx context.Context, sessionID string, in NewEpisodicItem) (EpisodicItem, error)
	// SessionItems returns the live items of a session ranked by Score
	// (highest first, ties by id), at most limit. An unknown or expired session
	// gives an empty, non-nil slice. touch=true refreshes the returned items'
	// touch time; otherwise reading changes nothing.
	SessionItems(ctx context.Context, sessionID string, halfLife time.Duration, limit int, touch bool) ([]EpisodicItem, error)
	// ItemsBySession is SessionItems for several sessions at once (loaders);
	// every id is a key. It never touches.
	ItemsBySession(ctx context.Context, sessionIDs []string, halfLife time.Duration, limit int) (map[string][]EpisodicItem, error)
	// ExpireItem removes one item now. ErrNotFound if it is not live.
	ExpireItem(ctx context.Context, sessionID, itemID string) error
	// ExpireSession removes every item of a session and returns how many were live.
	ExpireSession(ctx context.Context, sessionID string) (int, error)
	// Sessions lists the user's live sessions, most recently touched first,
	// at most MaxSessionsListed.
	Sessions(ctx context.Context) ([]SessionSummary, error)
}

// Client-safe messages, the same as every other implementation's.
const (
	msgEpisodicSessionID = "session id must be 1..128 characters of letters, digits, '.', '_', ':' or '-'"
	msgEpisodicItemID    = "item id must be 1..128 characters of letters, digits, '.', '_', ':' or '-'"
	msgEpisodicMetadata  = "episodic item metadata must be a JSON object"
)

// CheckSessionID refuses a session id ValidEpisodicID refuses.
func CheckSessionID(id string) error {
	if !ValidEpisodicID(id) {
		return Invalid(msgEpisodicSessionID)
	}
	return nil
}

// CheckItemID refuses an item id ValidEpisodicID refuses.
func CheckItemID(id string) error {
	if !ValidEpisodicID(id) {
		return Invalid(msgEpisodicItemID)
	}
	return nil
}

// CheckEpisodicRead checks a read's half-life and limit.
func CheckEpisodicRead(halfLife time.Duration, limit int) error {
	if halfLife <= 0 {
		return Invalid("half-life must be positive")
	}
	if limit < 1 {
		return Invalid("limit must be at least 1")
	}
	return nil
}

// CheckItemsBySession checks an ItemsBySession call: how many sessions,
// each session id, the half-life and the limit.
func CheckItemsBySession(sessionIDs []string, halfLife time.Duration, limit int) error {
	if len(sessionIDs) > MaxSessionsListed {
		return Invalid("at most %d sessions at once", MaxSessionsListed)
	}
	for _, id := range sessionIDs {
		if err := CheckSessionID(id); err != nil {
			return err
		}
	}
	return CheckEpisodicRead(halfLife, limit)
}

// CheckedEpisodicItem is a new item as CheckPutItem accepts it.
type CheckedEpisodicItem struct {
	ID       string         // the caller's id, or a new UUID
	Weight   float64        // 0 in the input means 1
	Metadata map[string]any // as JSON gives it back (numbers as float64; nil becomes {})
}

// CheckPutItem validates a PutItem call's session id and new item and fills
// in the defaults. Every episodic backend uses it, so all refuse the same
// input and default the same way.
func CheckPutItem(sessionID string, in NewEpisodicItem) (CheckedEpisodicItem, error) {
	if err := CheckSessionID(sessionID); err != nil {
		return CheckedEpisodicItem{}, err
	}
	id := in.ID
	if id == "" {
		id = uuid.NewString()
	} else if err := CheckItemID(id); err != nil {
		return CheckedEpisodicItem{}, err
	}
	switch {
	case in.Content == "":
		return CheckedEpisodicItem{}, Invalid("item content must not be empty")
	case len(in.Content) > MaxMemoryContent:
		return CheckedEpisodicItem{}, Invalid("item content must be at most %d bytes", MaxMemoryContent)
	case !utf8.ValidString(in.Content):
		return CheckedEpisodicItem{}, Invalid("item content must be valid UTF-8")
	case in.TTL < MinEpisodicTTL || in.TTL > MaxEpisodicTTL:
		return CheckedEpisodicItem{}, Invalid("item TTL must be between %s and %s", MinEpisodicTTL, MaxEpisodicTTL)
	}
	weight := in.Weight
	if weight == 0 {
		weight = 1
	}
	if weight < 0 || math.IsNaN(weight) || math.IsInf(weight, 0) {
		return CheckedEpisodicItem{}, Invalid("item weight must be a positive number")
	}
	metadata := map[string]any{}
	if in.Metadata != nil {
		raw, err := json.Marshal(in.Metadata)
		if err != nil {
			return CheckedEpisodicItem{}, Invalid(msgEpisodicMetadata)
		}
		if len(raw) > MaxMemoryContent {
			return CheckedEpisodicItem{}, Invalid("episodic item metadata must encode to at most %d bytes", MaxMemoryContent)
		}
		if err := json.Unmarshal(raw, &metadata); err != nil {
			return CheckedEpisodicItem{}, Invalid(msgEpisodicMetadata)
		}
	}
	return CheckedEpisodicItem{ID: id, Weight: weight, Metadata: metadata}, nil
}
