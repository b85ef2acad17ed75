package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// The in-process log of a hub without a database: positions, resuming, and
// the cursors it can no longer serve.
func TestResumeFromTheInProcessLog(t *testing.T) {
	hub := events.NewHub(0)
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	memory := uuid.New()
	publish := func(tenant stores.Tenant, version int64) {
		hub.Publish(stores.Change{Kind: stores.ChangeMemory, OrgID: tenant.OrgID, MemoryID: memory, Version: version})
	}
	resume := func(tenant stores.Tenant, after int64) (stores.ChangeStream, error) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return hub.Changes(tenant).Resume(ctx, after)
	}
	next := func(st stores.ChangeStream) stores.Change {
		t.Helper()
		select {
		case c := <-st.Changes():
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no change within 5s")
		}
		return stores.Change{}
	}

	for v := int64(1); v <= 3; v++ {
		publish(alice, v)
		publish(bob, v)
	}
	// Positions 1..6 alternate alice, bob: alice resuming after her first
	// change (position 1) gets her versions 2 and 3, then live ones.
	st, err := resume(alice, 1)
	storetest.RequireNoError(t, err)
	for _, want := range []int64{2, 3} {
		if c := next(st); c.OrgID != alice.OrgID || c.Version != want {
			t.Fatalf("got %+v, want alice's version %d", c, want)
		}
	}
	publish(bob, 4)
	publish(alice, 4)
	if c := next(st); c.OrgID != alice.OrgID || c.Version != 4 || c.Seq != 8 {
		t.Fatalf("live: got %+v, want alice's version 4 at position 8", c)
	}

	if _, err := resume(alice, 9); err == nil {
		t.Fatal("a position beyond the log was accepted")
	} else {
		storetest.RequireKind(t, err, stores.ErrInvalid)
	}
	for range events.DefaultMemoryLogSize {
		publish(bob, 5)
	}
	_, err = resume(alice, 1)
	storetest.RequireKind(t, err, stores.ErrExpired)
	st, err = resume(alice, 8)
	storetest.RequireNoError(t, err)
	publish(alice, 5)
	if c := next(st); c.OrgID != alice.OrgID || c.Version != 5 {
		t.Fatalf("after the log turned over: got %+v, want alice's version 5", c)
	}
}
