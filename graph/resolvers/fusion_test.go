package resolvers

import (
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

func textHit(id uuid.UUID, score float64) stores.SearchHit {
	return stores.SearchHit{Document: stores.Document{ID: id.String(), MemoryID: &id}, Score: score}
}

func vectorHit(id uuid.UUID, score float64) stores.VectorHit {
	return stores.VectorHit{ID: id, MemoryID: &id, Score: score}
}

func TestFuse(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()

	t.Run("a memory both sources found outranks one found by a single source", func(t *testing.T) {
		got := fuse(defaultFusion,
			[]stores.SearchHit{textHit(a, 9), textHit(b, 5)},
			[]stores.VectorHit{vectorHit(b, 0.9), vectorHit(c, 0.8)}, nil)
		if len(got) != 3 || got[0].MemoryID != b {
			t.Fatalf("want b first of 3, got %+v", got)
		}
		if got[0].FullTextRank != 2 || got[0].VectorRank != 1 {
			t.Fatalf("b's ranks = %d/%d, want 2/1", got[0].FullTextRank, got[0].VectorRank)
		}
		k := float64(defaultFusion.K)
		want := defaultFusion.FullText/(k+2) + defaultFusion.Vector/(k+1)
		if d := got[0].Score - want; d > 1e-12 || d < -1e-12 {
			t.Fatalf("b's score = %v, want %v", got[0].Score, want)
		}
	})
	t.Run("weights decide between sources", func(t *testing.T) {
		w := defaultFusion
		w.FullText = 0
		got := fuse(w, []stores.SearchHit{textHit(a, 9)}, []stores.VectorHit{vectorHit(c, 0.5)}, nil)
		if got[0].MemoryID != c {
			t.Fatalf("with full-text weighted 0, want the vector hit first, got %+v", got)
		}
	})
	t.Run("the session boost lifts a memory the session touched", func(t *testing.T) {
		got := fuse(defaultFusion, []stores.SearchHit{textHit(a, 9), textHit(b, 5)}, nil, map[uuid.UUID]float64{b: 1})
		if got[0].MemoryID != b || got[0].Boost != 1+defaultFusion.SessionBoost {
			t.Fatalf("want b first with boost %v, got %+v", 1+defaultFusion.SessionBoost, got)
		}
	})
	t.Run("hits without a memory are skipped and do not take a rank", func(t *testing.T) {
		doc := stores.SearchHit{Document: stores.Document{ID: "plain"}, Score: 10}
		got := fuse(defaultFusion, []stores.SearchHit{doc, textHit(a, 1)}, nil, nil)
		if len(got) != 1 || got[0].FullTextRank != 1 {
			t.Fatalf("want a at rank 1 only, got %+v", got)
		}
	})
}

func TestFusionFromConfig(t *testing.T) {
	t.Run("a variant's recall object overrides the defaults", func(t *testing.T) {
		w, ok := fusionFromConfig(map[string]any{"recall": map[string]any{"fullTextWeight": 0.2, "vectorWeight": 2.0, "k": 10.0}})
		if !ok || w.FullText != 0.2 || w.Vector != 2 || w.K != 10 || w.SessionBoost != defaultFusion.SessionBoost {
			t.Fatalf("got %+v, %v", w, ok)
		}
	})
	t.Run("a config without recall keeps the defaults", func(t *testing.T) {
		if w, ok := fusionFromConfig(map[string]any{"other": 1.0}); ok || w != defaultFusion {
			t.Fatalf("got %+v, %v", w, ok)
		}
	})
	t.Run("out-of-range values keep the defaults", func(t *testing.T) {
		w, _ := fusionFromConfig(map[string]any{"recall": map[string]any{"fullTextWeight": -1.0, "k": 0.0}})
		if w != defaultFusion {
			t.Fatalf("got %+v", w)
		}
	})
}
