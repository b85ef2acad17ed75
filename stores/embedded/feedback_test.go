package embedded

import (
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestFeedbackContract(t *testing.T) {
	storetest.RunFeedback(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		memories := NewMemoryBackend(clock.Now, nil)
		experiments := NewExperimentBackend(clock.Now)
		return storetest.Harness{
			Backends: stores.Backends{
				Memories:    memories,
				Experiments: experiments,
				Feedback:    NewFeedbackBackend(clock.Now, memories, experiments),
			},
			Advance: clock.Advance,
		}
	})
}

// Without memories and experiments, feedback still works; every reference
// to one is refused as not found.
func TestFeedbackContractWithoutReferences(t *testing.T) {
	storetest.RunFeedback(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{Feedback: NewFeedbackBackend(clock.Now, nil, nil)},
			Advance:  clock.Advance,
		}
	})
}

func TestFeedbackPurgeFollowsTheClock(t *testing.T) {
	clock := storetest.NewManualClock()
	st := NewFeedbackBackend(clock.Now, nil, nil).Feedback(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	record := func() {
		t.Helper()
		_, err := st.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		storetest.RequireNoError(t, err)
	}
	record()
	record()
	clock.Advance(30 * 24 * time.Hour)
	record()
	retention := clock.Now().Add(-7 * 24 * time.Hour)
	n, err := st.PurgeFeedback(ctx, retention)
	storetest.RequireNoError(t, err)
	if n != 2 {
		t.Fatalf("purged %d events, want the 2 older than a week", n)
	}
	// An event created exactly at the cut-off is kept: only strictly older ones go.
	n, err = st.PurgeFeedback(ctx, clock.Now())
	storetest.RequireNoError(t, err)
	if n != 0 {
		t.Fatalf("purged %d events created at the cut-off, want 0", n)
	}
	n, err = st.PurgeFeedback(ctx, clock.Now().Add(time.Microsecond))
	storetest.RequireNoError(t, err)
	if n != 1 {
		t.Fatalf("purged %d events, want 1", n)
	}
}

func TestFeedbackReferencesADeletedMemory(t *testing.T) {
	tenant := storetest.NewTenant()
	memories := NewMemoryBackend(nil, nil)
	fb := NewFeedbackBackend(nil, memories, nil).Feedback(tenant)
	ctx := storetest.Ctx(t)
	ms := memories.Memories(tenant)
	app, err := ms.CreateApp(ctx, "editor", "")
	storetest.RequireNoError(t, err)
	m, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "x"})
	storetest.RequireNoError(t, err)
	_, err = ms.DeleteMemory(ctx, m.ID, nil)
	storetest.RequireNoError(t, err)
	// Feedback on a memory that was deleted after it was offered still counts.
	_, err = fb.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &m.ID, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeRejected})
	storetest.RequireNoError(t, err)
	// Without an experiment backend no experiment can be named.
	_, err = fb.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", ExperimentID: new(uuid.New()), Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeRejected})
	storetest.RequireKind(t, err, stores.ErrNotFound)
}

func TestFeedbackReturnsCopies(t *testing.T) {
	st := NewFeedbackBackend(nil, nil, nil).Feedback(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	latency := 5
	ev, err := st.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted, LatencyMs: &latency})
	storetest.RequireNoError(t, err)
	latency = 6
	*ev.LatencyMs = 7
	page, err := st.FeedbackEvents(ctx, stores.FeedbackFilter{}, stores.PageArgs{First: 1})
	storetest.RequireNoError(t, err)
	if *page.Items[0].LatencyMs != 5 {
		t.Fatalf("latency %d, want the recorded 5", *page.Items[0].LatencyMs)
	}
}

func TestFeedbackFiltersRefuseTextPostgreSQLCannotCarry(t *testing.T) {
	fb := NewFeedbackBackend(nil, nil, nil).Feedback(storetest.NewTenant())
	_, err := fb.FeedbackEvents(storetest.Ctx(t), stores.FeedbackFilter{Tool: "\xff"}, stores.PageArgs{First: 1})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	_, err = fb.FeedbackAggregates(storetest.Ctx(t), stores.FeedbackFilter{QueryType: "a\x00"})
	storetest.RequireKind(t, err, stores.ErrInvalid)
}
