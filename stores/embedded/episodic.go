package embedded

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
)

// episodicSweepBatch bounds the expired items one call removes, so cleaning up
// never turns a single request into a long pause however much has expired.
const episodicSweepBatch = 64

// EpisodicBackend keeps every user's session items in process. Items are
// personal: the data is partitioned by the whole tenant (org and user), so
// another user of the same org, or the same session id in another tenant,
// reaches a different, independent session.
//
// Expired items are invisible from the instant they expire. They are removed
// lazily: every write pops at most episodicSweepBatch due entries from an
// expiry heap shared by all tenants, and a write to a session first drops
// that session's expired items.
type EpisodicBackend struct {
	now Clock

	mu      sync.RWMutex
	tenants map[stores.Tenant]map[string]*episodicSession
	count   int // stored items, live or not yet swept
	expiry  episodicExpiryHeap
}

type episodicSession struct {
	items map[string]*stores.EpisodicItem
}

// NewEpisodicBackend returns an empty episodic backend reading time from now
// (time.Now when nil).
func NewEpisodicBackend(now Clock) *EpisodicBackend {
	if now == nil {
		now = time.Now
	}
	return &EpisodicBackend{now: now, tenants: map[stores.Tenant]map[string]*episodicSession{}}
}

// Episodic returns the store bound to t.
func (b *EpisodicBackend) Episodic(t stores.Tenant) stores.EpisodicStore {
	return &episodicStore{b: b, tenant: t}
}

type episodicStore struct {
	b      *EpisodicBackend
	tenant stores.Tenant
}

// begin checks what every call checks first: a live context and a complete
// tenant (a zero id must never widen the partition).
func (s *episodicStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

func episodicLive(it *stores.EpisodicItem, now time.Time) bool {
	return now.Before(it.ExpiresAt)
}

func episodicCopyItem(it *stores.EpisodicItem) stores.EpisodicItem {
	out := *it
	if it.MemoryID != nil {
		id := *it.MemoryID
		out.MemoryID = &id
	}
	out.Metadata = episodicCopyMetadata(it.Metadata)
	return out
}

// episodicCopyMetadata deep-copies a JSON object that was already checked by
// stores.CheckPutItem (so it holds only JSON-decoded values).
func episodicCopyMetadata(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = episodicCopyJSONValue(v)
	}
	return out
}

func episodicCopyJSONValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return episodicCopyMetadata(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = episodicCopyJSONValue(e)
		}
		return out
	default:
		return v
	}
}

func (s *episodicStore) PutItem(ctx context.Context, sessionID string, in stores.NewEpisodicItem) (stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return stores.EpisodicItem{}, err
	}
	item, err := stores.CheckPutItem(sessionID, in)
	if err != nil {
		return stores.EpisodicItem{}, err
	}
	id, weight, metadata := item.ID, item.Weight, item.Metadata

	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweepLocked(now)

	sessions := b.tenants[s.tenant]
	if sessions == nil {
		sessions = map[string]*episodicSession{}
		b.tenants[s.tenant] = sessions
	}
	sess := sessions[sessionID]
	if sess == nil {
		sess = &episodicSession{items: map[string]*stores.EpisodicItem{}}
		sessions[sessionID] = sess
	}
	for itemID, it := range sess.items {
		if !episodicLive(it, now) {
			delete(sess.items, itemID)
			b.count--
		}
	}
	old := sess.items[id]
	if old == nil && len(sess.items) >= stores.MaxSessionItems {
		return stores.EpisodicItem{}, stores.Conflict("the session already holds %d items", stores.MaxSessionItems)
	}
	it := &stores.EpisodicItem{
		ID:        id,
		SessionID: sessionID,
		Content:   in.Content,
		Metadata:  metadata,
		Weight:    weight,
		CreatedAt: now,
		TouchedAt: now,
		ExpiresAt: now.Add(in.TTL),
	}
	if old != nil {
		it.CreatedAt = old.CreatedAt
	}
	if in.MemoryID != nil {
		m := *in.MemoryID
		it.MemoryID = &m
	}
	if old == nil {
		b.count++
	}
	sess.items[id] = it
	b.scheduleLocked(episodicExpiry{at: it.ExpiresAt, tenant: s.tenant, session: sessionID, item: id})
	return episodicCopyItem(it), nil
}

// rankedLocked returns copies of the live items of one session, scored and ordered,
// at most limit, together with the stored items they were copied from.
func (b *EpisodicBackend) rankedLocked(tenant stores.Tenant, sessionID string, halfLife time.Duration, limit int, now time.Time) ([]stores.EpisodicItem, []*stores.EpisodicItem) {
	sess := b.tenants[tenant][sessionID]
	if sess == nil {
		return []stores.EpisodicItem{}, nil
	}
	type scored struct {
		item  *stores.EpisodicItem
		score float64
	}
	live := make([]scored, 0, len(sess.items))
	for _, it := range sess.items {
		if episodicLive(it, now) {
			live = append(live, scored{it, it.Weight * stores.Decay(now.Sub(it.TouchedAt), halfLife)})
		}
	}
	sort.Slice(live, func(i, j int) bool {
		if live[i].score != live[j].score {
			return live[i].score > live[j].score
		}
		return live[i].item.ID < live[j].item.ID
	})
	if len(live) > limit {
		live = live[:limit]
	}
	out := make([]stores.EpisodicItem, len(live))
	src := make([]*stores.EpisodicItem, len(live))
	for i, sc := range live {
		out[i] = episodicCopyItem(sc.item)
		out[i].Score = sc.score
		src[i] = sc.item
	}
	return out, src
}

func (s *episodicStore) SessionItems(ctx context.Context, sessionID string, halfLife time.Duration, limit int, touch bool) ([]stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return nil, err
	}
	if err := stores.CheckEpisodicRead(halfLife, limit); err != nil {
		return nil, err
	}
	b := s.b
	if !touch {
		b.mu.RLock()
		defer b.mu.RUnlock()
		out, _ := b.rankedLocked(s.tenant, sessionID, halfLife, limit, b.now())
		return out, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweepLocked(now)
	out, src := b.rankedLocked(s.tenant, sessionID, halfLife, limit, now)
	for i, it := range src {
		// The score was computed from the previous touch; the returned item
		// shows the touch this read made.
		it.TouchedAt = now
		out[i].TouchedAt = now
	}
	return out, nil
}

func (s *episodicStore) ItemsBySession(ctx context.Context, sessionIDs []string, halfLife time.Duration, limit int) (map[string][]stores.EpisodicItem, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckItemsBySession(sessionIDs, halfLife, limit); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	now := b.now()
	out := make(map[string][]stores.EpisodicItem, len(sessionIDs))
	for _, id := range sessionIDs {
		if _, done := out[id]; done {
			continue
		}
		out[id], _ = b.rankedLocked(s.tenant, id, halfLife, limit, now)
	}
	return out, nil
}

func (s *episodicStore) ExpireItem(ctx context.Context, sessionID, itemID string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return err
	}
	if !stores.ValidEpisodicID(itemID) {
		return stores.Invalid("item id must be 1..128 characters of letters, digits, '.', '_', ':' or '-'")
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweepLocked(now)
	sess := b.tenants[s.tenant][sessionID]
	if sess == nil {
		return stores.NotFound("episodic item not found")
	}
	it := sess.items[itemID]
	if it == nil || !episodicLive(it, now) {
		return stores.NotFound("episodic item not found")
	}
	b.removeLocked(s.tenant, sessionID, itemID)
	return nil
}

func (s *episodicStore) ExpireSession(ctx context.Context, sessionID string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckSessionID(sessionID); err != nil {
		return 0, err
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweepLocked(now)
	sessions := b.tenants[s.tenant]
	sess := sessions[sessionID]
	if sess == nil {
		return 0, nil
	}
	n := 0
	for _, it := range sess.items {
		if episodicLive(it, now) {
			n++
		}
	}
	b.count -= len(sess.items)
	delete(sessions, sessionID)
	if len(sessions) == 0 {
		delete(b.tenants, s.tenant)
	}
	return n, nil
}

func (s *episodicStore) Sessions(ctx context.Context) ([]stores.SessionSummary, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	b := s.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	now := b.now()
	out := []stores.SessionSummary{}
	for id, sess := range b.tenants[s.tenant] {
		sum := stores.SessionSummary{ID: id}
		for _, it := range sess.items {
			if !episodicLive(it, now) {
				continue
			}
			sum.ItemCount++
			if it.TouchedAt.After(sum.LastTouchedAt) {
				sum.LastTouchedAt = it.TouchedAt
			}
			if it.ExpiresAt.After(sum.ExpiresAt) {
				sum.ExpiresAt = it.ExpiresAt
			}
		}
		if sum.ItemCount > 0 {
			out = append(out, sum)
		}
	}
	stores.SortSessions(out)
	if len(out) > stores.MaxSessionsListed {
		out = out[:stores.MaxSessionsListed]
	}
	return out, nil
}

// removeLocked deletes one item and any container it leaves empty.
func (b *EpisodicBackend) removeLocked(tenant stores.Tenant, sessionID, itemID string) {
	sessions := b.tenants[tenant]
	sess := sessions[sessionID]
	if sess == nil {
		return
	}
	if _, ok := sess.items[itemID]; !ok {
		return
	}
	delete(sess.items, itemID)
	b.count--
	if len(sess.items) == 0 {
		delete(sessions, sessionID)
		if len(sessions) == 0 {
			delete(b.tenants, tenant)
		}
	}
}

// sweepLocked removes at most episodicSweepBatch items whose expiry entry is
// due. An entry is stale when its item was replaced (new expiry) or removed
// since; it is then dropped without touching the item.
func (b *EpisodicBackend) sweepLocked(now time.Time) {
	for n := 0; n < episodicSweepBatch && len(b.expiry) > 0 && !now.Before(b.expiry[0].at); n++ {
		e := heap.Pop(&b.expiry).(episodicExpiry)
		sess := b.tenants[e.tenant][e.session]
		if sess == nil {
			continue
		}
		if it := sess.items[e.item]; it != nil && !episodicLive(it, now) {
			b.removeLocked(e.tenant, e.session, e.item)
		}
	}
}

// scheduleLocked records when an item expires. Replacing an item leaves its
// old entry behind as a stale one; when stale entries outnumber the stored
// items the heap is rebuilt from the items, so its size stays proportional to
// what is stored rather than to how often items were replaced.
func (b *EpisodicBackend) scheduleLocked(e episodicExpiry) {
	heap.Push(&b.expiry, e)
	if len(b.expiry) <= 2*b.count+1024 {
		return
	}
	rebuilt := make(episodicExpiryHeap, 0, b.count)
	for tenant, sessions := range b.tenants {
		for sessionID, sess := range sessions {
			for itemID, it := range sess.items {
				rebuilt = append(rebuilt, episodicExpiry{at: it.ExpiresAt, tenant: tenant, session: sessionID, item: itemID})
			}
		}
	}
	heap.Init(&rebuilt)
	b.expiry = rebuilt
}

type episodicExpiry struct {
	at      time.Time
	tenant  stores.Tenant
	session string
	item    string
}

// episodicExpiryHeap is a min-heap of expiry entries by time.
type episodicExpiryHeap []episodicExpiry

func (h episodicExpiryHeap) Len() int           { return len(h) }
func (h episodicExpiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h episodicExpiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *episodicExpiryHeap) Push(x any)        { *h = append(*h, x.(episodicExpiry)) }
func (h *episodicExpiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
