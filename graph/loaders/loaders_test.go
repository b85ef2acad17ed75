package loaders_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestLoaders(t *testing.T) {
	bundle, err := embedded.New(time.Now).For(storetest.NewTenant())
	storetest.RequireNoError(t, err)
	ctx := context.Background()
	app, err := bundle.Memories.CreateApp(ctx, "loaders", "")
	storetest.RequireNoError(t, err)

	t.Run("a batch larger than a store call takes is split at stores.MaxBatchSize", func(t *testing.T) {
		var (
			mu      sync.Mutex
			batches []int
		)
		l := loaders.New(bundle, 50*time.Millisecond, func(name string, keys int) {
			mu.Lock()
			defer mu.Unlock()
			if name == "memory" {
				batches = append(batches, keys)
			}
		})
		ids := make([]uuid.UUID, stores.MaxBatchSize+50)
		for i := range ids {
			ids[i] = uuid.New()
		}
		if _, errs := l.Memory.LoadMany(ctx, ids)(); errs != nil {
			t.Fatal(errs)
		}
		mu.Lock()
		defer mu.Unlock()
		// How the keys past the first full batch are grouped depends on
		// the scheduler (the wait may end between two of them); the cap does not.
		total := 0
		for _, n := range batches {
			total += n
		}
		if total != len(ids) || slices.Max(batches) != stores.MaxBatchSize {
			t.Fatalf("batches of %v keys for %d keys, want none over %d", batches, len(ids), stores.MaxBatchSize)
		}
	})

	t.Run("renewed loaders do not answer from what the previous ones cached", func(t *testing.T) {
		m, err := bundle.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "first"})
		storetest.RequireNoError(t, err)
		lctx := loaders.NewContext(ctx, loaders.New(bundle, time.Millisecond, nil))
		load := func() string {
			got, err := loaders.For(lctx).Memory.Load(lctx, m.ID)()
			storetest.RequireNoError(t, err)
			return got.Content
		}
		if got := load(); got != "first" {
			t.Fatalf("loaded %q", got)
		}
		_, err = bundle.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("second")})
		storetest.RequireNoError(t, err)
		if got := load(); got != "first" {
			t.Fatalf("the request's loaders reloaded within one request: %q", got)
		}
		loaders.Renew(lctx)
		if got := load(); got != "second" {
			t.Fatalf("after Renew loaded %q, want the committed %q", got, "second")
		}
	})
}
