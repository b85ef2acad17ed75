package resolvers

import (
	"math"
	"time"

	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/stores"
)

// maxHalfLife bounds the decay half-life a client may ask for: a year is
// already "no decay" for items that live at most MaxEpisodicTTL.
const maxHalfLife = 365 * 24 * time.Hour

// checkEpisodicID refuses a session or item id that no store accepts,
// naming the argument.
func checkEpisodicID(arg, id string) error {
	if !stores.ValidEpisodicID(id) {
		return stores.Invalid("%s must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'", arg)
	}
	return nil
}

// sessionKey checks the arguments of EpisodicSession.items and turns them
// into a SessionItems loader key.
func sessionKey(sessionID string, halfLifeSeconds *float64, first *int) (loaders.SessionKey, error) {
	seconds := stores.DefaultHalfLife.Seconds()
	if halfLifeSeconds != nil {
		seconds = *halfLifeSeconds
	}
	if math.IsNaN(seconds) || seconds <= 0 || seconds > maxHalfLife.Seconds() {
		return loaders.SessionKey{}, stores.Invalid("halfLifeSeconds must be greater than 0 and at most %d", int(maxHalfLife.Seconds()))
	}
	halfLife := time.Duration(seconds * float64(time.Second))
	if halfLife <= 0 {
		return loaders.SessionKey{}, stores.Invalid("halfLifeSeconds must be at least one nanosecond")
	}
	limit := 20
	if first != nil {
		limit = *first
	}
	if limit < 1 || limit > stores.MaxSessionItems {
		return loaders.SessionKey{}, stores.Invalid("first must be between 1 and %d", stores.MaxSessionItems)
	}
	return loaders.SessionKey{SessionID: sessionID, HalfLife: halfLife, Limit: limit}, nil
}

// newEpisodicItem checks a putEpisodicItem input, applies its defaults and
// converts it to the store's; the memory reference is resolved by the caller.
func newEpisodicItem(in model.PutEpisodicItemInput) (stores.NewEpisodicItem, error) {
	if err := checkEpisodicID("sessionId", in.SessionID); err != nil {
		return stores.NewEpisodicItem{}, err
	}
	if in.ItemID != nil {
		if err := checkEpisodicID("itemId", *in.ItemID); err != nil {
			return stores.NewEpisodicItem{}, err
		}
	}
	if in.Content == "" {
		return stores.NewEpisodicItem{}, stores.Invalid("content must not be empty")
	}
	if len(in.Content) > stores.MaxMemoryContent {
		return stores.NewEpisodicItem{}, stores.Invalid("content must be at most %d bytes", stores.MaxMemoryContent)
	}
	weight := 1.0
	if in.Weight != nil {
		weight = *in.Weight
	}
	if math.IsNaN(weight) || math.IsInf(weight, 0) || weight <= 0 {
		return stores.NewEpisodicItem{}, stores.Invalid("weight must be a number greater than 0")
	}
	ttl := stores.DefaultEpisodicTTL
	if in.TTLSeconds != nil {
		seconds := *in.TTLSeconds
		minSeconds, maxSeconds := int(stores.MinEpisodicTTL/time.Second), int(stores.MaxEpisodicTTL/time.Second)
		if seconds < minSeconds || seconds > maxSeconds {
			return stores.NewEpisodicItem{}, stores.Invalid("ttlSeconds must be between %d and %d", minSeconds, maxSeconds)
		}
		ttl = time.Duration(seconds) * time.Second
	}
	return stores.NewEpisodicItem{
		ID:       deref(in.ItemID),
		Content:  in.Content,
		Metadata: in.Metadata,
		Weight:   weight,
		TTL:      ttl,
	}, nil
}
