package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// hostileCase is one document sent to hurt the server.
type hostileCase struct {
	name string
	body func() []byte
	// chunked sends the body without a Content-Length.
	chunked bool
	// contentType defaults to application/json.
	contentType string
	status      int      // the HTTP status wanted
	codes       []string // any of these extensions.code values; nil: no code check
	message     string   // text the error message must contain, when set
}

// refusalBudget is how long any refusal may take: a hostile document must
// be refused before it costs the server real work.
const refusalBudget = 2 * time.Second

func jsonBody(query string, vars map[string]any) func() []byte {
	return func() []byte {
		b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		return b
	}
}

func hostileCases() []hostileCase {
	const validation = "GRAPHQL_VALIDATION_FAILED"
	const parse = "GRAPHQL_PARSE_FAILED"
	const bad = "BAD_USER_INPUT"

	depthBomb := "{ codeSymbols(first: 1) { nodes { " + strings.Repeat("file { repo { files { symbols { ", 6) + "id" + strings.Repeat(" } } } }", 6) + " } } }"
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 5000 {
		fmt.Fprintf(&aliases, " a%d: viewer { orgId }", i)
	}
	aliases.WriteString(" }")
	// Each fragment spreads the previous one twice: 2^40 fields if expanded.
	var laughs strings.Builder
	laughs.WriteString("query { ...F40 }\nfragment F0 on Query { viewer { orgId } }\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&laughs, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	// The same with every level's spreads under distinct aliases, so that
	// field merging cannot collapse them.
	var laughsAliased strings.Builder
	laughsAliased.WriteString("query { ...G30 }\nfragment G0 on Query { viewer { orgId } }\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&laughsAliased, "fragment G%d on Query { x%d: viewer { ...V%d } y%d: viewer { ...V%d } ...G%d }\nfragment V%d on Viewer { orgId }\n", i, i, i, i, i, i-1, i)
	}
	cycle := "query { ...A }\nfragment A on Query { viewer { orgId } ...B }\nfragment B on Query { ...A }"
	complexity := "{ codeSymbols(first: 100) { nodes { dependencies(depth: 5) { symbol { dependents(depth: 5) { symbol { dependencies { symbol { id name } } } } } } } } }"
	manyRoots := "{" + strings.Repeat(" viewer { orgId } apps { nodes { id } }", 1) + strings.Repeat(" __typename", 1)
	for i := range 30 {
		manyRoots += fmt.Sprintf(" r%d: __typename", i)
	}
	manyRoots += " }"
	ids := make([]string, 20000)
	for i := range ids {
		ids[i] = "TWVtb3J5Ong"
	}
	nestedList := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	nestedJSON := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	bigVector := make([]float64, 60000)
	manyOps := strings.Repeat("query Q { viewer { orgId } }\n", 1)
	for i := range 20000 {
		manyOps += fmt.Sprintf("query Q%d { viewer { orgId } }\n", i)
	}

	return []hostileCase{
		{name: "a depth bomb (24 levels) is refused by the depth limit", body: jsonBody(depthBomb, nil), status: 200, codes: []string{bad}, message: "nested"},
		{name: "an alias bomb (5000 aliases) is refused", body: jsonBody(aliases.String(), nil), status: 200, codes: []string{bad, validation}},
		{name: "a fragment bomb (2^40 fields) is refused", body: jsonBody(laughs.String(), nil), status: 200, codes: []string{bad, validation}},
		{name: "an aliased fragment bomb (2^30 viewers) is refused", body: jsonBody(laughsAliased.String(), nil), status: 200, codes: []string{bad, validation}},
		{name: "a fragment cycle is refused", body: jsonBody(cycle, nil), status: 200, codes: []string{validation}},
		{name: "a complexity bomb is refused by the cost limit", body: jsonBody(complexity, nil), status: 200, codes: []string{bad}, message: "values"},
		{name: "too many root fields are refused", body: jsonBody(manyRoots, nil), status: 200, codes: []string{bad}},
		{name: "first above the cap is refused", body: jsonBody("{ memories(first: 1000000) { nodes { id } } }", nil), status: 200, codes: []string{bad}, message: "first"},
		{name: "20000 ids in nodes are refused", body: jsonBody("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", map[string]any{"ids": ids}), status: 200, codes: []string{bad}},
		{name: "a 60000-float vector is refused", body: jsonBody("query($v: [Float!]!) { vectorSearch(model: \"e2e-4d\", vector: $v) { score } }", map[string]any{"v": bigVector}), status: 200, codes: []string{bad}},
		{name: "a list literal nested 100000 deep is refused", body: jsonBody("{ nodes(ids: "+nestedList+") { id } }", nil), status: 200, codes: []string{bad}, message: "tokens"},
		{name: "a JSON variable nested 100000 deep is refused", body: func() []byte {
			return []byte(`{"query":"query($f: JSON) { vectorSearch(model: \"e2e-4d\", vector: [1,0,0,0], filter: $f) { score } }","variables":{"f":` + nestedJSON + `}}`)
		}, status: 400, codes: nil},
		{name: "20000 operations in one document are refused", body: jsonBody(manyOps, nil), status: 200, codes: []string{bad}, message: "tokens"},
		{name: "bad UTF-8 in the document is refused", body: func() []byte {
			return []byte("{\"query\":\"{ memory(id: \\\"\xff\xfe\xfd\\\") { id } }\"}")
		}, status: 200, codes: []string{bad}},
		{name: "bad UTF-8 outside a string is refused", body: func() []byte {
			return []byte("{\"query\":\"{ viewer \xc3\x28 { orgId } }\"}")
		}, status: 200, codes: []string{parse}},
		{name: "bad UTF-8 in a variable is refused", body: func() []byte {
			return []byte("{\"query\":\"query($s: String!) { episodicSession(id: $s) { id } }\",\"variables\":{\"s\":\"\xed\xa0\x80\xff\"}}")
		}, status: 200, codes: []string{bad}},
		{name: "a body that is not JSON is refused", body: func() []byte { return []byte("{\"query\": ") }, status: 400},
		{name: "a JSON array (batch) body is refused", body: func() []byte { return []byte(`[{"query":"{ viewer { orgId } }"},{"query":"{ viewer { orgId } }"}]`) }, status: 400},
		{name: "an oversized body (2 MiB) is refused with 413", body: jsonBody("{ viewer { orgId } }"+strings.Repeat(" ", 2<<20), nil), status: 413, codes: []string{bad}},
		{name: "an oversized chunked body (2 MiB, no length) is refused", chunked: true, body: jsonBody("{ viewer { orgId } }"+strings.Repeat(" ", 2<<20), nil), status: 413, codes: []string{bad}},
		{name: "oversized variables (2 MiB string) are refused with 413", body: jsonBody("query($s: String!) { episodicSession(id: $s) { id } }", map[string]any{"s": strings.Repeat("x", 2<<20)}), status: 413, codes: []string{bad}},
		{name: "a 900 KiB id is refused", body: jsonBody("query($s: ID!) { memory(id: $s) { id } }", map[string]any{"s": strings.Repeat("A", 900<<10)}), status: 200, codes: []string{bad}},
		{name: "a 900 KiB field name is refused", body: jsonBody("{ "+strings.Repeat("f", 900<<10)+" }", nil), status: 200, codes: []string{bad}, message: "name"},
		{name: "a subscription over plain POST is refused", body: jsonBody("subscription { memoryChanged { memoryId } }", nil), status: 200, codes: []string{bad}},
	}
}

// TestHostileDocuments sends each hostile document over HTTP and checks that
// it is refused quickly with a clear error, and that the server still
// serves normal requests afterwards.
func TestHostileDocuments(t *testing.T) {
	s := gateway(t)
	tn := s.newTenant(t)
	var took []time.Duration
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			body := c.body()
			var r io.Reader = bytes.NewReader(body)
			length := int64(len(body))
			if c.chunked {
				r, length = io.MultiReader(bytes.NewReader(body)), -1
			}
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			ex, d := s.raw(t, tn.token, ct, r, length)
			took = append(took, d)
			if d > refusalBudget {
				t.Errorf("refused after %v; the budget is %v", d, refusalBudget)
			}
			if ex.status != c.status {
				t.Errorf("HTTP %d, want %d: %.400s", ex.status, c.status, ex.body)
			}
			a := decode(t, ex)
			if len(a.Errors) == 0 {
				t.Fatalf("no error: %.400s", ex.body)
			}
			if strings.Contains(string(ex.body), "INTERNAL_SERVER_ERROR") {
				t.Errorf("an internal error: %.400s", ex.body)
			}
			if c.codes != nil && !slices.Contains(c.codes, a.codes()[0]) {
				t.Errorf("code %v, want one of %v: %.400s", a.codes(), c.codes, ex.body)
			}
			if c.message != "" && !strings.Contains(a.Errors[0].Message, c.message) {
				t.Errorf("message %q does not say %q", a.Errors[0].Message, c.message)
			}
			t.Logf("HTTP %d in %v: %.160s", ex.status, d.Round(time.Microsecond), a.Errors[0].Message)
		})
	}

	t.Run("the server is unharmed: a normal query still works", func(t *testing.T) {
		ex := s.post(t, tn.token, "{ viewer { orgId } }", nil)
		if a := decode(t, ex); ex.status != 200 || len(a.Errors) > 0 || !strings.Contains(string(ex.body), tn.org.String()) {
			t.Fatalf("HTTP %d %s", ex.status, ex.body)
		}
		if code, body, err := s.get("/healthz"); err != nil || code != 200 {
			t.Fatalf("/healthz: %d %s %v", code, body, err)
		}
	})
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	if len(took) > 0 {
		t.Logf("hostile documents: %d refused; refusal latency p50 %v, p99 %v, max %v",
			len(took), took[len(took)/2].Round(time.Microsecond), percentile(took, 0.99).Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))
	}
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
