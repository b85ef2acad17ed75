package graph_test

import (
	"testing"

	"github.com/codingbrain/gateway/stores/storetest"
)

type recallJSON struct {
	Recall struct {
		Hits []struct {
			Score        float64
			FullTextRank *int
			VectorRank   *int
			SessionBoost float64
			Highlights   []string
			Memory       struct{ ID, Content string }
		}
		Sources []struct {
			Name, Status string
			HitCount     int
		}
		Weights struct {
			FullText, Vector float64
			K                int
			VariantKey       *string
		}
	}
}

const recallQuery = `query($text: String, $vector: [Float!], $model: String, $session: String) {
  recall(text: $text, vector: $vector, model: $model, sessionId: $session, first: 5) {
    hits { score fullTextRank vectorRank sessionBoost highlights memory { id content } }
    sources { name status hitCount }
    weights { fullText vector k variantKey }
  }
}`

func TestRecall(t *testing.T) {
	s := newTestServer(t)
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "cli")
	webhook := s.createMemory(t, tok, app, "webhook retries use exponential backoff")
	flags := s.createMemory(t, tok, app, "feature flags live in one package")
	cache := s.createMemory(t, tok, app, "the cache is warmed at start")
	s.do(t, tok, `mutation($in: UpsertVectorsInput!) { upsertVectors(input: $in) { pointIds } }`, map[string]any{"in": map[string]any{
		"model": "m4", "points": []any{
			map[string]any{"memoryId": webhook.ID, "vector": []float64{1, 0, 0, 0}},
			map[string]any{"memoryId": flags.ID, "vector": []float64{0, 1, 0, 0}},
			map[string]any{"memoryId": cache.ID, "vector": []float64{0.9, 0.1, 0, 0}},
		},
	}}).ok(t, nil)

	t.Run("text alone runs full-text and says the other sources were skipped", func(t *testing.T) {
		var out recallJSON
		s.do(t, tok, recallQuery, map[string]any{"text": "webhook backoff"}).ok(t, &out)
		r := out.Recall
		if len(r.Hits) != 1 || r.Hits[0].Memory.ID != webhook.ID || r.Hits[0].FullTextRank == nil || *r.Hits[0].FullTextRank != 1 || len(r.Hits[0].Highlights) == 0 {
			t.Fatalf("hits = %+v", r.Hits)
		}
		want := map[string]string{"FULL_TEXT": "OK", "VECTOR": "SKIPPED", "EPISODIC": "SKIPPED"}
		for _, src := range r.Sources {
			if want[src.Name] != src.Status {
				t.Fatalf("source %s is %s, want %s", src.Name, src.Status, want[src.Name])
			}
		}
		if r.Weights.K != 1 || r.Weights.FullText != 0.15 || r.Weights.VariantKey != nil {
			t.Fatalf("default weights expected, got %+v", r.Weights)
		}
	})

	t.Run("a memory both sources found ranks first, with both ranks explained", func(t *testing.T) {
		var out recallJSON
		s.do(t, tok, recallQuery, map[string]any{"text": "webhook", "vector": []float64{0.95, 0.05, 0, 0}, "model": "m4"}).ok(t, &out)
		h := out.Recall.Hits
		if len(h) != 3 || h[0].Memory.ID != webhook.ID || h[0].FullTextRank == nil || h[0].VectorRank == nil {
			t.Fatalf("hits = %+v", h)
		}
		if h[1].Memory.ID != cache.ID || h[1].FullTextRank != nil {
			t.Fatalf("second hit should be the vector-only neighbour: %+v", h[1])
		}
	})

	t.Run("the episodic session boosts what it touched", func(t *testing.T) {
		s.do(t, tok, `mutation($m: ID!) { putEpisodicItem(input: {sessionId: "s1", content: "opened flags", memoryId: $m}) { item { id } } }`, map[string]any{"m": flags.ID}).ok(t, nil)
		var plain, boosted recallJSON
		vars := map[string]any{"vector": []float64{0.6, 0.4, 0, 0}, "model": "m4"}
		s.do(t, tok, recallQuery, vars).ok(t, &plain)
		vars["session"] = "s1"
		s.do(t, tok, recallQuery, vars).ok(t, &boosted)
		rank := func(r recallJSON) int {
			for i, h := range r.Recall.Hits {
				if h.Memory.ID == flags.ID {
					return i
				}
			}
			return -1
		}
		if rank(boosted) >= rank(plain) && rank(plain) != 0 {
			t.Fatalf("flags memory at %d with the session, %d without", rank(boosted), rank(plain))
		}
		for _, h := range boosted.Recall.Hits {
			if h.Memory.ID == flags.ID && h.SessionBoost <= 1 {
				t.Fatalf("boost = %v", h.SessionBoost)
			}
		}
	})

	t.Run("paused memories are not recalled", func(t *testing.T) {
		s.do(t, tok, `mutation($id: ID!) { setMemoryState(input: {id: $id, state: PAUSED}) { memory { id } } }`, map[string]any{"id": webhook.ID}).ok(t, nil)
		t.Cleanup(func() {
			s.do(t, tok, `mutation($id: ID!) { setMemoryState(input: {id: $id, state: ACTIVE}) { memory { id } } }`, map[string]any{"id": webhook.ID}).ok(t, nil)
		})
		var out recallJSON
		s.do(t, tok, recallQuery, map[string]any{"text": "webhook"}).ok(t, &out)
		if len(out.Recall.Hits) != 0 {
			t.Fatalf("a paused memory was recalled: %+v", out.Recall.Hits)
		}
	})

	t.Run("the caller's running experiment variant supplies the weights", func(t *testing.T) {
		e := s.createExperiment(t, tok, "recall-weights")
		var tr struct {
			TransitionExperiment struct{ Experiment experimentJSON }
		}
		s.transition(t, tok, e.ID, "RUNNING").ok(t, &tr)
		key := tr.TransitionExperiment.Experiment.Assignment.Variant.Key
		var out recallJSON
		s.do(t, tok, recallQuery, map[string]any{"text": "webhook"}).ok(t, &out)
		w := out.Recall.Weights
		if w.VariantKey == nil || *w.VariantKey != key {
			t.Fatalf("weights = %+v, want variant %s", w, key)
		}
		if (key == "treatment") != (w.Vector == 2) {
			t.Fatalf("variant %s gave weights %+v", key, w)
		}
	})

	t.Run("another tenant recalls none of these memories", func(t *testing.T) {
		var out recallJSON
		s.do(t, s.token(t, storetest.NewTenant()), recallQuery, map[string]any{"text": "webhook flags cache", "vector": []float64{1, 0, 0, 0}, "model": "m4"}).ok(t, &out)
		if len(out.Recall.Hits) != 0 {
			t.Fatalf("another tenant recalled %+v", out.Recall.Hits)
		}
	})

	for _, tt := range []struct {
		name string
		vars map[string]any
	}{
		{"neither text nor vector is refused", map[string]any{}},
		{"a vector without its model is refused", map[string]any{"vector": []float64{1, 0, 0, 0}}},
		{"a malformed session id is refused", map[string]any{"text": "x", "session": "no spaces allowed"}},
		{"a vector of the wrong dimension is refused", map[string]any{"vector": []float64{1, 0}, "model": "m4"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.do(t, tok, recallQuery, tt.vars).code(t, "BAD_USER_INPUT")
		})
	}
}
