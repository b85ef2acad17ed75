package embedded

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestEpisodicContract(t *testing.T) {
	storetest.RunEpisodic(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{Episodic: NewEpisodicBackend(clock.Now)},
			Advance:  clock.Advance,
		}
	})
}

func TestEpisodicEqualScoresRankByID(t *testing.T) {
	clock := storetest.NewManualClock()
	st := NewEpisodicBackend(clock.Now).Episodic(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	for _, id := range []string{"c", "a", "b"} {
		_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: id, Content: id, TTL: time.Hour})
		storetest.RequireNoError(t, err)
	}
	clock.Advance(15 * time.Minute)
	items, err := st.SessionItems(ctx, "s", 15*time.Minute, 10, false)
	storetest.RequireNoError(t, err)
	if len(items) != 3 || items[0].ID != "a" || items[1].ID != "b" || items[2].ID != "c" {
		t.Fatalf("items %+v, want a, b, c", items)
	}
	for _, it := range items {
		if it.Score != 0.5 {
			t.Fatalf("score %v one half-life later, want exactly 0.5", it.Score)
		}
	}
}

func TestEpisodicIncompleteTenantIsRefused(t *testing.T) {
	st := NewEpisodicBackend(nil).Episodic(stores.Tenant{})
	ctx := storetest.Ctx(t)
	_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{Content: "c", TTL: time.Minute})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	_, err = st.Sessions(ctx)
	storetest.RequireKind(t, err, stores.ErrInvalid)
}

func TestEpisodicExpiredItemsAreSweptInBoundedSteps(t *testing.T) {
	clock := storetest.NewManualClock()
	b := NewEpisodicBackend(clock.Now)
	ctx := storetest.Ctx(t)
	// Many users with one short-lived item each: nobody reads their session
	// again, so only the sweep can free them.
	const users = 3 * episodicSweepBatch
	for i := 0; i < users; i++ {
		st := b.Episodic(storetest.NewTenant())
		_, err := st.PutItem(ctx, fmt.Sprintf("s%d", i), stores.NewEpisodicItem{Content: "c", TTL: time.Second})
		storetest.RequireNoError(t, err)
	}
	clock.Advance(2 * time.Second)
	writer := b.Episodic(storetest.NewTenant())
	for round := 1; round <= 3; round++ {
		_, err := writer.PutItem(ctx, "w", stores.NewEpisodicItem{ID: "w", Content: "c", TTL: time.Hour})
		storetest.RequireNoError(t, err)
		b.mu.RLock()
		left := len(b.tenants)
		b.mu.RUnlock()
		// Each write removes at most one batch; the writer's own tenant stays.
		if want := users - round*episodicSweepBatch + 1; left != want {
			t.Fatalf("after write %d: %d tenants stored, want %d", round, left, want)
		}
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.count != 1 {
		t.Fatalf("%d items counted, want the writer's one", b.count)
	}
}

func TestEpisodicReplacingAnItemKeepsTheExpiryHeapSmall(t *testing.T) {
	b := NewEpisodicBackend(storetest.NewManualClock().Now)
	st := b.Episodic(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	for i := 0; i < 10000; i++ {
		_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: "same", Content: "c", TTL: time.Hour})
		storetest.RequireNoError(t, err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if n := len(b.expiry); n > 2*b.count+1025 {
		t.Fatalf("%d expiry entries for %d items", n, b.count)
	}
}

func TestEpisodicConcurrentUse(t *testing.T) {
	b := NewEpisodicBackend(nil)
	tenant := storetest.NewTenant()
	ctx := storetest.Ctx(t)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := b.Episodic(tenant)
			for i := 0; i < 100; i++ {
				_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: fmt.Sprintf("w%d-%d", w, i%10), Content: "c", TTL: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := st.SessionItems(ctx, "s", time.Minute, 5, i%2 == 0); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.Sessions(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	items, err := b.Episodic(tenant).SessionItems(ctx, "s", time.Minute, stores.MaxSessionItems, false)
	storetest.RequireNoError(t, err)
	if len(items) != 80 {
		t.Fatalf("%d items, want 80", len(items))
	}
}
