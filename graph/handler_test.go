package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/golang-jwt/jwt/v5"
)

func TestAuthentication(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()

	t.Run("a data query without a token is UNAUTHENTICATED", func(t *testing.T) {
		r := s.do(t, "", `{ memories { nodes { id } } }`, nil)
		r.code(t, graph.CodeUnauthenticated)
		if string(r.Data) != "" && string(r.Data) != "null" {
			t.Fatalf("data leaked: %s", r.Data)
		}
	})
	t.Run("introspection works without a token, for GraphiQL and codegen", func(t *testing.T) {
		var out struct {
			Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
		}
		s.do(t, "", `{ __schema { queryType { name } } }`, nil).ok(t, &out)
		if out.Schema.QueryType.Name != "Query" {
			t.Fatalf("introspection = %+v", out)
		}
	})
	t.Run("a mutation without a token is UNAUTHENTICATED", func(t *testing.T) {
		s.do(t, "", `mutation { createApp(input: {name: "x"}) { app { id } } }`, nil).code(t, graph.CodeUnauthenticated)
	})

	expired, _ := auth.Issue(s.secret, auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, time.Minute, s.clock.Now().Add(-time.Hour))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": tenant.UserID.String(), "org": tenant.OrgID.String(), "exp": s.clock.Now().Add(time.Hour).Unix(), "scope": "memories:read"})
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	otherKey, _ := auth.Issue([]byte("another-secret-that-is-32-bytes-long!!"), auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, time.Hour, s.clock.Now())
	noOrg := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": tenant.UserID.String(), "exp": s.clock.Now().Add(time.Hour).Unix()})
	noOrgToken, _ := noOrg.SignedString(s.secret)
	for _, tt := range []struct{ name, token string }{
		{"an expired token", expired},
		{"an alg none token", noneToken},
		{"a token signed with another key", otherKey},
		{"a token without an org", noOrgToken},
		{"garbage", "not.a.jwt"},
	} {
		t.Run(tt.name+" is refused with 401 UNAUTHENTICATED", func(t *testing.T) {
			r := s.do(t, tt.token, `{ viewer { orgId } }`, nil)
			r.code(t, graph.CodeUnauthenticated)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status = %d", r.Status)
			}
		})
	}
	t.Run("viewer reports the token's tenant and scopes", func(t *testing.T) {
		var out struct {
			Viewer struct {
				OrgID  string
				Scopes []string
			}
		}
		s.do(t, s.token(t, tenant, auth.ScopeSearchRead), `{ viewer { orgId scopes } }`, nil).ok(t, &out)
		if out.Viewer.OrgID != tenant.OrgID.String() || len(out.Viewer.Scopes) != 1 {
			t.Fatalf("viewer = %+v", out.Viewer)
		}
	})
	t.Run("a field outside the token's scopes is FORBIDDEN while the others resolve", func(t *testing.T) {
		r := s.do(t, s.token(t, tenant, auth.ScopeSearchRead), `{ viewer { orgId } memories { nodes { id } } }`, nil)
		r.code(t, graph.CodeForbidden)
		if r.isNull(t, "viewer") || !r.isNull(t, "memories") {
			t.Fatalf("data = %s", r.Data)
		}
	})
}

func TestTransport(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())

	get := func(t *testing.T, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	t.Run("the SDL is served for codegen", func(t *testing.T) {
		resp, body := get(t, graph.PathSchema, nil)
		if resp.StatusCode != 200 || body != graph.SDL() || !strings.Contains(body, "interface Node") || !strings.Contains(body, `"""`) {
			t.Fatalf("status %d, body starts %q", resp.StatusCode, body[:min(len(body), 80)])
		}
	})
	t.Run("healthz answers ok", func(t *testing.T) {
		if resp, body := get(t, graph.PathHealth, nil); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("a browser opening the endpoint gets GraphiQL", func(t *testing.T) {
		resp, body := get(t, graph.PathGraphQL, http.Header{"Accept": {"text/html"}})
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "/graphiql/") {
			t.Fatalf("status %d type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("a query can be sent with GET, a mutation cannot", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + tok}}
		resp, body := get(t, graph.PathGraphQL+"?query="+url.QueryEscape(`{ viewer { orgId } }`), h)
		if resp.StatusCode != 200 || !strings.Contains(body, "orgId") {
			t.Fatalf("GET query: %d %s", resp.StatusCode, body)
		}
		resp, body = get(t, graph.PathGraphQL+"?query="+url.QueryEscape(`mutation { createApp(input: {name: "x"}) { app { id } } }`), h)
		if resp.StatusCode == 200 && !strings.Contains(body, "errors") {
			t.Fatalf("GET mutation was accepted: %s", body)
		}
	})
	t.Run("a body over the limit is refused and the server keeps serving", func(t *testing.T) {
		big := `{"query":"{ viewer { orgId } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
		req, _ := http.NewRequest(http.MethodPost, s.url+graph.PathGraphQL, strings.NewReader(big))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || !bytes.Contains(b, []byte("errors")) {
			t.Fatalf("oversized body answered %d %s", resp.StatusCode, b[:min(len(b), 200)])
		}
		s.do(t, tok, `{ viewer { orgId } }`, nil).ok(t, nil)
	})
	t.Run("the request id is echoed, and a sane caller id is kept", func(t *testing.T) {
		resp, _ := get(t, graph.PathHealth, http.Header{graph.HeaderRequestID: {"abc-123"}})
		if resp.Header.Get(graph.HeaderRequestID) != "abc-123" {
			t.Fatalf("request id = %q", resp.Header.Get(graph.HeaderRequestID))
		}
		resp, _ = get(t, graph.PathHealth, http.Header{graph.HeaderRequestID: {"bad id with spaces"}})
		if id := resp.Header.Get(graph.HeaderRequestID); id == "" || strings.Contains(id, " ") {
			t.Fatalf("request id = %q", id)
		}
	})
	t.Run("a syntax error is a GraphQL error with a code", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"query": "{ memories { "})
		req, _ := http.NewRequest(http.MethodPost, s.url+graph.PathGraphQL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out gqlResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if len(out.Errors) == 0 || out.Errors[0].Extensions["code"] == nil {
			t.Fatalf("syntax error answered %+v", out)
		}
	})
}
