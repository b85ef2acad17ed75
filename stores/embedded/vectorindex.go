package embedded

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Embedder turns texts into vectors of one model (embeddings.OpenAI).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}

// vectorIndex embeds the backend's memories into a vector store in the
// background, the in-process stand-in for the outbox indexer's vector half:
// a write never waits for the embedding server, and a memory's VECTOR index
// status says where its vector is.
type vectorIndex struct {
	vectors  stores.VectorBackend
	embedder Embedder
	wake     chan struct{}

	mu      sync.Mutex
	pending map[uuid.UUID]vectorJob // the latest change of each memory not yet in the store
	status  map[uuid.UUID]stores.IndexStatus
}

// vectorJob is one memory's change to carry into the vector store.
type vectorJob struct {
	tenant  stores.Tenant
	id      uuid.UUID
	version int64
	content string // "" for a deletion
}

// vectorRetry is how long the worker waits after a failed batch.
const vectorRetry = time.Second

// IndexVectors embeds every memory written from now on with e into vectors
// (point id = memory id, payload source "memory", e's model), in a goroutine
// that stops with ctx. Call it once, before serving.
func (b *MemoryBackend) IndexVectors(ctx context.Context, vectors stores.VectorBackend, e Embedder) {
	v := &vectorIndex{vectors: vectors, embedder: e, wake: make(chan struct{}, 1),
		pending: map[uuid.UUID]vectorJob{}, status: map[uuid.UUID]stores.IndexStatus{}}
	b.mu.Lock()
	b.vectors = v
	b.mu.Unlock()
	go v.run(ctx)
}

// enqueue records a memory's change; the worker picks it up.
func (v *vectorIndex) enqueue(j vectorJob) {
	v.mu.Lock()
	v.pending[j.id] = j
	st := v.status[j.id]
	if st.State != stores.IndexFailed {
		st.State = stores.IndexPending
	}
	st.Index = stores.IndexVector
	v.status[j.id] = st
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// statusOf is a memory's VECTOR status.
func (v *vectorIndex) statusOf(id uuid.UUID) stores.IndexStatus {
	v.mu.Lock()
	defer v.mu.Unlock()
	st, ok := v.status[id]
	if !ok {
		return stores.IndexStatus{Index: stores.IndexVector, State: stores.IndexPending}
	}
	return st
}

func (v *vectorIndex) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.wake:
		}
		for v.pass(ctx) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(vectorRetry):
			}
		}
	}
}

// pass carries every pending change into the vector store, a tenant and a
// batch at a time; it reports whether some failed (they stay pending).
func (v *vectorIndex) pass(ctx context.Context) (failed bool) {
	v.mu.Lock()
	byTenant := map[stores.Tenant][]vectorJob{}
	for id, j := range v.pending {
		byTenant[j.tenant] = append(byTenant[j.tenant], j)
		delete(v.pending, id)
	}
	v.mu.Unlock()
	for tenant, jobs := range byTenant {
		for start := 0; start < len(jobs); start += stores.MaxBatchSize {
			batch := jobs[start:min(start+stores.MaxBatchSize, len(jobs))]
			err := v.write(ctx, tenant, batch)
			v.mu.Lock()
			for _, j := range batch {
				if _, newer := v.pending[j.id]; newer {
					continue
				}
				if err != nil {
					v.pending[j.id] = j
					v.status[j.id] = stores.IndexStatus{Index: stores.IndexVector, State: stores.IndexFailed, Version: v.status[j.id].Version}
					continue
				}
				v.status[j.id] = stores.IndexStatus{Index: stores.IndexVector, State: stores.IndexIndexed, Version: j.version}
			}
			v.mu.Unlock()
			if err != nil {
				slog.Warn("embedded: embedding memories failed; retrying", "memories", len(batch), "error", err)
				failed = true
			}
		}
	}
	return failed
}

// write embeds and upserts a batch's live memories and deletes its deleted ones.
func (v *vectorIndex) write(ctx context.Context, tenant stores.Tenant, batch []vectorJob) error {
	model := v.embedder.Model()
	store := v.vectors.Vectors(tenant)
	var live []vectorJob
	var gone []uuid.UUID
	for _, j := range batch {
		if j.content == "" {
			gone = append(gone, j.id)
		} else {
			live = append(live, j)
		}
	}
	if len(live) > 0 {
		texts := make([]string, len(live))
		for i, j := range live {
			texts[i] = j.content
		}
		vecs, err := v.embedder.Embed(ctx, texts)
		if err != nil {
			return err
		}
		points := make([]stores.VectorPoint, len(live))
		for i, j := range live {
			id := j.id
			points[i] = stores.VectorPoint{ID: id, MemoryID: &id, Vector: vecs[i], Payload: map[string]any{"source": "memory"}}
		}
		if err := store.UpsertVectors(ctx, model, points); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		if _, err := store.DeleteVectors(ctx, model, gone); err != nil {
			return err
		}
	}
	return nil
}
