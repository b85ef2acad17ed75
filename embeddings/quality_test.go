package embeddings

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"testing"
)

// qualitySet is testdata/quality.json: hand-written engineering memories and
// queries labelled with the memories that answer them, many of them
// paraphrases that share no content word with the query.
type qualitySet struct {
	Memories []struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"memories"`
	Queries []struct {
		Text     string   `json:"text"`
		Relevant []string `json:"relevant"`
	} `json:"queries"`
}

func loadQualitySet(t *testing.T) qualitySet {
	t.Helper()
	raw, err := os.ReadFile("testdata/quality.json")
	if err != nil {
		t.Fatal(err)
	}
	var set qualitySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("testdata/quality.json: %v", err)
	}
	return set
}

func TestQualitySetIsWellFormed(t *testing.T) {
	set := loadQualitySet(t)
	if len(set.Memories) < 200 || len(set.Queries) < 50 {
		t.Errorf("%d memories and %d queries, want at least 200 and 50", len(set.Memories), len(set.Queries))
	}
	idForm := regexp.MustCompile(`^m\d{3}$`)
	ids := map[string]bool{}
	texts := map[string]bool{}
	for _, m := range set.Memories {
		if !idForm.MatchString(m.ID) || ids[m.ID] || m.Text == "" || texts[m.Text] {
			t.Errorf("memory %q %q: malformed, empty or repeated", m.ID, m.Text)
		}
		ids[m.ID], texts[m.Text] = true, true
	}
	for _, q := range set.Queries {
		if q.Text == "" || len(q.Relevant) == 0 {
			t.Errorf("query %q has no text or no relevant memory", q.Text)
		}
		for _, id := range q.Relevant {
			if !ids[id] {
				t.Errorf("query %q names unknown memory %s", q.Text, id)
			}
		}
	}
}

// TestRealServerRetrievesParaphrases ranks every memory by cosine to each
// query with the real model: the vector half of recall alone, as a floor for
// the fused ranking the gateway's own quality test measures.
func TestRealServerRetrievesParaphrases(t *testing.T) {
	o := newReal(t, realConfig(t))
	set := loadQualitySet(t)
	ctx := context.Background()
	texts := make([]string, len(set.Memories))
	for i, m := range set.Memories {
		texts[i] = m.Text
	}
	mem, err := o.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	var hitAt5, found5, relevant int
	var rr float64
	for _, q := range set.Queries {
		qv, err := o.Embed(ctx, []string{q.Text})
		if err != nil {
			t.Fatal(err)
		}
		order := make([]int, len(mem))
		for i := range order {
			order[i] = i
		}
		score := func(i int) float64 { return cosine(qv[0], mem[i]) }
		sort.SliceStable(order, func(a, b int) bool { return score(order[a]) > score(order[b]) })
		first := 0
		for rank, i := range order {
			if slices.Contains(q.Relevant, set.Memories[i].ID) {
				if first == 0 {
					first = rank + 1
				}
				if rank < 5 {
					found5++
				}
			}
		}
		relevant += len(q.Relevant)
		if first <= 5 {
			hitAt5++
		}
		rr += 1 / float64(first)
	}
	n := float64(len(set.Queries))
	t.Logf("vector only, %d queries over %d memories: hit@5 %.2f, recall@5 %.2f, MRR %.3f",
		len(set.Queries), len(set.Memories), float64(hitAt5)/n, float64(found5)/float64(relevant), rr/n)
	if float64(hitAt5)/n < 0.65 {
		t.Errorf("hit@5 %.2f: the model finds fewer paraphrases than expected (>= 0.65)", float64(hitAt5)/n)
	}
}
