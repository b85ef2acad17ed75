package storetest

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunExperiments checks an ExperimentBackend: experiments, variants, status
// transitions with history, and deterministic per-user assignments.
func RunExperiments(t *testing.T, newHarness NewHarness) {
	t.Run("a created experiment is a draft with its variants and a first history entry", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e, err := b.Experiments.CreateExperiment(ctx, stores.NewExperiment{
			Name:        "fusion weights",
			Description: "does vector recall help?",
			Variants: []stores.NewVariant{
				{Key: "control", Weight: 1},
				{Key: "treatment", Weight: 3, Config: map[string]any{"alpha": 0.5, "mode": "rrf"}},
			},
		})
		RequireNoError(t, err)
		if e.ID == uuid.Nil || e.Name != "fusion weights" || e.Description != "does vector recall help?" ||
			e.Status != stores.ExperimentDraft || e.CreatedAt.IsZero() || e.UpdatedAt.Before(e.CreatedAt) {
			t.Fatalf("created experiment %+v", e)
		}
		got, err := b.Experiments.Experiment(ctx, e.ID)
		RequireNoError(t, err)
		expRequireSame(t, got, e)

		vs := expVariants(t, b, e.ID)
		if len(vs) != 2 {
			t.Fatalf("variants %+v, want 2", vs)
		}
		wantKeys := []string{"control", "treatment"}
		wantConfigs := []map[string]any{{}, {"alpha": 0.5, "mode": "rrf"}}
		for i, v := range vs {
			if v.ID == uuid.Nil || v.ExperimentID != e.ID || v.Key != wantKeys[i] || v.Position != i || v.Weight != []int{1, 3}[i] ||
				v.Config == nil || !reflect.DeepEqual(v.Config, wantConfigs[i]) {
				t.Fatalf("variant %d = %+v", i, v)
			}
		}
		if vs[0].ID == vs[1].ID {
			t.Fatal("two variants share an id")
		}

		history := expHistory(t, b, e.ID)
		if len(history) != 1 || history[0].From != nil || history[0].To != stores.ExperimentDraft ||
			history[0].ChangedBy != b.Tenant.UserID || history[0].ChangedAt.IsZero() {
			t.Fatalf("history %+v, want one creation entry", history)
		}
	})

	t.Run("invalid experiments are refused", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		one := []stores.NewVariant{{Key: "a", Weight: 1}}
		tooMany := make([]stores.NewVariant, stores.MaxVariants+1)
		for i := range tooMany {
			tooMany[i] = stores.NewVariant{Key: "v" + strings.Repeat("x", i), Weight: 1}
		}
		cases := []struct {
			name string
			in   stores.NewExperiment
		}{
			{"an empty name", stores.NewExperiment{Name: "", Variants: one}},
			{"a blank name", stores.NewExperiment{Name: "   ", Variants: one}},
			{"a name over the limit", stores.NewExperiment{Name: strings.Repeat("n", stores.MaxNameLength+1), Variants: one}},
			{"no variants", stores.NewExperiment{Name: "x"}},
			{"too many variants", stores.NewExperiment{Name: "x", Variants: tooMany}},
			{"an empty variant key", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "", Weight: 1}}}},
			{"a variant key over the limit", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: strings.Repeat("k", stores.MaxNameLength+1), Weight: 1}}}},
			{"a duplicate variant key", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 1}, {Key: "a", Weight: 2}}}},
			{"a zero weight", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 0}}}},
			{"a negative weight", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 2}, {Key: "b", Weight: -1}}}},
			{"a config holding a channel", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 1, Config: map[string]any{"c": make(chan int)}}}}},
			{"a config holding infinity", stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 1, Config: map[string]any{"w": math.Inf(1)}}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := b.Experiments.CreateExperiment(Ctx(t), c.in)
				RequireKind(t, err, stores.ErrInvalid)
			})
		}
		expRequireList(t, b, nil)
	})

	t.Run("the largest allowed experiment is accepted", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		vs := make([]stores.NewVariant, stores.MaxVariants)
		for i := range vs {
			vs[i] = stores.NewVariant{Key: strings.Repeat("k", stores.MaxNameLength-2) + string(rune('a'+i/10)) + string(rune('a'+i%10)), Weight: i + 1}
		}
		e, err := b.Experiments.CreateExperiment(Ctx(t), stores.NewExperiment{Name: strings.Repeat("n", stores.MaxNameLength), Variants: vs})
		RequireNoError(t, err)
		got := expVariants(t, b, e.ID)
		if len(got) != stores.MaxVariants || got[stores.MaxVariants-1].Key != vs[stores.MaxVariants-1].Key {
			t.Fatalf("variants %+v", got)
		}
	})

	t.Run("experiment names are unique within an org only", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		mine := expCreate(t, b, "ranking", 1, 1)
		_, err := b.Experiments.CreateExperiment(ctx, stores.NewExperiment{Name: "ranking", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
		RequireKind(t, err, stores.ErrConflict)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		_, err = colleague.Experiments.CreateExperiment(ctx, stores.NewExperiment{Name: "ranking", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
		RequireKind(t, err, stores.ErrConflict)
		other := h.Bundle(t, NewTenant())
		theirs := expCreate(t, other, "ranking", 1, 1)
		if theirs.ID == mine.ID {
			t.Fatal("two orgs share an experiment id")
		}
		expRequireList(t, b, nil, mine.ID)
	})

	t.Run("a missing experiment is not found", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		missing := uuid.New()
		_, err := b.Experiments.Experiment(ctx, missing)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = b.Experiments.TransitionExperiment(ctx, missing, stores.ExperimentRunning, "")
		RequireKind(t, err, stores.ErrNotFound)
		expRequireAbsent(t, b, missing)
	})

	t.Run("another org's experiment is invisible and unchangeable", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e := expCreate(t, b, "private", 1, 1)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		mine, err := b.Experiments.Assignments(ctx, []uuid.UUID{e.ID})
		RequireNoError(t, err)
		other := h.Bundle(t, NewTenant())

		_, err = other.Experiments.Experiment(ctx, e.ID)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = other.Experiments.TransitionExperiment(ctx, e.ID, stores.ExperimentPaused, "sabotage")
		RequireKind(t, err, stores.ErrNotFound)
		expRequireAbsent(t, other, e.ID)
		expRequireList(t, other, nil)
		expRequireList(t, other, []stores.ExperimentStatus{stores.ExperimentRunning})

		got, err := b.Experiments.Experiment(ctx, e.ID)
		RequireNoError(t, err)
		if got.Status != stores.ExperimentRunning {
			t.Fatalf("status %s after another org's transition, want RUNNING", got.Status)
		}
		if history := expHistory(t, b, e.ID); len(history) != 2 {
			t.Fatalf("history %+v after another org's transition, want 2 entries", history)
		}
		again, err := b.Experiments.Assignments(ctx, []uuid.UUID{e.ID})
		RequireNoError(t, err)
		if again[e.ID].Variant.ID != mine[e.ID].Variant.ID {
			t.Fatal("the owner's assignment changed")
		}
	})

	t.Run("the org's users share experiments", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e := expCreate(t, b, "shared", 1, 1)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		got, err := colleague.Experiments.Experiment(ctx, e.ID)
		RequireNoError(t, err)
		expRequireSame(t, got, e)
		_, err = colleague.Experiments.TransitionExperiment(ctx, e.ID, stores.ExperimentRunning, "launch")
		RequireNoError(t, err)
		history := expHistory(t, b, e.ID)
		if len(history) != 2 || history[1].ChangedBy != colleague.Tenant.UserID || history[1].Reason != "launch" {
			t.Fatalf("history %+v, want the colleague's change last", history)
		}
		expRequireList(t, colleague, nil, e.ID)
	})

	t.Run("transitions follow the life cycle and are recorded", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e := expCreate(t, b, "lifecycle", 1, 1)
		steps := []struct {
			to     stores.ExperimentStatus
			reason string
		}{
			{stores.ExperimentRunning, "launch"},
			{stores.ExperimentPaused, "incident"},
			{stores.ExperimentRunning, ""},
			{stores.ExperimentCompleted, "enough data"},
			{stores.ExperimentArchived, "tidy up"},
		}
		prev := e
		for _, s := range steps {
			got, err := b.Experiments.TransitionExperiment(ctx, e.ID, s.to, s.reason)
			RequireNoError(t, err)
			if got.Status != s.to || got.ID != e.ID || got.Name != e.Name || !got.CreatedAt.Equal(e.CreatedAt) || got.UpdatedAt.Before(prev.UpdatedAt) {
				t.Fatalf("after moving to %s: %+v", s.to, got)
			}
			prev = got
		}
		read, err := b.Experiments.Experiment(ctx, e.ID)
		RequireNoError(t, err)
		expRequireSame(t, read, prev)

		history := expHistory(t, b, e.ID)
		if len(history) != len(steps)+1 {
			t.Fatalf("history has %d entries, want %d", len(history), len(steps)+1)
		}
		from := stores.ExperimentDraft
		for i, s := range steps {
			h := history[i+1]
			if h.From == nil || *h.From != from || h.To != s.to || h.Reason != s.reason || h.ChangedBy != b.Tenant.UserID || h.ChangedAt.Before(history[i].ChangedAt) {
				t.Fatalf("history entry %d = %+v, want %s -> %s (%q)", i+1, h, from, s.to, s.reason)
			}
			from = s.to
		}
	})

	t.Run("illegal transitions conflict and change nothing", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e := expCreate(t, b, "strict", 1, 1)
		for _, to := range []stores.ExperimentStatus{stores.ExperimentPaused, stores.ExperimentCompleted, stores.ExperimentArchived, stores.ExperimentDraft} {
			_, err := b.Experiments.TransitionExperiment(ctx, e.ID, to, "")
			RequireKind(t, err, stores.ErrConflict)
			msg := stores.PublicMessage(err)
			if !strings.Contains(msg, string(stores.ExperimentDraft)) || !strings.Contains(msg, string(to)) {
				t.Fatalf("conflict message %q does not name DRAFT and %s", msg, to)
			}
		}
		_, err := b.Experiments.TransitionExperiment(ctx, e.ID, stores.ExperimentStatus("LAUNCHED"), "")
		RequireKind(t, err, stores.ErrInvalid)
		got, err := b.Experiments.Experiment(ctx, e.ID)
		RequireNoError(t, err)
		expRequireSame(t, got, e)
		if history := expHistory(t, b, e.ID); len(history) != 1 {
			t.Fatalf("history %+v after refused transitions, want the creation entry only", history)
		}

		expTransition(t, b, e.ID, stores.ExperimentRunning)
		expTransition(t, b, e.ID, stores.ExperimentCompleted)
		expTransition(t, b, e.ID, stores.ExperimentArchived)
		for _, to := range []stores.ExperimentStatus{stores.ExperimentRunning, stores.ExperimentDraft, stores.ExperimentArchived} {
			_, err := b.Experiments.TransitionExperiment(ctx, e.ID, to, "")
			RequireKind(t, err, stores.ErrConflict)
		}
	})

	t.Run("lists are newest first and filter by status", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		var es []stores.Experiment
		for _, name := range []string{"first", "second", "third"} {
			es = append(es, expCreate(t, b, name, 1, 1))
			h.Wait(t, 50*time.Millisecond)
		}
		expTransition(t, b, es[1].ID, stores.ExperimentRunning)

		expRequireList(t, b, nil, es[2].ID, es[1].ID, es[0].ID)
		expRequireList(t, b, []stores.ExperimentStatus{stores.ExperimentRunning}, es[1].ID)
		expRequireList(t, b, []stores.ExperimentStatus{stores.ExperimentDraft}, es[2].ID, es[0].ID)
		expRequireList(t, b, []stores.ExperimentStatus{stores.ExperimentDraft, stores.ExperimentRunning}, es[2].ID, es[1].ID, es[0].ID)
		expRequireList(t, b, []stores.ExperimentStatus{stores.ExperimentArchived})
		_, err := b.Experiments.ListExperiments(ctx, []stores.ExperimentStatus{"SOMETIMES"}, stores.PageArgs{First: 10})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Experiments.CountExperiments(ctx, []stores.ExperimentStatus{"SOMETIMES"})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("pages walk every experiment exactly once in order", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		for i := range 5 {
			expCreate(t, b, "paged "+string(rune('a'+i)), 1, 1)
		}
		all, err := b.Experiments.ListExperiments(ctx, nil, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		if len(all.Items) != 5 || all.HasNextPage {
			t.Fatalf("one big page has %d items (more: %v), want 5", len(all.Items), all.HasNextPage)
		}
		var added stores.Experiment
		walked := pageThrough(t, func(after string) (stores.Page[stores.Experiment], error) {
			return b.Experiments.ListExperiments(ctx, nil, stores.PageArgs{First: 2, After: after})
		}, func() { added = expCreate(t, b, "added between pages", 1, 1) })
		ids := slices.DeleteFunc(expIDs(walked), func(id uuid.UUID) bool { return id == added.ID })
		if !slices.Equal(ids, expIDs(all.Items)) {
			t.Fatalf("pages gave %v, want every earlier experiment once in order %v", expIDs(walked), expIDs(all.Items))
		}
		// The count is of the whole list now, the experiment added meanwhile included.
		if n, err := b.Experiments.CountExperiments(ctx, nil); err != nil || n != len(ids)+1 {
			t.Fatalf("CountExperiments = %d, %v; want %d", n, err, len(ids)+1)
		}
		_, err = b.Experiments.ListExperiments(ctx, nil, stores.PageArgs{First: 2, After: "garbage"})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("ExperimentsByID returns only the org's existing experiments", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		a := expCreate(t, b, "a", 1, 1)
		c := expCreate(t, b, "c", 1, 1)
		theirs := expCreate(t, h.Bundle(t, NewTenant()), "theirs", 1, 1)
		got, err := b.Experiments.ExperimentsByID(ctx, []uuid.UUID{a.ID, uuid.New(), theirs.ID, c.ID})
		RequireNoError(t, err)
		if len(got) != 2 {
			t.Fatalf("ExperimentsByID = %+v, want the org's two", got)
		}
		expRequireSame(t, got[a.ID], a)
		expRequireSame(t, got[c.ID], c)
	})

	t.Run("assignments are made only while running", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e := expCreate(t, b, "gated", 1, 1)
		got, err := b.Experiments.Assignments(ctx, []uuid.UUID{e.ID})
		RequireNoError(t, err)
		if got == nil || len(got) != 0 {
			t.Fatalf("a draft gave assignments %#v, want an empty map", got)
		}
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		a := expAssignment(t, b, e.ID)
		if a.ExperimentID != e.ID || a.UserID != b.Tenant.UserID || a.AssignedAt.IsZero() {
			t.Fatalf("assignment %+v", a)
		}
		expRequirePicked(t, b, e.ID, a)
	})

	t.Run("a user keeps the same assignment", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		e := expCreate(t, b, "sticky", 1, 1, 1)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		first := expAssignment(t, b, e.ID)
		for range 3 {
			again := expAssignment(t, b, e.ID)
			expRequireSameAssignment(t, again, first)
		}
		fresh := h.Bundle(t, b.Tenant)
		expRequireSameAssignment(t, expAssignment(t, fresh, e.ID), first)
	})

	t.Run("assignments outlive running, and no new ones are made meanwhile", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		e := expCreate(t, b, "pausable", 1, 1)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		early := expAssignment(t, b, e.ID)
		expTransition(t, b, e.ID, stores.ExperimentPaused)
		expRequireSameAssignment(t, expAssignment(t, b, e.ID), early)
		late := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		expRequireNoAssignment(t, late, e.ID)

		expTransition(t, b, e.ID, stores.ExperimentRunning)
		lateAssignment := expAssignment(t, late, e.ID)
		expRequirePicked(t, late, e.ID, lateAssignment)

		expTransition(t, b, e.ID, stores.ExperimentCompleted)
		expRequireSameAssignment(t, expAssignment(t, b, e.ID), early)
		expRequireSameAssignment(t, expAssignment(t, late, e.ID), lateAssignment)
		expRequireNoAssignment(t, h.Bundle(t, SameOrgOtherUser(b.Tenant)), e.ID)
		expTransition(t, b, e.ID, stores.ExperimentArchived)
		expRequireSameAssignment(t, expAssignment(t, b, e.ID), early)
	})

	t.Run("every user of the org gets their own assignment and another org none", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		e := expCreate(t, b, "personal", 1, 1, 1, 1)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		mine := expAssignment(t, b, e.ID)
		for range 5 {
			colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
			theirs := expAssignment(t, colleague, e.ID)
			if theirs.UserID != colleague.Tenant.UserID {
				t.Fatalf("a colleague got an assignment for %s", theirs.UserID)
			}
			expRequirePicked(t, colleague, e.ID, theirs)
		}
		expRequireSameAssignment(t, expAssignment(t, b, e.ID), mine)
		stranger := h.Bundle(t, stores.Tenant{OrgID: uuid.New(), UserID: b.Tenant.UserID})
		expRequireNoAssignment(t, stranger, e.ID)
	})

	t.Run("weights split users roughly in proportion", func(t *testing.T) {
		h, b := expSetup(t, newHarness)
		e := expCreate(t, b, "weighted", 1, 3)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		counts := map[string]int{}
		const users = 1000
		for range users {
			u := h.Bundle(t, SameOrgOtherUser(b.Tenant))
			a := expAssignment(t, u, e.ID)
			expRequirePicked(t, u, e.ID, a)
			counts[a.Variant.Key]++
		}
		if counts["v1"] < 650 || counts["v1"] > 850 || counts["v0"]+counts["v1"] != users {
			t.Fatalf("variant counts %v over %d users, want about 250:750", counts, users)
		}
	})

	t.Run("assignments for several experiments come back at once", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		running1 := expCreate(t, b, "running one", 1, 1)
		running2 := expCreate(t, b, "running two", 2, 1)
		draft := expCreate(t, b, "draft", 1)
		expTransition(t, b, running1.ID, stores.ExperimentRunning)
		expTransition(t, b, running2.ID, stores.ExperimentRunning)
		got, err := b.Experiments.Assignments(ctx, []uuid.UUID{running1.ID, draft.ID, uuid.New(), running2.ID})
		RequireNoError(t, err)
		if len(got) != 2 {
			t.Fatalf("assignments %+v, want the two running experiments'", got)
		}
		expRequirePicked(t, b, running1.ID, got[running1.ID])
		expRequirePicked(t, b, running2.ID, got[running2.ID])
	})

	t.Run("VariantsByExperiment and StatusHistory have every id as a key", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		a := expCreate(t, b, "a", 1, 2)
		c := expCreate(t, b, "c", 5)
		missing := uuid.New()
		vs, err := b.Experiments.VariantsByExperiment(ctx, []uuid.UUID{a.ID, missing, c.ID})
		RequireNoError(t, err)
		if len(vs) != 3 || len(vs[a.ID]) != 2 || len(vs[c.ID]) != 1 || vs[missing] == nil || len(vs[missing]) != 0 {
			t.Fatalf("VariantsByExperiment = %+v", vs)
		}
		if vs[c.ID][0].Weight != 5 || vs[c.ID][0].ExperimentID != c.ID {
			t.Fatalf("variant %+v", vs[c.ID][0])
		}
		hs, err := b.Experiments.StatusHistory(ctx, []uuid.UUID{a.ID, missing, c.ID})
		RequireNoError(t, err)
		if len(hs) != 3 || len(hs[a.ID]) != 1 || len(hs[c.ID]) != 1 || hs[missing] == nil || len(hs[missing]) != 0 {
			t.Fatalf("StatusHistory = %+v", hs)
		}
	})

	t.Run("returned configs are copies the caller may change", func(t *testing.T) {
		_, b := expSetup(t, newHarness)
		ctx := Ctx(t)
		e, err := b.Experiments.CreateExperiment(ctx, stores.NewExperiment{Name: "copies", Variants: []stores.NewVariant{{Key: "a", Weight: 1, Config: map[string]any{"k": "v"}}}})
		RequireNoError(t, err)
		expTransition(t, b, e.ID, stores.ExperimentRunning)
		expVariants(t, b, e.ID)[0].Config["k"] = "changed"
		expAssignment(t, b, e.ID).Variant.Config["k"] = "changed"
		if got := expVariants(t, b, e.ID)[0].Config; !reflect.DeepEqual(got, map[string]any{"k": "v"}) {
			t.Fatalf("config %#v after the caller changed its copy", got)
		}
		if got := expAssignment(t, b, e.ID).Variant.Config; !reflect.DeepEqual(got, map[string]any{"k": "v"}) {
			t.Fatalf("assigned config %#v after the caller changed its copy", got)
		}
	})
}

func expSetup(t *testing.T, newHarness NewHarness) (Harness, *stores.Bundle) {
	t.Helper()
	h := newHarness(t)
	return h, h.Bundle(t, NewTenant())
}

// expCreate creates a draft experiment with variants v0, v1, ... of the given weights.
func expCreate(t *testing.T, b *stores.Bundle, name string, weights ...int) stores.Experiment {
	t.Helper()
	vs := make([]stores.NewVariant, len(weights))
	for i, w := range weights {
		vs[i] = stores.NewVariant{Key: "v" + string(rune('0'+i)), Weight: w}
	}
	e, err := b.Experiments.CreateExperiment(Ctx(t), stores.NewExperiment{Name: name, Variants: vs})
	RequireNoError(t, err)
	return e
}

func expTransition(t *testing.T, b *stores.Bundle, id uuid.UUID, to stores.ExperimentStatus) {
	t.Helper()
	_, err := b.Experiments.TransitionExperiment(Ctx(t), id, to, "test")
	RequireNoError(t, err)
}

func expVariants(t *testing.T, b *stores.Bundle, id uuid.UUID) []stores.Variant {
	t.Helper()
	got, err := b.Experiments.VariantsByExperiment(Ctx(t), []uuid.UUID{id})
	RequireNoError(t, err)
	return got[id]
}

func expHistory(t *testing.T, b *stores.Bundle, id uuid.UUID) []stores.StatusChange {
	t.Helper()
	got, err := b.Experiments.StatusHistory(Ctx(t), []uuid.UUID{id})
	RequireNoError(t, err)
	return got[id]
}

func expAssignment(t *testing.T, b *stores.Bundle, id uuid.UUID) stores.Assignment {
	t.Helper()
	got, err := b.Experiments.Assignments(Ctx(t), []uuid.UUID{id})
	RequireNoError(t, err)
	a, ok := got[id]
	if !ok {
		t.Fatalf("no assignment in experiment %s", id)
	}
	return a
}

func expRequireNoAssignment(t *testing.T, b *stores.Bundle, id uuid.UUID) {
	t.Helper()
	got, err := b.Experiments.Assignments(Ctx(t), []uuid.UUID{id})
	RequireNoError(t, err)
	if _, ok := got[id]; ok || got == nil {
		t.Fatalf("assignments %#v, want none for %s", got, id)
	}
}

// expRequirePicked checks that a is the variant stores.PickVariant gives the bundle's user.
func expRequirePicked(t *testing.T, b *stores.Bundle, id uuid.UUID, a stores.Assignment) {
	t.Helper()
	want, ok := stores.PickVariant(id, b.Tenant.UserID, expVariants(t, b, id))
	if !ok || a.Variant.ID != want.ID || a.Variant.Key != want.Key || a.ExperimentID != id || a.UserID != b.Tenant.UserID {
		t.Fatalf("assignment %+v, want variant %q picked for user %s", a, want.Key, b.Tenant.UserID)
	}
}

func expRequireSameAssignment(t *testing.T, got, want stores.Assignment) {
	t.Helper()
	if got.ExperimentID != want.ExperimentID || got.UserID != want.UserID || got.Variant.ID != want.Variant.ID ||
		got.Variant.Key != want.Variant.Key || !got.AssignedAt.Equal(want.AssignedAt) {
		t.Fatalf("assignment\n got %+v\nwant %+v", got, want)
	}
}

func expRequireAbsent(t *testing.T, b *stores.Bundle, id uuid.UUID) {
	t.Helper()
	ctx := Ctx(t)
	byID, err := b.Experiments.ExperimentsByID(ctx, []uuid.UUID{id})
	RequireNoError(t, err)
	if byID == nil || len(byID) != 0 {
		t.Fatalf("ExperimentsByID = %#v, want an empty map", byID)
	}
	vs, err := b.Experiments.VariantsByExperiment(ctx, []uuid.UUID{id})
	RequireNoError(t, err)
	if got, ok := vs[id]; !ok || got == nil || len(got) != 0 {
		t.Fatalf("VariantsByExperiment = %#v, want an empty slice under the id", vs)
	}
	hs, err := b.Experiments.StatusHistory(ctx, []uuid.UUID{id})
	RequireNoError(t, err)
	if got, ok := hs[id]; !ok || got == nil || len(got) != 0 {
		t.Fatalf("StatusHistory = %#v, want an empty slice under the id", hs)
	}
	expRequireNoAssignment(t, b, id)
}

func expIDs(es []stores.Experiment) []uuid.UUID {
	ids := make([]uuid.UUID, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// expRequireList fails unless the list with the status filter holds exactly want, in order.
func expRequireList(t *testing.T, b *stores.Bundle, statuses []stores.ExperimentStatus, want ...uuid.UUID) {
	t.Helper()
	page, err := b.Experiments.ListExperiments(Ctx(t), statuses, stores.PageArgs{First: 100})
	RequireNoError(t, err)
	if page.Items == nil || page.Cursors == nil {
		t.Fatal("ListExperiments returned a nil slice")
	}
	if got := expIDs(page.Items); !slices.Equal(got, want) {
		t.Fatalf("ListExperiments(%v) = %v, want %v", statuses, got, want)
	}
	n, err := b.Experiments.CountExperiments(Ctx(t), statuses)
	RequireNoError(t, err)
	if n != len(want) {
		t.Fatalf("CountExperiments(%v) = %d, want %d", statuses, n, len(want))
	}
}

func expRequireSame(t *testing.T, got, want stores.Experiment) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Description != want.Description || got.Status != want.Status ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("experiment\n got %+v\nwant %+v", got, want)
	}
}
