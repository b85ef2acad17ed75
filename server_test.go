package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// lockedBuffer is a bytes.Buffer safe to read while the server writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func noEnv(string) string { return "" }

// startGateway runs `gateway serve` on a free loopback port with the given
// environment and returns its base URL and the printed development token.
func startGateway(t *testing.T, getenv func(string) string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, process{getenv: getenv, stdout: &stdout, stderr: io.Discard})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	urlRE := regexp.MustCompile(`GraphiQL:\s+(http://\S+)/graphql`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := stdout.String()
		if m := urlRE.FindStringSubmatch(out); m != nil && strings.Count(out, "\n") >= 6 {
			sc := bufio.NewScanner(strings.NewReader(out))
			var token string
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "eyJ") {
					token = sc.Text()
				}
			}
			if token != "" {
				return m[1], token
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address and token printed: %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func post(t *testing.T, url, token, query string) (map[string]any, []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Data, out.Errors
}

func TestServeEmbedded(t *testing.T) {
	url, token := startGateway(t, noEnv)
	doc, err := os.ReadFile("docs/examples/all-domains.graphql")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the printed token runs one document across all seven domains and recall without errors", func(t *testing.T) {
		data, errs := post(t, url, token, string(doc))
		if len(errs) > 0 {
			t.Fatalf("errors: %v", errs)
		}
		for _, field := range []string{"memories", "feedbackAggregates", "experiments", "episodicSession", "codeRepos", "vectorSearch", "search", "recall"} {
			if data[field] == nil {
				t.Fatalf("%s is null: %v", field, data)
			}
		}
		hits := data["recall"].(map[string]any)["hits"].([]any)
		if len(hits) == 0 {
			t.Fatal("recall found nothing in the demo tenant")
		}
	})
	t.Run("the same document without a token is UNAUTHENTICATED", func(t *testing.T) {
		data, errs := post(t, url, "", string(doc))
		if len(errs) != 1 || errs[0]["extensions"].(map[string]any)["code"] != "UNAUTHENTICATED" || data != nil {
			t.Fatalf("got data %v errors %v", data, errs)
		}
	})
}

func TestServeRefusesRealBackendsWithoutAKey(t *testing.T) {
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://127.0.0.1:1/none"
		}
		return ""
	}
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, process{getenv: env, stdout: io.Discard, stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_JWT_SECRET") {
		t.Fatalf("serve = %v, want a refusal naming GATEWAY_JWT_SECRET", err)
	}
}

func TestTokenCommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"token", "--org", "0a000000-0000-4000-8000-000000000009", "--user", "0b000000-0000-4000-8000-000000000009", "--scopes", "memories:read", "--ttl", "5m"}, process{getenv: noEnv, stdout: &out, stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{HMACSecret: []byte(auth.DevelopmentSecret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("the printed token does not verify: %v", err)
	}
	if p.OrgID.String() != "0a000000-0000-4000-8000-000000000009" || !p.Has("memories:read") || p.Has("memories:write") {
		t.Fatalf("principal = %+v", p)
	}
	t.Run("a malformed user id is refused", func(t *testing.T) {
		if err := run(context.Background(), []string{"token", "--user", "bob"}, process{getenv: noEnv, stdout: io.Discard, stderr: io.Discard}); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestSchemaCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"schema"}, process{getenv: noEnv, stdout: &out, stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type Memory implements Node", "recall(", "type Query"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("SDL lacks %q", want)
		}
	}
}

func TestSearchCommandUsage(t *testing.T) {
	org := uuid.NewString()
	withURL := func(name string) string {
		if name == "OPENSEARCH_URL" {
			return "http://127.0.0.1:1"
		}
		return ""
	}
	for _, c := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"no subcommand is refused with the usage", nil, withURL, "no subcommand"},
		{"an unknown subcommand is refused with the usage", []string{"reindex"}, withURL, `unknown subcommand "reindex"`},
		{"a missing ORG is refused", []string{"move-tenant"}, withURL, "want exactly one ORG"},
		{"two ORGs are refused", []string{"move-tenant", org, org}, withURL, "want exactly one ORG"},
		{"an ORG that is not a UUID is refused", []string{"move-tenant", "acme"}, withURL, `ORG "acme" is not an organisation UUID`},
		{"an unknown flag is refused", []string{"move-tenant", "--force", org}, withURL, "flag provided but not defined: -force"},
		{"a move without OPENSEARCH_URL is refused", []string{"move-tenant", org}, noEnv, "OPENSEARCH_URL is not set"},
		{"a bad index name is refused", []string{"move-tenant", "--index", "Docs/../x", org}, withURL, "index name"},
		{"tenants takes no argument", []string{"tenants", org}, withURL, "takes no argument"},
		{"tenants without OPENSEARCH_URL is refused", []string{"tenants"}, noEnv, "OPENSEARCH_URL is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"search"}, c.args...), process{getenv: c.getenv, stdout: &out, stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on a usage error", out.String())
			}
		})
	}
}

func TestOutboxCommandUsage(t *testing.T) {
	org := uuid.NewString()
	withURL := func(name string) string {
		if name == "DATABASE_URL" {
			return "postgres://nobody@127.0.0.1:1/none"
		}
		return ""
	}
	for _, c := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"no subcommand is refused with the usage", nil, withURL, "no subcommand"},
		{"an unknown subcommand is refused with the usage", []string{"drain"}, withURL, `unknown subcommand "drain"`},
		{"retry needs --org or --all", []string{"retry"}, withURL, "give --org ORG or --all"},
		{"retry takes --org or --all, not both", []string{"retry", "--all", "--org", org}, withURL, "give --org ORG or --all"},
		{"an ORG that is not a UUID is refused", []string{"retry", "--org", "acme"}, withURL, `--org "acme" is not an organisation UUID`},
		{"reindex needs --org", []string{"reindex"}, withURL, "--org ORG is required"},
		{"reindex refuses an unknown index", []string{"reindex", "--org", org, "--index", "graph"}, withURL, `--index "graph" is not full-text or vector`},
		{"reindex refuses a page of zero", []string{"reindex", "--org", org, "--page", "0"}, withURL, "--page must be positive"},
		{"status takes no argument", []string{"status", org}, withURL, "unexpected arguments"},
		{"status without DATABASE_URL is refused", []string{"status"}, noEnv, "DATABASE_URL is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"outbox"}, c.args...), process{getenv: c.getenv, stdout: &out, stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on a usage error", out.String())
			}
		})
	}
}

func TestOpenSearchWiring(t *testing.T) {
	closedURL := func(t *testing.T) (url, host string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		storetest.RequireNoError(t, err)
		host = ln.Addr().String()
		ln.Close()
		return "http://admin:s3cret-pw@" + host, host
	}
	t.Run("an unreachable OPENSEARCH_URL that is required stops the start quickly without printing its password", func(t *testing.T) {
		url, host := closedURL(t)
		cfg := config.Config{OpenSearchURL: url, RequiredBackends: "postgres,opensearch", StoreTimeout: time.Second}
		start := time.Now()
		w, err := newBackends(context.Background(), cfg, slog.New(slog.DiscardHandler), nil, nil)
		if err == nil {
			w.close()
			t.Fatal("started with a required backend on a closed port")
		}
		if !errors.Is(err, stores.ErrUnavailable) || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), host) ||
			!strings.Contains(err.Error(), "opensearch is required at start") {
			t.Fatalf("got %v", err)
		}
		if elapsed := time.Since(start); elapsed > opensearch.DefaultTimeout+time.Second {
			t.Fatalf("took %s", elapsed)
		}
	})

	t.Run("an unreachable OPENSEARCH_URL that is not required starts connecting: unavailable, named by /readyz", func(t *testing.T) {
		url, _ := closedURL(t)
		cfg := config.Config{OpenSearchURL: url, RequiredBackends: "postgres", StoreTimeout: time.Second}
		w, err := newBackends(context.Background(), cfg, slog.New(slog.DiscardHandler), nil, nil)
		storetest.RequireNoError(t, err)
		defer w.close()
		tenant := stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()}
		_, err = w.backends.FullText.FullText(tenant).Search(context.Background(), stores.SearchQuery{Text: "x"}, stores.PageArgs{First: 1})
		if !errors.Is(err, stores.ErrUnavailable) || stores.PublicMessage(err) != "opensearch is unavailable" {
			t.Fatalf("search: %v", err)
		}
		ready, report := readiness(guardChecks(w.guards), nil)(context.Background())
		if ready || report.(map[string]any)["backends"].(map[string]string)["opensearch"] != "connecting" {
			t.Fatalf("readiness %v %v", ready, report)
		}
	})

	t.Run("without OPENSEARCH_URL the embedded full-text store stays", func(t *testing.T) {
		got, err := openOpenSearch(context.Background(), config.Config{}, slog.New(slog.DiscardHandler), nil)
		if err != nil || got.close != nil || got.domains.FullText != nil {
			t.Fatalf("got closer %v, err %v, backend %v", got.close != nil, err, got.domains.FullText)
		}
	})
}

func TestEmbedderWiring(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.RequireNoError(t, err)
	closed := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	t.Run("an unreachable server that is not required starts connecting", func(t *testing.T) {
		cfg := config.Config{EmbeddingsURL: closed, EmbeddingsModel: "m", RequiredBackends: "postgres", StoreTimeout: time.Second}
		e, closeEmbedder, err := openEmbedder(context.Background(), cfg, quiet)
		storetest.RequireNoError(t, err)
		defer closeEmbedder()
		if e.Status() != "connecting" {
			t.Fatalf("status %s", e.Status())
		}
		if _, err := e.Embed(context.Background(), []string{"x"}); !errors.Is(err, embeddings.ErrUnavailable) {
			t.Fatalf("embed: %v", err)
		}
	})
	t.Run("an unreachable server that is required stops the start", func(t *testing.T) {
		cfg := config.Config{EmbeddingsURL: closed, EmbeddingsModel: "m", RequiredBackends: "embeddings", StoreTimeout: time.Second}
		if _, _, err := openEmbedder(context.Background(), cfg, quiet); err == nil || !strings.Contains(err.Error(), "embeddings is required at start") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a server refusing the key stops the start, required or not", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
		defer srv.Close()
		cfg := config.Config{EmbeddingsURL: srv.URL + "/v1", EmbeddingsModel: "m", RequiredBackends: "postgres", StoreTimeout: time.Second}
		if _, _, err := openEmbedder(context.Background(), cfg, quiet); !errors.Is(err, embeddings.ErrRejected) {
			t.Fatalf("got %v", err)
		}
	})
}
