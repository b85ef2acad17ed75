package valkey

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSharedRateLimit(t *testing.T) {
	l := openTest(t).Limits()
	ctx := context.Background()
	key := "test:" + uuid.NewString()
	// A bucket of 5 at 1 a second: the burst goes, the next waits about a second.
	for i := range 5 {
		ok, _, err := l.Allow(ctx, key, 1, 5)
		if err != nil || !ok {
			t.Fatalf("request %d of the burst: ok=%v err=%v", i, ok, err)
		}
	}
	ok, wait, err := l.Allow(ctx, key, 1, 5)
	if err != nil || ok || wait <= 0 || wait > time.Second {
		t.Fatalf("past the burst: ok=%v wait=%v err=%v", ok, wait, err)
	}
	// Another key has its own bucket.
	if ok, _, err := l.Allow(ctx, key+"-other", 1, 5); err != nil || !ok {
		t.Fatalf("another key: ok=%v err=%v", ok, err)
	}
	// After the wait, one more goes.
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, _, err := l.Allow(ctx, key, 1, 5)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bucket never refilled")
		}
		time.Sleep(50 * time.Millisecond) // polling the refill, the thing under test, not synchronising
	}
}

func TestSharedConnectionCaps(t *testing.T) {
	l := openTest(t).Limits()
	ctx := context.Background()
	org := uuid.NewString()
	acquire := func(id string, lease time.Duration) bool {
		t.Helper()
		ok, err := l.AcquireConnection(ctx, org, id, 2, lease)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire("a", time.Minute) || !acquire("b", time.Minute) {
		t.Fatal("the first two connections were refused")
	}
	if acquire("c", time.Minute) {
		t.Fatal("a third connection was admitted past the limit of 2")
	}
	if !acquire("a", time.Minute) {
		t.Fatal("renewing an admitted connection was refused")
	}
	if err := l.ReleaseConnection(ctx, org, "b"); err != nil {
		t.Fatal(err)
	}
	if !acquire("c", 200*time.Millisecond) {
		t.Fatal("a released place was not given to the next connection")
	}
	// A lease that is not renewed (its replica died) stops counting.
	deadline := time.Now().Add(3 * time.Second)
	for !acquire("d", time.Minute) {
		if time.Now().After(deadline) {
			t.Fatal("an expired lease still counts")
		}
		time.Sleep(50 * time.Millisecond) // polling the expiry, the thing under test
	}
}

func TestSharedPersistedQueries(t *testing.T) {
	apq := openTest(t).Limits().PersistedQueries()
	ctx := context.Background()
	hash := uuid.NewString()
	if _, ok := apq.Get(ctx, hash); ok {
		t.Fatal("an unknown hash was found")
	}
	apq.Add(ctx, hash, "{ viewer { orgId } }")
	if doc, ok := apq.Get(ctx, hash); !ok || doc != "{ viewer { orgId } }" {
		t.Fatalf("got %q %v", doc, ok)
	}
}
