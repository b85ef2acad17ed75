package graph_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestQueryLimits(t *testing.T) {
	s := newTestServer(t, func(c *graph.Config) {
		c.Limits = graph.Limits{MaxDepth: 6, MaxComplexity: 2000, MaxAliases: 3, MaxRootFields: 4, DefaultListSize: 10}
	})
	tok := s.token(t, storetest.NewTenant())
	aliases := "{ " + strings.Repeat("a%d: viewer { orgId } ", 4) + "}"
	aliases = fmt.Sprintf(aliases, 1, 2, 3, 4)

	for _, tt := range []struct{ name, limit, query string }{
		{"a query nested too deep is refused", "depth", `{ codeRepos { nodes { files { symbols { dependencies { symbol { file { repo { key } } } } } } } } }`},
		{"a list of lists that would resolve too many values is refused", "complexity", `{ memories(first: 100) { nodes { categories { name id createdAt } app { name description } } } }`},
		{"an alias bomb is refused", "aliases", aliases},
		{"too many top-level fields are refused", "rootFields", `{ viewer { orgId } memories { nodes { id } } apps { nodes { id } } categories { nodes { id } } experiments { nodes { id } } }`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			e := s.do(t, tok, tt.query, nil).code(t, graph.CodeBadUserInput)
			if e.Extensions["limit"] != tt.limit {
				t.Fatalf("limit = %v, want %s (%s)", e.Extensions["limit"], tt.limit, e.Message)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("refusal took %s", d)
			}
		})
	}
	t.Run("fragments count towards depth like inline fields", func(t *testing.T) {
		q := `fragment F on CodeSymbol { dependencies { symbol { file { repo { key } } } } } { codeRepos { nodes { files { symbols { ...F } } } } }`
		if e := s.do(t, tok, q, nil).code(t, graph.CodeBadUserInput); e.Extensions["limit"] != "depth" {
			t.Fatalf("limit = %v", e.Extensions["limit"])
		}
	})
	t.Run("a fragment bomb is measured in linear time and refused", func(t *testing.T) {
		// Each fragment spreads the previous one twice: 2^40 fields expanded.
		var b strings.Builder
		b.WriteString("query { ...F40 }\nfragment F0 on Query { viewer { orgId } }\n")
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
		}
		start := time.Now()
		if e := s.do(t, tok, b.String(), nil).code(t, graph.CodeBadUserInput); e.Extensions["limit"] != "complexity" {
			t.Fatalf("limit = %v (%s)", e.Extensions["limit"], e.Message)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("refusal took %s", d)
		}
	})
	t.Run("aliases inside a fragment count at every spread", func(t *testing.T) {
		q := `fragment A on Query { a1: viewer { orgId } a2: viewer { orgId } } { ...A ...on Query { ...A } }`
		if e := s.do(t, tok, q, nil).code(t, graph.CodeBadUserInput); e.Extensions["limit"] != "aliases" || e.Extensions["actual"] != float64(4) {
			t.Fatalf("limit = %v, actual = %v", e.Extensions["limit"], e.Extensions["actual"])
		}
	})
	t.Run("first given in a variable is what complexity counts", func(t *testing.T) {
		q := `query($n: Int) { memories(first: $n) { nodes { categories { name } } } }`
		s.do(t, tok, q, map[string]any{"n": 2}).ok(t, nil)
		if e := s.do(t, tok, q, map[string]any{"n": 100}).code(t, graph.CodeBadUserInput); e.Extensions["limit"] != "complexity" {
			t.Fatalf("limit = %v", e.Extensions["limit"])
		}
	})
	t.Run("introspection is not counted against the limits", func(t *testing.T) {
		s.do(t, tok, `{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }`, nil).ok(t, nil)
	})
	t.Run("an anonymous over-limit query is told to authenticate, not about limits", func(t *testing.T) {
		s.do(t, "", aliases, nil).code(t, graph.CodeUnauthenticated)
	})
}

func TestTotalCountComplexity(t *testing.T) {
	// memories(first: 1) costs 1, its nodes { id } 2: 3 in all, under the limit.
	// totalCount costs 10 in its place (one more store call): 1 + 10 = 11.
	s := newTestServer(t, func(c *graph.Config) {
		c.Limits = graph.Limits{MaxDepth: 15, MaxComplexity: 10, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10}
	})
	tok := s.token(t, storetest.NewTenant())
	s.do(t, tok, `{ memories(first: 1) { nodes { id } } }`, nil).ok(t, nil)
	e := s.do(t, tok, `{ memories(first: 1) { totalCount } }`, nil).code(t, graph.CodeBadUserInput)
	if e.Extensions["limit"] != "complexity" || e.Extensions["actual"] != float64(11) {
		t.Fatalf("limit = %v, actual = %v, want complexity at 11 (%s)", e.Extensions["limit"], e.Extensions["actual"], e.Message)
	}
	t.Run("a connection's first multiplies its totalCount like its other fields", func(t *testing.T) {
		e := s.do(t, tok, `fragment C on SearchHitConnection { totalCount } { search(text: "x", first: 2) { ...C } }`, nil).code(t, graph.CodeBadUserInput)
		if e.Extensions["actual"] != float64(22) {
			t.Fatalf("actual = %v, want 2 × (1 + 10) = 22", e.Extensions["actual"])
		}
	})
}

func sha(q string) string {
	sum := sha256.Sum256([]byte(q))
	return hex.EncodeToString(sum[:])
}

func TestAutomaticPersistedQueries(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	q := `{ viewer { orgId } }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(q)}}

	t.Run("an unknown hash asks the client for the text", func(t *testing.T) {
		r := s.post(t, tok, map[string]any{"extensions": ext})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("errors = %+v", r.Errors)
		}
	})
	t.Run("after one request with the text, the hash alone runs it", func(t *testing.T) {
		s.post(t, tok, map[string]any{"query": q, "extensions": ext}).ok(t, nil)
		var out struct{ Viewer struct{ OrgID string } }
		s.post(t, tok, map[string]any{"extensions": ext}).ok(t, &out)
		if out.Viewer.OrgID == "" {
			t.Fatal("no data from the persisted query")
		}
	})
}

func TestTrustedDocuments(t *testing.T) {
	registered := `query Me { viewer { orgId } }`
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{%q: %q}`, sha(registered), registered)), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := graph.LoadTrustedDocuments(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(c *graph.Config) { c.TrustedDocuments = docs })
	tok := s.token(t, storetest.NewTenant())

	t.Run("a registered operation runs by hash", func(t *testing.T) {
		s.post(t, tok, map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(registered)}}}).ok(t, nil)
	})
	t.Run("a registered operation runs by its exact text", func(t *testing.T) {
		s.do(t, tok, registered, nil).ok(t, nil)
	})
	t.Run("any other operation is refused", func(t *testing.T) {
		s.do(t, tok, `{ memories { nodes { content } } }`, nil).code(t, graph.CodeForbidden)
	})
	t.Run("a manifest whose hash does not match its text is refused at load", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		_ = os.WriteFile(bad, []byte(fmt.Sprintf(`{%q: "{ memories { nodes { id } } }"}`, sha(registered))), 0o600)
		if _, err := graph.LoadTrustedDocuments(bad); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestRateLimit(t *testing.T) {
	s := newTestServer(t, func(c *graph.Config) { c.RateLimit = graph.RateLimit{PerSecond: 0.001, Burst: 3} })
	noisy, quiet := s.token(t, storetest.NewTenant()), s.token(t, storetest.NewTenant())
	for range 3 {
		s.do(t, noisy, `{ viewer { orgId } }`, nil).ok(t, nil)
	}
	t.Run("a tenant over its bucket gets 429 with Retry-After", func(t *testing.T) {
		r := s.do(t, noisy, `{ viewer { orgId } }`, nil)
		r.code(t, graph.CodeRateLimited)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("status = %d", r.Status)
		}
	})
	t.Run("another tenant is not affected", func(t *testing.T) {
		s.do(t, quiet, `{ viewer { orgId } }`, nil).ok(t, nil)
	})
}
