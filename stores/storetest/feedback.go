package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunFeedback checks a FeedbackBackend: events, filters, aggregates and the
// retention purge. The tests that refer to memories or experiments need the
// harness to serve those domains too, and are skipped otherwise.
func RunFeedback(t *testing.T, newHarness NewHarness) {
	t.Run("a recorded event reads back as recorded", func(t *testing.T) {
		_, b := fbSetup(t, newHarness)
		ctx := Ctx(t)
		in := stores.NewFeedbackEvent{QueryID: "q-1", Tool: "vscode", QueryType: "recall", Outcome: stores.OutcomeEdited, LatencyMs: valuePtr(42)}
		ev, err := b.Feedback.RecordFeedback(ctx, in)
		RequireNoError(t, err)
		if ev.ID == uuid.Nil || ev.UserID != b.Tenant.UserID || ev.QueryID != "q-1" || ev.Tool != "vscode" || ev.QueryType != "recall" ||
			ev.Outcome != stores.OutcomeEdited || ev.LatencyMs == nil || *ev.LatencyMs != 42 || ev.MemoryID != nil ||
			ev.ExperimentID != nil || ev.VariantKey != "" || ev.CreatedAt.IsZero() {
			t.Fatalf("recorded event %+v", ev)
		}
		listed := fbRequireEvents(t, b, stores.FeedbackFilter{}, ev.ID)
		fbRequireSame(t, listed[0], ev)
		noLatency, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q-2", Tool: "cli", QueryType: "search", Outcome: stores.OutcomeIgnored})
		RequireNoError(t, err)
		if noLatency.LatencyMs != nil {
			t.Fatalf("latency %v, want none", *noLatency.LatencyMs)
		}
	})

	t.Run("an event may name a memory and an experiment variant of the org", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		mem := fbMemory(t, h, b)
		exp := fbExperiment(t, h, b, "fb refs")
		ctx := Ctx(t)
		ev, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &mem, Tool: "cli", QueryType: "recall",
			Outcome: stores.OutcomeAccepted, LatencyMs: valuePtr(0), ExperimentID: &exp, VariantKey: "b"})
		RequireNoError(t, err)
		if ev.MemoryID == nil || *ev.MemoryID != mem || ev.ExperimentID == nil || *ev.ExperimentID != exp || ev.VariantKey != "b" {
			t.Fatalf("recorded event %+v", ev)
		}
		noVariant, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall",
			Outcome: stores.OutcomeRejected, ExperimentID: &exp})
		RequireNoError(t, err)
		listed := fbRequireEvents(t, b, stores.FeedbackFilter{}, fbNewestFirst(ev, noVariant)...)
		for _, e := range listed {
			if e.ID == ev.ID {
				fbRequireSame(t, e, ev)
			}
		}
	})

	t.Run("invalid events are refused", func(t *testing.T) {
		_, b := fbSetup(t, newHarness)
		exp := uuid.New()
		ok := stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted}
		with := func(change func(*stores.NewFeedbackEvent)) stores.NewFeedbackEvent {
			in := ok
			change(&in)
			return in
		}
		cases := []struct {
			name string
			in   stores.NewFeedbackEvent
		}{
			{"an empty query id", with(func(in *stores.NewFeedbackEvent) { in.QueryID = "" })},
			{"a query id over 128 characters", with(func(in *stores.NewFeedbackEvent) { in.QueryID = strings.Repeat("q", 129) })},
			{"an empty tool", with(func(in *stores.NewFeedbackEvent) { in.Tool = "" })},
			{"a tool over the limit", with(func(in *stores.NewFeedbackEvent) { in.Tool = strings.Repeat("t", stores.MaxNameLength+1) })},
			{"an empty query type", with(func(in *stores.NewFeedbackEvent) { in.QueryType = "" })},
			{"a query type over the limit", with(func(in *stores.NewFeedbackEvent) { in.QueryType = strings.Repeat("t", stores.MaxNameLength+1) })},
			{"an unknown outcome", with(func(in *stores.NewFeedbackEvent) { in.Outcome = "LOVED" })},
			{"an empty outcome", with(func(in *stores.NewFeedbackEvent) { in.Outcome = "" })},
			{"a negative latency", with(func(in *stores.NewFeedbackEvent) { in.LatencyMs = valuePtr(-1) })},
			{"a variant key without an experiment", with(func(in *stores.NewFeedbackEvent) { in.VariantKey = "a" })},
			{"a tool that is not UTF-8", with(func(in *stores.NewFeedbackEvent) { in.Tool = "\xff" })},
			{"a variant key over the limit", with(func(in *stores.NewFeedbackEvent) {
				in.ExperimentID = &exp
				in.VariantKey = strings.Repeat("k", stores.MaxNameLength+1)
			})},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := b.Feedback.RecordFeedback(Ctx(t), c.in)
				RequireKind(t, err, stores.ErrInvalid)
			})
		}
		fbRequireEvents(t, b, stores.FeedbackFilter{})
		longest := with(func(in *stores.NewFeedbackEvent) {
			in.QueryID = strings.Repeat("q", 128)
			in.Tool = strings.Repeat("t", stores.MaxNameLength)
			in.QueryType = strings.Repeat("y", stores.MaxNameLength)
		})
		_, err := b.Feedback.RecordFeedback(Ctx(t), longest)
		RequireNoError(t, err)
	})

	t.Run("an unknown memory, experiment or variant is not found", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		ctx := Ctx(t)
		base := stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted}
		in := base
		in.MemoryID = valuePtr(uuid.New())
		_, err := b.Feedback.RecordFeedback(ctx, in)
		RequireKind(t, err, stores.ErrNotFound)
		in = base
		in.ExperimentID = valuePtr(uuid.New())
		_, err = b.Feedback.RecordFeedback(ctx, in)
		RequireKind(t, err, stores.ErrNotFound)
		in.VariantKey = "a"
		_, err = b.Feedback.RecordFeedback(ctx, in)
		RequireKind(t, err, stores.ErrNotFound)
		if h.Backends.Experiments != nil {
			exp := fbExperiment(t, h, b, "fb variants")
			in.ExperimentID = &exp
			in.VariantKey = "c"
			_, err = b.Feedback.RecordFeedback(ctx, in)
			RequireKind(t, err, stores.ErrNotFound)
		}
		fbRequireEvents(t, b, stores.FeedbackFilter{})
	})

	t.Run("another org's memory or experiment is not found", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		other := h.Bundle(t, NewTenant())
		mem := fbMemory(t, h, other)
		exp := fbExperiment(t, h, other, "theirs")
		ctx := Ctx(t)
		_, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &mem, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", ExperimentID: &exp, VariantKey: "a", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireKind(t, err, stores.ErrNotFound)
		fbRequireEvents(t, b, stores.FeedbackFilter{})
	})

	t.Run("raw events are the user's own, aggregates and admins see the org's, another org sees none", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		ev := fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		theirs := fbRecord(t, colleague, "cli", "recall", stores.OutcomeRejected)
		if theirs.UserID != colleague.Tenant.UserID {
			t.Fatalf("the colleague's event is attributed to %s", theirs.UserID)
		}
		fbRequireEvents(t, colleague, stores.FeedbackFilter{}, theirs.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{}, ev.ID)
		n, err := b.Feedback.CountFeedbackEvents(Ctx(t), stores.FeedbackFilter{})
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("CountFeedbackEvents = %d, want the user's 1", n)
		}
		all := stores.FeedbackFilter{AllUsers: true}
		listed := fbRequireEvents(t, colleague, all, fbNewestFirst(ev, theirs)...)
		for _, e := range listed {
			if e.ID == ev.ID && e.UserID != b.Tenant.UserID {
				t.Fatalf("event %+v lost its user", e)
			}
		}
		if n, err = b.Feedback.CountFeedbackEvents(Ctx(t), all); err != nil || n != 2 {
			t.Fatalf("CountFeedbackEvents(all users) = %d, %v, want 2", n, err)
		}
		agg, err := b.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "the org's overall", agg.Overall, 1, 1, 0, 0)

		other := h.Bundle(t, NewTenant())
		fbRequireEvents(t, other, stores.FeedbackFilter{})
		fbRequireEvents(t, other, all)
		agg, err = other.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "another org's overall", agg.Overall, 0, 0, 0, 0)
		purged, err := other.Feedback.PurgeFeedback(Ctx(t), time.Now().Add(24*time.Hour))
		RequireNoError(t, err)
		if purged != 0 {
			t.Fatalf("another org's purge deleted %d events", purged)
		}
		fbRequireEvents(t, b, all, fbNewestFirst(ev, theirs)...)
	})

	t.Run("another user's private memory is not found", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		if h.Backends.Memories == nil {
			t.Skip("the harness serves no memories")
		}
		app, err := colleague.Memories.CreateApp(Ctx(t), "private feedback app", "")
		RequireNoError(t, err)
		m, err := colleague.Memories.CreateMemory(Ctx(t), stores.NewMemory{AppID: app.ID, Content: "mine", Visibility: stores.VisibilityPrivate})
		RequireNoError(t, err)
		_, err = b.Feedback.RecordFeedback(Ctx(t), stores.NewFeedbackEvent{QueryID: "q", MemoryID: &m.ID, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireKind(t, err, stores.ErrNotFound)
		fbRequireEvents(t, b, stores.FeedbackFilter{AllUsers: true})
		ev, err := colleague.Feedback.RecordFeedback(Ctx(t), stores.NewFeedbackEvent{QueryID: "q", MemoryID: &m.ID, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireNoError(t, err)
		fbRequireEvents(t, colleague, stores.FeedbackFilter{}, ev.ID)

		// Aggregates count every user's events, but not about a memory the
		// reader cannot see: that filter answers like a missing memory.
		about := stores.FeedbackFilter{MemoryID: &m.ID, AllUsers: true}
		agg, err := b.Feedback.FeedbackAggregates(Ctx(t), about)
		RequireNoError(t, err)
		fbRequireStats(t, "about another user's private memory", agg.Overall, 0, 0, 0, 0)
		fbRequireEvents(t, b, about)
		agg, err = colleague.Feedback.FeedbackAggregates(Ctx(t), about)
		RequireNoError(t, err)
		fbRequireStats(t, "about the author's own memory", agg.Overall, 1, 0, 0, 0)
	})

	t.Run("events list newest first", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		var evs []stores.FeedbackEvent
		for range 4 {
			evs = append(evs, fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted))
			h.Wait(t, 50*time.Millisecond)
		}
		fbRequireEvents(t, b, stores.FeedbackFilter{}, evs[3].ID, evs[2].ID, evs[1].ID, evs[0].ID)
	})

	t.Run("filters narrow the events", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		ctx := Ctx(t)
		early := fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		h.Wait(t, 50*time.Millisecond)
		mid := fbRecord(t, b, "vscode", "search", stores.OutcomeRejected)
		h.Wait(t, 50*time.Millisecond)
		late := fbRecord(t, b, "vscode", "recall", stores.OutcomeIgnored)

		fbRequireEvents(t, b, stores.FeedbackFilter{Tool: "vscode"}, late.ID, mid.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Tool: "jetbrains"})
		fbRequireEvents(t, b, stores.FeedbackFilter{QueryType: "recall"}, late.ID, early.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Outcomes: []stores.Outcome{stores.OutcomeAccepted, stores.OutcomeIgnored}}, late.ID, early.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Since: &mid.CreatedAt}, late.ID, mid.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Until: &mid.CreatedAt}, early.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Since: &mid.CreatedAt, Until: &late.CreatedAt}, mid.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{Tool: "vscode", QueryType: "recall", Since: &early.CreatedAt}, late.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{MemoryID: valuePtr(uuid.New())})
		fbRequireEvents(t, b, stores.FeedbackFilter{ExperimentID: valuePtr(uuid.New())})
		_, err := b.Feedback.FeedbackEvents(ctx, stores.FeedbackFilter{Outcomes: []stores.Outcome{"MAYBE"}}, stores.PageArgs{First: 10})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{Outcomes: []stores.Outcome{"MAYBE"}})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Feedback.CountFeedbackEvents(ctx, stores.FeedbackFilter{Outcomes: []stores.Outcome{"MAYBE"}})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("events filter by memory and experiment", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		mem := fbMemory(t, h, b)
		exp := fbExperiment(t, h, b, "fb filter")
		ctx := Ctx(t)
		plain := fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		withMem, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &mem, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireNoError(t, err)
		withExp, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", ExperimentID: &exp, VariantKey: "a", Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
		RequireNoError(t, err)
		fbRequireEvents(t, b, stores.FeedbackFilter{MemoryID: &mem}, withMem.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{ExperimentID: &exp}, withExp.ID)
		fbRequireEvents(t, b, stores.FeedbackFilter{}, fbNewestFirst(plain, withMem, withExp)...)
	})

	t.Run("pages walk every event exactly once in order", func(t *testing.T) {
		_, b := fbSetup(t, newHarness)
		ctx := Ctx(t)
		for range 7 {
			fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		}
		all, err := b.Feedback.FeedbackEvents(ctx, stores.FeedbackFilter{}, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		if len(all.Items) != 7 || all.HasNextPage {
			t.Fatalf("one big page has %d items (more: %v), want 7", len(all.Items), all.HasNextPage)
		}
		var added stores.FeedbackEvent
		walked := pageThrough(t, func(after string) (stores.Page[stores.FeedbackEvent], error) {
			return b.Feedback.FeedbackEvents(ctx, stores.FeedbackFilter{}, stores.PageArgs{First: 2, After: after})
		}, func() { added = fbRecord(t, b, "cli", "recall", stores.OutcomeRejected) })
		ids := slices.DeleteFunc(fbIDs(walked), func(id uuid.UUID) bool { return id == added.ID })
		if !slices.Equal(ids, fbIDs(all.Items)) {
			t.Fatalf("pages gave %v, want every earlier event once in order %v", fbIDs(walked), fbIDs(all.Items))
		}
		// The count is of the whole list now, the event added meanwhile included.
		if n, err := b.Feedback.CountFeedbackEvents(ctx, stores.FeedbackFilter{}); err != nil || n != len(ids)+1 {
			t.Fatalf("CountFeedbackEvents = %d, %v; want %d", n, err, len(ids)+1)
		}
		_, err = b.Feedback.FeedbackEvents(ctx, stores.FeedbackFilter{}, stores.PageArgs{First: 2, After: "%%%"})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("aggregates of no events are zeros", func(t *testing.T) {
		_, b := fbSetup(t, newHarness)
		agg, err := b.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "overall", agg.Overall, 0, 0, 0, 0)
		if agg.ByTool == nil || len(agg.ByTool) != 0 || agg.ByQueryType == nil || len(agg.ByQueryType) != 0 || agg.ByVariant == nil || len(agg.ByVariant) != 0 {
			t.Fatalf("groups of no events: %#v", agg)
		}
	})

	t.Run("aggregates count outcomes overall, by tool and by query type", func(t *testing.T) {
		_, b := fbSetup(t, newHarness)
		ctx := Ctx(t)
		for _, e := range []struct {
			tool, queryType string
			outcome         stores.Outcome
		}{
			{"cli", "recall", stores.OutcomeAccepted},
			{"cli", "recall", stores.OutcomeAccepted},
			{"cli", "recall", stores.OutcomeRejected},
			{"vscode", "search", stores.OutcomeAccepted},
			{"vscode", "search", stores.OutcomeIgnored},
			{"vscode", "recall", stores.OutcomeEdited},
			{"vscode", "recall", stores.OutcomeEdited},
		} {
			fbRecord(t, b, e.tool, e.queryType, e.outcome)
		}
		agg, err := b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "overall", agg.Overall, 3, 1, 1, 2)
		fbRequireGroups(t, "by tool", agg.ByTool, "cli", "vscode")
		fbRequireStats(t, "cli", agg.ByTool[0].Stats, 2, 1, 0, 0)
		fbRequireStats(t, "vscode", agg.ByTool[1].Stats, 1, 0, 1, 2)
		fbRequireGroups(t, "by query type", agg.ByQueryType, "recall", "search")
		fbRequireStats(t, "recall", agg.ByQueryType[0].Stats, 2, 1, 0, 2)
		fbRequireStats(t, "search", agg.ByQueryType[1].Stats, 1, 0, 1, 0)
		if len(agg.ByVariant) != 0 {
			t.Fatalf("by variant %+v, want none without experiments", agg.ByVariant)
		}

		cli, err := b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{Tool: "cli"})
		RequireNoError(t, err)
		fbRequireStats(t, "cli only", cli.Overall, 2, 1, 0, 0)
		fbRequireGroups(t, "cli only by tool", cli.ByTool, "cli")
		fbRequireGroups(t, "cli only by query type", cli.ByQueryType, "recall")
		accepted, err := b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{Outcomes: []stores.Outcome{stores.OutcomeAccepted}})
		RequireNoError(t, err)
		fbRequireStats(t, "accepted only", accepted.Overall, 3, 0, 0, 0)
	})

	t.Run("aggregates split by experiment variant", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		e1 := fbExperiment(t, h, b, "fb agg one")
		e2 := fbExperiment(t, h, b, "fb agg two")
		ctx := Ctx(t)
		record := func(exp uuid.UUID, key string, o stores.Outcome) {
			t.Helper()
			_, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", Tool: "cli", QueryType: "recall", Outcome: o, ExperimentID: &exp, VariantKey: key})
			RequireNoError(t, err)
		}
		record(e1, "b", stores.OutcomeAccepted)
		record(e1, "a", stores.OutcomeAccepted)
		record(e1, "a", stores.OutcomeRejected)
		record(e2, "a", stores.OutcomeIgnored)
		record(e2, "b", stores.OutcomeAccepted)
		record(e2, "b", stores.OutcomeAccepted)
		fbRecord(t, b, "cli", "recall", stores.OutcomeEdited)

		agg, err := b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "overall", agg.Overall, 4, 1, 1, 1)
		first, second := e1, e2
		if strings.Compare(first.String(), second.String()) > 0 {
			first, second = second, first
		}
		type key struct {
			exp uuid.UUID
			v   string
		}
		var got []key
		for _, v := range agg.ByVariant {
			got = append(got, key{v.ExperimentID, v.VariantKey})
		}
		want := []key{{first, "a"}, {first, "b"}, {second, "a"}, {second, "b"}}
		if !slices.Equal(got, want) {
			t.Fatalf("by variant groups %v, want %v", got, want)
		}
		stats := map[key]stores.FeedbackStats{}
		for _, v := range agg.ByVariant {
			stats[key{v.ExperimentID, v.VariantKey}] = v.Stats
		}
		fbRequireStats(t, "e1/a", stats[key{e1, "a"}], 1, 1, 0, 0)
		fbRequireStats(t, "e1/b", stats[key{e1, "b"}], 1, 0, 0, 0)
		fbRequireStats(t, "e2/a", stats[key{e2, "a"}], 0, 0, 1, 0)
		fbRequireStats(t, "e2/b", stats[key{e2, "b"}], 2, 0, 0, 0)

		only, err := b.Feedback.FeedbackAggregates(ctx, stores.FeedbackFilter{ExperimentID: &e2})
		RequireNoError(t, err)
		fbRequireStats(t, "e2 overall", only.Overall, 2, 0, 1, 0)
		if len(only.ByVariant) != 2 || only.ByVariant[0].ExperimentID != e2 || only.ByVariant[1].VariantKey != "b" {
			t.Fatalf("e2 by variant %+v", only.ByVariant)
		}
	})

	t.Run("aggregates honour the time window", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		fbRecord(t, b, "cli", "recall", stores.OutcomeRejected)
		h.Wait(t, 50*time.Millisecond)
		cut := fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		since, err := b.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{Since: &cut.CreatedAt})
		RequireNoError(t, err)
		fbRequireStats(t, "since the cut", since.Overall, 2, 0, 0, 0)
		until, err := b.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{Until: &cut.CreatedAt})
		RequireNoError(t, err)
		fbRequireStats(t, "until the cut", until.Overall, 0, 1, 0, 0)
	})

	t.Run("purge deletes only the org's events created before the cut-off", func(t *testing.T) {
		h, b := fbSetup(t, newHarness)
		other := h.Bundle(t, NewTenant())
		theirs := fbRecord(t, other, "cli", "recall", stores.OutcomeAccepted)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		fbRecord(t, colleague, "cli", "recall", stores.OutcomeRejected)
		h.Wait(t, time.Second)
		keep1 := fbRecord(t, b, "cli", "recall", stores.OutcomeAccepted)
		keep2 := fbRecord(t, colleague, "vscode", "search", stores.OutcomeIgnored)

		n, err := b.Feedback.PurgeFeedback(Ctx(t), keep1.CreatedAt)
		RequireNoError(t, err)
		if n != 2 {
			t.Fatalf("purge deleted %d events, want 2", n)
		}
		fbRequireEvents(t, b, stores.FeedbackFilter{AllUsers: true}, fbNewestFirst(keep1, keep2)...)
		n, err = b.Feedback.PurgeFeedback(Ctx(t), keep1.CreatedAt)
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("a second purge deleted %d events, want 0", n)
		}
		agg, err := b.Feedback.FeedbackAggregates(Ctx(t), stores.FeedbackFilter{})
		RequireNoError(t, err)
		fbRequireStats(t, "after the purge", agg.Overall, 1, 0, 1, 0)
		fbRequireEvents(t, other, stores.FeedbackFilter{}, theirs.ID)
	})
}

func fbSetup(t *testing.T, newHarness NewHarness) (Harness, *stores.Bundle) {
	t.Helper()
	h := newHarness(t)
	return h, h.Bundle(t, NewTenant())
}

func fbRecord(t *testing.T, b *stores.Bundle, tool, queryType string, o stores.Outcome) stores.FeedbackEvent {
	t.Helper()
	ev, err := b.Feedback.RecordFeedback(Ctx(t), stores.NewFeedbackEvent{QueryID: "q-" + uuid.NewString(), Tool: tool, QueryType: queryType, Outcome: o})
	RequireNoError(t, err)
	return ev
}

// fbMemory creates a memory in b's org, skipping the test when the harness
// serves no memories.
func fbMemory(t *testing.T, h Harness, b *stores.Bundle) uuid.UUID {
	t.Helper()
	if h.Backends.Memories == nil {
		t.Skip("the harness serves no memories")
	}
	app, err := b.Memories.CreateApp(Ctx(t), "feedback app", "")
	RequireNoError(t, err)
	m, err := b.Memories.CreateMemory(Ctx(t), stores.NewMemory{AppID: app.ID, Content: "remembered"})
	RequireNoError(t, err)
	return m.ID
}

// fbExperiment creates an experiment with variants "a" and "b" in b's org,
// skipping the test when the harness serves no experiments.
func fbExperiment(t *testing.T, h Harness, b *stores.Bundle, name string) uuid.UUID {
	t.Helper()
	if h.Backends.Experiments == nil {
		t.Skip("the harness serves no experiments")
	}
	e, err := b.Experiments.CreateExperiment(Ctx(t), stores.NewExperiment{Name: name, Variants: []stores.NewVariant{{Key: "a", Weight: 1}, {Key: "b", Weight: 1}}})
	RequireNoError(t, err)
	return e.ID
}

func fbIDs(evs []stores.FeedbackEvent) []uuid.UUID {
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// fbNewestFirst returns the events' ids in the documented list order
// (created_at desc, id desc), computed from the times the store returned.
func fbNewestFirst(evs ...stores.FeedbackEvent) []uuid.UUID {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b stores.FeedbackEvent) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID.String(), a.ID.String())
	})
	return fbIDs(evs)
}

// fbRequireEvents fails unless the filtered events are exactly want, in order.
func fbRequireEvents(t *testing.T, b *stores.Bundle, f stores.FeedbackFilter, want ...uuid.UUID) []stores.FeedbackEvent {
	t.Helper()
	page, err := b.Feedback.FeedbackEvents(Ctx(t), f, stores.PageArgs{First: 100})
	RequireNoError(t, err)
	if page.Items == nil || page.Cursors == nil {
		t.Fatal("FeedbackEvents returned a nil slice")
	}
	if got := fbIDs(page.Items); !slices.Equal(got, want) {
		t.Fatalf("FeedbackEvents(%+v) = %v, want %v", f, got, want)
	}
	if got := fbNewestFirst(page.Items...); !slices.Equal(got, fbIDs(page.Items)) {
		t.Fatalf("events are not newest first: %v", fbIDs(page.Items))
	}
	n, err := b.Feedback.CountFeedbackEvents(Ctx(t), f)
	RequireNoError(t, err)
	if n != len(want) {
		t.Fatalf("CountFeedbackEvents(%+v) = %d, want %d", f, n, len(want))
	}
	return page.Items
}

// fbRequireStats checks a summary against its outcome counts.
func fbRequireStats(t *testing.T, what string, got stores.FeedbackStats, accepted, rejected, ignored, edited int) {
	t.Helper()
	total := accepted + rejected + ignored + edited
	want := stores.FeedbackStats{
		Total:          total,
		Accepted:       accepted,
		AcceptanceRate: stores.Rate(accepted, total),
		Outcomes: []stores.OutcomeCount{
			{Outcome: stores.OutcomeAccepted, Count: accepted},
			{Outcome: stores.OutcomeRejected, Count: rejected},
			{Outcome: stores.OutcomeIgnored, Count: ignored},
			{Outcome: stores.OutcomeEdited, Count: edited},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s stats\n got %+v\nwant %+v", what, got, want)
	}
}

func fbRequireGroups(t *testing.T, what string, groups []stores.GroupStats, keys ...string) {
	t.Helper()
	var got []string
	for _, g := range groups {
		got = append(got, g.Key)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("%s groups %v, want %v", what, got, keys)
	}
}

func fbRequireSame(t *testing.T, got, want stores.FeedbackEvent) {
	t.Helper()
	if !reflect.DeepEqual(got.MemoryID, want.MemoryID) || !reflect.DeepEqual(got.LatencyMs, want.LatencyMs) || !reflect.DeepEqual(got.ExperimentID, want.ExperimentID) ||
		got.ID != want.ID || got.UserID != want.UserID || got.QueryID != want.QueryID || got.Tool != want.Tool || got.QueryType != want.QueryType ||
		got.Outcome != want.Outcome || got.VariantKey != want.VariantKey || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("event\n got %+v\nwant %+v", got, want)
	}
}
