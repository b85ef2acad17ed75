package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Statements of the feedback store.
const (
	// The memory is looked up under the policies: the foreign key alone
	// would accept another user's private memory (referential checks bypass
	// row level security). No row back means the memory is not there.
	insertFeedbackSQL = `INSERT INTO feedback_events
  (org_id, id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key)
SELECT $1::uuid, $2::uuid, $3::uuid, $4::text, $5::uuid, $6::text, $7::text, $8::text, $9::bigint, $10::uuid, $11::text
WHERE $5::uuid IS NULL OR EXISTS (SELECT 1 FROM memories WHERE id = $5::uuid)
RETURNING created_at`

	// Reads every event of the org in this transaction, not only the
	// user's own (aggregates, org admins, the retention purge).
	feedbackAllSQL = `SELECT set_config('app.feedback_all', 'on', true)`

	// feedbackFilterSQL selects the events of a stores.FeedbackFilter:
	// $1 since, $2 until, $3 outcomes, $4 tool, $5 query type, $6 experiment,
	// $7 memory, which must be visible to the user (under the policies; one
	// lookup per statement): aggregates count every user's events, and
	// would otherwise tell another user's private memory from a missing one.
	feedbackFilterSQL = `($1::timestamptz IS NULL OR created_at >= $1::timestamptz)
  AND ($2::timestamptz IS NULL OR created_at < $2::timestamptz)
  AND ($3::text[] IS NULL OR outcome = ANY($3::text[]))
  AND ($4::text IS NULL OR tool = $4::text)
  AND ($5::text IS NULL OR query_type = $5::text)
  AND ($6::uuid IS NULL OR experiment_id = $6::uuid)
  AND ($7::uuid IS NULL OR (memory_id = $7::uuid AND EXISTS (SELECT 1 FROM memories WHERE id = $7::uuid)))`

	feedbackColumns = `id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key, created_at`

	// $8/$9 cursor, $10 limit.
	listFeedbackSQL = `SELECT ` + feedbackColumns + ` FROM feedback_events
WHERE ` + feedbackFilterSQL + `
  AND ($8::timestamptz IS NULL OR (created_at, id) < ($8::timestamptz, $9::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $10`

	countFeedbackSQL = `SELECT count(*) FROM feedback_events
WHERE ` + feedbackFilterSQL

	// One scan of the selected events computes every summary: the grouping
	// sets are the overall total, per tool, per query type and per
	// experiment variant; GROUPING() says which set a row belongs to.
	feedbackAggregatesSQL = `SELECT GROUPING(tool, query_type, experiment_id, variant_key),
  tool, query_type, experiment_id, variant_key,
  count(*) FILTER (WHERE outcome = 'ACCEPTED'),
  count(*) FILTER (WHERE outcome = 'REJECTED'),
  count(*) FILTER (WHERE outcome = 'IGNORED'),
  count(*) FILTER (WHERE outcome = 'EDITED')
FROM feedback_events
WHERE ` + feedbackFilterSQL + `
GROUP BY GROUPING SETS ((), (tool), (query_type), (experiment_id, variant_key))`

	purgeFeedbackSQL = `DELETE FROM feedback_events WHERE created_at < $1`
)

// GROUPING(tool, query_type, experiment_id, variant_key) of each grouping
// set: a bit is set for every column the set does not group by.
const (
	groupOverall   = 0b1111
	groupTool      = 0b0111
	groupQueryType = 0b1011
	groupVariant   = 0b1100
)

type feedbackStore struct {
	b *Backend
	t stores.Tenant
}

func (s *feedbackStore) RecordFeedback(ctx context.Context, in stores.NewFeedbackEvent) (stores.FeedbackEvent, error) {
	if err := stores.CheckNewFeedback(in); err != nil {
		return stores.FeedbackEvent{}, err
	}
	ev := in.Event(s.t.UserID)
	var variant *string
	if in.VariantKey != "" {
		variant = &ev.VariantKey
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(insertFeedbackSQL, s.t.OrgID, ev.ID, ev.UserID, ev.QueryID, ev.MemoryID, ev.Tool, ev.QueryType,
			string(ev.Outcome), ev.LatencyMs, ev.ExperimentID, variant).
			QueryRow(func(row pgx.Row) error { return row.Scan(&ev.CreatedAt) })
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return stores.FeedbackEvent{}, stores.NotFound("memory not found")
	}
	if isForeignKeyViolation(err, "feedback_events_variant_fkey") {
		return stores.FeedbackEvent{}, stores.NotFound("the experiment has no variant %q", in.VariantKey)
	}
	if err != nil {
		return stores.FeedbackEvent{}, err
	}
	ev.CreatedAt = ev.CreatedAt.UTC()
	return ev, nil
}

// filterArgs returns the arguments $1..$7 of feedbackFilterSQL; zero values
// of f become NULL ("any").
func filterArgs(f stores.FeedbackFilter) ([]any, error) {
	if err := stores.CheckFeedbackFilter(f); err != nil {
		return nil, err
	}
	var outcomes []string
	for _, o := range f.Outcomes {
		outcomes = append(outcomes, string(o))
	}
	return []any{f.Since, f.Until, outcomes, nullIfEmpty(f.Tool), nullIfEmpty(f.QueryType), f.ExperimentID, f.MemoryID}, nil
}

func (s *feedbackStore) FeedbackEvents(ctx context.Context, f stores.FeedbackFilter, p stores.PageArgs) (stores.Page[stores.FeedbackEvent], error) {
	args, err := filterArgs(f)
	if err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	afterAt, afterID := newestAfter(after)
	var events []stores.FeedbackEvent
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		if f.AllUsers {
			b.Queue(feedbackAllSQL)
		}
		b.Queue(listFeedbackSQL, append(args, afterAt, afterID, p.First+1)...).Query(func(rows pgx.Rows) (err error) {
			events, err = pgx.CollectRows(rows, scanFeedback)
			return err
		})
	})
	if err != nil {
		return stores.Page[stores.FeedbackEvent]{}, err
	}
	return page(events, p.First, func(e stores.FeedbackEvent) string { return stores.NewestCursor{At: e.CreatedAt, ID: e.ID}.Encode() }), nil
}

func (s *feedbackStore) CountFeedbackEvents(ctx context.Context, f stores.FeedbackFilter) (int, error) {
	args, err := filterArgs(f)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		if f.AllUsers {
			b.Queue(feedbackAllSQL)
		}
		b.Queue(countFeedbackSQL, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	})
	return n, err
}

func scanFeedback(row pgx.CollectableRow) (stores.FeedbackEvent, error) {
	var e stores.FeedbackEvent
	var outcome string
	var variant *string
	err := row.Scan(&e.ID, &e.UserID, &e.QueryID, &e.MemoryID, &e.Tool, &e.QueryType, &outcome, &e.LatencyMs, &e.ExperimentID, &variant, &e.CreatedAt)
	e.Outcome = stores.Outcome(outcome)
	if variant != nil {
		e.VariantKey = *variant
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, err
}

func (s *feedbackStore) FeedbackAggregates(ctx context.Context, f stores.FeedbackFilter) (stores.FeedbackAggregates, error) {
	args, err := filterArgs(f)
	if err != nil {
		return stores.FeedbackAggregates{}, err
	}
	agg := stores.FeedbackAggregates{
		Overall:     outcomeStats([4]int64{}),
		ByTool:      []stores.GroupStats{},
		ByQueryType: []stores.GroupStats{},
		ByVariant:   []stores.VariantStats{},
	}
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(feedbackAllSQL)
		b.Queue(feedbackAggregatesSQL, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var grouping int
				var tool, queryType, variant *string
				var experiment *uuid.UUID
				var counts [4]int64
				if err := rows.Scan(&grouping, &tool, &queryType, &experiment, &variant, &counts[0], &counts[1], &counts[2], &counts[3]); err != nil {
					return err
				}
				stats := outcomeStats(counts)
				switch {
				case grouping == groupOverall:
					agg.Overall = stats
				case grouping == groupTool && tool != nil:
					agg.ByTool = append(agg.ByTool, stores.GroupStats{Key: *tool, Stats: stats})
				case grouping == groupQueryType && queryType != nil:
					agg.ByQueryType = append(agg.ByQueryType, stores.GroupStats{Key: *queryType, Stats: stats})
				case grouping == groupVariant && experiment != nil:
					vs := stores.VariantStats{ExperimentID: *experiment, Stats: stats}
					if variant != nil {
						vs.VariantKey = *variant
					}
					agg.ByVariant = append(agg.ByVariant, vs)
				}
			}
			return rows.Err()
		})
	})
	if err != nil {
		return stores.FeedbackAggregates{}, err
	}
	byKey := func(a, b stores.GroupStats) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(agg.ByTool, byKey)
	slices.SortFunc(agg.ByQueryType, byKey)
	slices.SortFunc(agg.ByVariant, func(a, b stores.VariantStats) int {
		if c := bytes.Compare(a.ExperimentID[:], b.ExperimentID[:]); c != 0 {
			return c
		}
		return strings.Compare(a.VariantKey, b.VariantKey)
	})
	return agg, nil
}

// outcomeStats builds FeedbackStats from counts in stores.Outcomes order
// (accepted, rejected, ignored, edited).
func outcomeStats(counts [4]int64) stores.FeedbackStats {
	st := stores.FeedbackStats{Outcomes: make([]stores.OutcomeCount, len(stores.Outcomes))}
	for i, o := range stores.Outcomes {
		st.Outcomes[i] = stores.OutcomeCount{Outcome: o, Count: int(counts[i])}
		st.Total += int(counts[i])
	}
	st.Accepted = int(counts[0])
	st.AcceptanceRate = stores.Rate(st.Accepted, st.Total)
	return st
}

func (s *feedbackStore) PurgeFeedback(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(feedbackAllSQL)
		b.Queue(purgeFeedbackSQL, before).Exec(func(ct pgconn.CommandTag) error {
			n = ct.RowsAffected()
			return nil
		})
	})
	return n, err
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
