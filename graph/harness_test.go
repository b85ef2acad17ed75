package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/storetest"
)

// testServer is the real HTTP handler over the embedded stores, reached
// through a real socket, as a client would reach the gateway.
type testServer struct {
	url    string
	secret []byte
	clock  *storetest.ManualClock
}

var testSecret = []byte("graph-test-secret-of-at-least-32-bytes")

func newTestServer(t *testing.T, options ...func(*graph.Config)) *testServer {
	t.Helper()
	clock := storetest.NewManualClock()
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: testSecret, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := graph.Config{
		Backends:          embedded.New(clock.Now),
		Verifier:          verifier,
		Cursors:           relay.NewCursors([]byte("cursor-test-key-of-32-bytes-long")),
		Pages:             relay.Limits{DefaultFirst: 20, MaxFirst: 100},
		MaxTraversalDepth: stores.MaxTraversalDepth,
		Introspection:     true,
		LoaderWait:        time.Millisecond,
		MaxBodyBytes:      1 << 20,
		Limits:            graph.Limits{MaxDepth: 15, MaxComplexity: 50000, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10},
		APQCacheSize:      100,
		Now:               clock.Now,
	}
	for _, o := range options {
		o(&cfg)
	}
	srv := httptest.NewServer(graph.NewHandler(cfg))
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, secret: testSecret, clock: clock}
}

// token returns a bearer token for tenant with the given scopes (all when none).
func (s *testServer) token(t *testing.T, tenant stores.Tenant, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = auth.AllScopes()
	}
	tok, err := auth.Issue(s.secret, auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: scopes}, time.Hour, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int             `json:"-"`
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// do posts a GraphQL request; token "" sends no Authorization header.
func (s *testServer) do(t *testing.T, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	return s.post(t, token, map[string]any{"query": query, "variables": vars})
}

// post sends a raw GraphQL request body (for extensions such as persisted queries).
func (s *testServer) post(t *testing.T, token string, request map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(request)
	req, _ := http.NewRequest(http.MethodPost, s.url+graph.PathGraphQL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	out.Status = resp.StatusCode
	return out
}

// ok fails the test on any GraphQL error and decodes data into v.
func (r gqlResponse) ok(t *testing.T, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
}

// code fails the test unless the response has exactly one error, with the
// given extensions.code, and returns that error.
func (r gqlResponse) code(t *testing.T, code string) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one %s error, got %+v (data %s)", code, r.Errors, r.Data)
	}
	if got := r.Errors[0].Extensions["code"]; got != code {
		t.Fatalf("want code %s, got %v: %s", code, got, r.Errors[0].Message)
	}
	return r.Errors[0]
}

// field decodes one top-level field of data into v.
func (r gqlResponse) field(t *testing.T, name string, v any) {
	t.Helper()
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	if err := json.Unmarshal(data[name], v); err != nil {
		t.Fatalf("decode %s: %v", data[name], err)
	}
}

// isNull reports whether the top-level field name is null in data.
func (r gqlResponse) isNull(t *testing.T, name string) bool {
	t.Helper()
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
	return string(data[name]) == "null"
}
