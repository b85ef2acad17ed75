package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/guarded"
)

// Sender carries one change to every replica, waiting until it is sent or
// ctx ends (stores/postgres' ChangeListener, through NOTIFY).
type Sender interface {
	Send(ctx context.Context, c stores.Change) error
}

// DropObserver counts the changes a PublishQueue dropped (telemetry.Metrics).
type DropObserver interface {
	ChangeDropped(reason string)
}

// DefaultQueueSize is how many changes may wait to be sent.
const DefaultQueueSize = 1024

// PublishQueue is a stores.ChangePublisher that never makes a write wait:
// Publish puts the change in a bounded queue and returns; one goroutine
// sends the queue's changes in order, each call under a guard (timeout,
// circuit breaker), so a broker that is down fails fast instead of
// stacking up. A change that finds the queue full, or that the sender
// cannot send, is dropped: logged (at most once a second) and counted. The
// write it describes stands; its subscribers re-read on the next change.
type PublishQueue struct {
	sender   Sender
	guard    *guarded.Guard
	log      *slog.Logger
	observer DropObserver

	queue chan stores.Change
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	dropped  atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds of the last drop logged
}

// NewPublishQueue starts the sender. size < 1 is DefaultQueueSize;
// observer may be nil.
func NewPublishQueue(sender Sender, size int, guard *guarded.Guard, observer DropObserver, log *slog.Logger) *PublishQueue {
	if size < 1 {
		size = DefaultQueueSize
	}
	q := &PublishQueue{
		sender: sender, guard: guard, log: log, observer: observer,
		queue: make(chan stores.Change, size), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go q.run()
	return q
}

// Publish queues c without waiting.
func (q *PublishQueue) Publish(c stores.Change) {
	select {
	case q.queue <- c:
	default:
		q.drop("queue_full", nil)
	}
}

func (q *PublishQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.stop:
			return
		case c := <-q.queue:
			err := q.guard.Run(context.Background(), "publish change", func(ctx context.Context) error {
				return q.sender.Send(ctx, c)
			})
			if err != nil {
				q.drop("send_failed", err)
			}
		}
	}
}

// Dropped reports how many changes were dropped.
func (q *PublishQueue) Dropped() int64 { return q.dropped.Load() }

func (q *PublishQueue) drop(reason string, err error) {
	q.dropped.Add(1)
	if q.observer != nil {
		q.observer.ChangeDropped(reason)
	}
	now := time.Now().UnixNano()
	last := q.lastWarn.Load()
	if now-last < int64(time.Second) || !q.lastWarn.CompareAndSwap(last, now) {
		return
	}
	attrs := []any{"reason", reason, "dropped_total", q.dropped.Load()}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	q.log.Warn("change notification dropped; subscribers see the write on its next change", attrs...)
}

// Close stops the sender; changes still queued are dropped.
func (q *PublishQueue) Close() {
	q.once.Do(func() { close(q.stop) })
	<-q.done
}
