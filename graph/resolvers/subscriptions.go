package resolvers

import (
	"context"
	"slices"
	"time"

	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// AggregateInterval is the least time between two feedbackAggregates
// messages of one subscription: feedback arriving faster is coalesced.
const AggregateInterval = time.Second

type disconnectKey struct{}

// WithDisconnect returns ctx carrying the function that cuts off the
// connection a subscription runs on, with a reason the client is told. The
// transport (graph/) installs it; a subscription calls it when it fell
// behind its change feed (a slow consumer).
func WithDisconnect(ctx context.Context, disconnect func(reason string)) context.Context {
	return context.WithValue(ctx, disconnectKey{}, disconnect)
}

// ReasonSlowConsumer is the close reason of a connection cut off because a
// subscription on it could not keep up with its changes.
const ReasonSlowConsumer = "slow consumer: the subscription fell behind and was cut off"

// disconnectSlow cuts off the subscription's connection as a slow consumer.
func disconnectSlow(ctx context.Context) {
	if d, ok := ctx.Value(disconnectKey{}).(func(string)); ok {
		d(ReasonSlowConsumer)
	}
}

// subscribe opens the tenant's change feed for kinds, or says why it cannot.
func subscribe(ctx context.Context, b *stores.Bundle, kinds ...stores.ChangeKind) (stores.ChangeStream, error) {
	if b.Changes == nil {
		return nil, stores.Unavailable("the change feed", nil)
	}
	return b.Changes.Subscribe(ctx, kinds...)
}

// subscribeMemories opens the tenant's memory changes: live, or, with
// after (a MemoryChangeEvent cursor), resumed from the change log right
// after it.
func subscribeMemories(ctx context.Context, b *stores.Bundle, after *string) (stores.ChangeStream, error) {
	if after == nil {
		return subscribe(ctx, b, stores.ChangeMemory)
	}
	pos, err := relay.DecodeChangeCursor(*after)
	if err != nil {
		return nil, err
	}
	if b.Changes == nil {
		return nil, stores.Unavailable("the change feed", nil)
	}
	return b.Changes.Resume(ctx, pos)
}

// pump runs a subscription: it sends first (when ok), then, for every change
// the stream yields, whatever next makes of it, until ctx ends, next says
// done, or the subscriber falls behind (then the connection is cut off).
// tick, when non-nil, asks next to run with a nil change after the delay it
// returns (timers for expiries and coalescing); ok false means no timer.
// The returned channel closes when the subscription ends.
func pump[T any](ctx context.Context, st stores.ChangeStream, first func() (T, bool, error),
	next func(c *stores.Change) (T, bool, bool), tick func() (time.Duration, bool),
) (<-chan T, error) {
	v, ok, err := first()
	if err != nil {
		st.Close()
		return nil, err
	}
	out := make(chan T, 1)
	go func() {
		defer close(out)
		defer st.Close()
		send := func(v T) bool {
			loaders.Renew(ctx)
			select {
			case out <- v:
				return true
			case <-ctx.Done():
				return false
			case <-st.Lost():
				disconnectSlow(ctx)
				return false
			}
		}
		if ok && !send(v) {
			return
		}
		var timer *time.Timer
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		for {
			var fire <-chan time.Time
			if tick != nil {
				if delay, ok := tick(); ok {
					if timer != nil {
						timer.Stop()
					}
					timer = time.NewTimer(max(delay, 0))
					fire = timer.C
				}
			}
			var c *stores.Change
			select {
			case <-ctx.Done():
				return
			case <-st.Lost():
				disconnectSlow(ctx)
				return
			case change := <-st.Changes():
				c = &change
			case <-fire:
			}
			v, ok, done := next(c)
			if ok && !send(v) {
				return
			}
			if done {
				return
			}
		}
	}()
	return out, nil
}

// memoryChangeFilter is a decoded MemoryChangeFilter.
type memoryChangeFilter struct {
	states     []stores.MemoryState
	appID      *uuid.UUID
	categoryID *uuid.UUID
	kinds      []model.MemoryChangeKind
}

func newMemoryChangeFilter(in *model.MemoryChangeFilter) (memoryChangeFilter, error) {
	if in == nil {
		return memoryChangeFilter{}, nil
	}
	appID, err := relay.DecodeOptionalUUID(in.AppID, relay.KindApp)
	if err != nil {
		return memoryChangeFilter{}, err
	}
	categoryID, err := relay.DecodeOptionalUUID(in.CategoryID, relay.KindCategory)
	if err != nil {
		return memoryChangeFilter{}, err
	}
	return memoryChangeFilter{states: in.States, appID: appID, categoryID: categoryID, kinds: in.Kinds}, nil
}

// memoryChange turns a committed change into the event a subscriber gets,
// reading the memory through the subscriber's own tenant-bound stores when
// the change carries no snapshot. ok is false when the filter rejects it,
// and for a change the subscriber may not see (another user's private
// memory, by its snapshot or by the store not returning it): that change is
// not delivered at all, so not even its id and version reach anyone else.
func memoryChange(ctx context.Context, b *stores.Bundle, f memoryChangeFilter, c stores.Change) (model.MemoryChangeEvent, bool) {
	ev := model.MemoryChangeEvent{
		Kind:     model.MemoryChangeKindUpdated,
		MemoryID: relay.UUIDID(relay.KindMemory, c.MemoryID),
		Version:  int(c.Version),
		Memory:   c.Memory,
		Cursor:   relay.ChangeCursor(c.Seq),
	}
	switch {
	case c.Op == stores.OpDelete:
		ev.Kind = model.MemoryChangeKindDeleted
	case c.Version == 1:
		ev.Kind = model.MemoryChangeKindCreated
	}
	if ev.Memory != nil && !ev.Memory.Visibility.VisibleTo(ev.Memory.AuthorID, b.Tenant.UserID) {
		return ev, false
	}
	if ev.Memory == nil {
		m, err := b.Memories.Memory(ctx, c.MemoryID)
		if err != nil {
			// Fail closed: a memory the store cannot show this subscriber
			// (another user's private one, or none while the store is down)
			// may not be announced to it.
			return ev, false
		}
		ev.Memory = &m
	}
	if len(f.kinds) > 0 && !slices.Contains(f.kinds, ev.Kind) {
		return ev, false
	}
	if f.states == nil && f.appID == nil && f.categoryID == nil {
		return ev, true
	}
	if ev.Memory == nil {
		return ev, false // nothing to match the filter against
	}
	if len(f.states) > 0 && !slices.Contains(f.states, ev.Memory.State) {
		return ev, false
	}
	if f.appID != nil && ev.Memory.AppID != *f.appID {
		return ev, false
	}
	if f.categoryID != nil {
		cats, err := b.Memories.CategoriesByMemory(ctx, []uuid.UUID{c.MemoryID})
		if err != nil || !slices.ContainsFunc(cats[c.MemoryID], func(cat stores.Category) bool { return cat.ID == *f.categoryID }) {
			return ev, false
		}
	}
	return ev, true
}

// indexStatuses returns a memory's status in every configured search index.
func indexStatuses(ctx context.Context, b *stores.Bundle, m stores.Memory) ([]stores.IndexStatus, error) {
	found, err := b.IndexStatus.IndexStatuses(ctx, []uuid.UUID{m.ID})
	if err != nil {
		return nil, err
	}
	if s := found[m.ID]; s != nil {
		return s, nil
	}
	return []stores.IndexStatus{}, nil
}

// indexEvent reads a memory's index status as a subscription event.
func indexEvent(ctx context.Context, b *stores.Bundle, id uuid.UUID) (model.MemoryIndexStatusEvent, error) {
	m, err := b.Memories.Memory(ctx, id)
	if err != nil {
		return model.MemoryIndexStatusEvent{}, err
	}
	statuses, err := indexStatuses(ctx, b, m)
	if err != nil {
		return model.MemoryIndexStatusEvent{}, err
	}
	searchable := true
	for _, s := range statuses {
		if s.State != stores.IndexIndexed || s.Version < m.Version {
			searchable = false
		}
	}
	return model.MemoryIndexStatusEvent{
		MemoryID:   relay.UUIDID(relay.KindMemory, id),
		Version:    int(m.Version),
		Indexes:    statuses,
		Searchable: searchable,
	}, nil
}

// now is the resolver's clock.
func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// aggregateFilter builds the feedback filter of one feedbackAggregates message.
func (r *Resolver) aggregateFilter(window time.Duration, experimentID *uuid.UUID) stores.FeedbackFilter {
	f := stores.FeedbackFilter{ExperimentID: experimentID}
	if window > 0 {
		since := r.now().Add(-window)
		f.Since = &since
	}
	return f
}

// nextExpiry returns when the first of items expires (zero for none).
func nextExpiry(items []stores.EpisodicItem) time.Time {
	var at time.Time
	for _, it := range items {
		if at.IsZero() || it.ExpiresAt.Before(at) {
			at = it.ExpiresAt
		}
	}
	return at
}

// expiryMargin is added to an item's expiry before the session is read
// again, so the store already counts it as expired.
const expiryMargin = 10 * time.Millisecond

// sessionSignature tells whether a session's items changed (beyond their
// decaying scores).
func sessionSignature(items []stores.EpisodicItem) string {
	var sig []byte
	for _, it := range items {
		sig = append(sig, it.ID...)
		sig = append(sig, 0)
		sig = it.TouchedAt.AppendFormat(sig, time.RFC3339Nano)
		sig = append(sig, 0)
	}
	return string(sig)
}
