package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/compiled"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// benchMemoriesQuery is the benchmark's document (bench/scenarios.go).
const benchMemoriesQuery = `query Memories($first: Int!) { memories(first: $first) { nodes { id content state version createdAt app { name } categories { name } } } }`

// compiledShapes are documents the planner compiles (checked below), with
// the cases where a plan hands the request back to gqlgen at run time.
var compiledShapes = []string{
	benchMemoriesQuery,
	`{ memories { nodes { id } } }`,
	`{ memories(first: 3) { __typename totalCount pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } edges { __typename cursor node { __typename id content state visibility version createdAt updatedAt deletedAt app { __typename id name description createdAt } categories { __typename id name createdAt } } } nodes { id } } }`,
	`query Q($first: Int, $after: String) { page: memories(first: $first, after: $after) { items: nodes { i: id c: content app { n: name } categories { name } } pageInfo { endCursor } } }`,
	`query Q($first: Int = 2) { memories(first: $first) { nodes { ...M } } } fragment M on Memory { id ... on Memory { content } ... { state } app { ...A } } fragment A on App { name }`,
	`{ memories(first: 5) { edges { node { id app { name } } } totalCount } }`,
}

// TestCompiledExecutionIsGQLGens runs every query of the e2e operations,
// the examples, the benchmark and the compiled shapes through the compiled
// path and through gqlgen's executor, over the same stores, and compares
// the bytes of the responses (errors, nulls and field order included):
// over the embedded stores, and over PostgreSQL as the benchmark runs it
// (the page's apps and categories prefetched in one statement each).
func TestCompiledExecutionIsGQLGens(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		compareExecutors(t, embedded.New(storetest.NewManualClock().Now))
	})
	t.Run("postgres", func(t *testing.T) {
		owner := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
		r, err := migrations.Open(owner)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Up(storetest.Ctx(t), io.Discard); err != nil {
			t.Fatalf("migrate up: %v", err)
		}
		pg, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pg.Close)
		compareExecutors(t, embedded.New(time.Now).Override(stores.Backends{Memories: pg, Feedback: pg, Experiments: pg, IndexStatus: pg}))
	})
}

func compareExecutors(t *testing.T, backend stores.Backends) {
	plans := newTestServer(t, func(c *graph.Config) { c.Backends = backend })
	gqlgen := newTestServer(t, func(c *graph.Config) { c.Backends = backend; c.GQLGenOnly = true })

	alice := storetest.NewTenant()
	tok := plans.token(t, alice)
	apps := []string{plans.createApp(t, tok, "vscode"), plans.createApp(t, tok, `cli "<&>" ünïcode`)}
	contents := []string{"plain", `quotes " and \ backslash`, "html <script>&amp;</script>", "control \u0001\t\n chars", "emoji 🧠 and \u2028 separators"}
	var ids []string
	for i := range 23 {
		var categories []string
		for c := range i % 4 {
			categories = append(categories, []string{"payments", "reliability", "ops"}[c])
		}
		ids = append(ids, plans.createMemory(t, tok, apps[i%2], contents[i%len(contents)], categories...).ID)
	}
	plans.do(t, tok, `mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { state } } }`, map[string]any{"id": ids[3]}).ok(t, nil)
	var page struct {
		Memories struct{ PageInfo struct{ EndCursor string } }
	}
	plans.do(t, tok, `{ memories(first: 4) { pageInfo { endCursor } } }`, nil).ok(t, &page)

	tokens := map[string]string{
		"all scopes":       tok,
		"no memories:read": plans.token(t, alice, auth.ScopeFeedbackRead),
		"empty tenant":     plans.token(t, storetest.NewTenant()),
		"no token":         "",
	}
	variables := []map[string]any{
		nil,
		{"first": 100},
		{"first": 5, "after": page.Memories.PageInfo.EndCursor},
		{"first": 1000},
		{"first": -1},
		{"first": 2, "after": "not-a-cursor"},
		{"first": "two"},
		{"id": ids[0], "first": 3},
	}

	type document struct{ source, text string }
	docs := []document{}
	for _, s := range compiledShapes {
		docs = append(docs, document{"compiled shape", s})
	}
	files, _ := filepath.Glob("../e2e/operations/*.graphql")
	examples, _ := filepath.Glob("../docs/examples/*.graphql")
	for _, f := range append(files, examples...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, document{f, string(b)})
	}
	if len(files) == 0 || len(examples) == 0 {
		t.Fatal("no e2e operations or examples found")
	}

	schema := graph.NewSchema(graph.Config{}).Schema()
	compiledCount := 0
	for _, d := range docs {
		parsed, errs := gqlparser.LoadQueryWithRules(schema, d.text, nil) // nil: the default rules
		if errs != nil {
			t.Fatalf("%s does not validate: %v", d.source, errs)
		}
		for _, op := range parsed.Operations {
			if op.Operation != ast.Query {
				// Mutations and subscriptions are never compiled (and are
				// not run twice here: they would write twice).
				if compiled.Compiles(op) {
					t.Fatalf("%s: %s %s is compiled", d.source, op.Operation, op.Name)
				}
				continue
			}
			isCompiled := compiled.Compiles(op)
			if isCompiled {
				compiledCount++
			} else if d.source == "compiled shape" {
				t.Fatalf("the planner does not compile %s", d.text)
			}
			for tokenName, token := range tokens {
				for _, vars := range variables {
					body, _ := json.Marshal(map[string]any{"query": d.text, "operationName": op.Name, "variables": vars})
					want := postRaw(t, gqlgen, token, string(body))
					got := postRaw(t, plans, token, string(body))
					// An operation that is not compiled runs through gqlgen on
					// both servers, whose concurrent root fields report their
					// errors in any order.
					if got != want && (isCompiled || errorsSorted(t, got) != errorsSorted(t, want)) {
						t.Fatalf("%s, operation %q, %s, variables %v:\ncompiled: %s\ngqlgen:   %s", d.source, op.Name, tokenName, vars, got, want)
					}
				}
			}
		}
	}
	if compiledCount < len(compiledShapes) {
		t.Fatalf("%d operations compiled, want at least %d", compiledCount, len(compiledShapes))
	}
}

func postRaw(t *testing.T, s *testServer, token, body string) string {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	x := s.raw(t, http.MethodPost, graph.PathGraphQL, h, body)
	return strings.TrimSpace(string(x.body)) + " (HTTP " + http.StatusText(x.status) + ")"
}

// errorsSorted is a response with its errors in a fixed order.
func errorsSorted(t *testing.T, response string) string {
	t.Helper()
	body, status, _ := strings.Cut(response, " (HTTP ")
	var r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return response
	}
	var errs []json.RawMessage
	if err := json.Unmarshal(r["errors"], &errs); err == nil {
		slices.SortFunc(errs, func(a, b json.RawMessage) int { return strings.Compare(string(a), string(b)) })
		r["errors"], _ = json.Marshal(errs)
	}
	out, _ := json.Marshal(r)
	return string(out) + status
}
