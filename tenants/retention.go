package tenants

import (
	"context"
	"log/slog"
	"time"
)

// Retention says how long data outlives its use. Zero keeps it forever.
type Retention struct {
	// DeletedMemories is how long a soft-deleted memory is kept before it
	// is purged for good, with its category links and derived documents.
	DeletedMemories time.Duration
	// Feedback is how long a feedback event is kept.
	Feedback time.Duration
	// Batch bounds each statement (DefaultBatch when zero).
	Batch int
}

// Purged is what one retention pass removed.
type Purged struct {
	Memories, Feedback int64
}

// Purge applies the retention windows across every organisation, chunk by
// chunk (one bounded transaction each), until nothing is older than them.
func (p *Postgres) Purge(ctx context.Context, now time.Time, r Retention) (Purged, error) {
	batch := r.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	var out Purged
	for _, w := range []struct {
		window time.Duration
		sql    string
		more   []any // parameters after the horizon and the batch
		n      *int64
	}{
		{r.DeletedMemories, purgeDeletedMemoriesSQL, []any{p.indexes}, &out.Memories},
		{r.Feedback, purgeFeedbackSQL, nil, &out.Feedback},
	} {
		if w.window <= 0 {
			continue
		}
		for {
			n, err := p.purgeChunk(ctx, w.sql, now.Add(-w.window), batch, w.more...)
			if err != nil {
				return out, err
			}
			*w.n += n
			if n < int64(batch) {
				break
			}
		}
	}
	return out, nil
}

// RunRetention purges every interval until ctx ends, logging what it did.
func (p *Postgres) RunRetention(ctx context.Context, r Retention, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		purged, err := p.Purge(ctx, time.Now(), r)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention purge", "err", err)
		case purged.Memories > 0 || purged.Feedback > 0:
			log.Info("retention purge", "memories", purged.Memories, "feedback_events", purged.Feedback)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
