package events

import (
	"context"

	"github.com/codingbrain/gateway/stores"
)

// resumePage is how many logged changes a resuming subscription reads at once.
const resumePage = 500

// Resume replays the tenant's memory changes after the log position after,
// then goes live. The live subscription is opened before the log is read,
// so a change that commits meanwhile is in the log, or on the live stream,
// or both: the log position of every memory change drops the duplicates at
// the seam, and the hub receives changes in log order, so nothing is
// skipped. The first page is read before Resume returns: a cursor the log
// cannot serve fails the subscription itself.
func (f feed) Resume(ctx context.Context, after int64) (stores.ChangeStream, error) {
	log := f.hub.log.ChangeLog(f.tenant)
	live, err := f.Subscribe(ctx, stores.ChangeMemory)
	if err != nil {
		return nil, err
	}
	page, err := log.ChangesAfter(ctx, after, resumePage)
	if err != nil {
		live.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &resumed{feed: f, log: log, last: after, ch: make(chan stores.Change), lost: make(chan struct{}), cancel: cancel}
	go r.run(ctx, live, page)
	return r, nil
}

// resumed is a subscription that catches up from the log, then follows
// the hub.
type resumed struct {
	feed   feed
	log    stores.ChangeLog
	last   int64 // the log position last sent (owned by run)
	ch     chan stores.Change
	lost   chan struct{}
	cancel context.CancelFunc
}

func (r *resumed) run(ctx context.Context, live stores.ChangeStream, page []stores.Change) {
	defer func() { live.Close() }()
	var err error
	for {
		// Catch up: send the log's pages until one comes back short.
		for {
			for _, c := range page {
				if !r.send(ctx, c) {
					return
				}
			}
			if len(page) < resumePage {
				break
			}
			if page, err = r.log.ChangesAfter(ctx, r.last, resumePage); err != nil {
				r.fail(ctx)
				return
			}
		}
		// Live, until the hub drops changes because this subscription fell
		// behind: those are in the log, so subscribe again and catch up.
		for lost := false; !lost; {
			select {
			case <-ctx.Done():
				return
			case <-live.Lost():
				lost = true
			case c := <-live.Changes():
				if c.Seq != 0 && c.Seq <= r.last {
					continue // replayed from the log already
				}
				if !r.send(ctx, c) {
					return
				}
			}
		}
		live.Close()
		again, err := r.feed.Subscribe(ctx, stores.ChangeMemory)
		if err != nil {
			r.fail(ctx)
			return
		}
		live = again
		if page, err = r.log.ChangesAfter(ctx, r.last, resumePage); err != nil {
			r.fail(ctx)
			return
		}
	}
}

func (r *resumed) send(ctx context.Context, c stores.Change) bool {
	select {
	case r.ch <- c:
		if c.Seq != 0 {
			r.last = c.Seq
		}
		return true
	case <-ctx.Done():
		return false
	}
}

// fail ends a subscription whose log cannot be read (the database is
// down): the subscriber is told it lost changes, and resumes from the
// cursor of the last change it received.
func (r *resumed) fail(ctx context.Context) {
	if ctx.Err() == nil {
		close(r.lost)
	}
}

func (r *resumed) Changes() <-chan stores.Change { return r.ch }
func (r *resumed) Lost() <-chan struct{}         { return r.lost }
func (r *resumed) Close()                        { r.cancel() }
