// Command recall measures retrieval quality on the real stack: it loads a
// labelled set (bench/recall/testdata/stdlib.json, built by stdlib.py from
// Python 3.11's docstrings) into a fresh tenant of the gateway binary, asks
// every query of the set through search(text:), vectorSearch(text:) and
// recall(text:), computes a BM25 baseline outside the gateway on the same
// texts, and prints recall@10 and MRR@10 of each side by side, with the
// fusion weights and k that would have done best on the gateway's own lists.
//
//	go run ./bench/recall [-gateway bin/gateway] [-set PATH] [-org UUID]
//
// It needs the services (source e2e/services/env first): PostgreSQL (already
// migrated), OpenSearch, Qdrant and the embedding server. `make bench-recall`
// builds the gateway and runs it; docs/BENCHMARKS.md explains the figures.
//
// The baseline is Lucene's BM25 (k1 1.2, b 0.75, idf ln(1 + (N - n + 0.5) /
// (n + 0.5)), the collection's own average length) over the tokens of the
// gateway's analyzer chain (standard tokenizer, possessives, lowercase, ASCII
// folding, English stemmer), which OpenSearch's _analyze produces without any
// index, so no tenant's statistics come into it; and the same over plain
// lowercase words, as rank_bm25 with str.split-like tokens would.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// labelledSet is the JSON of stdlib.py (and of embeddings/testdata/quality.json).
type labelledSet struct {
	Description string
	Memories    []struct{ ID, Text string }
	Queries     []struct {
		Text     string
		Relevant []string
	}
}

// depth is how deep the lists are read: 10 for the metrics, 50 for the
// fusion replay (recall fuses the top 50 of each source for first: 10).
const (
	cutoff = 10
	depth  = 50
)

func main() {
	gatewayBin := flag.String("gateway", "bin/gateway", "the gateway binary (built with `go build -o PATH .` when missing)")
	setPath := flag.String("set", "bench/recall/testdata/stdlib.json", "the labelled set")
	org := flag.String("org", "", "reuse this tenant (UUID) when it already holds the set; a fresh one when empty")
	dump := flag.String("dump", "", "also write every query's full-text and vector lists, with scores, to this JSON file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *gatewayBin, *setPath, *org, *dump)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "recall:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, setPath, orgFlag, dump string) error {
	raw, err := os.ReadFile(setPath)
	if err != nil {
		return err
	}
	var set labelledSet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("%s: %w", setPath, err)
	}
	for _, k := range []string{"DATABASE_URL", "DATABASE_OWNER_URL", "OPENSEARCH_URL", "QDRANT_URL", "EMBEDDINGS_URL", "EMBEDDINGS_MODEL"} {
		if os.Getenv(k) == "" {
			return fmt.Errorf("%s is not set: source e2e/services/env first", k)
		}
	}
	if err := buildIfMissing(ctx, bin); err != nil {
		return err
	}
	bin, _ = filepath.Abs(bin)

	tenant := stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()}
	if orgFlag != "" {
		if tenant.OrgID, err = uuid.Parse(orgFlag); err != nil {
			return fmt.Errorf("-org: %w", err)
		}
	}
	secret := uuid.NewString()
	tok, err := auth.Issue([]byte(secret), auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, 24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	env := proc.Environ([]string{"GATEWAY_*"}, "GATEWAY_JWT_SECRET="+secret, "GATEWAY_LOG_LEVEL=warn", "GATEWAY_RATE_LIMIT=0", "GATEWAY_ADDR={addr}")
	gw, err := proc.Start(ctx, "gateway-recall", "", env, func(base string) bool {
		return proc.HTTPOK(base, http.MethodGet, "/readyz", "", "")
	}, bin, "serve")
	if err != nil {
		return err
	}
	defer gw.Stop()
	c := &client{base: gw.Base, token: tok}
	fmt.Fprintf(os.Stderr, "gateway %s, tenant %s\n", gw.Base, tenant.OrgID)

	memoryOf, err := load(ctx, c, set)
	if err != nil {
		return err
	}
	setIDOf := map[string]string{} // set id -> gateway id
	for gid, sid := range memoryOf {
		setIDOf[sid] = gid
	}

	if err := checkVectors(ctx, c, set, setIDOf); err != nil {
		return err
	}
	plain, analysed, err := baselines(ctx, set)
	if err != nil {
		return err
	}

	var rows []row
	lists := make([]queryLists, len(set.Queries))
	modes := []string{"search(text:)", "vectorSearch(text:)", "recall(text:)"}
	for _, m := range modes {
		rows = append(rows, row{name: "gateway " + m})
	}
	for qi, q := range set.Queries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ql := &lists[qi]
		ql.relevant = map[string]bool{}
		for _, r := range q.Relevant {
			ql.relevant[setIDOf[r]] = true
		}
		var err error
		start := time.Now()
		if ql.text, ql.TextScores, err = c.search(ctx, q.Text); err != nil {
			return err
		}
		rows[0].add(ql.text, ql.relevant, time.Since(start))
		start = time.Now()
		if ql.vector, ql.VectorScores, err = c.vectorSearch(ctx, q.Text); err != nil {
			return err
		}
		rows[1].add(ql.vector, ql.relevant, time.Since(start))
		start = time.Now()
		hits, err := c.recall(ctx, q.Text)
		if err != nil {
			return err
		}
		rows[2].add(hits, ql.relevant, time.Since(start))
		if (qi+1)%50 == 0 {
			fmt.Fprintf(os.Stderr, "%d/%d queries\n", qi+1, len(set.Queries))
		}
	}
	for _, b := range []struct {
		name   string
		scores *bm25
	}{{"BM25 outside the gateway, gateway analyzer chain", analysed}, {"BM25 outside the gateway, plain lowercase words", plain}} {
		r := row{name: b.name}
		for qi, q := range set.Queries {
			var ranked []string
			for _, i := range b.scores.rank(q.Text, cutoff) {
				ranked = append(ranked, setIDOf[set.Memories[i].ID])
			}
			r.add(ranked, lists[qi].relevant, 0)
		}
		rows = append(rows, r)
	}

	if dump != "" {
		raw, _ := json.Marshal(lists)
		if err := os.WriteFile(dump, raw, 0o644); err != nil {
			return err
		}
	}
	calls, err := c.roundTrips(ctx, set.Queries[0].Text)
	if err != nil {
		return err
	}
	fmt.Printf("%d memories, %d queries (%s), tenant %s\n\n", len(set.Memories), len(set.Queries), setPath, tenant.OrgID)
	fmt.Println("| mode | recall@10 | MRR@10 | median latency |")
	fmt.Println("|---|---|---|---|")
	n := float64(len(set.Queries))
	for _, r := range rows {
		lat := "-"
		if len(r.latencies) > 0 {
			slices.Sort(r.latencies)
			lat = r.latencies[len(r.latencies)/2].Round(100 * time.Microsecond).String()
		}
		fmt.Printf("| %s | %.3f | %.3f | %s |\n", r.name, r.recall/n, r.mrr/n, lat)
	}
	fmt.Printf("\nstore calls of one recall(text:, first: 10): %s\n\n", calls)
	printFusionGrid(lists)
	return nil
}

// row accumulates one mode's metrics.
type row struct {
	name        string
	recall, mrr float64
	latencies   []time.Duration
}

// add grades one ranked list (gateway memory ids) against the relevant ids.
func (r *row) add(ranked []string, relevant map[string]bool, took time.Duration) {
	rec, rr := grade(ranked, relevant)
	r.recall += rec
	r.mrr += rr
	if took > 0 {
		r.latencies = append(r.latencies, took)
	}
}

// grade is recall@10 and the reciprocal rank (0 beyond 10) of one list.
func grade(ranked []string, relevant map[string]bool) (recall, rr float64) {
	found := 0
	for i, id := range ranked[:min(cutoff, len(ranked))] {
		if relevant[id] {
			found++
			if rr == 0 {
				rr = 1 / float64(i+1)
			}
		}
	}
	return float64(found) / float64(len(relevant)), rr
}

// queryLists are the gateway's full-text and vector lists of one query.
type queryLists struct {
	text, vector             []string
	TextScores, VectorScores []float64
	relevant                 map[string]bool
}

// MarshalJSON writes the lists for -dump.
func (l queryLists) MarshalJSON() ([]byte, error) {
	var relevant []string
	for id := range l.relevant {
		relevant = append(relevant, id)
	}
	return json.Marshal(map[string]any{"text": l.text, "textScores": l.TextScores, "vector": l.vector, "vectorScores": l.VectorScores, "relevant": relevant})
}

// printFusionGrid replays weighted RRF over the gateway's own lists for a
// grid of full-text weights (vector weight 1) and k, and prints the best
// settings and a slice of the grid.
func printFusionGrid(lists []queryLists) {
	weights := []float64{0.02, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2}
	ks := []int{1, 5, 10, 20, 30, 60, 100}
	n := float64(len(lists))
	fmt.Println("RRF replayed on the gateway's top-50 lists (vector weight 1): recall@10 / MRR@10")
	fmt.Println()
	header := "| full-text weight |"
	sep := "|---|"
	for _, k := range ks {
		header += fmt.Sprintf(" k=%d |", k)
		sep += "---|"
	}
	fmt.Println(header)
	fmt.Println(sep)
	for _, w := range weights {
		line := fmt.Sprintf("| %g |", w)
		for _, k := range ks {
			var rec, mrr float64
			for _, l := range lists {
				r, rr := grade(rrf(l.text, l.vector, w, 1, k), l.relevant)
				rec += r
				mrr += rr
			}
			line += fmt.Sprintf(" %.3f / %.3f |", rec/n, mrr/n)
		}
		fmt.Println(line)
	}
	fmt.Println()
}

// rrf is weighted Reciprocal Rank Fusion of two ranked lists, ties by id as
// the gateway breaks them.
func rrf(text, vector []string, wText, wVector float64, k int) []string {
	score := map[string]float64{}
	for i, id := range text {
		score[id] += wText / float64(k+i+1)
	}
	for i, id := range vector {
		score[id] += wVector / float64(k+i+1)
	}
	ids := make([]string, 0, len(score))
	for id := range score {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if score[a] != score[b] {
			if score[a] > score[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return ids
}

func buildIfMissing(ctx context.Context, bin string) error {
	if _, err := os.Stat(bin); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(os.Stderr, "building %s\n", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// load writes the set's memories into the tenant (unless it holds them
// already) and waits until each is indexed in full text and vectors. It
// returns gateway memory id -> set id; memories are matched to the set by
// their content.
func load(ctx context.Context, c *client, set labelledSet) (map[string]string, error) {
	idOfText := map[string]string{}
	for _, m := range set.Memories {
		idOfText[m.Text] = m.ID
	}
	memoryOf, err := c.existing(ctx, idOfText)
	if err != nil {
		return nil, err
	}
	if len(memoryOf) == 0 {
		start := time.Now()
		var app struct {
			CreateApp struct{ App struct{ ID string } }
		}
		if err := c.do(ctx, `mutation { createApp(input: {name: "recall-bench"}) { app { id } } }`, nil, &app); err != nil {
			return nil, err
		}
		for i := 0; i < len(set.Memories); i += stores.MaxBatchSize {
			batch := set.Memories[i:min(i+stores.MaxBatchSize, len(set.Memories))]
			in := make([]map[string]any, len(batch))
			for j, m := range batch {
				in[j] = map[string]any{"appId": app.CreateApp.App.ID, "content": m.Text}
			}
			var out struct {
				CreateMemories struct{ Memories []struct{ ID string } }
			}
			if err := c.do(ctx, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`,
				map[string]any{"in": map[string]any{"memories": in}}, &out); err != nil {
				return nil, err
			}
			for j, m := range out.CreateMemories.Memories {
				memoryOf[m.ID] = batch[j].ID
			}
		}
		fmt.Fprintf(os.Stderr, "wrote %d memories in %s\n", len(memoryOf), time.Since(start).Round(time.Millisecond))
	}
	if len(memoryOf) != len(set.Memories) {
		return nil, fmt.Errorf("the tenant holds %d of the set's %d memories", len(memoryOf), len(set.Memories))
	}
	ids := make([]string, 0, len(memoryOf))
	for id := range memoryOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	deadline := time.Now().Add(15 * time.Minute)
	for {
		pending := 0
		for i := 0; i < len(ids); i += 100 {
			var out struct {
				Nodes []struct{ IndexStatus []struct{ State string } }
			}
			if err := c.do(ctx, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Memory { indexStatus { state } } } }`,
				map[string]any{"ids": ids[i:min(i+100, len(ids))]}, &out); err != nil {
				return nil, err
			}
			for _, n := range out.Nodes {
				indexed := 0
				for _, s := range n.IndexStatus {
					if s.State == "INDEXED" {
						indexed++
					}
				}
				if indexed < 2 {
					pending++
				}
			}
		}
		if pending == 0 {
			return memoryOf, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d memories still not indexed in full text and vectors", pending)
		}
		fmt.Fprintf(os.Stderr, "%d memories waiting to be indexed\n", pending)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// checkVectors makes sure every relevant memory is in the vector store: its
// own text must find it first. The services are shared, and a vector lost
// there (indexStatus reads the outbox, not Qdrant) would pass for a miss of
// vector search.
func checkVectors(ctx context.Context, c *client, set labelledSet, setIDOf map[string]string) error {
	textOf := map[string]string{}
	for _, m := range set.Memories {
		textOf[m.ID] = m.Text
	}
	missing := 0
	for _, q := range set.Queries {
		for _, r := range q.Relevant {
			ids, _, err := c.vectorSearch(ctx, textOf[r])
			if err != nil {
				return err
			}
			if len(ids) == 0 || ids[0] != setIDOf[r] {
				missing++
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("%d relevant memories are not found by their own text in the vector store: their vectors were lost (shared services?); rerun with a fresh tenant", missing)
	}
	return nil
}

// client talks GraphQL to the gateway as the tenant.
type client struct {
	base, token string
}

func (c *client) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	if len(envelope.Errors) > 0 {
		return fmt.Errorf("%s: %s", firstLine(query), envelope.Errors[0].Message)
	}
	return json.Unmarshal(envelope.Data, out)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// existing maps the tenant's memories that carry a set text to their set id.
func (c *client) existing(ctx context.Context, idOfText map[string]string) (map[string]string, error) {
	out := map[string]string{}
	after := ""
	for {
		var page struct {
			Memories struct {
				Nodes    []struct{ ID, Content string }
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		vars := map[string]any{}
		if after != "" {
			vars["after"] = after
		}
		if err := c.do(ctx, `query($after: String) { memories(first: 100, after: $after) { nodes { id content } pageInfo { hasNextPage endCursor } } }`, vars, &page); err != nil {
			return nil, err
		}
		for _, n := range page.Memories.Nodes {
			if id, ok := idOfText[n.Content]; ok {
				out[n.ID] = id
			}
		}
		if !page.Memories.PageInfo.HasNextPage {
			return out, nil
		}
		after = page.Memories.PageInfo.EndCursor
	}
}

func (c *client) search(ctx context.Context, text string) (ids []string, scores []float64, err error) {
	var out struct {
		Search struct {
			Nodes []struct {
				Score    float64
				Document struct{ Memory *struct{ ID string } }
			}
		}
	}
	err = c.do(ctx, `query($t: String!, $n: Int) { search(text: $t, first: $n) { nodes { score document { memory { id } } } } }`,
		map[string]any{"t": text, "n": depth}, &out)
	for _, n := range out.Search.Nodes {
		if n.Document.Memory != nil {
			ids = append(ids, n.Document.Memory.ID)
			scores = append(scores, n.Score)
		}
	}
	return ids, scores, err
}

func (c *client) vectorSearch(ctx context.Context, text string) (ids []string, scores []float64, err error) {
	var out struct {
		VectorSearch []struct {
			Score  float64
			Memory *struct{ ID string }
		}
	}
	err = c.do(ctx, `query($t: String!, $n: Int) { vectorSearch(text: $t, first: $n) { score memory { id } } }`,
		map[string]any{"t": text, "n": depth}, &out)
	for _, h := range out.VectorSearch {
		if h.Memory != nil {
			ids = append(ids, h.Memory.ID)
			scores = append(scores, h.Score)
		}
	}
	return ids, scores, err
}

func (c *client) recall(ctx context.Context, text string) ([]string, error) {
	var out struct {
		Recall struct {
			Hits []struct{ Memory struct{ ID string } }
		}
	}
	err := c.do(ctx, `query($t: String!, $n: Int) { recall(text: $t, first: $n) { hits { memory { id } } } }`,
		map[string]any{"t": text, "n": cutoff}, &out)
	var ids []string
	for _, h := range out.Recall.Hits {
		ids = append(ids, h.Memory.ID)
	}
	return ids, err
}

// roundTrips is the gateway's store calls (from /metrics) during one recall.
func (c *client) roundTrips(ctx context.Context, text string) (string, error) {
	before, err := c.storeCalls(ctx)
	if err != nil {
		return "", err
	}
	if _, err := c.recall(ctx, text); err != nil {
		return "", err
	}
	after, err := c.storeCalls(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s %g", k, d))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", "), nil
}

var storeCallRE = regexp.MustCompile(`gateway_store_calls_total\{backend="([^"]+)",operation="([^"]+)",outcome="[^"]+"\} ([0-9.e+]+)`)

func (c *client) storeCalls(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range storeCallRE.FindAllStringSubmatch(string(raw), -1) {
		var v float64
		_, _ = fmt.Sscan(m[3], &v)
		out[m[1]+" "+m[2]] += v
	}
	return out, nil
}

// bm25 is Lucene's BM25 over a tokenised collection.
type bm25 struct {
	tokenize func(string) []string
	docs     []map[string]int
	lengths  []int
	df       map[string]int
	avgdl    float64
}

const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

func newBM25(texts []string, tokenize func(string) []string) *bm25 {
	b := &bm25{tokenize: tokenize, df: map[string]int{}}
	total := 0
	for _, t := range texts {
		tf := map[string]int{}
		toks := tokenize(t)
		for _, tok := range toks {
			tf[tok]++
		}
		for tok := range tf {
			b.df[tok]++
		}
		b.docs = append(b.docs, tf)
		b.lengths = append(b.lengths, len(toks))
		total += len(toks)
	}
	b.avgdl = float64(total) / float64(len(texts))
	return b
}

// rank returns the indices of the n best documents for the query, ties by index.
func (b *bm25) rank(query string, n int) []int {
	scores := make([]float64, len(b.docs))
	N := float64(len(b.docs))
	for _, term := range b.tokenize(query) {
		df := float64(b.df[term])
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (N-df+0.5)/(df+0.5))
		for i, tf := range b.docs {
			f := float64(tf[term])
			if f == 0 {
				continue
			}
			scores[i] += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(b.lengths[i])/b.avgdl))
		}
	}
	idx := make([]int, 0, len(scores))
	for i, s := range scores {
		if s > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, c int) int {
		switch {
		case scores[a] > scores[c]:
			return -1
		case scores[a] < scores[c]:
			return 1
		}
		return 0
	})
	return idx[:min(n, len(idx))]
}

var word = regexp.MustCompile(`[\pL\pN_]+`)

func plainWords(s string) []string { return word.FindAllString(strings.ToLower(s), -1) }

// baselines builds the two BM25 baselines over the set's memories: plain
// words, and the gateway's analyzer chain run by OpenSearch's _analyze.
func baselines(ctx context.Context, set labelledSet) (plain, analysed *bm25, err error) {
	texts := make([]string, len(set.Memories))
	for i, m := range set.Memories {
		texts[i] = m.Text
	}
	plain = newBM25(texts, plainWords)
	cache := map[string][]string{}
	for _, t := range texts {
		if cache[t], err = analyze(ctx, t); err != nil {
			return nil, nil, err
		}
	}
	for _, q := range set.Queries {
		if cache[q.Text], err = analyze(ctx, q.Text); err != nil {
			return nil, nil, err
		}
	}
	analysed = newBM25(texts, func(s string) []string { return cache[s] })
	return plain, analysed, nil
}

// analyzerChain is the gateway's cb_text analyzer (stores/opensearch/index.go)
// spelled out for _analyze, which then needs no index.
var analyzerChain = json.RawMessage(`{"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "possessive_english"}, "lowercase", "asciifolding", {"type": "stemmer", "language": "english"}]}`)

func analyze(ctx context.Context, text string) ([]string, error) {
	var req map[string]any
	_ = json.Unmarshal(analyzerChain, &req)
	req["text"] = text
	body, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(os.Getenv("OPENSEARCH_URL"), "/")+"/_analyze", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	var out struct {
		Tokens []struct{ Token string }
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("_analyze answered %d: %s", resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	toks := make([]string, len(out.Tokens))
	for i, t := range out.Tokens {
		toks[i] = t.Token
	}
	return toks, nil
}
