// Package storetest is the contract suite every implementation of the stores
// interfaces must pass: stores/embedded in `go test ./...`, and each real
// backend against its server. It checks what a user of the gateway would
// notice: missing things answer ErrNotFound (or absence, as the interface
// says), empty lists are not nil, pages are stable, errors are typed, and
// another tenant's data is invisible and unchangeable by every operation.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Harness is what a backend's test hands the suite.
type Harness struct {
	// Backends under test; a nil field means the implementation does not
	// serve that domain and its suite is not run.
	Backends stores.Backends
	// Advance moves the stores' clock forward. It is nil for real servers,
	// whose clock cannot be moved: time-dependent tests then use short real
	// durations and poll with a deadline.
	Advance func(d time.Duration)
}

// NewHarness builds a fresh harness for one test. Tests isolate themselves by
// using fresh random tenants, so a harness may share one server.
type NewHarness func(t *testing.T) Harness

// Run runs the suite of every domain the harness serves.
func Run(t *testing.T, newHarness NewHarness) {
	suites := []struct {
		name   string
		served func(stores.Backends) bool
		run    func(*testing.T, NewHarness)
	}{
		{"memories", func(b stores.Backends) bool { return b.Memories != nil }, RunMemories},
		{"feedback", func(b stores.Backends) bool { return b.Feedback != nil }, RunFeedback},
		{"experiments", func(b stores.Backends) bool { return b.Experiments != nil }, RunExperiments},
		{"episodic", func(b stores.Backends) bool { return b.Episodic != nil }, RunEpisodic},
		{"codegraph", func(b stores.Backends) bool { return b.CodeGraph != nil }, RunCodeGraph},
		{"vectors", func(b stores.Backends) bool { return b.Vectors != nil }, RunVectors},
		{"fulltext", func(b stores.Backends) bool { return b.FullText != nil }, RunFullText},
	}
	probe := newHarness(t)
	for _, s := range suites {
		if s.served(probe.Backends) {
			t.Run(s.name, func(t *testing.T) { s.run(t, newHarness) })
		}
	}
}

// NewTenant returns a tenant with fresh random ids.
func NewTenant() stores.Tenant {
	return stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()}
}

// SameOrgOtherUser returns another user of t's organisation.
func SameOrgOtherUser(t stores.Tenant) stores.Tenant {
	return stores.Tenant{OrgID: t.OrgID, UserID: uuid.New()}
}

// Ctx returns a context that ends with the test, bounded so that a hung
// backend fails the test instead of hanging it.
func Ctx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// RequireKind fails the test unless err is of the given kind (stores.ErrNotFound, ...).
func RequireKind(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want one of kind %q", err, kind)
	}
	if stores.PublicMessage(err) == "" {
		t.Fatalf("error %v carries no client-safe message", err)
	}
}

// RequireNoError fails the test on a non-nil error.
func RequireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// Eventually polls cond until it returns true or the deadline passes: the
// way to wait for a real server's TTL without a fixed sleep.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ManualClock is a clock a test moves by hand, for in-process stores.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock starts a clock at a fixed, arbitrary instant.
func NewManualClock() *ManualClock {
	return &ManualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Wait lets d pass for the stores under test: on the manual clock when the
// harness has one, otherwise in real time, polled.
func (h Harness) Wait(t testing.TB, d time.Duration) {
	t.Helper()
	if h.Advance != nil {
		h.Advance(d)
		return
	}
	until := time.Now().Add(d)
	Eventually(t, d+5*time.Second, "time passing", func() bool { return time.Now().After(until) })
}

// Bundle binds every served backend to tenant, failing the test on error.
func (h Harness) Bundle(t testing.TB, tenant stores.Tenant) *stores.Bundle {
	t.Helper()
	b := h.Backends
	bundle := &stores.Bundle{Tenant: tenant}
	if b.Memories != nil {
		bundle.Memories = b.Memories.Memories(tenant)
	}
	if b.Feedback != nil {
		bundle.Feedback = b.Feedback.Feedback(tenant)
	}
	if b.Experiments != nil {
		bundle.Experiments = b.Experiments.Experiments(tenant)
	}
	if b.Episodic != nil {
		bundle.Episodic = b.Episodic.Episodic(tenant)
	}
	if b.CodeGraph != nil {
		bundle.CodeGraph = b.CodeGraph.CodeGraph(tenant)
	}
	if b.Vectors != nil {
		bundle.Vectors = b.Vectors.Vectors(tenant)
	}
	if b.FullText != nil {
		bundle.FullText = b.FullText.FullText(tenant)
	}
	return bundle
}
