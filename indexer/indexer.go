// Package indexer drains the outbox of memory changes into the derived
// indexes: the full-text store (and, with an embedder, the vector store). A
// memory write commits its row and an outbox entry in one transaction; the
// indexer then makes the memory searchable. It is idempotent by memory id (a
// document's id is its memory's id, and it always indexes the memory as it
// is now), retries with backoff while an index is down, and parks an entry
// after MaxAttempts so one poison row cannot block the rest. Several gateway
// replicas can run it at once: claiming uses FOR UPDATE SKIP LOCKED.
package indexer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Embedder turns memory content into vectors (embeddings.OpenAI).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}

// Observer learns the backlog after every pass (metrics); optional.
type Observer interface {
	Outbox(pending int, oldest time.Duration)
}

// Options tune the indexer; zero values take the defaults.
type Options struct {
	Batch       int           // entries per claim (default 100)
	Lease       time.Duration // how long a claim holds entries (default 30s)
	Poll        time.Duration // pause when the outbox is empty (default 200ms)
	MaxAttempts int           // attempts before an entry is parked (default 10)
	MaxBackoff  time.Duration // cap of the retry delay (default 1m)
	Parallel    int           // orgs indexed at once within a pass (default 16)
	// Orgs, when set, dedicates the indexer to these organisations (tests,
	// or a separate indexer for a large tenant); nil serves every one.
	Orgs []uuid.UUID
	// Embedder, when set, also keeps a vector per memory (model Embedder.Model()).
	Embedder Embedder
	Observer Observer
	Logger   *slog.Logger
}

// Indexer drains an outbox into the tenant's derived stores.
type Indexer struct {
	queue    stores.Outbox
	backends stores.Backends
	opt      Options
	wake     chan struct{}
}

// indexerUser is the user the indexer acts as for entries without an
// author: it reads every ORG memory of the org; a fixed id makes the
// indexer's reads recognisable in logs.
var indexerUser = uuid.MustParse("00000000-0000-4000-8000-1d3e7e000001")

// New returns an indexer over the outbox writing through backends.
func New(queue stores.Outbox, backends stores.Backends, opt Options) *Indexer {
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	if opt.Lease <= 0 {
		opt.Lease = 30 * time.Second
	}
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 16
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Indexer{queue: queue, backends: backends, opt: opt, wake: make(chan struct{}, 1)}
}

// Wake asks the indexer to look at the outbox now instead of at its next
// poll (after a local write, or a notification from another replica).
func (ix *Indexer) Wake() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// Run drains the outbox until ctx ends. A pass in flight when ctx ends is
// finished, not abandoned (its store calls are bounded by their own
// timeouts), so a graceful shutdown leaves no half-applied batch.
func (ix *Indexer) Run(ctx context.Context) error {
	for {
		n, err := ix.Pass(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			ix.opt.Logger.WarnContext(ctx, "outbox pass failed", "error", err.Error())
		}
		if n == ix.opt.Batch {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ix.wake:
		case <-time.After(ix.opt.Poll):
		}
	}
}

// Pass claims one batch and indexes it; it returns how many entries it claimed.
func (ix *Indexer) Pass(ctx context.Context) (int, error) {
	entries, err := ix.queue.Claim(ctx, ix.opt.Batch, ix.opt.Lease, ix.opt.Orgs)
	if err != nil {
		return 0, err
	}
	byOrg := map[uuid.UUID][]stores.OutboxEntry{}
	for _, e := range entries {
		byOrg[e.OrgID] = append(byOrg[e.OrgID], e)
	}
	// Orgs are independent (each writes through its own alias and bindings),
	// so they are indexed side by side: a write that waits for a refresh in
	// one org does not hold up the others.
	var (
		mu   sync.Mutex
		done []int64
		wg   sync.WaitGroup
		sem  = make(chan struct{}, ix.opt.Parallel)
	)
	for org, batch := range byOrg {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := ix.index(ctx, org, batch); err != nil {
				ix.fail(ctx, batch, err)
				return
			}
			mu.Lock()
			for _, e := range batch {
				done = append(done, e.ID)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(done) > 0 {
		if err := ix.queue.Complete(ctx, done); err != nil {
			return len(entries), err
		}
	}
	if ix.opt.Observer != nil {
		if pending, oldest, err := ix.queue.Backlog(ctx); err == nil {
			ix.opt.Observer.Outbox(pending, oldest)
		}
	}
	return len(entries), nil
}

// index brings one org's documents in line with its memories as they are
// now, reading each memory as its author: every entry of one memory names
// the same author, so a memory's changes are applied in order.
func (ix *Indexer) index(ctx context.Context, org uuid.UUID, batch []stores.OutboxEntry) error {
	var authors []uuid.UUID
	byAuthor := map[uuid.UUID][]stores.OutboxEntry{}
	for _, e := range batch {
		author := e.AuthorID
		if author == uuid.Nil {
			author = indexerUser
		}
		if byAuthor[author] == nil {
			authors = append(authors, author)
		}
		byAuthor[author] = append(byAuthor[author], e)
	}
	for _, author := range authors {
		if err := ix.indexAs(ctx, stores.Tenant{OrgID: org, UserID: author}, byAuthor[author]); err != nil {
			return err
		}
	}
	return nil
}

// indexAs indexes a batch of memories under one user's binding: live
// memories are (re)indexed, deleted or vanished ones removed.
func (ix *Indexer) indexAs(ctx context.Context, tenant stores.Tenant, batch []stores.OutboxEntry) error {
	ids := make([]uuid.UUID, 0, len(batch))
	queued := map[uuid.UUID]int64{} // the newest version an entry names, per memory
	for _, e := range batch {
		if _, seen := queued[e.MemoryID]; !seen {
			ids = append(ids, e.MemoryID)
		}
		queued[e.MemoryID] = max(queued[e.MemoryID], e.MemoryVersion)
	}
	memories := ix.backends.Memories.Memories(tenant)
	found, err := memories.MemoriesByID(ctx, ids)
	if err != nil {
		return err
	}
	categories, err := memories.CategoriesByMemory(ctx, ids)
	if err != nil {
		return err
	}
	// Every write carries the memory's version and the indexes apply it
	// only over an older one (stores.Document.Version), so a replica that
	// read an older version and wrote late changes nothing. A deletion is a
	// versioned delete, at the deleting version, or for a memory that no
	// longer exists at all at the newest version its entries name.
	var (
		docs []stores.Document
		gone []stores.Document
	)
	for _, id := range ids {
		m, ok := found[id]
		if !ok || m.State == stores.MemoryDeleted {
			memoryID, version := id, queued[id]
			if ok {
				version = m.Version
			}
			gone = append(gone, stores.Document{ID: id.String(), MemoryID: &memoryID, Version: version, Deleted: true,
				AuthorID: m.AuthorID, Visibility: m.Visibility})
			continue
		}
		tags := make([]string, len(categories[id]))
		for i, c := range categories[id] {
			tags[i] = c.Name
		}
		memoryID := m.ID
		docs = append(docs, stores.Document{ID: m.ID.String(), MemoryID: &memoryID, Body: m.Content, Tags: tags, CreatedAt: m.CreatedAt,
			AuthorID: m.AuthorID, Visibility: m.Visibility, Version: m.Version})
	}
	fullText := ix.backends.FullText.FullText(tenant)
	for _, writes := range [][]stores.Document{docs, gone} {
		for start := 0; start < len(writes); start += stores.MaxBatchSize {
			if err := fullText.IndexDocuments(ctx, writes[start:min(start+stores.MaxBatchSize, len(writes))]); err != nil {
				return err
			}
		}
	}
	if ix.opt.Embedder != nil {
		return ix.indexVectors(ctx, tenant, docs, gone)
	}
	return nil
}

// indexVectors keeps one vector per live memory, its point id the memory's
// id. Full-text is done first: an embedding outage delays only the vectors
// (the entry is retried, and re-indexing a document is idempotent). The
// embedder caches by (model, sha256 of text), so unchanged text is not
// embedded again.
func (ix *Indexer) indexVectors(ctx context.Context, tenant stores.Tenant, docs, gone []stores.Document) error {
	model := ix.opt.Embedder.Model()
	vectors := ix.backends.Vectors.Vectors(tenant)
	for start := 0; start < len(docs); start += stores.MaxBatchSize {
		batch := docs[start:min(start+stores.MaxBatchSize, len(docs))]
		texts := make([]string, len(batch))
		for i, d := range batch {
			texts[i] = d.Body
		}
		embedded, err := ix.opt.Embedder.Embed(ctx, texts)
		if err != nil {
			return stores.Unavailable("embeddings", err)
		}
		points := make([]stores.VectorPoint, len(batch))
		for i, d := range batch {
			points[i] = stores.VectorPoint{ID: *d.MemoryID, MemoryID: d.MemoryID, Vector: embedded[i], Payload: map[string]any{"source": "memory"},
				AuthorID: d.AuthorID, Visibility: d.Visibility, Version: d.Version}
		}
		if err := vectors.UpsertVectors(ctx, model, points); err != nil {
			return err
		}
	}
	tombstones := make([]stores.VectorPoint, len(gone))
	for i, d := range gone {
		tombstones[i] = stores.VectorPoint{ID: *d.MemoryID, MemoryID: d.MemoryID, AuthorID: d.AuthorID, Visibility: d.Visibility, Version: d.Version, Deleted: true}
	}
	for start := 0; start < len(tombstones); start += stores.MaxBatchSize {
		if err := vectors.UpsertVectors(ctx, model, tombstones[start:min(start+stores.MaxBatchSize, len(tombstones))]); err != nil {
			return err
		}
	}
	return nil
}

// fail records a failed attempt for every entry of a batch, with
// exponential backoff and jitter, parking those out of attempts.
func (ix *Indexer) fail(ctx context.Context, batch []stores.OutboxEntry, cause error) {
	reason := stores.PublicMessage(cause)
	if reason == "" || errors.Is(cause, stores.ErrUnavailable) {
		reason = cause.Error()
	}
	for _, e := range batch {
		attempt := e.Attempts // the claims so far, this failed one included
		park := attempt >= ix.opt.MaxAttempts
		delay := min(time.Duration(1<<min(attempt, 20))*100*time.Millisecond, ix.opt.MaxBackoff)
		delay = delay/2 + rand.N(delay/2+1)
		if err := ix.queue.Fail(ctx, e.ID, reason, time.Now().Add(delay), park); err != nil {
			ix.opt.Logger.WarnContext(ctx, "recording an outbox failure failed", "entry", e.ID, "error", err.Error())
		}
		if park {
			ix.opt.Logger.ErrorContext(ctx, "outbox entry parked", "entry", e.ID, "org_id", e.OrgID.String(), "memory_id", e.MemoryID.String(), "reason", reason)
		}
	}
}
