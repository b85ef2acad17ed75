package resolvers

import (
	"cmp"
	"math"
	"slices"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// fusionWeights are recall's settings: Reciprocal Rank Fusion weights per
// source, the constant k, and the episodic boost.
type fusionWeights struct {
	FullText     float64
	Vector       float64
	SessionBoost float64
	K            int
}

// defaultFusion is used when the caller has no experiment variant that
// configures recall. k=60 is the constant of the original RRF paper. Full
// text weighs a fiftieth of vectors, from measurement: on the labelled
// paraphrase set (e2e/quality, 213 memories, 50 queries) full text alone
// reaches recall@10 0.20 and vectors 0.88, and any larger full-text weight
// lets word-sharing distractors push paraphrases out of the top 10 (fused
// recall@10 0.50 at weight 1, 0.62 at 0.5, 0.78 at 0.2, 0.86 at 0.05, 0.88
// at 0.02). Full text still ranks what vectors miss, breaks near ties, and
// carries recall alone when there is no vector; experiments tune the weights
// per variant.
var defaultFusion = fusionWeights{FullText: 0.02, Vector: 1, SessionBoost: 0.5, K: 60}

// fusionFromConfig reads a variant config's "recall" object over the
// defaults; ok is false when the config has none. Out-of-range values keep
// the default, so a bad experiment cannot break recall.
func fusionFromConfig(config map[string]any) (fusionWeights, bool) {
	raw, ok := config["recall"].(map[string]any)
	if !ok {
		return defaultFusion, false
	}
	w := defaultFusion
	num := func(key string, dst *float64) {
		if v, ok := raw[key].(float64); ok && v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
			*dst = v
		}
	}
	num("fullTextWeight", &w.FullText)
	num("vectorWeight", &w.Vector)
	num("sessionBoost", &w.SessionBoost)
	if k, ok := raw["k"].(float64); ok && k >= 1 && k <= 10000 {
		w.K = int(k)
	}
	return w, true
}

// fused is one memory's place in a recall before hydration.
type fused struct {
	MemoryID      uuid.UUID
	Score         float64
	FullTextRank  int // 1-based, 0 when full-text did not find it
	FullTextScore float64
	VectorRank    int
	VectorScore   float64
	Boost         float64 // multiplier from the session, 1 when none
	Highlights    []string
}

// fuse merges full-text and vector hits that point at memories with
// Reciprocal Rank Fusion (score = sum of weight / (k + rank)), then boosts the
// memories the session touched by (1 + SessionBoost x item score). Hits that
// point at no memory are skipped; a memory found twice by one source keeps its
// best rank. The result is ordered by score, highest first, ties by id.
func fuse(w fusionWeights, text []stores.SearchHit, vector []stores.VectorHit, session map[uuid.UUID]float64) []fused {
	byID := map[uuid.UUID]*fused{}
	entry := func(id uuid.UUID) *fused {
		f, ok := byID[id]
		if !ok {
			f = &fused{MemoryID: id, Boost: 1}
			byID[id] = f
		}
		return f
	}
	rank := 0
	for _, h := range text {
		if h.Document.MemoryID == nil {
			continue
		}
		rank++
		f := entry(*h.Document.MemoryID)
		if f.FullTextRank == 0 {
			f.FullTextRank, f.FullTextScore, f.Highlights = rank, h.Score, h.Highlights
		}
	}
	rank = 0
	for _, h := range vector {
		if h.MemoryID == nil {
			continue
		}
		rank++
		f := entry(*h.MemoryID)
		if f.VectorRank == 0 {
			f.VectorRank, f.VectorScore = rank, h.Score
		}
	}
	out := make([]fused, 0, len(byID))
	for _, f := range byID {
		if f.FullTextRank > 0 {
			f.Score += w.FullText / float64(w.K+f.FullTextRank)
		}
		if f.VectorRank > 0 {
			f.Score += w.Vector / float64(w.K+f.VectorRank)
		}
		if s, ok := session[f.MemoryID]; ok {
			f.Boost = 1 + w.SessionBoost*s
			f.Score *= f.Boost
		}
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b fused) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return slices.Compare(a.MemoryID[:], b.MemoryID[:])
	})
	return out
}
