// Package events delivers committed changes to the subscriptions of this
// process: a Hub fans each change out to the local subscribers of its tenant
// through bounded buffers, and the publishing decorator reports the writes of
// stores that have no change source of their own. It holds no client of any
// server: the changes every replica commits to PostgreSQL reach the Hub
// through stores/postgres (ChangeListener). graph/ never imports this
// package: it reaches changes through the tenant-bound stores.ChangeFeed;
// the root package wires it.
package events

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// DefaultBuffer is how many changes a subscription may have pending before
// it is cut off as a slow consumer.
const DefaultBuffer = 64

// Hub fans committed changes out to the subscriptions of this process. A
// change reaches only the subscriptions of its organisation (and, for
// personal data, of its user): the hub indexes subscribers by org, so a
// subscriber never even sees another tenant's change to filter it out.
type Hub struct {
	buffer int

	mu   sync.RWMutex
	orgs map[uuid.UUID]map[*subscription]struct{}

	// log serves Resume: the durable log the hub is fed from (UseLog), else
	// numbering, which numbers the memory changes published to the hub and
	// keeps the last DefaultMemoryLogSize of them in process.
	log       stores.ChangeLogBackend
	numbering *memoryLog

	published atomic.Int64
	dropped   atomic.Int64
}

// NewHub returns a hub whose subscriptions buffer at most buffer changes
// (DefaultBuffer when buffer < 1).
func NewHub(buffer int) *Hub {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	numbering := newMemoryLog(DefaultMemoryLogSize)
	return &Hub{buffer: buffer, orgs: make(map[uuid.UUID]map[*subscription]struct{}), log: numbering, numbering: numbering}
}

// Publish delivers c to every matching local subscription without waiting:
// a subscription whose buffer is full is cut off (its Lost channel closes)
// rather than slowing the publisher or growing memory.
func (h *Hub) Publish(c stores.Change) {
	if h.numbering != nil && c.Kind == stores.ChangeMemory && c.Seq == 0 {
		c = h.numbering.append(c)
	}
	h.published.Add(1)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.orgs[c.OrgID] {
		if !s.wants(c) {
			continue
		}
		s.deliver(c, &h.dropped)
	}
}

// Stats are counters for tests and the benchmark program.
type Stats struct {
	Published   int64 // changes published
	Dropped     int64 // subscriptions cut off as slow consumers
	Subscribers int   // live subscriptions
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, subs := range h.orgs {
		n += len(subs)
	}
	return Stats{Published: h.published.Load(), Dropped: h.dropped.Load(), Subscribers: n}
}

// UseLog makes the hub's feeds resumable from log, the durable change log
// whose changes, numbered by it, the hub is fed in log order (stores/postgres'
// ChangeListener), instead of numbering and keeping them in process. Call it
// before the first publication.
func (h *Hub) UseLog(log stores.ChangeLogBackend) { h.log, h.numbering = log, nil }

// Changes binds the hub to one tenant (stores.ChangeBackend).
func (h *Hub) Changes(t stores.Tenant) stores.ChangeFeed { return feed{hub: h, tenant: t} }

type feed struct {
	hub    *Hub
	tenant stores.Tenant
}

func (f feed) Subscribe(ctx context.Context, kinds ...stores.ChangeKind) (stores.ChangeStream, error) {
	if err := f.tenant.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscription{
		hub:    f.hub,
		tenant: f.tenant,
		kinds:  kinds,
		ch:     make(chan stores.Change, f.hub.buffer),
		lost:   make(chan struct{}),
	}
	f.hub.mu.Lock()
	subs := f.hub.orgs[f.tenant.OrgID]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		f.hub.orgs[f.tenant.OrgID] = subs
	}
	subs[s] = struct{}{}
	f.hub.mu.Unlock()
	// The subscription ends with the subscriber's context.
	stop := context.AfterFunc(ctx, s.Close)
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	return s, nil
}

// subscription is one subscriber's bounded buffer.
type subscription struct {
	hub    *Hub
	tenant stores.Tenant
	kinds  []stores.ChangeKind
	ch     chan stores.Change
	lost   chan struct{}
	stop   func() bool

	mu     sync.Mutex // guards closed and lostOnce against deliver
	closed bool
	isLost bool
}

// wants reports whether the change belongs to the subscription: its org
// (the hub's index already guarantees it; checked again because it is the
// one property that must never fail), its user for personal data, its kinds.
func (s *subscription) wants(c stores.Change) bool {
	if c.OrgID != s.tenant.OrgID {
		return false
	}
	if c.UserID != uuid.Nil && c.UserID != s.tenant.UserID {
		return false
	}
	if len(s.kinds) == 0 {
		return true
	}
	for _, k := range s.kinds {
		if k == c.Kind {
			return true
		}
	}
	return false
}

// deliver queues c or, when the buffer is full, marks the subscriber lost.
// It runs under the hub's read lock, so it never blocks.
func (s *subscription) deliver(c stores.Change, dropped *atomic.Int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.isLost {
		return
	}
	select {
	case s.ch <- c:
	default:
		s.isLost = true
		close(s.lost)
		dropped.Add(1)
	}
}

func (s *subscription) Changes() <-chan stores.Change { return s.ch }
func (s *subscription) Lost() <-chan struct{}         { return s.lost }

// Close removes the subscription from the hub. The Changes channel is not
// closed (a publisher may hold it); readers stop on their context or Lost.
func (s *subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	h := s.hub
	h.mu.Lock()
	if subs := h.orgs[s.tenant.OrgID]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.orgs, s.tenant.OrgID)
		}
	}
	h.mu.Unlock()
}
