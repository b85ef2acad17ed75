package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
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
	go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, getenv, &stdout, io.Discard) }()
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
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_JWT_SECRET") {
		t.Fatalf("serve = %v, want a refusal naming GATEWAY_JWT_SECRET", err)
	}
}

func TestTokenCommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"token", "--org", "0a000000-0000-4000-8000-000000000009", "--user", "0b000000-0000-4000-8000-000000000009", "--scopes", "memories:read", "--ttl", "5m"}, noEnv, &out, io.Discard)
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
		if err := run(context.Background(), []string{"token", "--user", "bob"}, noEnv, io.Discard, io.Discard); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestSchemaCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"schema"}, noEnv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type Memory implements Node", "recall(", "type Query"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("SDL lacks %q", want)
		}
	}
}
