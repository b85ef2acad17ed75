package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores/storetest"
)

// httpExchange is one raw HTTP request to the endpoint and what came back.
type httpExchange struct {
	status int
	header http.Header
	body   []byte
}

func (s *testServer) raw(t *testing.T, method, target string, header http.Header, body string) httpExchange {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+target, reader)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpExchange{status: resp.StatusCode, header: resp.Header, body: b}
}

// document decodes a JSON response and reports whether it has a data entry.
func (x httpExchange) document(t *testing.T) (out gqlResponse, hasData bool) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(x.body, &fields); err != nil {
		t.Fatalf("not a JSON document (%d %s): %.300s", x.status, x.header.Get("Content-Type"), x.body)
	}
	_, hasData = fields["data"]
	_ = json.Unmarshal(x.body, &out)
	return out, hasData
}

// urqlAccept is the Accept header urql sends by default.
const urqlAccept = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"

func TestGraphQLOverHTTP(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	authed := func(h http.Header) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Authorization", "Bearer "+tok)
		return h
	}
	jsonBody := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	query := jsonBody(map[string]any{"query": `{ viewer { orgId } }`})

	cases := []struct {
		name        string
		method      string
		target      string
		header      http.Header
		body        string
		status      int
		contentType string // prefix of the response's Content-Type
		code        string // extensions.code of the first error; "" means no error
		data        bool   // whether the data entry must be there
		allow       string // the Allow header, when the method is refused
	}{
		{"urql's default Accept gets one JSON document, not a stream", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {urqlAccept}, "Content-Type": {"application/json"}}), query,
			200, "application/graphql-response+json", "", true, ""},
		{"Accept application/json is answered in application/json", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}), query,
			200, "application/json", "", true, ""},
		{"quality values rank the types", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/graphql-response+json;q=0.5, application/json"}, "Content-Type": {"application/json"}}), query,
			200, "application/json", "", true, ""},
		{"no Accept means application/json", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/json; charset=utf-8"}}), query,
			200, "application/json; charset=utf-8", "", true, ""},
		{"*/* means application/json", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"*/*"}, "Content-Type": {"application/json"}}), query,
			200, "application/json", "", true, ""},
		{"a mutation over GET is 405 with Allow: POST", "GET", graph.PathGraphQL + "?query=" + url.QueryEscape(`mutation { createApp(input: {name: "x"}) { app { id } } }`),
			authed(http.Header{"Accept": {"application/json"}}), "",
			405, "application/json", graph.CodeBadUserInput, false, "POST"},
		{"PUT is 405 with the allowed methods", "PUT", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/json"}}), query,
			405, "application/json", graph.CodeBadUserInput, false, "GET, POST, OPTIONS"},
		{"a text/plain POST is 415", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"text/plain"}}), query,
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"an application/graphql POST is 415", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/graphql"}}), `{ viewer { orgId } }`,
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"a form POST is 415", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), "query=" + url.QueryEscape(`{ viewer { orgId } }`),
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"a multipart POST is 415", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}), "--x--",
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"a charset other than UTF-8 is 415", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/json; charset=latin1"}}), query,
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"a POST without Content-Type is 415", "POST", graph.PathGraphQL, authed(nil), query,
			415, "application/json", graph.CodeBadUserInput, false, ""},
		{"an Accept we cannot serve is 406", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"image/png"}, "Content-Type": {"application/json"}}), query,
			406, "application/json", graph.CodeBadUserInput, false, ""},
		{"a data query without a token is 401", "POST", graph.PathGraphQL,
			http.Header{"Content-Type": {"application/json"}}, query,
			401, "application/json", graph.CodeUnauthenticated, false, ""},
		{"the 401 follows Accept", "POST", graph.PathGraphQL,
			http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "Authorization": {"Bearer not.a.jwt"}}, query,
			401, "application/json", graph.CodeUnauthenticated, false, ""},
		{"invalid JSON is 400 without data under graphql-response+json", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/json"}}), `{ "not a JSON`,
			400, "application/json", graph.CodeBadUserInput, false, ""},
		{"invalid JSON is 400 under application/json too", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}), `{ "not a JSON`,
			400, "application/json", graph.CodeBadUserInput, false, ""},
		{"a query that is not a string is 200 with errors under application/json", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": false}),
			200, "application/json", graph.CodeBadUserInput, false, ""},
		{"a parse error is 400 without data under graphql-response+json", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/graphql-response+json"}, "Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": "{"}),
			400, "application/graphql-response+json", "GRAPHQL_PARSE_FAILED", false, ""},
		{"a validation error is 200 under application/json", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": "{ nope }"}),
			200, "application/json", "GRAPHQL_VALIDATION_FAILED", false, ""},
		{"variables that are not an object are 400", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/graphql-response+json"}, "Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": "{ viewer { orgId } }", "variables": "x"}),
			400, "application/graphql-response+json", graph.CodeBadUserInput, false, ""},
		{"a query that is not a string is 400", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/graphql-response+json"}, "Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": 0}),
			400, "application/graphql-response+json", graph.CodeBadUserInput, false, ""},
		{"an empty POST is 400", "POST", graph.PathGraphQL,
			authed(http.Header{"Accept": {"application/graphql-response+json"}, "Content-Type": {"application/json"}}), "",
			400, "application/graphql-response+json", graph.CodeBadUserInput, false, ""},
		{"@defer without multipart/mixed in Accept is 406", "POST", graph.PathGraphQL,
			authed(http.Header{"Content-Type": {"application/json"}}), jsonBody(map[string]any{"query": "{ viewer { orgId } ... @defer { __typename } }"}),
			406, "application/json", graph.CodeBadUserInput, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := s.raw(t, tc.method, tc.target, tc.header, tc.body)
			if x.status != tc.status || !strings.HasPrefix(x.header.Get("Content-Type"), tc.contentType) {
				t.Fatalf("got %d %q, want %d %q: %.300s", x.status, x.header.Get("Content-Type"), tc.status, tc.contentType, x.body)
			}
			if x.header.Get("Allow") != tc.allow {
				t.Fatalf("Allow = %q, want %q", x.header.Get("Allow"), tc.allow)
			}
			out, hasData := x.document(t)
			if hasData != tc.data {
				t.Fatalf("data entry present = %v, want %v: %s", hasData, tc.data, x.body)
			}
			switch {
			case tc.code == "" && len(out.Errors) > 0:
				t.Fatalf("unexpected errors: %s", x.body)
			case tc.code != "" && (len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != tc.code):
				t.Fatalf("want code %s: %s", tc.code, x.body)
			}
			if tc.status == http.StatusUnauthorized && x.header.Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 without WWW-Authenticate")
			}
		})
	}

	t.Run("every response reports the operation's cost", func(t *testing.T) {
		x := s.raw(t, "POST", graph.PathGraphQL, authed(http.Header{"Content-Type": {"application/json"}}),
			jsonBody(map[string]any{"query": `{ memories(first: 5) { nodes { id content } } }`}))
		var out struct {
			Extensions struct{ Cost graph.Cost } `json:"extensions"`
		}
		if err := json.Unmarshal(x.body, &out); err != nil {
			t.Fatal(err)
		}
		// memories 1 + nodes 1 + 5 x (id + content): the connection's first multiplies.
		if c := out.Extensions.Cost; c.Estimated != 5*(1+1+2) || c.Depth != 3 || c.RootFields != 1 || c.Limits.Complexity != 50000 {
			t.Fatalf("cost = %+v (%s)", c, x.body)
		}
	})
}

// incremental posts a query asking for incremental delivery and returns
// its multipart parts, each decoded.
func (s *testServer) incremental(t *testing.T, token, query string) []map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	x := s.raw(t, "POST", graph.PathGraphQL, http.Header{
		"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"},
		"Accept": {"multipart/mixed;deferSpec=20220824, application/json"},
	}, string(body))
	mt, params, err := mime.ParseMediaType(x.header.Get("Content-Type"))
	if x.status != 200 || err != nil || mt != "multipart/mixed" {
		t.Fatalf("got %d %q: %s", x.status, x.header.Get("Content-Type"), x.body)
	}
	r := multipart.NewReader(bytes.NewReader(x.body), params["boundary"])
	var parts []map[string]any
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("part %d: %v in %q", len(parts), err, x.body)
		}
		var part map[string]any
		if err := json.NewDecoder(p).Decode(&part); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, part)
	}
}

func marshal(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestDeferOverMultipart(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	app := s.createApp(t, tok, "defer")
	s.createMemory(t, tok, app, "deferred memory")

	t.Run("a fragment deferred at the root comes after the initial payload", func(t *testing.T) {
		parts := s.incremental(t, tok, `{ viewer { orgId } ... @defer(label: "slow") { memories(first: 1) { nodes { id } } } }`)
		if len(parts) != 2 {
			t.Fatalf("want the initial payload and one deferred part, got %d: %v", len(parts), parts)
		}
		if initial := marshal(parts[0]); parts[0]["hasNext"] != true || !strings.Contains(initial, "orgId") || strings.Contains(initial, "memories") {
			t.Fatalf("initial payload = %s", initial)
		}
		if later := marshal(parts[1]); parts[1]["hasNext"] != false || !strings.Contains(later, `"label":"slow"`) || !strings.Contains(later, `"path":[]`) || !strings.Contains(later, `"memories"`) {
			t.Fatalf("deferred part = %s", later)
		}
	})
	t.Run("recall, search and vectorSearch can each be deferred at the root", func(t *testing.T) {
		parts := s.incremental(t, tok, `{ viewer { orgId }
			... @defer(label: "recall") { recall(text: "deferred") { hits { memory { content } } } }
			... @defer(label: "search") { search(text: "deferred") { totalCount } }
			... @defer(label: "vectors") { vectorSearch(model: "none-4d", vector: [1, 0, 0, 0]) { score } } }`)
		labels := map[string]bool{}
		for i, p := range parts[1:] {
			var later struct {
				Incremental []struct {
					Label  string
					Errors []any
				}
				HasNext bool
			}
			_ = json.Unmarshal([]byte(marshal(p)), &later)
			for _, inc := range later.Incremental {
				if len(inc.Errors) > 0 {
					t.Fatalf("deferred %s: %v", inc.Label, inc.Errors)
				}
				labels[inc.Label] = true
			}
			if later.HasNext != (i < len(parts)-2) {
				t.Fatalf("part %d of %d: hasNext %v", i+2, len(parts), later.HasNext)
			}
		}
		if len(labels) != 3 || !strings.Contains(marshal(parts[1:]), "deferred memory") {
			t.Fatalf("deferred parts: %v", parts[1:])
		}
	})
	t.Run("a code-graph traversal deferred below its symbol comes later", func(t *testing.T) {
		seedCodeGraph(t, s, tok, "github.com/defer/api")
		parts := s.incremental(t, tok, `{ codeSymbols(filter: {name: "main"}) { nodes { name ... @defer(label: "deps") { dependencies(depth: 2) { depth symbol { name } } } } } }`)
		if len(parts) != 2 || strings.Contains(marshal(parts[0]), "dependencies") || !strings.Contains(marshal(parts[1]), `"label":"deps"`) || !strings.Contains(marshal(parts[1]), `"serve"`) {
			t.Fatalf("parts: %v", parts)
		}
	})
	t.Run("a fragment deferred below the root is delivered at its path", func(t *testing.T) {
		parts := s.incremental(t, tok, `{ memories(first: 1) { nodes { id ... @defer(label: "app") { app { name } } } } }`)
		if len(parts) != 2 {
			t.Fatalf("got %d parts: %v", len(parts), parts)
		}
		if later := marshal(parts[1]); !strings.Contains(later, `"path":["memories","nodes",0]`) || !strings.Contains(later, `"name":"defer"`) || parts[1]["hasNext"] != false {
			t.Fatalf("deferred part = %s", later)
		}
	})
}

func TestStreamOverMultipart(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	app := s.createApp(t, tok, "stream")
	for i := range 5 {
		s.createMemory(t, tok, app, fmt.Sprintf("memory %d", i))
	}
	t.Run("the first initialCount items come first, the others after, at their index", func(t *testing.T) {
		parts := s.incremental(t, tok, `{ memories(first: 5) { nodes @stream(initialCount: 2, label: "rest") { content } } }`)
		if len(parts) != 2 {
			t.Fatalf("got %d parts: %v", len(parts), parts)
		}
		var initial struct {
			Data struct {
				Memories struct{ Nodes []struct{ Content string } }
			}
		}
		_ = json.Unmarshal([]byte(marshal(parts[0])), &initial)
		var later struct {
			Incremental []struct {
				Items []struct{ Content string }
				Path  []any
				Label string
			}
			HasNext bool
		}
		_ = json.Unmarshal([]byte(marshal(parts[1])), &later)
		if len(initial.Data.Memories.Nodes) != 2 || parts[0]["hasNext"] != true {
			t.Fatalf("initial payload = %v", parts[0])
		}
		if len(later.Incremental) != 1 || len(later.Incremental[0].Items) != 3 || later.HasNext || later.Incremental[0].Label != "rest" ||
			marshal(later.Incremental[0].Path) != `["memories","nodes",2]` {
			t.Fatalf("streamed part = %v", parts[1])
		}
		seen := map[string]bool{}
		for _, n := range append(initial.Data.Memories.Nodes, later.Incremental[0].Items...) {
			seen[n.Content] = true
		}
		if len(seen) != 5 {
			t.Fatalf("merged items = %v", seen)
		}
	})
	t.Run("@stream on a field that is not a list is refused", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"query": `{ viewer @stream { orgId } }`})
		x := s.raw(t, "POST", graph.PathGraphQL, http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"},
			"Accept": {"multipart/mixed, application/graphql-response+json"}}, string(body))
		if out, _ := x.document(t); x.status != 400 || len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != graph.CodeBadUserInput {
			t.Fatalf("got %d %s", x.status, x.body)
		}
	})
	t.Run("@stream without multipart/mixed in Accept is 406", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"query": `{ memories { nodes @stream { id } } }`})
		x := s.raw(t, "POST", graph.PathGraphQL, http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}, string(body))
		if x.status != 406 {
			t.Fatalf("got %d %s", x.status, x.body)
		}
	})
}

func TestHostileDocuments(t *testing.T) {
	s := newTestServer(t, func(c *graph.Config) {
		c.Limits.MaxTokens = shippedDefaults(t).MaxTokens
	})
	tok := s.token(t, storetest.NewTenant())
	post := func(t *testing.T, token, query string) httpExchange {
		t.Helper()
		h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/graphql-response+json"}}
		if token != "" {
			h.Set("Authorization", "Bearer "+token)
		}
		body, _ := json.Marshal(map[string]any{"query": query})
		return s.raw(t, "POST", graph.PathGraphQL, h, string(body))
	}
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 20000 {
		aliases.WriteString(" a")
		aliases.WriteString(strings.Repeat("x", i%7))
		aliases.WriteString(": __typename")
	}
	aliases.WriteString("}")

	t.Run("an alias flood stops at the token limit, before parsing", func(t *testing.T) {
		x := post(t, tok, aliases.String())
		out, hasData := x.document(t)
		if x.status != 400 || hasData || len(out.Errors) == 0 || out.Errors[0].Extensions["limit"] != "tokens" {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("a 900 KB field name is refused before validation", func(t *testing.T) {
		x := post(t, tok, "{ "+strings.Repeat("f", 900<<10)+" }")
		out, _ := x.document(t)
		if x.status != 400 || len(out.Errors) == 0 || out.Errors[0].Extensions["limit"] != "nameLength" || len(x.body) > 1000 {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("one field repeated 101 times in a selection set is refused before validation", func(t *testing.T) {
		x := post(t, tok, "{"+strings.Repeat(" __typename", 101)+" }")
		out, _ := x.document(t)
		if x.status != 400 || len(out.Errors) == 0 || out.Errors[0].Extensions["limit"] != "repeatedField" {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
		if x := post(t, tok, "{"+strings.Repeat(" __typename", 100)+" }"); x.status != 200 {
			t.Fatalf("100 copies: %d %.300s", x.status, x.body)
		}
	})
	t.Run("more than 500 fragment spreads are refused before validation", func(t *testing.T) {
		x := post(t, tok, "{"+strings.Repeat(" ...F", 501)+" } fragment F on Query { __typename }")
		out, _ := x.document(t)
		if x.status != 400 || len(out.Errors) == 0 || out.Errors[0].Extensions["limit"] != "fragmentSpreads" {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("a name of 256 characters is only unknown", func(t *testing.T) {
		x := post(t, tok, "{ "+strings.Repeat("f", 256)+" }")
		out, _ := x.document(t)
		if x.status != 400 || len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("without a token the same flood is 401, never parsed whole", func(t *testing.T) {
		x := post(t, "", aliases.String())
		if x.status != http.StatusRequestEntityTooLarge && x.status != http.StatusUnauthorized {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("an introspection query of GraphiQL's size is served without a token", func(t *testing.T) {
		x := post(t, "", introspectionQuery)
		out, _ := x.document(t)
		if x.status != 200 || len(out.Errors) > 0 {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
	t.Run("introspection that nests fan-out lists four deep is refused", func(t *testing.T) {
		// Each level multiplies by the schema's size; gqlparser's validator
		// refuses this shape (as graphql-js's MaxIntrospectionDepthRule does).
		x := post(t, "", `{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }`)
		out, _ := x.document(t)
		if x.status != 400 || len(out.Errors) == 0 || !strings.Contains(out.Errors[0].Message, "introspection depth") {
			t.Fatalf("got %d: %.300s", x.status, x.body)
		}
	})
}

func TestAnonymousRateLimit(t *testing.T) {
	defaults := shippedDefaults(t)
	s := newTestServer(t, func(c *graph.Config) {
		c.AnonymousRateLimit = graph.RateLimit{PerSecond: defaults.AnonymousRateLimit, Burst: int(2 * defaults.AnonymousRateLimit)}
	})
	body, _ := json.Marshal(map[string]any{"query": "{ __typename }"})
	limited := 0
	for i := range 3 * int(2*defaults.AnonymousRateLimit) {
		x := s.raw(t, "POST", graph.PathGraphQL, http.Header{"Content-Type": {"application/json"}}, string(body))
		switch {
		case x.status == http.StatusTooManyRequests:
			if x.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited++
		case x.status != 200:
			t.Fatalf("request %d: %d %s", i, x.status, x.body)
		case limited > 0 && i < int(2*defaults.AnonymousRateLimit):
			t.Fatalf("request %d of the burst was refused", i)
		}
	}
	if limited == 0 {
		t.Fatalf("%d anonymous requests at once were all served", 3*int(2*defaults.AnonymousRateLimit))
	}
	// A client with a token is not limited by the anonymous bucket.
	tok := s.token(t, storetest.NewTenant())
	x := s.raw(t, "POST", graph.PathGraphQL, http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + tok}}, string(body))
	if x.status != 200 {
		t.Fatalf("with a token: %d %s", x.status, x.body)
	}
}

// introspectionQuery is graphql-js's getIntrospectionQuery with every
// option on, as GraphiQL and code generators send it.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

// shippedDefaults is the configuration a gateway runs with when nothing is set.
func shippedDefaults(t *testing.T) config.Config {
	t.Helper()
	c, _, err := config.Load("gateway", nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlainRequestsAreNotLiveConnections(t *testing.T) {
	// With room for two live connections per tenant, 50 concurrent queries
	// from urql (whose Accept lists text/event-stream after the JSON types)
	// are plain requests: none is held as a stream, none is refused.
	limits := graph.DefaultStreamLimits
	limits.MaxConnectionsPerTenant = 2
	s := newTestServer(t, func(c *graph.Config) { c.Streams = graph.NewStreams(limits) })
	tok := s.token(t, storetest.NewTenant())
	statuses := make(chan string, 50)
	for range 50 {
		go func() {
			req, _ := http.NewRequest("POST", s.url+graph.PathGraphQL, strings.NewReader(`{"query":"{ viewer { orgId } memories(first: 5) { nodes { id } } }"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", urqlAccept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- err.Error()
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			statuses <- fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}()
	}
	for range 50 {
		if got := <-statuses; got != "200 application/graphql-response+json; charset=utf-8" {
			t.Errorf("a query answered %s", got)
		}
	}
}
