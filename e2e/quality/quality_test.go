// Package quality scores recall on a labelled set, through the gateway
// binary on the real stack: PostgreSQL, the outbox indexer, OpenSearch,
// Qdrant and the embedding server.
package quality_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// testJWTSecret signs the tokens of the gateway this test starts.
const testJWTSecret = "quality-test-secret-0123456789-abcdef"

// migrate brings the schema to this build's version, as `gateway migrate up` does.
func migrate(t *testing.T, ownerURL string) {
	t.Helper()
	r, err := migrations.Open(ownerURL)
	storetest.RequireNoError(t, err)
	defer r.Close()
	storetest.RequireNoError(t, r.Up(context.Background(), io.Discard))
}

// token issues a token for a tenant with every scope.
func token(t *testing.T, tenant stores.Tenant) string {
	t.Helper()
	tok, err := auth.Issue([]byte(testJWTSecret), auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	storetest.RequireNoError(t, err)
	return tok
}

// qualitySet is embeddings/testdata/quality.json: memories, and queries
// whose relevant memories are mostly paraphrases.
type qualitySet struct {
	Memories []struct{ ID, Text string }
	Queries  []struct {
		Text     string
		Relevant []string
	}
}

// countingEmbeddings relays to the real embedding server and counts the
// calls and the texts they carry.
type countingEmbeddings struct {
	calls, texts atomic.Int64
}

func (c *countingEmbeddings) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/embeddings") {
			var body struct{ Input []string }
			raw, _ := readBodyAndRestore(r)
			if json.Unmarshal(raw, &body) == nil {
				c.calls.Add(1)
				c.texts.Add(int64(len(body.Input)))
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// TestRecallQuality loads the labelled set into a gateway on the real stack
// (PostgreSQL, the outbox indexer, OpenSearch, Qdrant, the embedding server)
// and scores full-text alone, vectors alone and the fused recall.
//
// It is a package of its own, not part of e2e's suite: the e2e stack's
// gateway runs an outbox indexer without an embedder, and would take this
// test's entries; with -p 1 no other gateway drains the outbox meanwhile.
func TestRecallQuality(t *testing.T) {
	env := map[string]string{"GATEWAY_JWT_SECRET": testJWTSecret}
	for _, k := range []string{"DATABASE_URL", "OPENSEARCH_URL", "QDRANT_URL", "EMBEDDINGS_URL", "EMBEDDINGS_MODEL"} {
		env[k] = storetest.ServiceEnv(t, k)
	}
	migrate(t, storetest.ServiceEnv(t, "DATABASE_OWNER_URL"))
	counter := &countingEmbeddings{}
	env["EMBEDDINGS_URL"] = counter.start(t, env["EMBEDDINGS_URL"])
	base := gatewayproc.Start(t, gatewayproc.Build(t), env)

	raw, err := os.ReadFile("../../embeddings/testdata/quality.json")
	if err != nil {
		t.Fatal(err)
	}
	var set qualitySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	tenant := storetest.NewTenant()
	tok := token(t, tenant)
	var created struct {
		CreateApp struct{ App struct{ ID string } }
	}
	storetest.MustGraphQL(t, base, tok, `mutation { createApp(input: {name: "quality"}) { app { id } } }`, nil, &created)
	app := created.CreateApp.App.ID

	// Write the memories and time how long until every one is searchable by vector.
	start := time.Now()
	written, writtenTexts := counter.calls.Load(), counter.texts.Load()
	memoryOf := map[string]string{} // gateway id -> set id
	for i := 0; i < len(set.Memories); i += stores.MaxBatchSize {
		batch := set.Memories[i:min(i+stores.MaxBatchSize, len(set.Memories))]
		in := make([]map[string]any, len(batch))
		for j, m := range batch {
			in[j] = map[string]any{"appId": app, "content": m.Text}
		}
		var out struct {
			CreateMemories struct{ Memories []struct{ ID string } }
		}
		storetest.MustGraphQL(t, base, tok, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`, map[string]any{"in": map[string]any{"memories": in}}, &out)
		for j, m := range out.CreateMemories.Memories {
			memoryOf[m.ID] = batch[j].ID
		}
	}
	ids := make([]string, 0, len(memoryOf))
	for id := range memoryOf {
		ids = append(ids, id)
	}
	storetest.Eventually(t, 3*time.Minute, "every memory indexed in both search stores", func() bool {
		for i := 0; i < len(ids); i += 100 {
			var out struct {
				Nodes []struct{ IndexStatus []struct{ State string } }
			}
			storetest.MustGraphQL(t, base, tok, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Memory { indexStatus { state } } } }`, map[string]any{"ids": ids[i:min(i+100, len(ids))]}, &out)
			for _, n := range out.Nodes {
				if len(n.IndexStatus) != 2 {
					return false
				}
				for _, s := range n.IndexStatus {
					if s.State != "INDEXED" {
						return false
					}
				}
			}
		}
		return true
	})
	indexCalls, indexTexts := counter.calls.Load()-written, counter.texts.Load()-writtenTexts
	t.Logf("indexing %d memories: searchable by vector %s after the first write; %d embedding calls carrying %d texts",
		len(set.Memories), time.Since(start).Round(time.Millisecond), indexCalls, indexTexts)

	type score struct{ recall, mrr float64 }
	var fullText, vectors, fused score
	grade := func(s *score, ranked []string, relevant []string) bool {
		want := map[string]bool{}
		for _, r := range relevant {
			want[r] = true
		}
		found, first := 0, 0
		for i, id := range ranked {
			if want[memoryOf[id]] {
				found++
				if first == 0 {
					first = i + 1
				}
			}
		}
		s.recall += float64(found) / float64(len(relevant))
		if first > 0 {
			s.mrr += 1 / float64(first)
		}
		return found > 0
	}
	rescued := 0 // queries full text misses entirely and recall answers by vectors
	var recallCalls, recallTexts int64
	for _, q := range set.Queries {
		var ft struct {
			Search struct {
				Nodes []struct {
					Document struct{ Memory *struct{ ID string } }
				}
			}
		}
		storetest.MustGraphQL(t, base, tok, `query($t: String!) { search(text: $t, first: 10) { nodes { document { memory { id } } } } }`, map[string]any{"t": q.Text}, &ft)
		var ids []string
		for _, n := range ft.Search.Nodes {
			if n.Document.Memory != nil {
				ids = append(ids, n.Document.Memory.ID)
			}
		}
		textFound := grade(&fullText, ids, q.Relevant)

		before, beforeTexts := counter.calls.Load(), counter.texts.Load()
		var rc struct {
			Recall struct {
				Hits []struct{ Memory struct{ ID string } }
			}
		}
		storetest.MustGraphQL(t, base, tok, `query($t: String!) { recall(text: $t, first: 10) { hits { memory { id } } } }`, map[string]any{"t": q.Text}, &rc)
		recallCalls += counter.calls.Load() - before
		recallTexts += counter.texts.Load() - beforeTexts
		ids = ids[:0]
		for _, h := range rc.Recall.Hits {
			ids = append(ids, h.Memory.ID)
		}
		if grade(&fused, ids, q.Relevant) && !textFound {
			rescued++
		}
		// Vectors alone, from text: the gateway embeds it.
		var vs struct {
			VectorSearch []struct{ Memory *struct{ ID string } }
		}
		storetest.MustGraphQL(t, base, tok, `query($t: String!) { vectorSearch(text: $t, first: 10) { memory { id } } }`, map[string]any{"t": q.Text}, &vs)
		ids = ids[:0]
		for _, h := range vs.VectorSearch {
			if h.Memory != nil {
				ids = append(ids, h.Memory.ID)
			}
		}
		grade(&vectors, ids, q.Relevant)

	}
	n := float64(len(set.Queries))
	for _, s := range []*score{&fullText, &vectors, &fused} {
		s.recall /= n
		s.mrr /= n
	}
	t.Logf("%d queries: recall@10 / MRR  full-text %.3f / %.3f  vectors %.3f / %.3f  fused recall %.3f / %.3f",
		len(set.Queries), fullText.recall, fullText.mrr, vectors.recall, vectors.mrr, fused.recall, fused.mrr)
	t.Logf("recall: %d embedding calls carrying %d texts for %d queries", recallCalls, recallTexts, len(set.Queries))
	t.Logf("%d queries full text misses entirely are answered by recall from text alone (the gateway embeds it)", rescued)
	if rescued == 0 {
		t.Error("recall from text alone found no paraphrase that full text misses")
	}
	t.Run("one recall makes one hydration statement, one full-text search and one vector query", func(t *testing.T) {
		before := storeCalls(t, base)
		var rc struct {
			Recall struct{ Hits []struct{ Score float64 } }
		}
		storetest.MustGraphQL(t, base, tok, `{ recall(text: "how do we retry failed webhook deliveries?", first: 20) { hits { score } } }`, nil, &rc)
		after := storeCalls(t, base)
		for call, want := range map[string]float64{
			"postgres MemoriesByID": 1, "opensearch Search": 1, "qdrant SearchVectors": 1,
		} {
			if got := after[call] - before[call]; got != want {
				t.Errorf("%s: %v calls, want %v", call, got, want)
			}
		}
		t.Logf("store calls of one recall(first: 20) over %d memories: %v", len(set.Memories), diffCalls(before, after))
	})
	if best := max(fullText.recall, vectors.recall); fused.recall < best {
		t.Errorf("fused recall@10 %.3f is below the better single source %.3f", fused.recall, best)
	}
}

// readBodyAndRestore reads a request body and puts it back for the proxy.
func readBodyAndRestore(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return raw, err
}

// storeCalls reads gateway_store_calls_total from /metrics, summed by
// "backend operation".
func storeCalls(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range storeCallRE.FindAllStringSubmatch(string(raw), -1) {
		var v float64
		_, _ = fmt.Sscan(m[3], &v)
		out[m[1]+" "+m[2]] += v
	}
	return out
}

var storeCallRE = regexp.MustCompile(`gateway_store_calls_total\{backend="([^"]+)",operation="([^"]+)",outcome="[^"]+"\} ([0-9.e+]+)`)

// diffCalls lists the calls that changed between two readings.
func diffCalls(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
