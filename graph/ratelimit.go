package graph

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// RateLimit is a per-tenant token bucket: PerSecond requests a second on
// average, bursts of up to Burst. Zero PerSecond turns it off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// tenantLimiter holds one bucket per organisation, so one noisy tenant
// cannot starve the others.
type tenantLimiter struct {
	limit RateLimit
	mu    sync.Mutex
	byOrg map[uuid.UUID]*orgBucket
}

type orgBucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// maxTrackedOrgs bounds the limiter's memory; idle buckets are dropped
// beyond it (a dropped bucket starts full again, which only forgives).
const maxTrackedOrgs = 10000

func newTenantLimiter(l RateLimit) *tenantLimiter {
	if l.PerSecond <= 0 {
		return nil
	}
	return &tenantLimiter{limit: l, byOrg: map[uuid.UUID]*orgBucket{}}
}

// allow takes a token for org, or returns how long until one is available.
func (t *tenantLimiter) allow(org uuid.UUID, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.byOrg[org]
	if !ok {
		if len(t.byOrg) >= maxTrackedOrgs {
			t.evictIdle(now)
		}
		b = &orgBucket{limiter: rate.NewLimiter(rate.Limit(t.limit.PerSecond), max(t.limit.Burst, 1))}
		t.byOrg[org] = b
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
func (t *tenantLimiter) evictIdle(now time.Time) {
	full := time.Duration(float64(max(t.limit.Burst, 1)) / t.limit.PerSecond * float64(time.Second))
	for org, b := range t.byOrg {
		if now.Sub(b.lastSeen) > full {
			delete(t.byOrg, org)
		}
	}
}

// writeRateLimited answers 429 with Retry-After in whole seconds, rounded up.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, "rate limit exceeded for this organisation; retry after the Retry-After delay", CodeRateLimited)
}
