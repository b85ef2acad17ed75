package graph

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/telemetry"
	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per key: PerSecond requests a second on
// average, bursts of up to Burst. Zero PerSecond turns it off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// SharedLimits keeps limits where every replica sees them (Valkey: see
// stores/valkey.Limits), so that N replicas enforce one limit instead of N.
// Each call is one round trip.
type SharedLimits interface {
	// Allow takes one request from key's bucket, or says how long until
	// one may go.
	Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error)
	// AcquireConnection counts a live connection of org against limit
	// across replicas (false: org is at the limit); called again for the
	// same id it renews the connection's lease.
	// lease is how long the count holds without renewal (limit 0 renews
	// without a check).
	AcquireConnection(ctx context.Context, org, id string, limit int, lease time.Duration) (bool, error)
	// ReleaseConnection stops counting a live connection.
	ReleaseConnection(ctx context.Context, org, id string) error
}

// rateLimiter decides whether a request of key may go now.
type rateLimiter interface {
	allow(ctx context.Context, key string) (ok bool, wait time.Duration)
}

// newRateLimiter returns the limiter of l: shared across replicas when
// shared is set, in this process otherwise; nil when l is off.
func newRateLimiter(l RateLimit, shared *sharedGuard) rateLimiter {
	switch {
	case l.PerSecond <= 0:
		return nil
	case shared != nil:
		return sharedLimiter{limit: l, shared: shared}
	}
	return &localLimiter{limit: l, byKey: map[string]*bucket{}}
}

// localLimiter holds one bucket per key (an organisation, or the address of
// an anonymous client) in this process, so one noisy caller cannot starve
// the others.
type localLimiter struct {
	limit RateLimit
	mu    sync.Mutex
	byKey map[string]*bucket
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// maxTrackedKeys bounds the limiter's memory; idle buckets are dropped
// beyond it (a dropped bucket starts full again, which only forgives).
const maxTrackedKeys = 10000

func (t *localLimiter) allow(_ context.Context, key string) (bool, time.Duration) {
	now := time.Now()
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
func (t *localLimiter) evictIdle(now time.Time) {
	full := time.Duration(float64(max(t.limit.Burst, 1)) / t.limit.PerSecond * float64(time.Second))
	for key, b := range t.byKey {
		if now.Sub(b.lastSeen) > full {
			delete(t.byKey, key)
		}
	}
}

// sharedLimiter keeps the buckets in SharedLimits.
type sharedLimiter struct {
	limit  RateLimit
	shared *sharedGuard
}

func (s sharedLimiter) allow(ctx context.Context, key string) (bool, time.Duration) {
	ok, wait, err := s.shared.limits.Allow(ctx, key, s.limit.PerSecond, s.limit.Burst)
	if err != nil {
		return s.shared.unavailable(ctx, "rate limit", err), time.Second
	}
	return ok, wait
}

// sharedGuard is what to do when the shared limits cannot be reached: let
// requests through (fail open, the default: an outage of Valkey must not
// become an outage of the API) or refuse them (fail closed); either way the
// failure is logged, at most once a second, and counted in the metrics.
type sharedGuard struct {
	limits     SharedLimits
	failClosed bool
	log        *slog.Logger
	metrics    *telemetry.Metrics // nil: not counted
	lastLog    atomic.Int64       // unix nanoseconds
}

func newSharedGuard(cfg Config) *sharedGuard {
	if cfg.Shared == nil {
		return nil
	}
	return &sharedGuard{limits: cfg.Shared, failClosed: cfg.SharedFailClosed, log: cfg.Logger, metrics: cfg.Metrics}
}

// unavailable records a failure of the shared limits and returns whether
// the request may go on.
func (g *sharedGuard) unavailable(ctx context.Context, what string, err error) bool {
	if g.metrics != nil {
		g.metrics.SharedLimitsFailure(what)
	}
	now := time.Now().UnixNano()
	if last := g.lastLog.Load(); now-last > int64(time.Second) && g.lastLog.CompareAndSwap(last, now) {
		g.log.WarnContext(ctx, "shared limits unavailable", "limit", what, "fail_closed", g.failClosed, "error", err.Error())
	}
	return !g.failClosed
}

// writeRateLimited answers 429 with Retry-After in whole seconds, rounded up.
func writeRateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration, who string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, r, http.StatusTooManyRequests, "rate limit exceeded for "+who+"; retry after the Retry-After delay", CodeRateLimited)
}
