package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestOutbox(t *testing.T) {
	b := backend(t)
	outbox := b.Outbox()

	t.Run("every change of a memory queues one entry in the same transaction, without content", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		tenant := storetest.NewTenant()
		ms := b.Memories(tenant)
		app, err := ms.CreateApp(ctx, "outbox", "")
		storetest.RequireNoError(t, err)
		m, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "queued"})
		storetest.RequireNoError(t, err)
		_, err = ms.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("changed")})
		storetest.RequireNoError(t, err)
		_, err = ms.SetMemoryState(ctx, m.ID, stores.MemoryPaused, nil)
		storetest.RequireNoError(t, err)
		_, err = ms.DeleteMemory(ctx, m.ID, nil)
		storetest.RequireNoError(t, err)
		// A refused change queues nothing.
		_, err = ms.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 4, Content: new("too late")})
		storetest.RequireKind(t, err, stores.ErrConflict)

		pending, err := outbox.Pending(ctx, tenant.OrgID, []uuid.UUID{m.ID})
		storetest.RequireNoError(t, err)
		var got []string
		for _, e := range pending[m.ID] {
			if e.OrgID != tenant.OrgID || e.MemoryID != m.ID {
				t.Fatalf("entry %+v belongs elsewhere", e)
			}
			got = append(got, string(e.Op)+"@"+string(rune('0'+e.MemoryVersion)))
		}
		if want := []string{"upsert@1", "upsert@2", "upsert@3", "delete@4"}; !slices.Equal(got, want) {
			t.Fatalf("queued %v, want %v", got, want)
		}
		other, err := outbox.Pending(ctx, uuid.New(), []uuid.UUID{m.ID})
		storetest.RequireNoError(t, err)
		if len(other[m.ID]) != 0 {
			t.Fatalf("another org sees the entries %+v", other[m.ID])
		}
	})

	t.Run("two claimers at once get disjoint entries, and completed entries are gone", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		tenant := storetest.NewTenant()
		ms := b.Memories(tenant)
		app, err := ms.CreateApp(ctx, "claims", "")
		storetest.RequireNoError(t, err)
		batch := make([]stores.NewMemory, 40)
		for i := range batch {
			batch[i] = stores.NewMemory{AppID: app.ID, Content: "claim me"}
		}
		created, err := ms.CreateMemories(ctx, batch)
		storetest.RequireNoError(t, err)

		claimed := make([][]stores.OutboxEntry, 2)
		var wg sync.WaitGroup
		for w := range claimed {
			wg.Go(func() {
				for {
					got, err := outbox.Claim(ctx, 3, time.Minute, []uuid.UUID{tenant.OrgID})
					if err != nil {
						t.Errorf("claimer %d: %v", w, err)
						return
					}
					if len(got) == 0 {
						return
					}
					claimed[w] = append(claimed[w], got...)
				}
			})
		}
		wg.Wait()
		seen := map[int64]int{}
		mine := map[uuid.UUID]int64{}
		for w, entries := range claimed {
			for _, e := range entries {
				if prev, dup := seen[e.ID]; dup {
					t.Fatalf("entry %d was claimed by claimers %d and %d", e.ID, prev, w)
				}
				seen[e.ID] = w
				if e.OrgID == tenant.OrgID {
					if e.Attempts != 1 || e.Op != "upsert" || e.MemoryVersion != 1 {
						t.Fatalf("claimed entry %+v", e)
					}
					mine[e.MemoryID] = e.ID
				}
			}
		}
		if len(mine) != len(created) {
			t.Fatalf("claimed %d of the org's %d entries", len(mine), len(created))
		}
		ids := make([]int64, 0, len(mine))
		memoryIDs := make([]uuid.UUID, 0, len(mine))
		for memoryID, id := range mine {
			ids = append(ids, id)
			memoryIDs = append(memoryIDs, memoryID)
		}
		storetest.RequireNoError(t, outbox.Complete(ctx, ids))
		pending, err := outbox.Pending(ctx, tenant.OrgID, memoryIDs)
		storetest.RequireNoError(t, err)
		for id, entries := range pending {
			if len(entries) != 0 {
				t.Fatalf("memory %s still has %+v after completion", id, entries)
			}
		}
	})

	t.Run("a failed entry comes back after its retry time, a parked one never", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		tenant := storetest.NewTenant()
		ms := b.Memories(tenant)
		app, err := ms.CreateApp(ctx, "failures", "")
		storetest.RequireNoError(t, err)
		created, err := ms.CreateMemories(ctx, []stores.NewMemory{{AppID: app.ID, Content: "retry"}, {AppID: app.ID, Content: "park"}})
		storetest.RequireNoError(t, err)
		entry := func(memoryID uuid.UUID) stores.OutboxEntry {
			t.Helper()
			pending, err := outbox.Pending(ctx, tenant.OrgID, []uuid.UUID{memoryID})
			storetest.RequireNoError(t, err)
			if len(pending[memoryID]) != 1 {
				t.Fatalf("pending %+v", pending)
			}
			return pending[memoryID][0]
		}
		retry, park := entry(created[0].ID), entry(created[1].ID)
		storetest.RequireNoError(t, outbox.Fail(ctx, retry.ID, "opensearch down", time.Now().Add(300*time.Millisecond), false))
		storetest.RequireNoError(t, outbox.Fail(ctx, park.ID, "malformed", time.Now(), true))
		if got := entry(created[0].ID); got.LastError != "opensearch down" || got.ParkedAt != nil {
			t.Fatalf("failed entry %+v", got)
		}
		if got := entry(created[1].ID); got.LastError != "malformed" || got.ParkedAt == nil {
			t.Fatalf("parked entry %+v", got)
		}
		var back bool
		storetest.Eventually(t, 10*time.Second, "the failed entry to be claimable again", func() bool {
			got, err := outbox.Claim(ctx, 1000, time.Minute, []uuid.UUID{tenant.OrgID})
			storetest.RequireNoError(t, err)
			for _, e := range got {
				if e.ID == park.ID {
					t.Fatalf("a parked entry was claimed: %+v", e)
				}
				back = back || e.ID == retry.ID
			}
			return back
		})
		storetest.RequireNoError(t, outbox.Complete(ctx, []int64{retry.ID, park.ID}))
	})
}
