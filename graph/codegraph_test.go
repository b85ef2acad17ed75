package graph_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// codeGraph holds the global ids of a small seeded code graph:
//
//	main -CALLS-> serve -CALLS-> handle -IMPORTS-> Store
//
// main and serve live in cmd/main.go, handle and Store in server/handler.go.
type codeGraph struct {
	repo, mainFile, handlerFile string
	main, serve, handle, store  string
}

const registerRepoMutation = `mutation($input: RegisterCodeRepoInput!) {
  registerCodeRepo(input: $input) { repo { id key name url createdAt updatedAt } }
}`

const upsertFilesMutation = `mutation($input: UpsertCodeFilesInput!) {
  upsertCodeFiles(input: $input) { files { id key path language } }
}`

const upsertSymbolsMutation = `mutation($input: UpsertCodeSymbolsInput!) {
  upsertCodeSymbols(input: $input) { symbols { id key kind name startLine endLine } }
}`

const addDependenciesMutation = `mutation($input: AddCodeDependenciesInput!) {
  addCodeDependencies(input: $input) { symbols { id key } }
}`

type codeNode struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// seedCodeGraph registers a repository with two files, four symbols and
// three dependency edges through the API.
func seedCodeGraph(t *testing.T, s *testServer, tok, repoKey string) codeGraph {
	t.Helper()
	var repo struct {
		RegisterCodeRepo struct{ Repo codeNode } `json:"registerCodeRepo"`
	}
	s.do(t, tok, registerRepoMutation, map[string]any{"input": map[string]any{
		"key": repoKey, "name": "API", "url": "https://" + repoKey,
	}}).ok(t, &repo)
	g := codeGraph{repo: repo.RegisterCodeRepo.Repo.ID}

	var files struct {
		UpsertCodeFiles struct{ Files []codeNode } `json:"upsertCodeFiles"`
	}
	s.do(t, tok, upsertFilesMutation, map[string]any{"input": map[string]any{
		"repoId": g.repo,
		"files": []map[string]any{
			{"key": repoKey + "/cmd/main.go", "path": "cmd/main.go", "language": "go"},
			{"key": repoKey + "/server/handler.go", "path": "server/handler.go", "language": "go"},
		},
	}}).ok(t, &files)
	g.mainFile, g.handlerFile = files.UpsertCodeFiles.Files[0].ID, files.UpsertCodeFiles.Files[1].ID

	var symbols struct {
		UpsertCodeSymbols struct{ Symbols []codeNode } `json:"upsertCodeSymbols"`
	}
	s.do(t, tok, upsertSymbolsMutation, map[string]any{"input": map[string]any{"symbols": []map[string]any{
		{"fileId": g.mainFile, "key": "main.main", "kind": "FUNCTION", "name": "main", "startLine": 1, "endLine": 8},
		{"fileId": g.mainFile, "key": "main.serve", "kind": "FUNCTION", "name": "serve", "startLine": 10, "endLine": 20},
		{"fileId": g.handlerFile, "key": "server.Handler.handle", "kind": "METHOD", "name": "handle", "signature": "func (h *Handler) handle()", "startLine": 5},
		{"fileId": g.handlerFile, "key": "server.Store", "kind": "TYPE", "name": "Store", "startLine": 1, "endLine": 3},
	}}}).ok(t, &symbols)
	sym := symbols.UpsertCodeSymbols.Symbols
	g.main, g.serve, g.handle, g.store = sym[0].ID, sym[1].ID, sym[2].ID, sym[3].ID

	s.do(t, tok, addDependenciesMutation, map[string]any{"input": map[string]any{"dependencies": []map[string]any{
		{"fromId": g.main, "toId": g.serve, "kind": "CALLS"},
		{"fromId": g.serve, "toId": g.handle, "kind": "CALLS"},
		{"fromId": g.handle, "toId": g.store, "kind": "IMPORTS"},
	}}}).ok(t, nil)
	return g
}

const repoTreeQuery = `query($id: ID!) {
  codeRepo(id: $id) {
    key name
    files {
      key path language
      symbols { key dependencies(depth: 2) { symbol { key } kind depth } }
    }
  }
}`

type repoTree struct {
	CodeRepo *struct {
		Key   string
		Name  string
		Files []struct {
			Key      string
			Path     string
			Language string
			Symbols  []struct {
				Key          string
				Dependencies []struct {
					Symbol struct{ Key string }
					Kind   string
					Depth  int
				}
			}
		}
	} `json:"codeRepo"`
}

// dependencyKeys renders a dependency list as "key/KIND/depth" strings.
func dependencyKeys(raw json.RawMessage, t *testing.T) []string {
	t.Helper()
	var list []struct {
		Symbol struct{ Key string }
		Kind   string
		Depth  int
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	out := []string{}
	for _, d := range list {
		out = append(out, fmt.Sprintf("%s/%s/%d", d.Symbol.Key, d.Kind, d.Depth))
	}
	return out
}

func TestCodeGraph(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	tok := s.token(t, tenant)
	g := seedCodeGraph(t, s, tok, "github.com/acme/api")

	t.Run("a repository lists its files, their symbols and their dependencies two hops deep", func(t *testing.T) {
		var got repoTree
		s.do(t, tok, repoTreeQuery, map[string]any{"id": g.repo}).ok(t, &got)
		r := got.CodeRepo
		if r == nil || r.Key != "github.com/acme/api" || r.Name != "API" || len(r.Files) != 2 {
			t.Fatalf("repo %+v", r)
		}
		if r.Files[0].Path != "cmd/main.go" || r.Files[1].Path != "server/handler.go" || r.Files[0].Language != "go" {
			t.Fatalf("files not ordered by path: %+v", r.Files)
		}
		flat := map[string][]string{}
		var order []string
		for _, f := range r.Files {
			for _, sym := range f.Symbols {
				order = append(order, sym.Key)
				flat[sym.Key] = []string{}
				for _, d := range sym.Dependencies {
					flat[sym.Key] = append(flat[sym.Key], fmt.Sprintf("%s/%s/%d", d.Symbol.Key, d.Kind, d.Depth))
				}
			}
		}
		if want := []string{"main.main", "main.serve", "server.Store", "server.Handler.handle"}; !reflect.DeepEqual(order, want) {
			t.Fatalf("symbols in order %v, want by start line %v", order, want)
		}
		want := map[string][]string{
			"main.main":             {"main.serve/CALLS/1", "server.Handler.handle/CALLS/2"},
			"main.serve":            {"server.Handler.handle/CALLS/1", "server.Store/IMPORTS/2"},
			"server.Handler.handle": {"server.Store/IMPORTS/1"},
			"server.Store":          {},
		}
		if !reflect.DeepEqual(flat, want) {
			t.Fatalf("dependencies %v, want %v", flat, want)
		}
	})

	t.Run("dependents follow the edges backwards, nearest first", func(t *testing.T) {
		var got struct {
			CodeSymbol struct {
				Dependents json.RawMessage
				Default    json.RawMessage
			} `json:"codeSymbol"`
		}
		s.do(t, tok, `query($id: ID!) { codeSymbol(id: $id) {
			dependents(depth: 3) { symbol { key } kind depth }
			default: dependents { symbol { key } kind depth } } }`, map[string]any{"id": g.store}).ok(t, &got)
		if d, want := dependencyKeys(got.CodeSymbol.Dependents, t), []string{"server.Handler.handle/IMPORTS/1", "main.serve/CALLS/2", "main.main/CALLS/3"}; !reflect.DeepEqual(d, want) {
			t.Fatalf("dependents %v, want %v", d, want)
		}
		if d, want := dependencyKeys(got.CodeSymbol.Default, t), []string{"server.Handler.handle/IMPORTS/1"}; !reflect.DeepEqual(d, want) {
			t.Fatalf("dependents at the default depth %v, want %v", d, want)
		}
	})

	t.Run("kinds keep only the edges of those kinds", func(t *testing.T) {
		var got struct {
			CodeSymbol struct{ Calls, Imports json.RawMessage } `json:"codeSymbol"`
		}
		s.do(t, tok, `query($id: ID!) { codeSymbol(id: $id) {
			calls: dependencies(depth: 5, kinds: [CALLS]) { symbol { key } kind depth }
			imports: dependencies(depth: 5, kinds: [IMPORTS]) { symbol { key } kind depth } } }`, map[string]any{"id": g.serve}).ok(t, &got)
		if d, want := dependencyKeys(got.CodeSymbol.Calls, t), []string{"server.Handler.handle/CALLS/1"}; !reflect.DeepEqual(d, want) {
			t.Fatalf("CALLS dependencies %v, want %v", d, want)
		}
		if d := dependencyKeys(got.CodeSymbol.Imports, t); len(d) != 0 {
			t.Fatalf("IMPORTS dependencies of serve %v, want none (its only edge is a call)", d)
		}
	})

	t.Run("a symbol resolves its file and its repository", func(t *testing.T) {
		var got struct {
			CodeSymbol struct {
				ID, Key, Kind, Name, Signature string
				StartLine, EndLine             int
				File                           struct {
					ID   string
					Repo struct{ ID string }
				}
				Repo struct{ Key string }
			} `json:"codeSymbol"`
		}
		s.do(t, tok, `query($id: ID!) { codeSymbol(id: $id) {
			id key kind name signature startLine endLine
			file { id repo { id } } repo { key } } }`, map[string]any{"id": g.handle}).ok(t, &got)
		c := got.CodeSymbol
		if c.ID != g.handle || c.Key != "server.Handler.handle" || c.Kind != "METHOD" || c.Signature != "func (h *Handler) handle()" || c.StartLine != 5 || c.EndLine != 0 {
			t.Fatalf("symbol %+v", c)
		}
		if c.File.ID != g.handlerFile || c.File.Repo.ID != g.repo || c.Repo.Key != "github.com/acme/api" {
			t.Fatalf("symbol's file and repo %+v", c)
		}
	})

	t.Run("global ids carry the client's key and the kind of node", func(t *testing.T) {
		if want := relay.ID(relay.KindCodeRepo, "github.com/acme/api"); g.repo != want {
			t.Fatalf("repo id %q, want %q", g.repo, want)
		}
		if want := relay.ID(relay.KindCodeSymbol, "main.main"); g.main != want {
			t.Fatalf("symbol id %q, want %q", g.main, want)
		}
	})

	t.Run("codeSymbols filters by name prefix, kind and repository", func(t *testing.T) {
		query := `query($filter: SymbolFilter) { codeSymbols(filter: $filter) { nodes { key } } }`
		cases := []struct {
			name   string
			filter map[string]any
			want   []string
		}{
			{"a name prefix ignores case", map[string]any{"name": "S"}, []string{"server.Store", "main.serve"}},
			{"a kind keeps that kind", map[string]any{"kind": "TYPE"}, []string{"server.Store"}},
			{"a repository keeps its symbols", map[string]any{"repoId": g.repo, "name": "ha"}, []string{"server.Handler.handle"}},
			{"a repository without symbols keeps none", map[string]any{"repoId": relay.ID(relay.KindCodeRepo, "github.com/acme/none")}, []string{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var got struct {
					CodeSymbols struct{ Nodes []struct{ Key string } } `json:"codeSymbols"`
				}
				s.do(t, tok, query, map[string]any{"filter": tc.filter}).ok(t, &got)
				keys := []string{}
				for _, n := range got.CodeSymbols.Nodes {
					keys = append(keys, n.Key)
				}
				if !reflect.DeepEqual(keys, tc.want) {
					t.Fatalf("symbols %v, want %v", keys, tc.want)
				}
			})
		}
	})

	t.Run("codeRepos pages through repositories by key", func(t *testing.T) {
		for _, key := range []string{"github.com/acme/b", "github.com/acme/c"} {
			s.do(t, tok, registerRepoMutation, map[string]any{"input": map[string]any{"key": key}}).ok(t, nil)
		}
		query := `query($after: String) { codeRepos(first: 2, after: $after) {
			edges { cursor node { key name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`
		type page struct {
			CodeRepos struct {
				Edges []struct {
					Cursor string
					Node   struct{ Key, Name string }
				}
				PageInfo struct {
					HasNextPage, HasPreviousPage bool
					EndCursor                    *string
				}
			} `json:"codeRepos"`
		}
		var keys []string
		var after any
		for range 3 {
			var p page
			s.do(t, tok, query, map[string]any{"after": after}).ok(t, &p)
			for _, e := range p.CodeRepos.Edges {
				keys = append(keys, e.Node.Key)
			}
			if (after != nil) != p.CodeRepos.PageInfo.HasPreviousPage {
				t.Fatalf("hasPreviousPage %v after %v", p.CodeRepos.PageInfo.HasPreviousPage, after)
			}
			if !p.CodeRepos.PageInfo.HasNextPage {
				break
			}
			after = *p.CodeRepos.PageInfo.EndCursor
		}
		if want := []string{"github.com/acme/api", "github.com/acme/b", "github.com/acme/c"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("repos %v, want %v", keys, want)
		}
	})

	t.Run("registering an existing key updates the repository", func(t *testing.T) {
		var first, second struct {
			RegisterCodeRepo struct {
				Repo struct{ ID, Key, Name, URL, CreatedAt, UpdatedAt string }
			} `json:"registerCodeRepo"`
		}
		in := map[string]any{"key": "github.com/acme/renamed"}
		s.do(t, tok, registerRepoMutation, map[string]any{"input": in}).ok(t, &first)
		if r := first.RegisterCodeRepo.Repo; r.Name != "github.com/acme/renamed" || r.URL != "" {
			t.Fatalf("name defaults to the key: %+v", r)
		}
		s.clock.Advance(time.Minute)
		in["name"] = "Renamed"
		s.do(t, tok, registerRepoMutation, map[string]any{"input": in}).ok(t, &second)
		a, b := first.RegisterCodeRepo.Repo, second.RegisterCodeRepo.Repo
		if b.ID != a.ID || b.Name != "Renamed" || b.CreatedAt != a.CreatedAt || b.UpdatedAt == a.UpdatedAt {
			t.Fatalf("update %+v after %+v", b, a)
		}
	})

	t.Run("addCodeDependencies returns each dependent symbol once, in input order", func(t *testing.T) {
		var got struct {
			AddCodeDependencies struct{ Symbols []codeNode } `json:"addCodeDependencies"`
		}
		s.do(t, tok, addDependenciesMutation, map[string]any{"input": map[string]any{"dependencies": []map[string]any{
			{"fromId": g.serve, "toId": g.store, "kind": "IMPORTS"},
			{"fromId": g.main, "toId": g.store, "kind": "IMPORTS"},
			{"fromId": g.serve, "toId": g.handle, "kind": "CALLS"},
		}}}).ok(t, &got)
		var keys []string
		for _, sym := range got.AddCodeDependencies.Symbols {
			keys = append(keys, sym.Key)
		}
		if want := []string{"main.serve", "main.main"}; !reflect.DeepEqual(keys, want) {
			t.Fatalf("dependent symbols %v, want %v", keys, want)
		}
	})
}

func TestCodeGraphRefusesBadInput(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	g := seedCodeGraph(t, s, tok, "github.com/acme/api")

	depthQuery := `query($id: ID!, $depth: Int) { codeSymbol(id: $id) { dependencies(depth: $depth) { depth } } }`
	cases := []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"a depth of zero", depthQuery, map[string]any{"id": g.main, "depth": 0}},
		{"a depth above the server's cap", depthQuery, map[string]any{"id": g.main, "depth": 6}},
		{"a dependents depth below zero", `query($id: ID!) { codeSymbol(id: $id) { dependents(depth: -1) { depth } } }`, map[string]any{"id": g.main}},
		{"a string that is no id", `query { codeRepo(id: "not an id") { key } }`, nil},
		{"a symbol id where a repository id belongs", `query($id: ID!) { codeRepo(id: $id) { key } }`, map[string]any{"id": g.main}},
		{"a repository id where a symbol id belongs", `query($id: ID!) { codeSymbol(id: $id) { key } }`, map[string]any{"id": g.repo}},
		{"a forged cursor", `query { codeRepos(after: "Zm9yZ2VkLWN1cnNvci1ieS1hLWNsaWVudA") { nodes { key } } }`, nil},
		{"a page size of zero", `query { codeRepos(first: 0) { nodes { key } } }`, nil},
		{"a page size above the cap", `query { codeRepos(first: 101) { nodes { key } } }`, nil},
		{"a file id as the repository filter", `query($id: ID!) { codeSymbols(filter: {repoId: $id}) { nodes { key } } }`, map[string]any{"id": g.mainFile}},
		{"an empty repository key", registerRepoMutation, map[string]any{"input": map[string]any{"key": ""}}},
		{"a repository key with a control character", registerRepoMutation, map[string]any{"input": map[string]any{"key": "a\nb"}}},
		{"a file id where a repository id belongs", upsertFilesMutation, map[string]any{"input": map[string]any{
			"repoId": g.mainFile, "files": []map[string]any{{"key": "f", "path": "f.go"}}}}},
		{"no files", upsertFilesMutation, map[string]any{"input": map[string]any{"repoId": g.repo, "files": []map[string]any{}}}},
		{"a file without a path", upsertFilesMutation, map[string]any{"input": map[string]any{
			"repoId": g.repo, "files": []map[string]any{{"key": "f", "path": ""}}}}},
		{"a symbol ending before it starts", upsertSymbolsMutation, map[string]any{"input": map[string]any{"symbols": []map[string]any{
			{"fileId": g.mainFile, "key": "x", "kind": "FUNCTION", "name": "x", "startLine": 9, "endLine": 3}}}}},
		{"a symbol without a name", upsertSymbolsMutation, map[string]any{"input": map[string]any{"symbols": []map[string]any{
			{"fileId": g.mainFile, "key": "x", "kind": "FUNCTION", "name": ""}}}}},
		{"a repository id where a file id belongs", upsertSymbolsMutation, map[string]any{"input": map[string]any{"symbols": []map[string]any{
			{"fileId": g.repo, "key": "x", "kind": "FUNCTION", "name": "x"}}}}},
		{"a dependency on a file", addDependenciesMutation, map[string]any{"input": map[string]any{"dependencies": []map[string]any{
			{"fromId": g.main, "toId": g.mainFile, "kind": "CALLS"}}}}},
		{"no dependencies", addDependenciesMutation, map[string]any{"input": map[string]any{"dependencies": []map[string]any{}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is BAD_USER_INPUT", func(t *testing.T) {
			e := s.do(t, tok, tc.query, tc.vars).code(t, graph.CodeBadUserInput)
			if e.Message == "" {
				t.Fatal("the error has no message")
			}
		})
	}

	t.Run("the depth error names the allowed range", func(t *testing.T) {
		e := s.do(t, tok, depthQuery, map[string]any{"id": g.main, "depth": 6}).code(t, graph.CodeBadUserInput)
		if e.Message != "depth must be between 1 and 5" {
			t.Fatalf("message %q", e.Message)
		}
	})

	t.Run("files of a repository that does not exist are NOT_FOUND", func(t *testing.T) {
		s.do(t, tok, upsertFilesMutation, map[string]any{"input": map[string]any{
			"repoId": relay.ID(relay.KindCodeRepo, "github.com/acme/missing"),
			"files":  []map[string]any{{"key": "f", "path": "f.go"}},
		}}).code(t, graph.CodeNotFound)
	})

	t.Run("moving a file to another repository is a CONFLICT", func(t *testing.T) {
		s.do(t, tok, registerRepoMutation, map[string]any{"input": map[string]any{"key": "github.com/acme/other"}}).ok(t, nil)
		s.do(t, tok, upsertFilesMutation, map[string]any{"input": map[string]any{
			"repoId": relay.ID(relay.KindCodeRepo, "github.com/acme/other"),
			"files":  []map[string]any{{"key": "github.com/acme/api/cmd/main.go", "path": "main.go"}},
		}}).code(t, graph.CodeConflict)
	})
}

func TestCodeGraphNeedsScopes(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	g := seedCodeGraph(t, s, s.token(t, tenant), "github.com/acme/api")
	readOnly := s.token(t, tenant, auth.ScopeCodeGraphRead)
	memoriesOnly := s.token(t, tenant, auth.ScopeMemoriesRead, auth.ScopeMemoriesWrite)

	cases := []struct {
		name, token, query, code string
		vars                     map[string]any
	}{
		{"a query without a token is UNAUTHENTICATED", "", `query { codeRepos { nodes { key } } }`, graph.CodeUnauthenticated, nil},
		{"a mutation without a token is UNAUTHENTICATED", "", registerRepoMutation, graph.CodeUnauthenticated,
			map[string]any{"input": map[string]any{"key": "k"}}},
		{"reading without codegraph:read is FORBIDDEN", memoriesOnly, `query($id: ID!) { codeRepo(id: $id) { key } }`, graph.CodeForbidden,
			map[string]any{"id": g.repo}},
		{"listing without codegraph:read is FORBIDDEN", memoriesOnly, `query { codeSymbols { nodes { key } } }`, graph.CodeForbidden, nil},
		{"registering with codegraph:read only is FORBIDDEN", readOnly, registerRepoMutation, graph.CodeForbidden,
			map[string]any{"input": map[string]any{"key": "k"}}},
		{"adding dependencies with codegraph:read only is FORBIDDEN", readOnly, addDependenciesMutation, graph.CodeForbidden,
			map[string]any{"input": map[string]any{"dependencies": []map[string]any{{"fromId": g.store, "toId": g.main, "kind": "CALLS"}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.token, tc.query, tc.vars).code(t, tc.code)
		})
	}

	t.Run("codegraph:read reads the whole tree", func(t *testing.T) {
		var got repoTree
		s.do(t, readOnly, repoTreeQuery, map[string]any{"id": g.repo}).ok(t, &got)
		if got.CodeRepo == nil || len(got.CodeRepo.Files) != 2 {
			t.Fatalf("repo %+v", got.CodeRepo)
		}
	})

	t.Run("the forbidden dependency was not added", func(t *testing.T) {
		var got struct {
			CodeSymbol struct{ Dependencies json.RawMessage } `json:"codeSymbol"`
		}
		s.do(t, readOnly, `query($id: ID!) { codeSymbol(id: $id) { dependencies { symbol { key } kind depth } } }`,
			map[string]any{"id": g.store}).ok(t, &got)
		if d := dependencyKeys(got.CodeSymbol.Dependencies, t); len(d) != 0 {
			t.Fatalf("Store depends on %v", d)
		}
	})
}

func TestCodeGraphIsolatesTenants(t *testing.T) {
	s := newTestServer(t)
	a, b := storetest.NewTenant(), storetest.NewTenant()
	tokA, tokB := s.token(t, a), s.token(t, b)
	g := seedCodeGraph(t, s, tokA, "github.com/acme/api")
	var before repoTree
	s.do(t, tokA, repoTreeQuery, map[string]any{"id": g.repo}).ok(t, &before)

	random := "github.com/nobody/" + uuid.NewString()
	randomIDs := map[relay.Kind]string{
		relay.KindCodeRepo:   relay.ID(relay.KindCodeRepo, random),
		relay.KindCodeFile:   relay.ID(relay.KindCodeFile, random),
		relay.KindCodeSymbol: relay.ID(relay.KindCodeSymbol, random),
	}

	reads := []struct {
		name, field, query string
		kind               relay.Kind
		id                 string
	}{
		{"a repository", "codeRepo", `query($id: ID!) { codeRepo(id: $id) { key files { key } } }`, relay.KindCodeRepo, g.repo},
		{"a symbol", "codeSymbol", `query($id: ID!) { codeSymbol(id: $id) { key dependencies(depth: 5) { depth } } }`, relay.KindCodeSymbol, g.main},
	}
	for _, tc := range reads {
		t.Run("another tenant reading "+tc.name+" gets null, as for a random id", func(t *testing.T) {
			theirs := s.do(t, tokB, tc.query, map[string]any{"id": tc.id})
			none := s.do(t, tokB, tc.query, map[string]any{"id": randomIDs[tc.kind]})
			theirs.ok(t, nil)
			none.ok(t, nil)
			if string(theirs.Data) != string(none.Data) {
				t.Fatalf("tenant A's id gives %s, a random id %s", theirs.Data, none.Data)
			}
			if !theirs.isNull(t, tc.field) {
				t.Fatalf("data %s, want null", theirs.Data)
			}
		})
	}

	t.Run("another tenant's lists are empty", func(t *testing.T) {
		var got struct {
			CodeRepos   struct{ Nodes []codeNode } `json:"codeRepos"`
			CodeSymbols struct{ Nodes []codeNode } `json:"codeSymbols"`
		}
		s.do(t, tokB, `query { codeRepos { nodes { id key } } codeSymbols { nodes { id key } } }`, nil).ok(t, &got)
		if len(got.CodeRepos.Nodes) != 0 || len(got.CodeSymbols.Nodes) != 0 {
			t.Fatalf("tenant B sees %+v", got)
		}
	})

	t.Run("another tenant filtering by a repository of tenant A finds nothing", func(t *testing.T) {
		var got struct {
			CodeSymbols struct{ Nodes []codeNode } `json:"codeSymbols"`
		}
		s.do(t, tokB, `query($id: ID!) { codeSymbols(filter: {repoId: $id}) { nodes { key } } }`, map[string]any{"id": g.repo}).ok(t, &got)
		if len(got.CodeSymbols.Nodes) != 0 {
			t.Fatalf("tenant B sees %+v", got.CodeSymbols.Nodes)
		}
	})

	writes := []struct {
		name  string
		query string
		vars  func(ids codeGraph) map[string]any
	}{
		{"files into a repository", upsertFilesMutation, func(ids codeGraph) map[string]any {
			return map[string]any{"input": map[string]any{"repoId": ids.repo, "files": []map[string]any{{"key": "evil.go", "path": "evil.go"}}}}
		}},
		{"symbols into a file", upsertSymbolsMutation, func(ids codeGraph) map[string]any {
			return map[string]any{"input": map[string]any{"symbols": []map[string]any{{"fileId": ids.mainFile, "key": "evil", "kind": "FUNCTION", "name": "evil"}}}}
		}},
		{"a dependency between symbols", addDependenciesMutation, func(ids codeGraph) map[string]any {
			return map[string]any{"input": map[string]any{"dependencies": []map[string]any{{"fromId": ids.store, "toId": ids.main, "kind": "CALLS"}}}}
		}},
	}
	randomGraph := codeGraph{
		repo: randomIDs[relay.KindCodeRepo], mainFile: randomIDs[relay.KindCodeFile],
		main: randomIDs[relay.KindCodeSymbol], store: relay.ID(relay.KindCodeSymbol, random+"/2"),
	}
	for _, tc := range writes {
		t.Run("another tenant writing "+tc.name+" gets NOT_FOUND, as for a random id", func(t *testing.T) {
			s.do(t, tokB, tc.query, tc.vars(g)).code(t, graph.CodeNotFound)
			s.do(t, tokB, tc.query, tc.vars(randomGraph)).code(t, graph.CodeNotFound)
		})
	}

	t.Run("another tenant registering the same key gets a repository of its own", func(t *testing.T) {
		var got struct {
			RegisterCodeRepo struct{ Repo struct{ ID, Name string } } `json:"registerCodeRepo"`
		}
		s.do(t, tokB, registerRepoMutation, map[string]any{"input": map[string]any{"key": "github.com/acme/api", "name": "B's"}}).ok(t, &got)
		var files struct {
			CodeRepo struct{ Files []codeNode } `json:"codeRepo"`
		}
		s.do(t, tokB, `query($id: ID!) { codeRepo(id: $id) { files { key } } }`, map[string]any{"id": got.RegisterCodeRepo.Repo.ID}).ok(t, &files)
		if len(files.CodeRepo.Files) != 0 {
			t.Fatalf("tenant B's repository shows tenant A's files %+v", files.CodeRepo.Files)
		}
	})

	t.Run("another tenant's cursor is BAD_USER_INPUT", func(t *testing.T) {
		s.do(t, tokA, registerRepoMutation, map[string]any{"input": map[string]any{"key": "github.com/acme/z"}}).ok(t, nil)
		var page struct {
			CodeRepos struct{ PageInfo struct{ EndCursor string } } `json:"codeRepos"`
		}
		s.do(t, tokA, `query { codeRepos(first: 1) { pageInfo { endCursor } } }`, nil).ok(t, &page)
		s.do(t, tokB, `query($after: String) { codeRepos(after: $after) { nodes { key } } }`,
			map[string]any{"after": page.CodeRepos.PageInfo.EndCursor}).code(t, graph.CodeBadUserInput)
	})

	t.Run("tenant A's graph is unchanged", func(t *testing.T) {
		var after repoTree
		s.do(t, tokA, repoTreeQuery, map[string]any{"id": g.repo}).ok(t, &after)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("tenant A's repo changed from %+v to %+v", before, after)
		}
		if after.CodeRepo.Name != "API" {
			t.Fatalf("name %q", after.CodeRepo.Name)
		}
	})
}
