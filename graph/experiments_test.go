package graph_test

import (
	"testing"

	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

type experimentJSON struct {
	ID       string
	Status   string
	Variants []struct {
		Key    string
		Weight int
		Config map[string]any
	}
	StatusHistory []struct {
		From *string
		To   string
	}
	Assignment *struct {
		Variant struct{ Key string }
	}
	Results []struct {
		VariantKey string
		Stats      struct {
			Total          int
			AcceptanceRate float64
		}
	}
}

const experimentFields = `id status variants { key weight config } statusHistory { from to } assignment { variant { key } } results { variantKey stats { total acceptanceRate } }`

func (s *testServer) createExperiment(t *testing.T, token, name string) experimentJSON {
	t.Helper()
	var out struct {
		CreateExperiment struct{ Experiment experimentJSON }
	}
	s.do(t, token, `mutation($n: String!) { createExperiment(input: {name: $n, variants: [
		{key: "control", weight: 1, config: {recall: {fullTextWeight: 1}}},
		{key: "treatment", weight: 3, config: {recall: {vectorWeight: 2}}}]}) { experiment { `+experimentFields+` } } }`,
		map[string]any{"n": name}).ok(t, &out)
	return out.CreateExperiment.Experiment
}

func (s *testServer) transition(t *testing.T, token, id, to string) gqlResponse {
	t.Helper()
	return s.do(t, token, `mutation($id: ID!, $to: ExperimentStatus!) { transitionExperiment(input: {id: $id, to: $to, reason: "test"}) { experiment { `+experimentFields+` } } }`,
		map[string]any{"id": id, "to": to})
}

func TestExperiments(t *testing.T) {
	s := newTestServer(t)
	alice := storetest.NewTenant()
	tok := s.token(t, alice)

	e := s.createExperiment(t, tok, "fusion")
	t.Run("a new experiment is a DRAFT with its variants and no assignment", func(t *testing.T) {
		if e.Status != "DRAFT" || len(e.Variants) != 2 || e.Variants[1].Weight != 3 || e.Assignment != nil {
			t.Fatalf("unexpected experiment %+v", e)
		}
		if e.Variants[0].Config["recall"] == nil {
			t.Fatalf("variant config lost: %+v", e.Variants[0].Config)
		}
	})

	t.Run("an illegal transition is a CONFLICT", func(t *testing.T) {
		s.transition(t, tok, e.ID, "PAUSED").code(t, "CONFLICT")
	})

	t.Run("running assigns the caller the same variant every time", func(t *testing.T) {
		var out struct {
			TransitionExperiment struct{ Experiment experimentJSON }
		}
		s.transition(t, tok, e.ID, "RUNNING").ok(t, &out)
		got := out.TransitionExperiment.Experiment
		if got.Status != "RUNNING" || len(got.StatusHistory) != 2 || got.StatusHistory[1].To != "RUNNING" {
			t.Fatalf("after transition: %+v", got)
		}
		first := got.Assignment
		if first == nil {
			t.Fatal("a running experiment gave no assignment")
		}
		for range 3 {
			var again struct{ Experiment experimentJSON }
			s.do(t, tok, `query($id: ID!) { experiment(id: $id) { `+experimentFields+` } }`, map[string]any{"id": e.ID}).ok(t, &again)
			if again.Experiment.Assignment.Variant.Key != first.Variant.Key {
				t.Fatalf("assignment changed from %s to %s", first.Variant.Key, again.Experiment.Assignment.Variant.Key)
			}
		}
	})

	t.Run("results show each variant's feedback, zeros included", func(t *testing.T) {
		var out struct{ Experiment experimentJSON }
		s.do(t, tok, `query($id: ID!) { experiment(id: $id) { assignment { variant { key } } } }`, map[string]any{"id": e.ID}).ok(t, &out)
		key := out.Experiment.Assignment.Variant.Key
		s.do(t, tok, `mutation($e: ID!, $k: String!) { recordFeedback(input: {queryId: "q1", tool: "cli", queryType: "recall", outcome: ACCEPTED, experimentId: $e, variantKey: $k}) { event { id } } }`,
			map[string]any{"e": e.ID, "k": key}).ok(t, nil)
		s.do(t, tok, `query($id: ID!) { experiment(id: $id) { `+experimentFields+` } }`, map[string]any{"id": e.ID}).ok(t, &out)
		if len(out.Experiment.Results) != 2 {
			t.Fatalf("results = %+v", out.Experiment.Results)
		}
		for _, r := range out.Experiment.Results {
			want := 0
			if r.VariantKey == key {
				want = 1
			}
			if r.Stats.Total != want {
				t.Fatalf("variant %s has %d events, want %d", r.VariantKey, r.Stats.Total, want)
			}
		}
	})

	t.Run("the list filters by status", func(t *testing.T) {
		s.createExperiment(t, tok, "still-draft")
		var out struct {
			Experiments struct{ Nodes []experimentJSON }
		}
		s.do(t, tok, `{ experiments(statuses: [RUNNING]) { nodes { id status } } }`, nil).ok(t, &out)
		if len(out.Experiments.Nodes) != 1 || out.Experiments.Nodes[0].ID != e.ID {
			t.Fatalf("running experiments = %+v", out.Experiments.Nodes)
		}
	})

	t.Run("zero weights and duplicate keys are refused", func(t *testing.T) {
		s.do(t, tok, `mutation { createExperiment(input: {name: "bad", variants: [{key: "a", weight: 0}]}) { experiment { id } } }`, nil).code(t, "BAD_USER_INPUT")
		s.do(t, tok, `mutation { createExperiment(input: {name: "dup", variants: [{key: "a", weight: 1}, {key: "a", weight: 1}]}) { experiment { id } } }`, nil).code(t, "BAD_USER_INPUT")
	})

	t.Run("another tenant's experiment answers like a missing one", func(t *testing.T) {
		bob := s.token(t, storetest.NewTenant())
		missing := relay.UUIDID(relay.KindExperiment, uuid.New())
		for _, id := range []string{e.ID, missing} {
			r := s.do(t, bob, `query($id: ID!) { experiment(id: $id) { id } }`, map[string]any{"id": id})
			r.ok(t, nil)
			if !r.isNull(t, "experiment") {
				t.Fatalf("experiment(%s) = %s for another tenant", id, r.Data)
			}
			s.transition(t, bob, id, "PAUSED").code(t, "NOT_FOUND")
		}
	})
}
