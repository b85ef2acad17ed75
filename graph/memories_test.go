package graph_test

import (
	"strings"
	"testing"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

type memoryJSON struct {
	ID         string `json:"id"`
	Content    string `json:"content"`
	State      string `json:"state"`
	Version    int    `json:"version"`
	App        *struct{ Name string }
	Categories []struct{ Name string }
}

const memoryFields = `id content state version app { name } categories { name }`

// memoryFixture creates an app and returns its id, for a tenant's token.
func (s *testServer) createApp(t *testing.T, token, name string) string {
	t.Helper()
	var out struct {
		CreateApp struct{ App struct{ ID string } }
	}
	s.do(t, token, `mutation($n: String!) { createApp(input: {name: $n}) { app { id } } }`, map[string]any{"n": name}).ok(t, &out)
	return out.CreateApp.App.ID
}

func (s *testServer) createMemory(t *testing.T, token, appID, content string, categories ...string) memoryJSON {
	t.Helper()
	var out struct{ CreateMemory struct{ Memory memoryJSON } }
	s.do(t, token, `mutation($in: CreateMemoryInput!) { createMemory(input: $in) { memory { `+memoryFields+` } } }`,
		map[string]any{"in": map[string]any{"appId": appID, "content": content, "categories": categories}}).ok(t, &out)
	return out.CreateMemory.Memory
}

func TestMemories(t *testing.T) {
	s := newTestServer(t)
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "vscode")

	t.Run("a created memory comes back with its app and categories", func(t *testing.T) {
		m := s.createMemory(t, tok, app, "retry webhooks with backoff", "payments", "reliability")
		if m.Version != 1 || m.State != "ACTIVE" || m.App == nil || m.App.Name != "vscode" || len(m.Categories) != 2 {
			t.Fatalf("unexpected memory %+v", m)
		}
		var got struct{ Memory memoryJSON }
		s.do(t, tok, `query($id: ID!) { memory(id: $id) { `+memoryFields+` } }`, map[string]any{"id": m.ID}).ok(t, &got)
		if got.Memory.Content != m.Content {
			t.Fatalf("memory(id) = %+v", got.Memory)
		}
	})

	t.Run("an update at the expected version bumps the version; a stale one is a CONFLICT", func(t *testing.T) {
		m := s.createMemory(t, tok, app, "first text")
		update := `mutation($in: UpdateMemoryInput!) { updateMemory(input: $in) { memory { version content } } }`
		var out struct{ UpdateMemory struct{ Memory memoryJSON } }
		s.do(t, tok, update, map[string]any{"in": map[string]any{"id": m.ID, "expectedVersion": 1, "content": "second text"}}).ok(t, &out)
		if out.UpdateMemory.Memory.Version != 2 || out.UpdateMemory.Memory.Content != "second text" {
			t.Fatalf("after update: %+v", out.UpdateMemory.Memory)
		}
		e := s.do(t, tok, update, map[string]any{"in": map[string]any{"id": m.ID, "expectedVersion": 1, "content": "lost update"}}).code(t, "CONFLICT")
		if !strings.Contains(e.Message, "version") {
			t.Fatalf("conflict message should explain the version: %q", e.Message)
		}
	})

	t.Run("pausing, archiving and deleting change the state; deleted memories leave the default list", func(t *testing.T) {
		m := s.createMemory(t, tok, app, "short-lived")
		var st struct{ SetMemoryState struct{ Memory memoryJSON } }
		s.do(t, tok, `mutation($id: ID!) { setMemoryState(input: {id: $id, state: PAUSED}) { memory { state version } } }`, map[string]any{"id": m.ID}).ok(t, &st)
		if st.SetMemoryState.Memory.State != "PAUSED" {
			t.Fatalf("state = %s", st.SetMemoryState.Memory.State)
		}
		var del struct{ DeleteMemory struct{ Memory memoryJSON } }
		s.do(t, tok, `mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { state } } }`, map[string]any{"id": m.ID}).ok(t, &del)
		if del.DeleteMemory.Memory.State != "DELETED" {
			t.Fatalf("state = %s", del.DeleteMemory.Memory.State)
		}
		s.do(t, tok, `mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { state } } }`, map[string]any{"id": m.ID}).code(t, "NOT_FOUND")
		var list struct {
			Memories struct{ Nodes []memoryJSON }
		}
		s.do(t, tok, `{ memories(first: 100) { nodes { id } } }`, nil).ok(t, &list)
		for _, n := range list.Memories.Nodes {
			if n.ID == m.ID {
				t.Fatal("a deleted memory is in the default list")
			}
		}
	})

	t.Run("createMemories is atomic: one bad input stores nothing", func(t *testing.T) {
		before := countMemories(t, s, tok)
		r := s.do(t, tok, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`, map[string]any{"in": map[string]any{"memories": []any{
			map[string]any{"appId": app, "content": "fine"},
			map[string]any{"appId": app, "content": ""},
		}}})
		r.code(t, "BAD_USER_INPUT")
		if after := countMemories(t, s, tok); after != before {
			t.Fatalf("memory count went from %d to %d", before, after)
		}
	})

	t.Run("pages follow each other without gaps or repeats", func(t *testing.T) {
		seen := map[string]bool{}
		total := countMemories(t, s, tok)
		after := ""
		for pages := 0; ; pages++ {
			var out struct {
				Memories struct {
					Edges []struct {
						Cursor string
						Node   memoryJSON
					}
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			vars := map[string]any{"after": nil}
			if after != "" {
				vars["after"] = after
			}
			s.do(t, tok, `query($after: String) { memories(first: 1, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, vars).ok(t, &out)
			for _, e := range out.Memories.Edges {
				if seen[e.Node.ID] {
					t.Fatalf("memory %s seen twice", e.Node.ID)
				}
				seen[e.Node.ID] = true
			}
			if !out.Memories.PageInfo.HasNextPage {
				break
			}
			after = out.Memories.PageInfo.EndCursor
		}
		if len(seen) != total {
			t.Fatalf("paged through %d memories, want %d", len(seen), total)
		}
	})

	t.Run("filters narrow the list by text and category", func(t *testing.T) {
		s.createMemory(t, tok, app, "Zebra crossing notes", "zoo")
		var out struct {
			Memories struct{ Nodes []memoryJSON }
		}
		s.do(t, tok, `{ memories(filter: {textContains: "zebra"}) { nodes { content categories { name } } } }`, nil).ok(t, &out)
		if len(out.Memories.Nodes) != 1 || out.Memories.Nodes[0].Categories[0].Name != "zoo" {
			t.Fatalf("textContains filter gave %+v", out.Memories.Nodes)
		}
	})

	for _, tt := range []struct{ name, query string }{
		{"a malformed id is refused", `{ memory(id: "nope") { id } }`},
		{"an id of another type is refused", `{ memory(id: "` + relay.UUIDID(relay.KindApp, uuid.New()) + `") { id } }`},
		{"a forged cursor is refused", `{ memories(after: "Zm9yZ2Vk") { nodes { id } } }`},
		{"a page size above the cap is refused", `{ memories(first: 1000) { nodes { id } } }`},
		{"an unknown state is refused", `{ memories(filter: {states: [GONE]}) { nodes { id } } }`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tok, tt.query, nil)
			if len(r.Errors) == 0 {
				t.Fatalf("no error for %s", tt.query)
			}
			if code := r.Errors[0].Extensions["code"]; code != "BAD_USER_INPUT" && code != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("code = %v (%s)", code, r.Errors[0].Message)
			}
		})
	}

	t.Run("writing without memories:write is FORBIDDEN and names the scope", func(t *testing.T) {
		reader := s.token(t, alice, auth.ScopeMemoriesRead)
		e := s.do(t, reader, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "x"}) { memory { id } } }`, map[string]any{"a": app}).code(t, "FORBIDDEN")
		if !strings.Contains(e.Message, auth.ScopeMemoriesWrite) {
			t.Fatalf("message %q does not name the scope", e.Message)
		}
	})
}

func countMemories(t *testing.T, s *testServer, tok string) int {
	t.Helper()
	var out struct {
		Memories struct{ Nodes []memoryJSON }
	}
	s.do(t, tok, `{ memories(first: 100) { nodes { id } } }`, nil).ok(t, &out)
	return len(out.Memories.Nodes)
}

// TestMemoriesAcrossTenants checks that another tenant's ids answer exactly
// like ids that do not exist, for every memory query and mutation.
func TestMemoriesAcrossTenants(t *testing.T) {
	s := newTestServer(t)
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	aliceTok, bobTok := s.token(t, alice), s.token(t, bob)
	app := s.createApp(t, aliceTok, "vscode")
	m := s.createMemory(t, aliceTok, app, "alice's secret")
	missing := relay.UUIDID(relay.KindMemory, uuid.New())

	for _, tt := range []struct {
		name, query string
		vars        func(id string) map[string]any
		code        string // "" when the answer is null data without error
	}{
		{"memory(id) is null", `query($id: ID!) { memory(id: $id) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }, ""},
		{"node(id) is null", `query($id: ID!) { node(id: $id) { id } }`, func(id string) map[string]any { return map[string]any{"id": id} }, ""},
		{"updateMemory is NOT_FOUND", `mutation($id: ID!) { updateMemory(input: {id: $id, expectedVersion: 1, content: "stolen"}) { memory { id } } }`, func(id string) map[string]any { return map[string]any{"id": id} }, "NOT_FOUND"},
		{"setMemoryState is NOT_FOUND", `mutation($id: ID!) { setMemoryState(input: {id: $id, state: ARCHIVED}) { memory { id } } }`, func(id string) map[string]any { return map[string]any{"id": id} }, "NOT_FOUND"},
		{"deleteMemory is NOT_FOUND", `mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { id } } }`, func(id string) map[string]any { return map[string]any{"id": id} }, "NOT_FOUND"},
		{"createMemory with the other tenant's app is NOT_FOUND", `mutation($id: ID!) { createMemory(input: {appId: $id, content: "x"}) { memory { id } } }`, func(string) map[string]any { return map[string]any{"id": app} }, "NOT_FOUND"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			theirs := s.do(t, bobTok, tt.query, tt.vars(m.ID))
			random := s.do(t, bobTok, tt.query, tt.vars(missing))
			if tt.code == "" {
				theirs.ok(t, nil)
				random.ok(t, nil)
				if string(theirs.Data) != string(random.Data) {
					t.Fatalf("another tenant's id answered %s, a missing id %s", theirs.Data, random.Data)
				}
				return
			}
			a, b := theirs.code(t, tt.code), random.code(t, tt.code)
			if strings.Contains(a.Message, m.ID) != strings.Contains(b.Message, missing) {
				t.Fatalf("messages differ in shape: %q vs %q", a.Message, b.Message)
			}
		})
	}

	t.Run("alice's memory is unchanged and bob's lists are empty", func(t *testing.T) {
		var got struct{ Memory memoryJSON }
		s.do(t, aliceTok, `query($id: ID!) { memory(id: $id) { content state version } }`, map[string]any{"id": m.ID}).ok(t, &got)
		if got.Memory.Content != "alice's secret" || got.Memory.State != "ACTIVE" || got.Memory.Version != 1 {
			t.Fatalf("alice's memory changed: %+v", got.Memory)
		}
		if n := countMemories(t, s, bobTok); n != 0 {
			t.Fatalf("bob sees %d memories", n)
		}
	})
}
