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
// configures recall. Chosen by replaying RRF over the gateway's own top-50
// lists on two labelled sets (docs/BENCHMARKS.md, "Retrieval quality"):
// bench/recall's 1,900 memories from Python 3.11's docstrings (full text
// alone recall@10 0.673 / MRR@10 0.430, vectors 0.823 / 0.581) and the
// paraphrase set of quality_test.go (full text 0.260 / 0.191, vectors
// 0.880 / 0.648). The old defaults (full text 0.02, k 60) fused to 0.820 /
// 0.583 and 0.880 / 0.574: no better than vectors, and on paraphrases a worse
// first hit. Full text 0.15 with k 1 gives 0.830 / 0.585 and 0.880 / 0.646.
// More full-text weight helps the docstrings (0.6: 0.853 / 0.604) and hurts
// paraphrases, where every full-text hit is a distractor (0.6: 0.820 /
// 0.583); no single setting gains on both, which is what per-variant weights
// (experiments) are for. A small k lets each source's first hits count; it
// also widens the gap between neighbouring ranks (1/2 against 1/3), so a
// memory the session touched is doubled (SessionBoost 1), enough to pass the
// hit ranked just above it (x1.5 only ties).
var defaultFusion = fusionWeights{FullText: 0.15, Vector: 1, SessionBoost: 1, K: 1}

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
