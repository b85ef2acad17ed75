package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// measureIndexing (`bench indexing`) times how long new memories take to
// become searchable in both indexes, against what the embedding server alone
// takes for the same texts: it starts a gateway with the embedding server,
// writes n memories through GraphQL in batches of 100, and polls the outbox
// until every index holds them (then checks their indexStatus); it counts
// the embedding calls (through a counting relay in front of the server) and
// the texts they carried. Then it embeds the same texts straight from the
// embedding server, with the gateway's client settings and a cold cache:
// the ratio of the two times says how much of the embedder's throughput
// the indexer keeps.
func measureIndexing(args []string) error {
	fs := flag.NewFlagSet("bench indexing", flag.ContinueOnError)
	n := fs.Int("memories", 1000, "memories to write")
	bin := fs.String("gateway", "bin/gateway", "the gateway binary")
	benchDB := fs.String("db", "codingbrain_bench", "PostgreSQL database of the benchmark")
	if err := fs.Parse(args); err != nil {
		return err
	}
	embURL, model := os.Getenv("EMBEDDINGS_URL"), os.Getenv("EMBEDDINGS_MODEL")
	if embURL == "" || model == "" {
		return fmt.Errorf("EMBEDDINGS_URL and EMBEDDINGS_MODEL must be set (source e2e/services/env)")
	}
	ctx := context.Background()
	svc, err := servicesFromEnv(*benchDB)
	if err != nil {
		return err
	}
	if err := prepareDatabase(ctx, svc); err != nil {
		return err
	}
	if err := clearOutbox(ctx, svc.ownerURL); err != nil {
		return err
	}
	relay, calls, texts, err := countingRelay(embURL)
	if err != nil {
		return err
	}
	defer relay.Close()

	org, user := uuid.New(), uuid.New()
	token, err := auth.Issue([]byte(benchSecret), auth.Principal{OrgID: org, UserID: user, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	env := proc.Environ([]string{"GATEWAY_*", "EMBEDDINGS_URL", "DATABASE_URL", "DATABASE_OWNER_URL"},
		"DATABASE_URL="+svc.appURL, "DATABASE_OWNER_URL="+svc.ownerURL, "EMBEDDINGS_URL="+relay.URL+"/v1",
		"GATEWAY_JWT_SECRET="+benchSecret, "GATEWAY_LOG_LEVEL=warn", "GATEWAY_ADDR={addr}")
	gw, err := proc.Start(ctx, "gateway-indexing", "", env, func(base string) bool {
		return proc.HTTPOK(base, http.MethodPost, "/graphql", token, `{"query":"{ viewer { orgId } }"}`)
	}, abs, "serve")
	if err != nil {
		return err
	}
	defer gw.Stop()

	var app struct {
		CreateApp struct{ App struct{ ID string } }
	}
	if err := gqlPost(gw.Base, token, `mutation { createApp(input: {name: "indexing"}) { app { id } } }`, nil, &app); err != nil {
		return err
	}
	contents := make([]string, *n)
	for j := range contents {
		contents[j] = fmt.Sprintf("note %d of run %s: %s", j, org.String()[:8], memoryText(j))
	}
	// The embedding server alone, before and after the gateway's run: the
	// machine may be shared, so the faster of the two is the reference.
	aloneBefore, err := embedAlone(ctx, embURL, model, contents)
	if err != nil {
		return err
	}
	calls.Store(0)
	texts.Store(0)
	start := time.Now()
	var ids []string
	for i := 0; i < *n; i += 100 {
		batch := make([]map[string]any, 0, 100)
		for _, content := range contents[i:min(i+100, *n)] {
			batch = append(batch, map[string]any{"appId": app.CreateApp.App.ID, "content": content})
		}
		var out struct {
			CreateMemories struct{ Memories []struct{ ID string } }
		}
		if err := gqlPost(gw.Base, token, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`,
			map[string]any{"in": map[string]any{"memories": batch}}, &out); err != nil {
			return err
		}
		for _, m := range out.CreateMemories.Memories {
			ids = append(ids, m.ID)
		}
	}
	written := time.Since(start)
	fullText, err := waitForIndexes(ctx, svc.ownerURL, org, start)
	if err != nil {
		return err
	}
	took := time.Since(start)
	done, err := allIndexed(gw.Base, token, ids)
	if err != nil {
		return err
	}
	if !done {
		return errors.New("the outbox is drained but not every indexStatus says INDEXED")
	}
	fmt.Printf("%d memories: written in %s, searchable by full text %s and by full text and vector %s after the first write (%.0f memories/s); %d embedding calls carrying %d texts (%.1f per call)\n",
		len(ids), written.Round(time.Millisecond), fullText.Round(time.Millisecond), took.Round(time.Millisecond), float64(len(ids))/took.Seconds(),
		calls.Load(), texts.Load(), float64(texts.Load())/float64(max(calls.Load(), 1)))

	aloneAfter, err := embedAlone(ctx, embURL, model, contents)
	if err != nil {
		return err
	}
	alone := min(aloneBefore, aloneAfter)
	fmt.Printf("the embedding server alone embeds the same %d texts in %s before and %s after (%.0f texts/s at best): the gateway indexes at %.0f %% of its throughput\n",
		len(contents), aloneBefore.Round(time.Millisecond), aloneAfter.Round(time.Millisecond), float64(len(contents))/alone.Seconds(), 100*alone.Seconds()/took.Seconds())
	return nil
}

// waitForIndexes polls the outbox until the org has no entry left in any
// index, and returns when full text had none left; a parked entry fails.
func waitForIndexes(ctx context.Context, ownerURL string, org uuid.UUID, start time.Time) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(ctx) }() // read only
	var fullText time.Duration
	for {
		var pending, pendingFullText, parked int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('app.outbox_worker', 'on', true)`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE index_name = 'FULL_TEXT'), count(*) FILTER (WHERE parked_at IS NOT NULL)
FROM memory_outbox WHERE org_id = $1`, org).Scan(&pending, &pendingFullText, &parked)
		})
		switch {
		case err != nil:
			return 0, err
		case parked > 0:
			return 0, fmt.Errorf("%d outbox entries parked (gateway outbox status says why)", parked)
		}
		if pendingFullText == 0 && fullText == 0 {
			fullText = time.Since(start)
		}
		if pending == 0 {
			return fullText, nil
		}
		if time.Since(start) > 30*time.Minute {
			return 0, fmt.Errorf("%d outbox entries still pending after 30 minutes", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// embedAlone times the embedding of texts straight from the server, with
// the client settings the gateway uses and a cache of its own (cold), all
// texts asked at once in pages of 100 as the indexer's batches are.
func embedAlone(ctx context.Context, url, model string, texts []string) (time.Duration, error) {
	client, err := embeddings.NewOpenAI(ctx, embeddings.Config{URL: url, Model: model, Cache: embeddings.NewLRU(len(texts) + 1)})
	if err != nil {
		return 0, err
	}
	defer func() { _ = client.Close() }()
	start := time.Now()
	var (
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	for i := 0; i < len(texts); i += 100 {
		wg.Go(func() {
			if _, err := client.Embed(ctx, texts[i:min(i+100, len(texts))]); err != nil {
				failed.Store(&err)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return 0, *err
	}
	return time.Since(start), nil
}

// memoryText varies the texts (with the run id before it, none is a cache
// hit of another run's either).
func memoryText(i int) string {
	topics := []string{"webhook retries with backoff", "pgx batch loading", "feature flags", "token validation", "integration tests on real services"}
	return topics[i%len(topics)] + " in service " + fmt.Sprint(i/len(topics))
}

// allIndexed reports whether every memory's indexStatus is INDEXED everywhere.
func allIndexed(base, token string, ids []string) (bool, error) {
	for i := 0; i < len(ids); i += 100 {
		var out struct {
			Nodes []struct{ IndexStatus []struct{ State string } }
		}
		if err := gqlPost(base, token, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Memory { indexStatus { state } } } }`,
			map[string]any{"ids": ids[i:min(i+100, len(ids))]}, &out); err != nil {
			return false, err
		}
		for _, n := range out.Nodes {
			if len(n.IndexStatus) < 2 {
				return false, nil
			}
			for _, s := range n.IndexStatus {
				if s.State != "INDEXED" {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// gqlPost runs one operation and decodes its data; any GraphQL error fails.
func gqlPost(base, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s: %s", strings.Fields(query)[0], r.Errors[0].Message)
	}
	return json.Unmarshal(r.Data, out)
}

// countingRelay forwards to the embedding server and counts its calls and texts.
func countingRelay(target string) (*httptest.Server, *atomic.Int64, *atomic.Int64, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, nil, nil, err
	}
	var calls, texts atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/embeddings") {
			raw, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(raw))
			var body struct{ Input []string }
			if json.Unmarshal(raw, &body) == nil {
				calls.Add(1)
				texts.Add(int64(len(body.Input)))
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	return srv, &calls, &texts, nil
}

// clearOutbox drops what earlier benchmark runs left in the benchmark
// database's outbox (the write mix's memories), so that the figure is the
// time for these memories only, not for a backlog.
func clearOutbox(ctx context.Context, ownerURL string) error {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }() // the transaction's outcome is known by then
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit it only reports the transaction closed
	if _, err := tx.Exec(ctx, `SELECT set_config('app.outbox_worker', 'on', true)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM memory_outbox`); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
