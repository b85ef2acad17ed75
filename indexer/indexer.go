// Package indexer drains the outbox of memory changes into the derived
// indexes: the full-text store and, with an embedder, the vector store. A
// memory write commits its row and one outbox entry per index in one
// transaction; the indexer then makes the memory searchable.
//
// Each index is a lane of its own, claiming only its own entries, so full
// text never waits for the embedding server. Within a lane, batches are
// pipelined: batch N+1 is claimed, read and (for vectors) embedded while
// batch N is written and its index refreshes. A lane is idempotent by memory
// id (a document's id is its memory's id, and it always indexes the memory
// as it is now). An index that is unavailable is retried forever with capped
// exponential backoff; only an entry that retrying cannot fix (content the
// index rejects, a vector of the wrong dimension) is parked, with the
// reason, until an operator re-queues it (`gateway outbox retry`). Several
// gateway replicas can run it at once: claiming uses FOR UPDATE SKIP LOCKED.
package indexer

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Embedder turns memory content into vectors (embeddings.OpenAI).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}

// Observer learns the backlog every ObserveEvery (metrics, /readyz); optional.
type Observer interface {
	Outbox(backlog stores.OutboxBacklog)
}

// DefaultMaxBackoff is the default cap of the retry delay of an unavailable index.
const DefaultMaxBackoff = time.Minute

// Options tune the indexer; zero values take the defaults.
type Options struct {
	Batch      int           // entries per claim (default 500)
	Lease      time.Duration // how long a claim holds entries unless renewed (default 10s)
	Poll       time.Duration // pause when the outbox is empty (default 200ms)
	MaxBackoff time.Duration // cap of the retry delay (default DefaultMaxBackoff)
	Parallel   int           // orgs indexed at once within a batch (default 16)
	// Orgs, when set, dedicates the indexer to these organisations (tests,
	// or a separate indexer for a large tenant); nil serves every one.
	Orgs []uuid.UUID
	// Embedder, when set, also keeps a vector per memory (model
	// Embedder.Model()); without one, vector entries are left alone.
	Embedder     Embedder
	Observer     Observer
	ObserveEvery time.Duration // how often the Observer learns the backlog (default 1s)
	Logger       *slog.Logger
}

// Indexer drains an outbox into the tenant's derived stores.
type Indexer struct {
	queue    stores.Outbox
	backends stores.Backends
	opt      Options
	lanes    []*lane
}

// indexerUser is the user the indexer acts as for entries without an
// author: it reads every ORG memory of the org; a fixed id makes the
// indexer's reads recognisable in logs.
var indexerUser = uuid.MustParse("00000000-0000-4000-8000-1d3e7e000001")

// New returns an indexer over the outbox writing through backends.
func New(queue stores.Outbox, backends stores.Backends, opt Options) *Indexer {
	if opt.Batch <= 0 {
		opt.Batch = 500
	}
	if opt.Lease <= 0 {
		opt.Lease = 10 * time.Second
	}
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 16
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = DefaultMaxBackoff
	}
	if opt.ObserveEvery <= 0 {
		opt.ObserveEvery = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	ix := &Indexer{queue: queue, backends: backends, opt: opt}
	ix.lanes = []*lane{{ix: ix, index: stores.IndexFullText, write: ix.writeFullText, wake: make(chan struct{}, 1)}}
	if opt.Embedder != nil {
		// Without an embedder this indexer leaves the vector entries to a
		// replica that has one.
		ix.lanes = append(ix.lanes, &lane{ix: ix, index: stores.IndexVector, write: ix.writeVectors, wake: make(chan struct{}, 1)})
	}
	return ix
}

// Wake asks the indexer to look at the outbox now instead of at its next
// poll (after a local write, or a notification from another replica).
func (ix *Indexer) Wake() {
	for _, l := range ix.lanes {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Run drains the outbox until ctx ends. Batches in flight when ctx ends are
// finished, not abandoned (their store calls are bounded by their own
// timeouts), so a graceful shutdown leaves no half-applied batch.
func (ix *Indexer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range ix.lanes {
		wg.Go(func() { l.run(ctx) })
	}
	if ix.opt.Observer != nil {
		wg.Go(func() { ix.observe(ctx) })
	}
	wg.Wait()
	return nil
}

// observe reports the backlog to the Observer until ctx ends.
func (ix *Indexer) observe(ctx context.Context) {
	indexes := make([]stores.IndexName, len(ix.lanes))
	for i, l := range ix.lanes {
		indexes[i] = l.index
	}
	tick := time.NewTicker(ix.opt.ObserveEvery)
	defer tick.Stop()
	for {
		if backlog, err := ix.queue.Backlog(ctx, indexes); err == nil {
			ix.opt.Observer.Outbox(backlog)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lane drains the entries of one index.
type lane struct {
	ix    *Indexer
	index stores.IndexName
	// write applies one job to the index: its documents or points as built
	// by prepare, and the removal of its gone memories.
	write func(ctx context.Context, j *job) error
	wake  chan struct{}

	// inFlight are the entries claimed and not settled yet: their lease is
	// renewed every Lease/3, so a lease can be short (a crashed replica's
	// entries come back soon) while a slow batch keeps its entries.
	mu       sync.Mutex
	inFlight map[int64]bool

	logMu      sync.Mutex
	lastLogged time.Time
}

// hold records claimed entries as in flight; release forgets settled ones.
func (l *lane) hold(entries []stores.OutboxEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight == nil {
		l.inFlight = map[int64]bool{}
	}
	for _, e := range entries {
		l.inFlight[e.ID] = true
	}
}

func (l *lane) release(ids []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.inFlight, id)
	}
}

// renew extends the lease of the lane's entries in flight until stop closes.
func (l *lane) renew(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(l.ix.opt.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		// Under the lock: an entry released meanwhile is being completed or
		// failed, and a late renewal would overwrite its retry time.
		l.mu.Lock()
		ids := make([]int64, 0, len(l.inFlight))
		for id := range l.inFlight {
			ids = append(ids, id)
		}
		err := l.ix.queue.Extend(ctx, ids, l.ix.opt.Lease)
		l.mu.Unlock()
		if err != nil {
			l.logFailure(ctx, "renewing the lease of outbox entries failed", err)
		}
	}
}

// job is the claimed entries of one org and author in one lane, with what
// to write for them.
type job struct {
	tenant  stores.Tenant
	entries []stores.OutboxEntry
	live    []stores.Memory // the memories to (re)index, as they are now
	tags    map[uuid.UUID][]string
	vectors [][]float32     // embeddings of live, in order (vector lane)
	gone    []stores.Memory // deleted or vanished memories (ID, Version, AuthorID, Visibility), to remove
	err     error           // why preparing or writing failed
}

// batch is one claim's jobs on their way through the lane: read (in claim
// order), embedded (vector lane, possibly while the next batch is read),
// then written (in claim order).
type batch struct {
	jobs     []*job
	embedded chan struct{} // closed when every job is ready to write
}

// pipelineDepth is how many claimed batches may wait, read or embedded, for
// the writer, and how many the writer applies at once. Two keep the embedder
// busy across a batch's tail (the next batch is claimed, read and sent to
// the embedder before this one's last texts come back) and overlap one
// batch's refresh wait with the next one's write.
const pipelineDepth = 2

// run claims and reads batches and hands them to a writer that applies them
// in claim order while the next ones are read and embedded. Claim order
// matters only for entries of one memory: a later batch reads it later, so
// it never writes an older state over a newer one.
func (l *lane) run(ctx context.Context) {
	work := context.WithoutCancel(ctx)
	prepared := make(chan *batch, pipelineDepth)
	written := make(chan struct{})
	go func() {
		defer close(written)
		l.writeInOrder(work, prepared)
	}()
	renewing := make(chan struct{})
	renewed := make(chan struct{})
	go func() { defer close(renewed); l.renew(work, renewing) }()
	defer func() { close(prepared); <-written; close(renewing); <-renewed }()
	for {
		entries, err := l.ix.queue.Claim(work, l.index, l.ix.opt.Batch, l.ix.opt.Lease, l.ix.opt.Orgs)
		l.hold(entries)
		if len(entries) > 0 {
			prepared <- l.prepare(work, entries)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.logFailure(ctx, "claiming outbox entries failed", err)
		}
		if len(entries) == l.ix.opt.Batch {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-time.After(l.ix.opt.Poll):
		}
	}
}

// writing is a batch being applied.
type writing struct {
	memories map[uuid.UUID]bool
	done     chan struct{}
}

// writeInOrder applies the prepared batches in claim order, two at once
// when they share no memory, so that one batch's refresh wait in the index
// overlaps the next batch's write; a batch that shares a memory with one
// being written waits for it, so a memory's later state is written last.
func (l *lane) writeInOrder(ctx context.Context, prepared <-chan *batch) {
	var inFlight []*writing // oldest first, at most pipelineDepth
	for b := range prepared {
		<-b.embedded
		memories := map[uuid.UUID]bool{}
		for _, j := range b.jobs {
			for _, e := range j.entries {
				memories[e.MemoryID] = true
			}
		}
		for len(inFlight) >= pipelineDepth {
			<-inFlight[0].done
			inFlight = inFlight[1:]
		}
		kept := inFlight[:0]
		for _, w := range inFlight {
			if overlaps(w.memories, memories) {
				<-w.done
				continue
			}
			kept = append(kept, w)
		}
		inFlight = kept
		w := &writing{memories: memories, done: make(chan struct{})}
		inFlight = append(inFlight, w)
		go func() {
			defer close(w.done)
			l.apply(ctx, b.jobs)
		}()
	}
	for _, w := range inFlight {
		<-w.done
	}
}

// overlaps tells whether two batches share a memory.
func overlaps(a, b map[uuid.UUID]bool) bool {
	for id := range b {
		if a[id] {
			return true
		}
	}
	return false
}

// prepare groups a claimed batch into jobs by org and author and reads what
// each job writes, orgs side by side, then embeds the vector lane's texts
// in the background. A job that fails keeps its error; the writer records it.
func (l *lane) prepare(ctx context.Context, entries []stores.OutboxEntry) *batch {
	b := &batch{jobs: group(entries), embedded: make(chan struct{})}
	l.forEach(b.jobs, func(j *job) { j.err = l.read(ctx, j) })
	if l.index != stores.IndexVector {
		close(b.embedded)
		return b
	}
	go func() {
		defer close(b.embedded)
		l.forEach(b.jobs, func(j *job) {
			if j.err == nil {
				j.err = l.embed(ctx, j)
			}
		})
	}()
	return b
}

// group splits entries by org, then by the author whose binding reads them:
// every entry of one memory names the same author, so a memory's entries
// land in one job and are applied in order.
func group(entries []stores.OutboxEntry) []*job {
	type key struct{ org, author uuid.UUID }
	var jobs []*job
	byKey := map[key]*job{}
	for _, e := range entries {
		author := e.AuthorID
		if author == uuid.Nil {
			author = indexerUser
		}
		k := key{e.OrgID, author}
		j := byKey[k]
		if j == nil {
			j = &job{tenant: stores.Tenant{OrgID: e.OrgID, UserID: author}}
			byKey[k] = j
			jobs = append(jobs, j)
		}
		j.entries = append(j.entries, e)
	}
	return jobs
}

// forEach runs fn over jobs, at most Parallel at once.
func (l *lane) forEach(jobs []*job, fn func(*job)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.ix.opt.Parallel)
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(j)
		})
	}
	wg.Wait()
}

// read loads a job's memories as they are now: live ones to index,
// deleted or vanished ones to remove. A job larger than a store call takes is read in chunks, side by side.
func (l *lane) read(ctx context.Context, j *job) error {
	ids := make([]uuid.UUID, 0, len(j.entries))
	queued := map[uuid.UUID]int64{} // the newest version an entry names, per memory
	for _, e := range j.entries {
		if _, seen := queued[e.MemoryID]; !seen {
			ids = append(ids, e.MemoryID)
		}
		queued[e.MemoryID] = max(queued[e.MemoryID], e.MemoryVersion)
	}
	memories := l.ix.backends.Memories.Memories(j.tenant)
	found := make(map[uuid.UUID]stores.Memory, len(ids))
	tags := map[uuid.UUID][]string{}
	var mu sync.Mutex
	err := inChunks(ids, func(chunk []uuid.UUID) error {
		byID, err := memories.MemoriesByID(ctx, chunk)
		if err != nil {
			return err
		}
		var categories map[uuid.UUID][]stores.Category
		if l.index == stores.IndexFullText {
			if categories, err = memories.CategoriesByMemory(ctx, chunk); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		maps.Copy(found, byID)
		for id, cs := range categories {
			for _, c := range cs {
				tags[id] = append(tags[id], c.Name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.tags = tags
	for _, id := range ids {
		m, ok := found[id]
		if !ok {
			// Gone from PostgreSQL altogether: deleted at the newest
			// version its entries name.
			m = stores.Memory{ID: id, Version: queued[id], State: stores.MemoryDeleted}
		}
		if m.State == stores.MemoryDeleted {
			j.gone = append(j.gone, m)
			continue
		}
		j.live = append(j.live, m)
	}
	return nil
}

// embed computes the vectors of a job's live memories.
func (l *lane) embed(ctx context.Context, j *job) error {
	if len(j.live) == 0 {
		return nil
	}
	// The embedder caches by (model, sha256 of text), so unchanged text is
	// not embedded again, and batches concurrent callers' texts.
	texts := make([]string, len(j.live))
	for i, m := range j.live {
		texts[i] = m.Content
	}
	var err error
	j.vectors, err = l.ix.opt.Embedder.Embed(ctx, texts)
	return embeddingFailure(err)
}

// embeddingFailure gives an embedder's error its store kind: a text the
// embedding server refuses or cannot embed properly (empty, rejected with a
// 4xx, answered with vectors of the wrong count or dimension) stays so
// however often it is retried, and must be parked rather than hold its
// batch back; anything else (down, timed out, 429 or 5xx, breaker open) is
// unavailability.
func embeddingFailure(err error) error {
	switch {
	case err == nil || stores.PublicMessage(err) != "":
		return err
	case errors.Is(err, embeddings.ErrInvalid), errors.Is(err, embeddings.ErrRejected), errors.Is(err, embeddings.ErrBadResponse):
		return &stores.Error{Kind: stores.ErrInvalid, Message: "the embedding server cannot embed this text", Cause: err}
	}
	return stores.Unavailable("embeddings", err)
}

// inChunks calls fn on chunks of at most stores.MaxBatchSize items, side by
// side (the chunks of a job are distinct memories, so their order does not
// matter), and returns the first error. Writes in parallel also overlap the
// full-text index's refresh waits instead of queueing behind each other.
func inChunks[T any](items []T, fn func([]T) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for start := 0; start < len(items); start += stores.MaxBatchSize {
		chunk := items[start:min(start+stores.MaxBatchSize, len(items))]
		wg.Go(func() {
			if err := fn(chunk); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if first == nil {
					first = err
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Every write carries the memory's version and the indexes apply it only
// over an older one (stores.Document.Version), so a replica that read an
// older version and wrote late changes nothing; a deletion is a versioned
// delete (a tombstone) at the deleting version.

// fullTextDocument is the document that makes a memory searchable by text.
func fullTextDocument(m stores.Memory, tags []string) stores.Document {
	memoryID := m.ID
	return stores.Document{ID: m.ID.String(), MemoryID: &memoryID, Body: m.Content, Tags: tags, CreatedAt: m.CreatedAt,
		AuthorID: m.AuthorID, Visibility: m.Visibility, Version: m.Version}
}

// vectorPoint is the point that makes a memory searchable by similarity;
// its id is the memory's id.
func vectorPoint(m stores.Memory, vector []float32) stores.VectorPoint {
	memoryID := m.ID
	return stores.VectorPoint{ID: m.ID, MemoryID: &memoryID, Vector: vector, Payload: map[string]any{"source": "memory"},
		AuthorID: m.AuthorID, Visibility: m.Visibility, Version: m.Version}
}

// writeFullText indexes a job's live memories and removes its gone ones.
func (ix *Indexer) writeFullText(ctx context.Context, j *job) error {
	docs := make([]stores.Document, len(j.live))
	for i, m := range j.live {
		docs[i] = fullTextDocument(m, j.tags[m.ID])
	}
	fullText := ix.backends.FullText.FullText(j.tenant)
	if err := inChunks(docs, func(chunk []stores.Document) error { return fullText.IndexDocuments(ctx, chunk) }); err != nil {
		return err
	}
	gone := make([]stores.Document, len(j.gone))
	for i, m := range j.gone {
		gone[i] = fullTextDocument(m, nil)
		gone[i].Deleted = true
	}
	return inChunks(gone, func(chunk []stores.Document) error { return fullText.IndexDocuments(ctx, chunk) })
}

// writeVectors keeps one vector per live memory and removes the gone ones'.
func (ix *Indexer) writeVectors(ctx context.Context, j *job) error {
	model := ix.opt.Embedder.Model()
	points := make([]stores.VectorPoint, len(j.live))
	for i, m := range j.live {
		points[i] = vectorPoint(m, j.vectors[i])
	}
	vectors := ix.backends.Vectors.Vectors(j.tenant)
	if err := inChunks(points, func(chunk []stores.VectorPoint) error { return vectors.UpsertVectors(ctx, model, chunk) }); err != nil {
		return err
	}
	gone := make([]stores.VectorPoint, len(j.gone))
	for i, m := range j.gone {
		gone[i] = vectorPoint(m, nil)
		gone[i].Deleted = true
	}
	return inChunks(gone, func(chunk []stores.VectorPoint) error { return vectors.UpsertVectors(ctx, model, chunk) })
}

// apply writes a prepared batch, orgs side by side, completes the entries
// written and records the failures. A job that failed for a reason retrying
// cannot fix is retried entry by entry, so that only the bad entries are
// parked, not their neighbours in the batch.
func (l *lane) apply(ctx context.Context, jobs []*job) {
	l.forEach(jobs, func(j *job) {
		if j.err == nil {
			j.err = l.write(ctx, j)
		}
		if j.err != nil && !retryable(j.err) && len(j.entries) > 1 {
			j.err = nil
			alone := make([]*job, len(j.entries))
			for i, e := range j.entries {
				alone[i] = &job{tenant: j.tenant, entries: []stores.OutboxEntry{e}}
				alone[i].err = l.read(ctx, alone[i])
				if alone[i].err == nil && l.index == stores.IndexVector {
					alone[i].err = l.embed(ctx, alone[i])
				}
				if alone[i].err == nil {
					alone[i].err = l.write(ctx, alone[i])
				}
			}
			l.settle(ctx, alone)
			j.entries = nil // settled above
		}
	})
	l.settle(ctx, jobs)
}

// settle completes the entries of the jobs that succeeded and records a
// failure for the others: backoff while retrying can help, parking when not.
func (l *lane) settle(ctx context.Context, jobs []*job) {
	var (
		done     []int64
		failures []stores.OutboxFailure
	)
	for _, j := range jobs {
		if j.err == nil {
			for _, e := range j.entries {
				done = append(done, e.ID)
			}
			continue
		}
		park := !retryable(j.err)
		reason := j.err.Error() // for operators (`gateway outbox status`), cause included
		for _, e := range j.entries {
			failures = append(failures, stores.OutboxFailure{ID: e.ID, Reason: reason, RetryAt: time.Now().Add(l.ix.backoff(e.Attempts)), Park: park})
			if park {
				l.ix.opt.Logger.ErrorContext(ctx, "outbox entry parked", "index", string(l.index), "entry", e.ID,
					"org_id", e.OrgID.String(), "memory_id", e.MemoryID.String(), "reason", reason)
			}
		}
		if !park {
			l.logFailure(ctx, "indexing failed, will retry", j.err)
		}
	}
	settled := slices.Clone(done)
	for _, f := range failures {
		settled = append(settled, f.ID)
	}
	l.release(settled)
	if err := l.ix.queue.Complete(ctx, done); err != nil {
		// The entries come back after their lease and are written again:
		// indexing a memory as it is now is idempotent.
		l.logFailure(ctx, "completing outbox entries failed", err)
	}
	if err := l.ix.queue.Fail(ctx, failures); err != nil {
		l.logFailure(ctx, "recording outbox failures failed", err)
	}
}

// retryable tells whether retrying may fix a failure: an unavailable or
// slow index may come back, and an unexplained error is not proof that the
// entry is bad; content the index rejects as invalid (a malformed document,
// a vector of the wrong dimension) stays invalid.
func retryable(err error) bool {
	return !errors.Is(err, stores.ErrInvalid)
}

// backoff is the delay before the next attempt at an entry claimed attempts
// times: exponential from 100ms, capped at MaxBackoff, with jitter so that
// entries failed together do not come back together.
func (ix *Indexer) backoff(attempts int) time.Duration {
	delay := min(time.Duration(1<<min(attempts, 20))*100*time.Millisecond, ix.opt.MaxBackoff)
	return delay/2 + rand.N(delay/2+1)
}

// logEvery rate-limits the lane's failure logs: an outage fails every
// batch, and one line per interval says as much.
const logEvery = 10 * time.Second

// logFailure logs a failure at most once per logEvery per lane.
func (l *lane) logFailure(ctx context.Context, msg string, err error) {
	l.logMu.Lock()
	now := time.Now()
	if now.Sub(l.lastLogged) < logEvery {
		l.logMu.Unlock()
		return
	}
	l.lastLogged = now
	l.logMu.Unlock()
	l.ix.opt.Logger.WarnContext(ctx, msg, "index", string(l.index), "error", err.Error())
}
