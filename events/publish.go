package events

import (
	"context"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Domains says which domains' writes a Publishing wrapper reports. A domain
// whose backend has a change source of its own (the PostgreSQL outbox for
// memories) is left out, so its changes are not published twice.
type Domains struct {
	Memories, Feedback, Episodic bool
}

// AllDomains reports the writes of every domain (every backend embedded).
var AllDomains = Domains{Memories: true, Feedback: true, Episodic: true}

// Publishing returns b with the chosen domains wrapped so that every write
// that returns without error, and so has committed, publishes its change to
// p; b.Changes is set to hub. A write that fails publishes nothing.
//
// Memory writes of one organisation are serialised with their publication,
// so changes reach p in commit order; with stores/embedded (one lock for
// every write) this costs no concurrency. Feedback and episodic changes only
// tell subscribers to read again, so their order does not matter.
func Publishing(b stores.Backends, hub *Hub, p stores.ChangePublisher, d Domains) stores.Backends {
	if p == nil {
		p = hub
	}
	if d.Memories && b.Memories != nil {
		b.Memories = &memoryBackend{next: b.Memories, pub: p}
	}
	if d.Feedback && b.Feedback != nil {
		b.Feedback = feedbackBackend{next: b.Feedback, pub: p}
	}
	if d.Episodic && b.Episodic != nil {
		b.Episodic = episodicBackend{next: b.Episodic, pub: p}
	}
	b.Changes = hub
	return b
}

// memoryBackend publishes memory writes in commit order per organisation.
type memoryBackend struct {
	next stores.MemoryBackend
	pub  stores.ChangePublisher
	orgs sync.Map // org id -> *sync.Mutex
}

func (b *memoryBackend) Memories(t stores.Tenant) stores.MemoryStore {
	return &memoryStore{MemoryStore: b.next.Memories(t), b: b, tenant: t}
}

func (b *memoryBackend) lock(org uuid.UUID) func() {
	m, _ := b.orgs.LoadOrStore(org, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

type memoryStore struct {
	stores.MemoryStore
	b      *memoryBackend
	tenant stores.Tenant
}

func (s *memoryStore) publish(m stores.Memory) {
	op := stores.OpUpsert
	if m.State == stores.MemoryDeleted {
		op = stores.OpDelete
	}
	snapshot := m
	s.b.pub.Publish(stores.Change{
		Kind: stores.ChangeMemory, OrgID: s.tenant.OrgID,
		MemoryID: m.ID, Version: m.Version, Op: op, Memory: &snapshot,
	})
}

// write runs one memory write and publishes what it committed.
func write[T any](s *memoryStore, do func() (T, error), changed func(T) []stores.Memory) (T, error) {
	unlock := s.b.lock(s.tenant.OrgID)
	defer unlock()
	out, err := do()
	if err != nil {
		return out, err
	}
	for _, m := range changed(out) {
		s.publish(m)
	}
	return out, nil
}

func one(m stores.Memory) []stores.Memory { return []stores.Memory{m} }

func (s *memoryStore) CreateMemory(ctx context.Context, in stores.NewMemory) (stores.Memory, error) {
	return write(s, func() (stores.Memory, error) { return s.MemoryStore.CreateMemory(ctx, in) }, one)
}

func (s *memoryStore) CreateMemories(ctx context.Context, in []stores.NewMemory) ([]stores.Memory, error) {
	return write(s, func() ([]stores.Memory, error) { return s.MemoryStore.CreateMemories(ctx, in) },
		func(ms []stores.Memory) []stores.Memory { return ms })
}

func (s *memoryStore) UpdateMemory(ctx context.Context, id uuid.UUID, u stores.MemoryUpdate) (stores.Memory, error) {
	return write(s, func() (stores.Memory, error) { return s.MemoryStore.UpdateMemory(ctx, id, u) }, one)
}

func (s *memoryStore) SetMemoryState(ctx context.Context, id uuid.UUID, state stores.MemoryState, v *int64) (stores.Memory, error) {
	return write(s, func() (stores.Memory, error) { return s.MemoryStore.SetMemoryState(ctx, id, state, v) }, one)
}

func (s *memoryStore) SetMemoryVisibility(ctx context.Context, id uuid.UUID, vis stores.Visibility, v *int64) (stores.Memory, error) {
	return write(s, func() (stores.Memory, error) { return s.MemoryStore.SetMemoryVisibility(ctx, id, vis, v) }, one)
}

func (s *memoryStore) DeleteMemory(ctx context.Context, id uuid.UUID, v *int64) (stores.Memory, error) {
	return write(s, func() (stores.Memory, error) { return s.MemoryStore.DeleteMemory(ctx, id, v) }, one)
}

// feedbackBackend publishes recorded and purged feedback.
type feedbackBackend struct {
	next stores.FeedbackBackend
	pub  stores.ChangePublisher
}

func (b feedbackBackend) Feedback(t stores.Tenant) stores.FeedbackStore {
	return feedbackStore{FeedbackStore: b.next.Feedback(t), pub: b.pub, tenant: t}
}

type feedbackStore struct {
	stores.FeedbackStore
	pub    stores.ChangePublisher
	tenant stores.Tenant
}

func (s feedbackStore) RecordFeedback(ctx context.Context, in stores.NewFeedbackEvent) (stores.FeedbackEvent, error) {
	e, err := s.FeedbackStore.RecordFeedback(ctx, in)
	if err == nil {
		c := stores.Change{Kind: stores.ChangeFeedback, OrgID: s.tenant.OrgID}
		if e.MemoryID != nil {
			c.MemoryID = *e.MemoryID
		}
		s.pub.Publish(c)
	}
	return e, err
}

func (s feedbackStore) PurgeFeedback(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.FeedbackStore.PurgeFeedback(ctx, before)
	if err == nil && n > 0 {
		s.pub.Publish(stores.Change{Kind: stores.ChangeFeedback, OrgID: s.tenant.OrgID})
	}
	return n, err
}

// episodicBackend publishes puts and explicit expiries. Items that expire by
// their TTL need no publication: a subscriber knows when its earliest item
// expires and re-sends the ranking then.
type episodicBackend struct {
	next stores.EpisodicBackend
	pub  stores.ChangePublisher
}

func (b episodicBackend) Episodic(t stores.Tenant) stores.EpisodicStore {
	return episodicStore{EpisodicStore: b.next.Episodic(t), pub: b.pub, tenant: t}
}

type episodicStore struct {
	stores.EpisodicStore
	pub    stores.ChangePublisher
	tenant stores.Tenant
}

func (s episodicStore) changed(sessionID string) {
	s.pub.Publish(stores.Change{Kind: stores.ChangeEpisodic, OrgID: s.tenant.OrgID, UserID: s.tenant.UserID, SessionID: sessionID})
}

func (s episodicStore) PutItem(ctx context.Context, sessionID string, in stores.NewEpisodicItem) (stores.EpisodicItem, error) {
	item, err := s.EpisodicStore.PutItem(ctx, sessionID, in)
	if err == nil {
		s.changed(sessionID)
	}
	return item, err
}

func (s episodicStore) ExpireItem(ctx context.Context, sessionID, itemID string) error {
	err := s.EpisodicStore.ExpireItem(ctx, sessionID, itemID)
	if err == nil {
		s.changed(sessionID)
	}
	return err
}

func (s episodicStore) ExpireSession(ctx context.Context, sessionID string) (int, error) {
	n, err := s.EpisodicStore.ExpireSession(ctx, sessionID)
	if err == nil && n > 0 {
		s.changed(sessionID)
	}
	return n, err
}
