package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// createWithVisibility creates a memory with the given visibility (the
// server's default when "") and returns its id.
func (s *testServer) createWithVisibility(t *testing.T, token, appID, content, visibility string) string {
	t.Helper()
	var out struct {
		CreateMemory struct {
			Memory struct{ ID, Visibility string }
		}
	}
	in := map[string]any{"appId": appID, "content": content}
	if visibility != "" {
		in["visibility"] = visibility
	}
	s.do(t, token, `mutation($in: CreateMemoryInput!) { createMemory(input: $in) { memory { id visibility } } }`, map[string]any{"in": in}).ok(t, &out)
	if visibility != "" && out.CreateMemory.Memory.Visibility != visibility {
		t.Fatalf("created with visibility %q, got %q", visibility, out.CreateMemory.Memory.Visibility)
	}
	return out.CreateMemory.Memory.ID
}

func TestPrivateMemories(t *testing.T) {
	var l live
	s := newTestServer(t, withLive(&l, testLimits()))
	alice := storetest.NewTenant()
	bob := storetest.SameOrgOtherUser(alice)
	// Both hold every scope: even admin does not show another user's private memory.
	aTok, bTok := s.token(t, alice), s.token(t, bob)
	app := s.createApp(t, aTok, "cli")
	shared := s.createWithVisibility(t, aTok, app, "zebrafish deploys go through the canary", "")
	private := s.createWithVisibility(t, aTok, app, "zebrafish note only alice keeps", "PRIVATE")
	s.do(t, aTok, `mutation($in: UpsertVectorsInput!) { upsertVectors(input: $in) { pointIds } }`, map[string]any{"in": map[string]any{
		"model": "priv-2d", "points": []any{map[string]any{"memoryId": private, "vector": []float64{1, 0}}},
	}}).ok(t, nil)

	t.Run("memories are ORG by default", func(t *testing.T) {
		var out struct{ Memory struct{ Visibility string } }
		s.do(t, bTok, `query($id: ID!) { memory(id: $id) { visibility } }`, map[string]any{"id": shared}).ok(t, &out)
		if out.Memory.Visibility != "ORG" {
			t.Fatalf("default visibility %q", out.Memory.Visibility)
		}
	})

	t.Run("every read path shows another user nothing of a private memory", func(t *testing.T) {
		for _, c := range []struct {
			name, query string
			vars        map[string]any
			want        string // data as Bob gets it
		}{
			{"memory", `query($id: ID!) { memory(id: $id) { id } }`, map[string]any{"id": private}, `{"memory":null}`},
			{"node", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": private}, `{"node":null}`},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": private}, `{"nodes":[null]}`},
			{"memories", `{ memories { totalCount nodes { id } } }`, nil, `{"memories":{"nodes":[{"id":"` + shared + `"}],"totalCount":1}}`},
			{"search", `{ search(text: "zebrafish") { totalCount nodes { document { memory { id } } } } }`, nil, `{"search":{"nodes":[{"document":{"memory":{"id":"` + shared + `"}}}],"totalCount":1}}`},
			{"recall", `{ recall(text: "zebrafish note") { hits { memory { id } } } }`, nil, `{"recall":{"hits":[{"memory":{"id":"` + shared + `"}}]}}`},
			{"vectorSearch", `{ vectorSearch(model: "priv-2d", vector: [1, 0]) { memory { id } } }`, nil, `{"vectorSearch":[]}`},
			{"_entities", `query($r: [_Any!]!) { _entities(representations: $r) { ... on Memory { id } } }`,
				map[string]any{"r": []any{map[string]any{"__typename": "Memory", "id": private}}}, `{"_entities":[null]}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := s.do(t, bTok, c.query, c.vars)
				r.ok(t, nil)
				if got := compact(t, r.Data); got != c.want {
					t.Fatalf("Bob got %s, want %s", got, c.want)
				}
			})
		}
		var mine struct{ Memories struct{ TotalCount int } }
		s.do(t, aTok, `{ memories { totalCount } }`, nil).ok(t, &mine)
		if mine.Memories.TotalCount != 2 {
			t.Fatalf("Alice counts %d memories, want 2", mine.Memories.TotalCount)
		}
	})

	t.Run("every write naming another user's private memory is NOT_FOUND", func(t *testing.T) {
		for name, c := range map[string]struct {
			query string
			in    map[string]any
		}{
			"updateMemory":        {`mutation($in: UpdateMemoryInput!) { updateMemory(input: $in) { memory { id } } }`, map[string]any{"id": private, "expectedVersion": 1, "content": "x"}},
			"setMemoryState":      {`mutation($in: SetMemoryStateInput!) { setMemoryState(input: $in) { memory { id } } }`, map[string]any{"id": private, "state": "ARCHIVED"}},
			"setMemoryVisibility": {`mutation($in: SetMemoryVisibilityInput!) { setMemoryVisibility(input: $in) { memory { id } } }`, map[string]any{"id": private, "visibility": "ORG"}},
			"deleteMemory":        {`mutation($in: DeleteMemoryInput!) { deleteMemory(input: $in) { memory { id } } }`, map[string]any{"id": private}},
			"recordFeedback":      {`mutation($in: RecordFeedbackInput!) { recordFeedback(input: $in) { event { id } } }`, map[string]any{"queryId": "q", "memoryId": private, "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED"}},
			"putEpisodicItem":     {`mutation($in: PutEpisodicItemInput!) { putEpisodicItem(input: $in) { item { id } } }`, map[string]any{"sessionId": "s", "content": "x", "memoryId": private}},
			"indexDocuments":      {`mutation($in: IndexDocumentsInput!) { indexDocuments(input: $in) { documentIds } }`, map[string]any{"documents": []any{map[string]any{"id": "d", "body": "x", "memoryId": private}}}},
		} {
			t.Run(name, func(t *testing.T) {
				s.do(t, bTok, c.query, map[string]any{"in": c.in}).code(t, "NOT_FOUND")
			})
		}
	})

	t.Run("only the author changes visibility, and the change is seen everywhere", func(t *testing.T) {
		const set = `mutation($in: SetMemoryVisibilityInput!) { setMemoryVisibility(input: $in) { memory { visibility version } } }`
		s.do(t, bTok, set, map[string]any{"in": map[string]any{"id": shared, "visibility": "PRIVATE"}}).code(t, "FORBIDDEN")
		var out struct {
			SetMemoryVisibility struct {
				Memory struct {
					Visibility string
					Version    int
				}
			}
		}
		s.do(t, aTok, set, map[string]any{"in": map[string]any{"id": private, "visibility": "ORG", "expectedVersion": 1}}).ok(t, &out)
		if m := out.SetMemoryVisibility.Memory; m.Visibility != "ORG" || m.Version != 2 {
			t.Fatalf("after setMemoryVisibility: %+v", m)
		}
		var found struct{ Search struct{ TotalCount int } }
		s.do(t, bTok, `{ search(text: "zebrafish") { totalCount } }`, nil).ok(t, &found)
		if found.Search.TotalCount != 2 {
			t.Fatalf("Bob finds %d memories once both are ORG, want 2", found.Search.TotalCount)
		}
		s.do(t, aTok, set, map[string]any{"in": map[string]any{"id": private, "visibility": "PRIVATE"}}).ok(t, nil)
		s.do(t, bTok, `{ search(text: "zebrafish") { totalCount } }`, nil).ok(t, &found)
		if found.Search.TotalCount != 1 {
			t.Fatalf("Bob finds %d memories once it is private again, want 1", found.Search.TotalCount)
		}
	})

	t.Run("memoryChanged never announces another user's private memory", func(t *testing.T) {
		b := s.dial(t, bTok)
		b.Start()
		subscribe(t, b, memoryChangedQuery, nil)
		l.waitSubscribers(t, 1)
		s.createWithVisibility(t, aTok, app, "alice's second secret", "PRIVATE")
		marker := s.createWithVisibility(t, aTok, app, "for everyone", "ORG")
		var ev changeEvent
		nextData(t, b, &ev)
		if ev.MemoryChanged.MemoryID != marker {
			t.Fatalf("Bob's first event is about %s (%+v), want the ORG memory %s", ev.MemoryChanged.MemoryID, ev.MemoryChanged, marker)
		}
	})

	t.Run("memoryIndexStatus of another user's private memory is NOT_FOUND like a missing id", func(t *testing.T) {
		for _, id := range []string{private, relay.UUIDID(relay.KindMemory, uuid.New())} {
			c := s.dial(t, bTok)
			c.Start()
			subscribe(t, c, `subscription($id: ID!) { memoryIndexStatus(id: $id) { memoryId searchable } }`, map[string]any{"id": id})
			if m := next(t, c); !strings.Contains(string(m.Payload), `"code":"NOT_FOUND"`) {
				t.Fatalf("memoryIndexStatus(%s) for Bob: %s %s", id, m.Type, m.Payload)
			}
		}
	})

	t.Run("raw feedback events are the user's own unless the caller is an org admin", func(t *testing.T) {
		record := `mutation($in: RecordFeedbackInput!) { recordFeedback(input: $in) { event { id } } }`
		// Bob's other token holds every scope, admin included.
		bTok := s.token(t, bob, auth.ScopeFeedbackRead, auth.ScopeFeedbackWrite, auth.ScopeMemoriesRead)
		for _, tok := range []string{aTok, bTok} {
			s.do(t, tok, record, map[string]any{"in": map[string]any{"queryId": "q", "memoryId": shared, "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED"}}).ok(t, nil)
		}
		count := func(tok string) (events, aggregated int) {
			var out struct {
				FeedbackEvents     struct{ TotalCount int }
				FeedbackAggregates struct{ Overall struct{ Total int } }
			}
			s.do(t, tok, `{ feedbackEvents { totalCount } feedbackAggregates { overall { total } } }`, nil).ok(t, &out)
			return out.FeedbackEvents.TotalCount, out.FeedbackAggregates.Overall.Total
		}
		if e, a := count(bTok); e != 1 || a != 2 {
			t.Fatalf("Bob lists %d events and aggregates %d, want his 1 and the org's 2", e, a)
		}
		for _, scope := range []string{auth.ScopeFeedbackAdmin, auth.ScopeAdmin} {
			admin := s.token(t, storetest.SameOrgOtherUser(alice), auth.ScopeFeedbackRead, scope)
			if e, a := count(admin); e != 2 || a != 2 {
				t.Fatalf("an admin (%s) lists %d events and aggregates %d, want 2 and 2", scope, e, a)
			}
		}
	})
}

func TestDefaultMemoryVisibilityIsAServerSetting(t *testing.T) {
	s := newTestServer(t, func(c *graph.Config) { c.DefaultMemoryVisibility = stores.VisibilityPrivate })
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "cli")
	var out struct {
		CreateMemory struct {
			Memory struct{ ID, Visibility string }
		}
	}
	s.do(t, tok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "x"}) { memory { id visibility } } }`, map[string]any{"a": app}).ok(t, &out)
	if out.CreateMemory.Memory.Visibility != "PRIVATE" {
		t.Fatalf("with the setting PRIVATE a new memory is %q", out.CreateMemory.Memory.Visibility)
	}
	if id := s.createWithVisibility(t, tok, app, "y", "ORG"); id == "" {
		t.Fatal("an explicit ORG is refused")
	}
	if r := s.do(t, s.token(t, storetest.SameOrgOtherUser(alice)), `query($id: ID!) { memory(id: $id) { id } }`, map[string]any{"id": out.CreateMemory.Memory.ID}); !r.isNull(t, "memory") {
		t.Fatalf("a colleague reads the default-private memory: %s", r.Data)
	}
}

// compact re-encodes JSON without spaces, for comparisons.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
