package guarded

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/sony/gobreaker/v2"
)

type recorder struct {
	mu     sync.Mutex
	calls  []string
	states []gobreaker.State
}

func (r *recorder) StoreCall(backend, op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, backend+"."+op)
}

func (r *recorder) BreakerState(_ string, s gobreaker.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func TestGuard(t *testing.T) {
	down := stores.Unavailable("postgres", errors.New("connection refused"))

	t.Run("consecutive unavailable answers open the breaker, which then fails fast", func(t *testing.T) {
		obs := &recorder{}
		g := New("postgres", Options{Failures: 3, OpenFor: time.Hour, Observer: obs})
		reached := 0
		for range 3 {
			_ = run(context.Background(), g, "Op", func(context.Context) error { reached++; return down })
		}
		err := run(context.Background(), g, "Op", func(context.Context) error { reached++; return nil })
		if !errors.Is(err, stores.ErrUnavailable) || reached != 3 || g.State() != gobreaker.StateOpen {
			t.Fatalf("err %v, reached %d, state %v", err, reached, g.State())
		}
		if stores.PublicMessage(err) != "postgres is unavailable" {
			t.Fatalf("message %q", stores.PublicMessage(err))
		}
		if last := obs.states[len(obs.states)-1]; last != gobreaker.StateOpen {
			t.Fatalf("observer saw %v", obs.states)
		}
	})
	t.Run("not-found and invalid answers do not trip the breaker", func(t *testing.T) {
		g := New("postgres", Options{Failures: 2, OpenFor: time.Hour})
		for range 5 {
			_ = run(context.Background(), g, "Op", func(context.Context) error { return stores.NotFound("no such memory") })
			_ = run(context.Background(), g, "Op", func(context.Context) error { return stores.Invalid("bad") })
		}
		if g.State() != gobreaker.StateClosed {
			t.Fatalf("state %v", g.State())
		}
	})
	t.Run("a call that overruns the timeout is unavailable", func(t *testing.T) {
		g := New("neo4j", Options{Timeout: 20 * time.Millisecond})
		err := run(context.Background(), g, "Slow", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, stores.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a half-open breaker closes again when the backend answers", func(t *testing.T) {
		g := New("valkey", Options{Failures: 1, OpenFor: 10 * time.Millisecond})
		_ = run(context.Background(), g, "Op", func(context.Context) error { return down })
		storetest.Eventually(t, 2*time.Second, "the breaker to let a probe through", func() bool {
			return run(context.Background(), g, "Op", func(context.Context) error { return nil }) == nil
		})
		if g.State() != gobreaker.StateClosed {
			t.Fatalf("state %v", g.State())
		}
	})
	t.Run("a guard still connecting answers unavailable without reaching the store, then lets calls through", func(t *testing.T) {
		obs := &recorder{}
		g := New("qdrant", Options{Observer: obs})
		g.Connecting()
		reached := 0
		err := run(context.Background(), g, "Op", func(context.Context) error { reached++; return nil })
		if !errors.Is(err, stores.ErrUnavailable) || stores.PublicMessage(err) != "qdrant is unavailable" || reached != 0 {
			t.Fatalf("err %v, reached %d", err, reached)
		}
		if g.Status() != "connecting" || g.State() != gobreaker.StateOpen {
			t.Fatalf("status %s, state %v", g.Status(), g.State())
		}
		g.Connected()
		if err := run(context.Background(), g, "Op", func(context.Context) error { reached++; return nil }); err != nil || reached != 1 {
			t.Fatalf("after Connected: err %v, reached %d", err, reached)
		}
		if g.Status() != "closed" || obs.states[len(obs.states)-1] != gobreaker.StateClosed {
			t.Fatalf("status %s, observer saw %v", g.Status(), obs.states)
		}
	})
}

// TestWrappedEmbeddedPassesTheContract runs the contract suite through the
// wrappers, so every wrapper passes its arguments and results unchanged.
func TestWrappedEmbeddedPassesTheContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		b := embedded.New(clock.Now)
		return storetest.Harness{Backends: Wrap(b, New("embedded", Options{})), Advance: clock.Advance}
	})
}
