// Package guarded wraps a backend's stores with what every call to a
// remote store needs and no adapter should repeat: a deadline, a circuit
// breaker that fails fast while the backend is down, and an observation of
// each call (for metrics). Fields served by other backends keep resolving
// while one backend's breaker is open.
package guarded

// wrap_gen.go passes every store method of every domain through call/run.
// The change feed is left out: a subscription lives as long as its client,
// so a per-call deadline would end it, and it is wired above the guards.
//go:generate go run ./internal/wrapgen -stores .. -skip Changes -out wrap_gen.go

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Observer learns of every guarded call and of breaker state changes; the
// gateway's metrics implement it. Both methods must be cheap and safe for
// concurrent use.
type Observer interface {
	StoreCall(backend, operation string, took time.Duration, err error)
	BreakerState(backend string, state gobreaker.State)
}

// Options tune a Guard. Zero values take the defaults.
type Options struct {
	// Timeout bounds every call (default 5s).
	Timeout time.Duration
	// Failures is how many consecutive unavailable answers open the breaker (default 5).
	Failures uint32
	// OpenFor is how long the breaker stays open before it lets one probe
	// through (default 2s: a backend that returns serves again within about
	// that long, and a backend that is down sees one call per period).
	OpenFor  time.Duration
	Observer Observer
}

// Guard guards the calls of one backend.
type Guard struct {
	backend  string
	timeout  time.Duration
	breaker  *gobreaker.CircuitBreaker[any]
	observer Observer
	// connecting holds while the backend has not been reached (and its
	// schema ensured) yet: every call answers unavailable at once, as an
	// open breaker does, and never reaches the half-set-up store.
	connecting atomic.Bool
}

// errNotConnected is the cause of the answers of a guard still connecting.
var errNotConnected = errors.New("not connected yet: connecting in the background")

// New returns the guard of one backend (its name appears in errors and metrics).
func New(backend string, o Options) *Guard {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Failures == 0 {
		o.Failures = 5
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 2 * time.Second
	}
	g := &Guard{backend: backend, timeout: o.Timeout, observer: o.Observer}
	g.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        backend,
		Timeout:     o.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.Failures },
		// Only an unreachable or timed-out backend counts against it: a
		// missing id or a bad input is the backend answering well.
		IsSuccessful: func(err error) bool { return err == nil || !errors.Is(err, stores.ErrUnavailable) },
		// The caller giving up says nothing about the backend.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if g.observer != nil {
				g.observer.BreakerState(backend, to)
			}
		},
	})
	if g.observer != nil {
		g.observer.BreakerState(backend, gobreaker.StateClosed)
	}
	return g
}

// tracer makes a span of every guarded call when tracing is on (a no-op
// until the gateway installs a tracer provider).
var tracer = otel.Tracer("github.com/codingbrain/gateway")

// Backend is the name the guard reports.
func (g *Guard) Backend() string { return g.backend }

// State is the breaker's state, for readiness reports; a guard still
// connecting is open.
func (g *Guard) State() gobreaker.State {
	if g.connecting.Load() {
		return gobreaker.StateOpen
	}
	return g.breaker.State()
}

// Status names the state for /readyz: the breaker's, or "connecting".
func (g *Guard) Status() string {
	if g.connecting.Load() {
		return "connecting"
	}
	return g.breaker.State().String()
}

// Connecting makes every call answer unavailable without reaching the
// store until Connected: the backend could not be reached at start and is
// being connected in the background.
func (g *Guard) Connecting() {
	g.connecting.Store(true)
	if g.observer != nil {
		g.observer.BreakerState(g.backend, gobreaker.StateOpen)
	}
}

// Connected lets calls through again, with the breaker closed.
func (g *Guard) Connected() {
	if g.connecting.CompareAndSwap(true, false) && g.observer != nil {
		g.observer.BreakerState(g.backend, g.breaker.State())
	}
}

// call runs one store call under the guard. A deadline the call overran is
// the backend being unavailable; an open breaker answers at once.
func call[T any](ctx context.Context, g *Guard, operation string, f func(context.Context) (T, error)) (T, error) {
	start := time.Now()
	ctx, span := tracer.Start(ctx, "store "+g.backend+"."+operation, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", g.backend), attribute.String("db.operation", operation)))
	defer span.End()
	if g.connecting.Load() {
		err := stores.Unavailable(g.backend, errNotConnected)
		if g.observer != nil {
			g.observer.StoreCall(g.backend, operation, time.Since(start), err)
		}
		span.SetStatus(codes.Error, stores.PublicMessage(err))
		var zero T
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	res, err := g.breaker.Execute(func() (any, error) {
		v, err := f(ctx)
		if err != nil && !errors.Is(err, stores.ErrUnavailable) && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = stores.Unavailable(g.backend, err)
		}
		return v, err
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		err = stores.Unavailable(g.backend, err)
	}
	if g.observer != nil {
		g.observer.StoreCall(g.backend, operation, time.Since(start), err)
	}
	if err != nil {
		span.SetStatus(codes.Error, stores.PublicMessage(err))
		var zero T
		if v, ok := res.(T); ok {
			return v, err
		}
		return zero, err
	}
	return res.(T), nil
}

// run is call for operations that return only an error.
func run(ctx context.Context, g *Guard, operation string, f func(context.Context) error) error {
	_, err := call(ctx, g, operation, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// Run runs f under the guard (timeout, breaker, metrics) as operation: for
// calls that are no store method, such as the change queue's sends.
func (g *Guard) Run(ctx context.Context, operation string, f func(context.Context) error) error {
	return run(ctx, g, operation, f)
}
