package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/storetest"
)

// TestKillNineLosesNoAcknowledgedWrite kills a gateway (kill -9) while 8
// clients write memories through it, starts it again, and checks that every
// acknowledged write is in PostgreSQL and in both indexes (full text and
// vectors, with the real embedding server), each exactly once. It logs the
// catch-up time: from the restart until everything is searchable.
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	s := gateway(t) // builds the binary and migrates the database
	env := map[string]string{
		"GATEWAY_JWT_SECRET": string(s.secret),
		"DATABASE_URL":       os.Getenv("DATABASE_URL"),
		"OPENSEARCH_URL":     os.Getenv("OPENSEARCH_URL"),
		"QDRANT_URL":         os.Getenv("QDRANT_URL"),
		"EMBEDDINGS_URL":     storetest.ServiceEnv(t, "EMBEDDINGS_URL"),
		"EMBEDDINGS_MODEL":   storetest.ServiceEnv(t, "EMBEDDINGS_MODEL"),
	}
	first, err := gatewayproc.Launch(s.bin, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Stop)
	g := &stack{url: first.URL, secret: s.secret}

	// One organisation per client keeps each under the 100 points a vector
	// search returns, so the test can list every point of an org.
	const clients, maxPerClient = 8, 90
	marker := unique("crashrun")
	tenants := make([]tenant, clients)
	apps := make([]string, clients)
	for i := range tenants {
		tenants[i] = s.newTenant(t)
		var app struct {
			CreateApp struct{ App struct{ ID string } }
		}
		g.query(t, tenants[i].token, `mutation { createApp(input: {name: "crash"}) { app { id } } }`, nil, &app)
		apps[i] = app.CreateApp.App.ID
	}
	acked := make([][]string, clients) // memory ids, per client
	var total atomic.Int64
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for n := 0; n < maxPerClient; n++ {
				body, _ := json.Marshal(map[string]any{
					"query":     `mutation($a: ID!, $c: String!) { createMemory(input: {appId: $a, content: $c}) { memory { id } } }`,
					"variables": map[string]any{"a": apps[c], "c": fmt.Sprintf("%s client %d note %d about retries", marker, c, n)},
				})
				ex, _, err := g.rawWithin(10*time.Second, tenants[c].token, "application/json", bytes.NewReader(body), int64(len(body)))
				var answer struct {
					Data struct {
						CreateMemory struct{ Memory struct{ ID string } }
					}
				}
				if err != nil || json.Unmarshal(ex.body, &answer) != nil || answer.Data.CreateMemory.Memory.ID == "" {
					select {
					case <-killed:
						return // the gateway is gone: this write was not acknowledged
					default:
						t.Errorf("client %d: write %d failed before the kill: %v %s", c, n, err, ex.body)
						return
					}
				}
				acked[c] = append(acked[c], answer.Data.CreateMemory.Memory.ID)
				total.Add(1)
			}
		})
	}
	storetest.Eventually(t, 60*time.Second, "the clients to have 250 acknowledged writes", func() bool { return total.Load() >= 250 })
	if err := first.OS.Kill(); err != nil { // SIGKILL: no graceful shutdown
		t.Fatal(err)
	}
	close(killed)
	wg.Wait()
	stopped := time.Now()
	first.Stop() // reaps the process

	logFile, err := os.Create(t.TempDir() + "/second.log")
	storetest.RequireNoError(t, err)
	second, err := gatewayproc.Launch(s.bin, env, logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	restarted := time.Now()
	g = &stack{url: second.URL, secret: s.secret}

	// Longer than storetest.Ctx: the catch-up is what is measured.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	search, err := opensearch.Open(ctx, opensearch.Options{URL: os.Getenv("OPENSEARCH_URL")})
	storetest.RequireNoError(t, err)
	t.Cleanup(search.Close)
	vectors, err := qdrant.Open(ctx, os.Getenv("QDRANT_URL"), qdrant.Options{})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = vectors.Close() })
	embedder, err := embeddings.NewOpenAI(ctx, embeddings.Config{URL: env["EMBEDDINGS_URL"], Model: env["EMBEDDINGS_MODEL"]})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = embedder.Close() })
	query, err := embedder.Embed(ctx, []string{marker + " note about retries"})
	storetest.RequireNoError(t, err)

	// inPostgres lists the org's memories (acknowledged, and any whose
	// commit the kill cut before the answer).
	inPostgres := func(tn tenant) []string {
		var out struct {
			Memories struct{ Nodes []struct{ ID string } }
		}
		g.query(t, tn.token, `{ memories(first: 100) { nodes { id } } }`, nil, &out)
		ids := make([]string, len(out.Memories.Nodes))
		for i, n := range out.Memories.Nodes {
			ids[i] = n.ID
		}
		return ids
	}
	memoryIDs := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = decodeMemoryID(t, id)
		}
		slices.Sort(out)
		return out
	}
	var written int
	for c, tn := range tenants {
		stored := inPostgres(tn)
		for _, id := range acked[c] {
			if !slices.Contains(stored, id) {
				t.Fatalf("client %d: acknowledged memory %s is not in PostgreSQL after the kill", c, id)
			}
		}
		written += len(stored)
	}
	t.Logf("%d writes acknowledged by 8 clients before the kill, %d memories in PostgreSQL", total.Load(), written)

	var seen string // what the indexes held at the last look, for a failure
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("at the last look: %s", seen)
		}
	})
	for c, tn := range tenants {
		want := memoryIDs(inPostgres(tn))
		st := stores.Tenant{OrgID: tn.org, UserID: tn.user}
		waitFor(t, 3*time.Minute, fmt.Sprintf("client %d's memories in both indexes, once each", c), func() bool {
			n, err := search.FullText(st).CountSearchHits(ctx, stores.SearchQuery{Text: marker})
			if err != nil || n != len(want) {
				seen = fmt.Sprintf("client %d: %d documents (%v), want %d", c, n, err, len(want))
				return false
			}
			hits, err := vectors.Vectors(st).SearchVectors(ctx, embedder.Model(), query[0], nil, stores.MaxVectorLimit)
			if err != nil {
				seen = fmt.Sprintf("client %d: vector search: %v", c, err)
				return false
			}
			var got []string
			for _, h := range hits {
				if h.MemoryID != nil {
					got = append(got, h.MemoryID.String())
				}
			}
			slices.Sort(got)
			seen = fmt.Sprintf("client %d: %d documents; %d points, want %d", c, n, len(got), len(want))
			return slices.Equal(got, want) // every memory once: no duplicate, none missing
		})
	}
	t.Logf("catch-up after kill -9: every memory searchable in both indexes %s after the restart (%s after the writers stopped)",
		time.Since(restarted).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
}

// decodeMemoryID returns the UUID inside a memory's global id.
func decodeMemoryID(t *testing.T, id string) string {
	t.Helper()
	raw, err := relay.DecodeUUID(id, relay.KindMemory)
	if err != nil {
		t.Fatalf("global id %q: %v", id, err)
	}
	return raw.String()
}
