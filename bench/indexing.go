package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// measureIndexing (`bench indexing`) times how long new memories take to
// become searchable by vector: it starts a gateway with the embedding server,
// writes n memories through GraphQL in batches of 100, and polls their
// indexStatus until every configured index holds them. It also counts the
// embedding calls (through a counting relay in front of the server) and the
// texts they carried.
func measureIndexing(args []string) error {
	fs := flag.NewFlagSet("bench indexing", flag.ContinueOnError)
	n := fs.Int("memories", 1000, "memories to write")
	bin := fs.String("gateway", "bin/gateway", "the gateway binary")
	benchDB := fs.String("db", "codingbrain_bench", "PostgreSQL database of the benchmark")
	if err := fs.Parse(args); err != nil {
		return err
	}
	embURL := os.Getenv("EMBEDDINGS_URL")
	if embURL == "" || os.Getenv("EMBEDDINGS_MODEL") == "" {
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
	calls.Store(0)
	texts.Store(0)
	start := time.Now()
	var ids []string
	for i := 0; i < *n; i += 100 {
		batch := make([]map[string]any, 0, 100)
		for j := i; j < min(i+100, *n); j++ {
			batch = append(batch, map[string]any{"appId": app.CreateApp.App.ID,
				"content": fmt.Sprintf("note %d of run %s: %s", j, org.String()[:8], memoryText(j))})
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
	for {
		done, err := allIndexed(gw.Base, token, ids)
		if err != nil {
			return err
		}
		if done {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return fmt.Errorf("not all %d memories indexed after 10 minutes", len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	fmt.Printf("%d memories: written in %s, searchable by full text and vector %s after the first write (%.0f memories/s); %d embedding calls carrying %d texts (%.1f per call)\n",
		len(ids), written.Round(time.Millisecond), took.Round(time.Millisecond), float64(len(ids))/took.Seconds(),
		calls.Load(), texts.Load(), float64(texts.Load())/float64(max(calls.Load(), 1)))
	return nil
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
