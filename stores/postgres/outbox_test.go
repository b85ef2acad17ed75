package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
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
					got, err := outbox.Claim(ctx, stores.IndexFullText, 3, time.Minute, []uuid.UUID{tenant.OrgID})
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
		storetest.RequireNoError(t, outbox.Fail(ctx, []stores.OutboxFailure{
			{ID: retry.ID, Reason: "opensearch down", RetryAt: time.Now().Add(300 * time.Millisecond)},
			{ID: park.ID, Reason: "malformed", RetryAt: time.Now(), Park: true},
		}))
		if got := entry(created[0].ID); got.LastError != "opensearch down" || got.ParkedAt != nil {
			t.Fatalf("failed entry %+v", got)
		}
		if got := entry(created[1].ID); got.LastError != "malformed" || got.ParkedAt == nil {
			t.Fatalf("parked entry %+v", got)
		}
		var back bool
		storetest.Eventually(t, 10*time.Second, "the failed entry to be claimable again", func() bool {
			got, err := outbox.Claim(ctx, stores.IndexFullText, 1000, time.Minute, []uuid.UUID{tenant.OrgID})
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

	t.Run("a renewed lease keeps a slow claimer's entry from the others; an expired one frees it", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		tenant := storetest.NewTenant()
		ms := b.Memories(tenant)
		app, err := ms.CreateApp(ctx, "leases", "")
		storetest.RequireNoError(t, err)
		_, err = ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "leased"})
		storetest.RequireNoError(t, err)
		orgs := []uuid.UUID{tenant.OrgID}
		claimed, err := outbox.Claim(ctx, stores.IndexFullText, 10, 300*time.Millisecond, orgs)
		storetest.RequireNoError(t, err)
		if len(claimed) != 1 {
			t.Fatalf("claimed %+v", claimed)
		}
		storetest.RequireNoError(t, outbox.Extend(ctx, []int64{claimed[0].ID}, time.Minute))
		// Past the first lease, nobody gets the entry...
		storetest.Eventually(t, 5*time.Second, "the first lease to end", func() bool { return time.Now().After(claimed[0].AvailableAt) })
		again, err := outbox.Claim(ctx, stores.IndexFullText, 10, time.Minute, orgs)
		storetest.RequireNoError(t, err)
		if len(again) != 0 {
			t.Fatalf("a renewed entry was claimed again: %+v", again)
		}
		// ...and once a short renewal ends, the next claimer does.
		storetest.RequireNoError(t, outbox.Extend(ctx, []int64{claimed[0].ID}, 200*time.Millisecond))
		storetest.Eventually(t, 5*time.Second, "the entry to come back", func() bool {
			got, err := outbox.Claim(ctx, stores.IndexFullText, 10, time.Minute, orgs)
			storetest.RequireNoError(t, err)
			if len(got) == 1 {
				storetest.RequireNoError(t, outbox.Complete(ctx, []int64{got[0].ID}))
			}
			return len(got) == 1
		})
	})

	t.Run("each index has its own entries and status; parked entries are listed with their reason and re-queued by Retry", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		both := bothIndexes(t)
		outbox := both.Outbox()
		tenant := storetest.NewTenant()
		ms := both.Memories(tenant)
		app, err := ms.CreateApp(ctx, "per-index", "")
		storetest.RequireNoError(t, err)
		m, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "two lanes"})
		storetest.RequireNoError(t, err)
		status := func() map[stores.IndexName]stores.IndexStatus {
			t.Helper()
			got, err := both.IndexStatus(tenant).IndexStatuses(ctx, []uuid.UUID{m.ID})
			storetest.RequireNoError(t, err)
			out := map[stores.IndexName]stores.IndexStatus{}
			for _, s := range got[m.ID] {
				out[s.Index] = s
			}
			if len(out) != 2 {
				t.Fatalf("status %+v, want one per index", got[m.ID])
			}
			return out
		}
		if s := status(); s[stores.IndexFullText].State != stores.IndexPending || s[stores.IndexVector].State != stores.IndexPending || s[stores.IndexVector].Version != 0 {
			t.Fatalf("new memory's status %+v", s)
		}
		claim := func(index stores.IndexName) stores.OutboxEntry {
			t.Helper()
			got, err := outbox.Claim(ctx, index, 10, time.Minute, []uuid.UUID{tenant.OrgID})
			storetest.RequireNoError(t, err)
			if len(got) != 1 || got[0].Index != index || got[0].MemoryID != m.ID {
				t.Fatalf("claimed %+v from %s", got, index)
			}
			return got[0]
		}
		storetest.RequireNoError(t, outbox.Complete(ctx, []int64{claim(stores.IndexFullText).ID}))
		s := status()
		if s[stores.IndexFullText] != (stores.IndexStatus{Index: stores.IndexFullText, State: stores.IndexIndexed, Version: 1}) ||
			s[stores.IndexVector] != (stores.IndexStatus{Index: stores.IndexVector, State: stores.IndexPending, Version: 0}) {
			t.Fatalf("full text applied, vector waiting: %+v", s)
		}
		vector := claim(stores.IndexVector)
		storetest.RequireNoError(t, outbox.Fail(ctx, []stores.OutboxFailure{{ID: vector.ID, Reason: "vector dimension mismatch", RetryAt: time.Now(), Park: true}}))
		if s := status(); s[stores.IndexVector].State != stores.IndexFailed {
			t.Fatalf("parked vector entry: %+v", s)
		}
		lags, err := outbox.Status(ctx)
		storetest.RequireNoError(t, err)
		var listed bool
		for _, l := range lags {
			if l.OrgID == tenant.OrgID {
				if l.Index != stores.IndexVector || l.Parked != 1 || l.Pending != 0 || l.LastError != "vector dimension mismatch" {
					t.Fatalf("status line %+v", l)
				}
				listed = true
			}
		}
		if !listed {
			t.Fatal("the parked entry's org is not in the status")
		}
		n, err := outbox.Retry(ctx, []uuid.UUID{tenant.OrgID})
		storetest.RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("retry re-queued %d entries, want 1", n)
		}
		if s := status(); s[stores.IndexVector].State != stores.IndexPending {
			t.Fatalf("re-queued vector entry: %+v", s)
		}
		storetest.RequireNoError(t, outbox.Complete(ctx, []int64{claim(stores.IndexVector).ID}))
		if s := status(); s[stores.IndexVector].State != stores.IndexIndexed || s[stores.IndexVector].Version != 1 {
			t.Fatalf("vector applied: %+v", s)
		}
	})

	t.Run("Reindex queues every memory of the org, private and deleted ones included, page by page", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		tenant := storetest.NewTenant()
		other := storetest.SameOrgOtherUser(tenant)
		ms := b.Memories(tenant)
		app, err := ms.CreateApp(ctx, "reindex", "")
		storetest.RequireNoError(t, err)
		created, err := ms.CreateMemories(ctx, []stores.NewMemory{{AppID: app.ID, Content: "a"}, {AppID: app.ID, Content: "b"}, {AppID: app.ID, Content: "c"}})
		storetest.RequireNoError(t, err)
		private, err := b.Memories(other).CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "secret", Visibility: stores.VisibilityPrivate})
		storetest.RequireNoError(t, err)
		_, err = ms.DeleteMemory(ctx, created[2].ID, nil)
		storetest.RequireNoError(t, err)
		ids := []uuid.UUID{created[0].ID, created[1].ID, created[2].ID, private.ID}
		drain := func() {
			t.Helper()
			for {
				got, err := outbox.Claim(ctx, stores.IndexFullText, 100, time.Minute, []uuid.UUID{tenant.OrgID})
				storetest.RequireNoError(t, err)
				if len(got) == 0 {
					return
				}
				done := make([]int64, len(got))
				for i, e := range got {
					done[i] = e.ID
				}
				storetest.RequireNoError(t, outbox.Complete(ctx, done))
			}
		}
		drain()
		var progress [][2]int64
		storetest.RequireNoError(t, outbox.Reindex(ctx, tenant.OrgID, []stores.IndexName{stores.IndexFullText}, 3, func(done, total int64) {
			progress = append(progress, [2]int64{done, total})
		}))
		if !slices.Equal(progress, [][2]int64{{3, 4}, {4, 4}}) {
			t.Fatalf("progress %v, want [[3 4] [4 4]]", progress)
		}
		pending, err := outbox.Pending(ctx, tenant.OrgID, ids)
		storetest.RequireNoError(t, err)
		for i, id := range ids {
			want := stores.ChangeOp("upsert")
			if i == 2 {
				want = "delete"
			}
			if len(pending[id]) != 1 || pending[id][0].Op != want || pending[id][0].Index != stores.IndexFullText {
				t.Fatalf("memory %d queued %+v, want one %s", i, pending[id], want)
			}
		}
		if pending[private.ID][0].AuthorID != other.UserID {
			t.Fatalf("the private memory is queued under %s, not its author", pending[private.ID][0].AuthorID)
		}
		drain()
	})
}

// bothIndexes opens a backend that keeps full text and vectors.
func bothIndexes(t *testing.T) *postgres.Backend {
	t.Helper()
	backend(t) // migrated
	b, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL"), Indexes: []stores.IndexName{stores.IndexFullText, stores.IndexVector}})
	storetest.RequireNoError(t, err)
	t.Cleanup(b.Close)
	return b
}
