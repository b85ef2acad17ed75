// Package loaders builds the per-request dataloaders that batch the store
// calls of list fields: a page of 100 memories asks for its apps and its
// categories in one store call each, not 100. Loaders are made per request
// over the request's tenant-bound bundle and never shared between requests.
package loaders

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"
)

// TraverseKey asks for one symbol's neighbourhood.
type TraverseKey struct {
	SymbolID  string
	Direction stores.Direction
	Depth     int
	Kinds     string // sorted, comma-separated edge kinds; "" for all
}

// SessionKey asks for one episodic session's ranked items.
type SessionKey struct {
	SessionID string
	HalfLife  time.Duration
	Limit     int
}

// Loaders are the request's dataloaders. A nil value with a nil error means
// the key does not exist (or belongs to another tenant).
type Loaders struct {
	Memory           *dataloader.Loader[uuid.UUID, *stores.Memory]
	App              *dataloader.Loader[uuid.UUID, *stores.App]
	MemoryCategories *dataloader.Loader[uuid.UUID, []stores.Category]
	IndexStatus      *dataloader.Loader[uuid.UUID, []stores.IndexStatus]
	Experiment       *dataloader.Loader[uuid.UUID, *stores.Experiment]
	Variants         *dataloader.Loader[uuid.UUID, []stores.Variant]
	StatusHistory    *dataloader.Loader[uuid.UUID, []stores.StatusChange]
	Assignment       *dataloader.Loader[uuid.UUID, *stores.Assignment]
	Repo             *dataloader.Loader[string, *stores.CodeRepo]
	File             *dataloader.Loader[string, *stores.CodeFile]
	Symbol           *dataloader.Loader[string, *stores.CodeSymbol]
	RepoFiles        *dataloader.Loader[string, []stores.CodeFile]
	FileSymbols      *dataloader.Loader[string, []stores.CodeSymbol]
	Traverse         *dataloader.Loader[TraverseKey, []stores.Dependency]
	SessionItems     *dataloader.Loader[SessionKey, []stores.EpisodicItem]

	// primed holds the first element of each list a resolver produced with
	// every load of its selection already primed (MarkPrimed).
	primed sync.Map

	// How these were made, so that Renew can make fresh ones.
	bundle  *stores.Bundle
	wait    time.Duration
	observe BatchObserver
}

// maxBatch caps the keys of one store call. Every batch method accepts that
// many ids (stores.MaxBatchSize) and a page holds at most that many objects,
// so a request's batch is normally one call; a larger one (nested lists,
// aliases) is split instead of becoming one unbounded IN list or Cypher
// UNWIND that holds a connection for as long as it takes.
const maxBatch = stores.MaxBatchSize

// BatchObserver learns the size of every batch a loader sends (metrics);
// nil observes nothing.
type BatchObserver func(loader string, keys int)

// New builds the loaders over a tenant-bound bundle. wait is how long a
// loader collects keys before it calls the store; resolvers of one list run
// concurrently, so a short wait (under a millisecond) catches them all.
func New(b *stores.Bundle, wait time.Duration, observe BatchObserver) *Loaders {
	o := observer{wait: wait, observe: observe}
	return &Loaders{
		bundle: b, wait: wait, observe: observe,
		Memory:           byKey(o.named("memory"), b.Memories.MemoriesByID),
		App:              byKey(o.named("app"), b.Memories.AppsByID),
		MemoryCategories: listByKey(o.named("memoryCategories"), b.Memories.CategoriesByMemory),
		IndexStatus:      listByKey(o.named("indexStatus"), b.IndexStatus.IndexStatuses),
		Experiment:       byKey(o.named("experiment"), b.Experiments.ExperimentsByID),
		Variants:         listByKey(o.named("variants"), b.Experiments.VariantsByExperiment),
		StatusHistory:    listByKey(o.named("statusHistory"), b.Experiments.StatusHistory),
		Assignment:       byKey(o.named("assignment"), b.Experiments.Assignments),
		Repo:             byKey(o.named("repo"), b.CodeGraph.ReposByID),
		File:             byKey(o.named("file"), b.CodeGraph.FilesByID),
		Symbol:           byKey(o.named("symbol"), b.CodeGraph.SymbolsByID),
		RepoFiles:        listByKey(o.named("repoFiles"), b.CodeGraph.FilesByRepo),
		FileSymbols:      listByKey(o.named("fileSymbols"), b.CodeGraph.SymbolsByFile),
		Traverse:         grouped(o.named("traverse"), traverseGroup, traverseFetch(b.CodeGraph)),
		SessionItems:     grouped(o.named("sessionItems"), sessionGroup, sessionFetch(b.Episodic)),
	}
}

// observer carries the loaders' shared settings.
type observer struct {
	wait    time.Duration
	observe BatchObserver
	name    string
}

func (o observer) named(name string) observer { o.name = name; return o }

func (o observer) batch(keys int) {
	if o.observe != nil {
		o.observe(o.name, keys)
	}
}

// NewTraverseKey normalises the kinds so that equal requests share a key.
func NewTraverseKey(symbolID string, dir stores.Direction, depth int, kinds []stores.EdgeKind) TraverseKey {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	slices.Sort(names)
	return TraverseKey{SymbolID: symbolID, Direction: dir, Depth: depth, Kinds: strings.Join(slices.Compact(names), ",")}
}

type loadersKey struct{}

// NewContext returns ctx carrying the request's loaders.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	slot := &atomic.Pointer[Loaders]{}
	slot.Store(l)
	return context.WithValue(ctx, loadersKey{}, slot)
}

// For returns the request's loaders, nil outside an authenticated request.
func For(ctx context.Context) *Loaders {
	slot, _ := ctx.Value(loadersKey{}).(*atomic.Pointer[Loaders])
	if slot == nil {
		return nil
	}
	return slot.Load()
}

// Renew replaces the loaders of ctx with fresh ones over the same bundle. A
// subscription lives as long as its client: it renews them before each
// event, so that no event is answered from what an earlier one cached.
func Renew(ctx context.Context) {
	slot, _ := ctx.Value(loadersKey{}).(*atomic.Pointer[Loaders])
	if slot == nil {
		return
	}
	if l := slot.Load(); l != nil {
		slot.Store(New(l.bundle, l.wait, l.observe))
	}
}

// byKey makes a loader over a batch method that returns the existing keys in
// a map; missing keys load as nil.
func byKey[K comparable, V any](o observer, fetch func(context.Context, []K) (map[K]V, error)) *dataloader.Loader[K, *V] {
	return dataloader.NewBatchedLoader(func(ctx context.Context, keys []K) []*dataloader.Result[*V] {
		o.batch(len(keys))
		found, err := fetch(ctx, keys)
		results := make([]*dataloader.Result[*V], len(keys))
		for i, k := range keys {
			if err != nil {
				results[i] = &dataloader.Result[*V]{Error: err}
				continue
			}
			if v, ok := found[k]; ok {
				results[i] = &dataloader.Result[*V]{Data: &v}
			} else {
				results[i] = &dataloader.Result[*V]{}
			}
		}
		return results
	}, dataloader.WithWait[K, *V](o.wait), dataloader.WithBatchCapacity[K, *V](maxBatch))
}

// listByKey makes a loader over a batch method that returns a list per key;
// a key the store left out loads as an empty list.
func listByKey[K comparable, V any](o observer, fetch func(context.Context, []K) (map[K][]V, error)) *dataloader.Loader[K, []V] {
	return dataloader.NewBatchedLoader(func(ctx context.Context, keys []K) []*dataloader.Result[[]V] {
		o.batch(len(keys))
		found, err := fetch(ctx, keys)
		results := make([]*dataloader.Result[[]V], len(keys))
		for i, k := range keys {
			if err != nil {
				results[i] = &dataloader.Result[[]V]{Error: err}
				continue
			}
			v := found[k]
			if v == nil {
				v = []V{}
			}
			results[i] = &dataloader.Result[[]V]{Data: v}
		}
		return results
	}, dataloader.WithWait[K, []V](o.wait), dataloader.WithBatchCapacity[K, []V](maxBatch))
}

// grouped makes a loader whose keys carry parameters besides the id (depth,
// half-life): keys with equal parameters go to the store in one call.
func grouped[K comparable, G comparable, V any](o observer, group func(K) (G, string), fetch func(context.Context, G, []string) (map[string][]V, error)) *dataloader.Loader[K, []V] {
	return dataloader.NewBatchedLoader(func(ctx context.Context, keys []K) []*dataloader.Result[[]V] {
		o.batch(len(keys))
		ids := map[G][]string{}
		for _, k := range keys {
			g, id := group(k)
			ids[g] = append(ids[g], id)
		}
		found := map[G]map[string][]V{}
		errs := map[G]error{}
		for g, list := range ids {
			found[g], errs[g] = fetch(ctx, g, list)
		}
		results := make([]*dataloader.Result[[]V], len(keys))
		for i, k := range keys {
			g, id := group(k)
			if errs[g] != nil {
				results[i] = &dataloader.Result[[]V]{Error: errs[g]}
				continue
			}
			v := found[g][id]
			if v == nil {
				v = []V{}
			}
			results[i] = &dataloader.Result[[]V]{Data: v}
		}
		return results
	}, dataloader.WithWait[K, []V](o.wait), dataloader.WithBatchCapacity[K, []V](maxBatch))
}

type traverseParams struct {
	Direction stores.Direction
	Depth     int
	Kinds     string
}

func traverseGroup(k TraverseKey) (traverseParams, string) {
	return traverseParams{k.Direction, k.Depth, k.Kinds}, k.SymbolID
}

func traverseFetch(g stores.CodeGraphStore) func(context.Context, traverseParams, []string) (map[string][]stores.Dependency, error) {
	return func(ctx context.Context, p traverseParams, ids []string) (map[string][]stores.Dependency, error) {
		var kinds []stores.EdgeKind
		if p.Kinds != "" {
			for _, k := range strings.Split(p.Kinds, ",") {
				kinds = append(kinds, stores.EdgeKind(k))
			}
		}
		return g.Traverse(ctx, ids, p.Direction, kinds, p.Depth)
	}
}

type sessionParams struct {
	HalfLife time.Duration
	Limit    int
}

func sessionGroup(k SessionKey) (sessionParams, string) {
	return sessionParams{k.HalfLife, k.Limit}, k.SessionID
}

func sessionFetch(e stores.EpisodicStore) func(context.Context, sessionParams, []string) (map[string][]stores.EpisodicItem, error) {
	return func(ctx context.Context, p sessionParams, ids []string) (map[string][]stores.EpisodicItem, error) {
		return e.ItemsBySession(ctx, ids, p.HalfLife, p.Limit)
	}
}

// MarkPrimed records that the list starting at first needs no load that is
// not in the loaders' caches already: every element's fields answer without
// waiting, so the list can be marshalled without a goroutine per element
// (graph/execution.MarshalPrimedSlice).
func (l *Loaders) MarkPrimed(first any) { l.primed.Store(first, struct{}{}) }

// Primed reports whether MarkPrimed recorded the list starting at first.
func (l *Loaders) Primed(first any) bool {
	_, ok := l.primed.Load(first)
	return ok
}
