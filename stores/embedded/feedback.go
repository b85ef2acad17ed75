package embedded

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// FeedbackBackend keeps every organisation's feedback events in process. It
// checks the memories and experiments an event refers to through their
// public interfaces, bound to the same tenant, as PostgreSQL's foreign keys
// (under the same row level security) would.
type FeedbackBackend struct {
	now         Clock
	memories    stores.MemoryBackend
	experiments stores.ExperimentBackend

	mu   sync.RWMutex
	orgs map[uuid.UUID][]stores.FeedbackEvent // in insertion order
}

// NewFeedbackBackend returns an empty feedback backend. A nil memories or
// experiments backend means no memory or experiment can be referred to: an
// event naming one is refused with ErrNotFound.
func NewFeedbackBackend(now Clock, memories stores.MemoryBackend, experiments stores.ExperimentBackend) *FeedbackBackend {
	if now == nil {
		now = time.Now
	}
	return &FeedbackBackend{now: now, memories: memories, experiments: experiments, orgs: make(map[uuid.UUID][]stores.FeedbackEvent)}
}

// Feedback binds the backend to one tenant.
func (b *FeedbackBackend) Feedback(t stores.Tenant) stores.FeedbackStore {
	return &feedbackStore{b: b, tenant: t}
}

type feedbackStore struct {
	b      *FeedbackBackend
	tenant stores.Tenant
}

func (s *feedbackStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

func (s *feedbackStore) RecordFeedback(ctx context.Context, in stores.NewFeedbackEvent) (stores.FeedbackEvent, error) {
	if err := s.begin(ctx); err != nil {
		return stores.FeedbackEvent{}, err
	}
	if err := stores.CheckNewFeedback(in); err != nil {
		return stores.FeedbackEvent{}, err
	}
	if err := s.checkReferences(ctx, in); err != nil {
		return stores.FeedbackEvent{}, err
	}
	ev := in.Event(s.tenant.UserID)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	ev.CreatedAt = storeTime(s.b.now)
	s.b.orgs[s.tenant.OrgID] = append(s.b.orgs[s.tenant.OrgID], ev)
	return copyEvent(ev), nil
}

// checkReferences makes sure the memory and the experiment (and its variant)
// an event names exist in the tenant's org.
func (s *feedbackStore) checkReferences(ctx context.Context, in stores.NewFeedbackEvent) error {
	if in.MemoryID != nil {
		if s.b.memories == nil {
			return stores.NotFound("memory not found")
		}
		if _, err := s.b.memories.Memories(s.tenant).Memory(ctx, *in.MemoryID); err != nil {
			return err
		}
	}
	if in.ExperimentID == nil {
		return nil
	}
	if s.b.experiments == nil {
		return stores.NotFound("experiment not found")
	}
	exps := s.b.experiments.Experiments(s.tenant)
	if _, err := exps.Experiment(ctx, *in.ExperimentID); err != nil {
		return err
	}
	if in.VariantKey == "" {
		return nil
	}
	variants, err := exps.VariantsByExperiment(ctx, []uuid.UUID{*in.ExperimentID})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(variants[*in.ExperimentID], func(v stores.Variant) bool { return v.Key == in.VariantKey }) {
		return stores.NotFound("the experiment has no variant %q", in.VariantKey)
	}
	return nil
}

func (s *feedbackStore) FeedbackEvents(ctx context.Context, f stores.FeedbackFilter, p stores.PageArgs) (stores.Page[stores.FeedbackEvent], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	if err := stores.CheckFeedbackFilter(f); err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	f = s.visibleMemoryFilter(ctx, f)
	s.b.mu.RLock()
	events := s.selectEvents(f, f.AllUsers)
	s.b.mu.RUnlock()
	page := keysetPage(events, p.First, after, func(e stores.FeedbackEvent) stores.NewestCursor {
		return stores.NewestCursor{At: e.CreatedAt, ID: e.ID}
	}, compareNewest)
	for i := range page.Items {
		page.Items[i] = copyEvent(page.Items[i])
	}
	return page, nil
}

func (s *feedbackStore) CountFeedbackEvents(ctx context.Context, f stores.FeedbackFilter) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckFeedbackFilter(f); err != nil {
		return 0, err
	}
	f = s.visibleMemoryFilter(ctx, f)
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return len(s.selectEvents(f, f.AllUsers)), nil
}

func (s *feedbackStore) FeedbackAggregates(ctx context.Context, f stores.FeedbackFilter) (stores.FeedbackAggregates, error) {
	if err := s.begin(ctx); err != nil {
		return stores.FeedbackAggregates{}, err
	}
	if err := stores.CheckFeedbackFilter(f); err != nil {
		return stores.FeedbackAggregates{}, err
	}
	f = s.visibleMemoryFilter(ctx, f)
	s.b.mu.RLock()
	events := s.selectEvents(f, true)
	s.b.mu.RUnlock()

	type variantKey struct {
		experiment uuid.UUID
		key        string
	}
	overall := newStatsCounter()
	byTool := map[string]*statsCounter{}
	byQueryType := map[string]*statsCounter{}
	byVariant := map[variantKey]*statsCounter{}
	counter := func(m map[string]*statsCounter, k string) *statsCounter {
		if m[k] == nil {
			m[k] = newStatsCounter()
		}
		return m[k]
	}
	for _, e := range events {
		overall.add(e.Outcome)
		counter(byTool, e.Tool).add(e.Outcome)
		counter(byQueryType, e.QueryType).add(e.Outcome)
		if e.ExperimentID != nil {
			k := variantKey{*e.ExperimentID, e.VariantKey}
			if byVariant[k] == nil {
				byVariant[k] = newStatsCounter()
			}
			byVariant[k].add(e.Outcome)
		}
	}
	groups := func(m map[string]*statsCounter) []stores.GroupStats {
		out := make([]stores.GroupStats, 0, len(m))
		for k, c := range m {
			out = append(out, stores.GroupStats{Key: k, Stats: c.stats()})
		}
		slices.SortFunc(out, func(a, b stores.GroupStats) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	variants := make([]stores.VariantStats, 0, len(byVariant))
	for k, c := range byVariant {
		variants = append(variants, stores.VariantStats{ExperimentID: k.experiment, VariantKey: k.key, Stats: c.stats()})
	}
	slices.SortFunc(variants, func(a, b stores.VariantStats) int {
		if c := bytes.Compare(a.ExperimentID[:], b.ExperimentID[:]); c != 0 {
			return c
		}
		return strings.Compare(a.VariantKey, b.VariantKey)
	})
	return stores.FeedbackAggregates{
		Overall:     overall.stats(),
		ByTool:      groups(byTool),
		ByQueryType: groups(byQueryType),
		ByVariant:   variants,
	}, nil
}

func (s *feedbackStore) PurgeFeedback(ctx context.Context, before time.Time) (int64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	events := s.b.orgs[s.tenant.OrgID]
	kept := slices.DeleteFunc(events, func(e stores.FeedbackEvent) bool { return e.CreatedAt.Before(before) })
	purged := int64(len(events) - len(kept))
	clear(events[len(kept):])
	if len(kept) == 0 {
		delete(s.b.orgs, s.tenant.OrgID)
	} else {
		s.b.orgs[s.tenant.OrgID] = kept
	}
	return purged, nil
}

// visibleMemoryFilter makes a filter on a memory the user may not see
// select nothing, like a memory that does not exist: aggregates count every
// user's events, and would otherwise tell another user's private memory
// from a missing one.
func (s *feedbackStore) visibleMemoryFilter(ctx context.Context, f stores.FeedbackFilter) stores.FeedbackFilter {
	if f.MemoryID == nil || s.b.memories == nil {
		return f
	}
	if _, err := s.b.memories.Memories(s.tenant).Memory(ctx, *f.MemoryID); err != nil {
		f.MemoryID = &uuid.Nil
	}
	return f
}

// selectEvents returns copies of the org's events that f selects: the
// bound user's own, or every user's when everyUser is set. The caller holds
// a read lock.
func (s *feedbackStore) selectEvents(f stores.FeedbackFilter, everyUser bool) []stores.FeedbackEvent {
	var out []stores.FeedbackEvent
	for _, e := range s.b.orgs[s.tenant.OrgID] {
		switch {
		case !everyUser && e.UserID != s.tenant.UserID,
			f.Since != nil && e.CreatedAt.Before(*f.Since),
			f.Until != nil && !e.CreatedAt.Before(*f.Until),
			len(f.Outcomes) > 0 && !slices.Contains(f.Outcomes, e.Outcome),
			f.Tool != "" && e.Tool != f.Tool,
			f.QueryType != "" && e.QueryType != f.QueryType,
			f.ExperimentID != nil && (e.ExperimentID == nil || *e.ExperimentID != *f.ExperimentID),
			f.MemoryID != nil && (e.MemoryID == nil || *e.MemoryID != *f.MemoryID):
			continue
		}
		out = append(out, e)
	}
	return out
}

// statsCounter accumulates FeedbackStats.
type statsCounter struct {
	total  int
	counts map[stores.Outcome]int
}

func newStatsCounter() *statsCounter {
	return &statsCounter{counts: make(map[stores.Outcome]int, len(stores.Outcomes))}
}

func (c *statsCounter) add(o stores.Outcome) {
	c.total++
	c.counts[o]++
}

func (c *statsCounter) stats() stores.FeedbackStats {
	st := stores.FeedbackStats{
		Total:    c.total,
		Accepted: c.counts[stores.OutcomeAccepted],
		Outcomes: make([]stores.OutcomeCount, 0, len(stores.Outcomes)),
	}
	st.AcceptanceRate = stores.Rate(st.Accepted, st.Total)
	for _, o := range stores.Outcomes {
		st.Outcomes = append(st.Outcomes, stores.OutcomeCount{Outcome: o, Count: c.counts[o]})
	}
	return st
}

func copyEvent(e stores.FeedbackEvent) stores.FeedbackEvent {
	e.MemoryID = stores.CopyPtr(e.MemoryID)
	e.LatencyMs = stores.CopyPtr(e.LatencyMs)
	e.ExperimentID = stores.CopyPtr(e.ExperimentID)
	return e
}
