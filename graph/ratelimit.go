package graph

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a per-tenant token bucket: PerSecond requests a second on
// average, bursts of up to Burst. Zero PerSecond turns it off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// keyedLimiter holds one bucket per key (an organisation, or the address of
// an anonymous client), so one noisy caller cannot starve the others.
type keyedLimiter[K comparable] struct {
	limit RateLimit
	mu    sync.Mutex
	byKey map[K]*bucket
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// maxTrackedKeys bounds the limiter's memory; idle buckets are dropped
// beyond it (a dropped bucket starts full again, which only forgives).
const maxTrackedKeys = 10000

func newKeyedLimiter[K comparable](l RateLimit) *keyedLimiter[K] {
	if l.PerSecond <= 0 {
		return nil
	}
	return &keyedLimiter[K]{limit: l, byKey: map[K]*bucket{}}
}

// allow takes a token for key, or returns how long until one is available.
func (t *keyedLimiter[K]) allow(key K, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.byKey[key]
	if !ok {
		if len(t.byKey) >= maxTrackedKeys {
			t.evictIdle(now)
		}
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(t.limit.PerSecond), max(t.limit.Burst, 1))}
		t.byKey[key] = b
	}
	b.lastSeen = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// evictIdle drops the buckets that have refilled (idle long enough to be full).
func (t *keyedLimiter[K]) evictIdle(now time.Time) {
	full := time.Duration(float64(max(t.limit.Burst, 1)) / t.limit.PerSecond * float64(time.Second))
	for key, b := range t.byKey {
		if now.Sub(b.lastSeen) > full {
			delete(t.byKey, key)
		}
	}
}

// writeRateLimited answers 429 with Retry-After in whole seconds, rounded up.
func writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration, who string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, r, http.StatusTooManyRequests, "rate limit exceeded for "+who+"; retry after the Retry-After delay", CodeRateLimited)
}
