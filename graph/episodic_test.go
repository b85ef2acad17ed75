package graph_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

const putItemMutation = `mutation($input: PutEpisodicItemInput!) {
  putEpisodicItem(input: $input) {
    item { id sessionId content metadata weight score createdAt touchedAt expiresAt memory { id content } }
  }
}`

type episodicItemJSON struct {
	ID, SessionID, Content          string
	Metadata                        map[string]any
	Weight, Score                   float64
	CreatedAt, TouchedAt, ExpiresAt time.Time
	Memory                          *struct{ ID, Content string }
}

const sessionQuery = `query($id: String!, $halfLife: Float, $first: Int) {
  episodicSession(id: $id) {
    id itemCount lastTouchedAt expiresAt
    items(halfLifeSeconds: $halfLife, first: $first) { id content weight score memory { id } }
  }
}`

type sessionJSON struct {
	EpisodicSession *struct {
		ID            string
		ItemCount     int
		LastTouchedAt time.Time
		ExpiresAt     time.Time
		Items         []episodicItemJSON
	} `json:"episodicSession"`
}

// putEpisodicItem stores an episodic item through the API and returns it.
func putEpisodicItem(t *testing.T, s *testServer, tok string, input map[string]any) episodicItemJSON {
	t.Helper()
	var out struct {
		PutEpisodicItem struct{ Item episodicItemJSON } `json:"putEpisodicItem"`
	}
	s.do(t, tok, putItemMutation, map[string]any{"input": input}).ok(t, &out)
	return out.PutEpisodicItem.Item
}

// episodicSession reads one episodic session through the API; vars beyond the id are optional.
func episodicSession(t *testing.T, s *testServer, tok, id string, vars map[string]any) sessionJSON {
	t.Helper()
	all := map[string]any{"id": id}
	for k, v := range vars {
		all[k] = v
	}
	var out sessionJSON
	s.do(t, tok, sessionQuery, all).ok(t, &out)
	return out
}

func episodicItemIDs(items []episodicItemJSON) []string {
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func nearlyEqual(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestEpisodic(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	tok := s.token(t, tenant)

	t.Run("a put item has its defaults: weight 1, an hour to live and an empty metadata object", func(t *testing.T) {
		it := putEpisodicItem(t, s, tok, map[string]any{"sessionId": "defaults", "content": "opened main.go"})
		if it.ID == "" || it.SessionID != "defaults" || it.Weight != 1 || it.Score != 1 || it.Memory != nil {
			t.Fatalf("item %+v", it)
		}
		if it.Metadata == nil || len(it.Metadata) != 0 {
			t.Fatalf("metadata %v, want {}", it.Metadata)
		}
		if !it.ExpiresAt.Equal(it.CreatedAt.Add(time.Hour)) || !it.TouchedAt.Equal(it.CreatedAt) {
			t.Fatalf("times created %v touched %v expires %v", it.CreatedAt, it.TouchedAt, it.ExpiresAt)
		}
	})

	t.Run("items rank by weight times recency decay", func(t *testing.T) {
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "decay", "itemId": "old", "content": "old but heavy", "weight": 3})
		s.clock.Advance(15 * time.Minute)
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "decay", "itemId": "new", "content": "fresh", "metadata": map[string]any{"file": "a.go"}})

		// The default half-life is 900 s: one half-life later, old scores 3 x 0.5.
		got := episodicSession(t, s, tok, "decay", nil).EpisodicSession
		if got == nil || got.ItemCount != 2 || !reflect.DeepEqual(episodicItemIDs(got.Items), []string{"old", "new"}) {
			t.Fatalf("session %+v", got)
		}
		if !nearlyEqual(got.Items[0].Score, 1.5) || !nearlyEqual(got.Items[1].Score, 1) {
			t.Fatalf("scores %v and %v, want 1.5 and 1", got.Items[0].Score, got.Items[1].Score)
		}

		// With a 300 s half-life, old has decayed three half-lives: 3/8 < 1.
		got = episodicSession(t, s, tok, "decay", map[string]any{"halfLife": 300}).EpisodicSession
		if !reflect.DeepEqual(episodicItemIDs(got.Items), []string{"new", "old"}) || !nearlyEqual(got.Items[1].Score, 3.0/8) {
			t.Fatalf("items %+v", got.Items)
		}

		s.clock.Advance(15 * time.Minute)
		got = episodicSession(t, s, tok, "decay", nil).EpisodicSession
		if !nearlyEqual(got.Items[0].Score, 0.75) || !nearlyEqual(got.Items[1].Score, 0.5) {
			t.Fatalf("scores two and one half-lives later %v, %v", got.Items[0].Score, got.Items[1].Score)
		}
	})

	t.Run("first keeps the highest ranked items", func(t *testing.T) {
		got := episodicSession(t, s, tok, "decay", map[string]any{"first": 1, "halfLife": 300}).EpisodicSession
		if !reflect.DeepEqual(episodicItemIDs(got.Items), []string{"new"}) || got.ItemCount != 2 {
			t.Fatalf("session %+v", got)
		}
	})

	t.Run("an item lives until its TTL and is gone after it", func(t *testing.T) {
		it := putEpisodicItem(t, s, tok, map[string]any{"sessionId": "short", "content": "brief", "ttlSeconds": 60})
		if !it.ExpiresAt.Equal(it.CreatedAt.Add(time.Minute)) {
			t.Fatalf("expires %v, created %v", it.ExpiresAt, it.CreatedAt)
		}
		s.clock.Advance(59 * time.Second)
		if got := episodicSession(t, s, tok, "short", nil).EpisodicSession; got == nil || got.ItemCount != 1 {
			t.Fatalf("a second before expiry: %+v", got)
		}
		s.clock.Advance(time.Second)
		r := s.do(t, tok, sessionQuery, map[string]any{"id": "short"})
		r.ok(t, nil)
		if !r.isNull(t, "episodicSession") {
			t.Fatalf("an expired session is %s, want null", r.Data)
		}
		var list struct{ EpisodicSessions []struct{ ID string } }
		s.do(t, tok, `query { episodicSessions { id } }`, nil).ok(t, &list)
		for _, sess := range list.EpisodicSessions {
			if sess.ID == "short" {
				t.Fatal("the expired session is still listed")
			}
		}
	})

	t.Run("putting an existing item id replaces it and refreshes its touch time", func(t *testing.T) {
		first := putEpisodicItem(t, s, tok, map[string]any{"sessionId": "replace", "itemId": "x", "content": "v1", "ttlSeconds": 60})
		s.clock.Advance(30 * time.Second)
		second := putEpisodicItem(t, s, tok, map[string]any{"sessionId": "replace", "itemId": "x", "content": "v2", "ttlSeconds": 60})
		if second.Content != "v2" || !second.CreatedAt.Equal(first.CreatedAt) || !second.TouchedAt.Equal(first.TouchedAt.Add(30*time.Second)) {
			t.Fatalf("replaced %+v, was %+v", second, first)
		}
		s.clock.Advance(45 * time.Second)
		got := episodicSession(t, s, tok, "replace", nil).EpisodicSession
		if got == nil || got.ItemCount != 1 || got.Items[0].Content != "v2" {
			t.Fatalf("the refreshed item should outlive its first TTL: %+v", got)
		}
	})

	t.Run("episodicSessions lists live sessions, most recently touched first", func(t *testing.T) {
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "older", "content": "a"})
		s.clock.Advance(time.Second)
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "newer", "content": "b"})
		var list struct {
			EpisodicSessions []struct {
				ID        string
				ItemCount int
			}
		}
		s.do(t, tok, `query { episodicSessions { id itemCount } }`, nil).ok(t, &list)
		if len(list.EpisodicSessions) < 2 || list.EpisodicSessions[0].ID != "newer" || list.EpisodicSessions[1].ID != "older" {
			t.Fatalf("sessions %+v", list.EpisodicSessions)
		}
	})

	t.Run("expireEpisodicItem removes one item, and a second expiry is NOT_FOUND", func(t *testing.T) {
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "expire", "itemId": "a", "content": "a"})
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "expire", "itemId": "b", "content": "b"})
		const expire = `mutation($s: String!, $i: String!) { expireEpisodicItem(input: {sessionId: $s, itemId: $i}) { sessionId itemId } }`
		var out struct {
			ExpireEpisodicItem struct{ SessionID, ItemID string }
		}
		s.do(t, tok, expire, map[string]any{"s": "expire", "i": "a"}).ok(t, &out)
		if out.ExpireEpisodicItem.SessionID != "expire" || out.ExpireEpisodicItem.ItemID != "a" {
			t.Fatalf("payload %+v", out)
		}
		if got := episodicSession(t, s, tok, "expire", nil).EpisodicSession; got == nil || !reflect.DeepEqual(episodicItemIDs(got.Items), []string{"b"}) {
			t.Fatalf("session %+v", got)
		}
		s.do(t, tok, expire, map[string]any{"s": "expire", "i": "a"}).code(t, graph.CodeNotFound)
	})

	t.Run("expireEpisodicSession ends a session and says how many items it held", func(t *testing.T) {
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "end", "content": "a"})
		putEpisodicItem(t, s, tok, map[string]any{"sessionId": "end", "content": "b"})
		const end = `mutation($s: String!) { expireEpisodicSession(input: {sessionId: $s}) { sessionId expiredCount } }`
		var out struct{ ExpireEpisodicSession struct{ ExpiredCount int } }
		s.do(t, tok, end, map[string]any{"s": "end"}).ok(t, &out)
		if out.ExpireEpisodicSession.ExpiredCount != 2 {
			t.Fatalf("expired %d", out.ExpireEpisodicSession.ExpiredCount)
		}
		if r := s.do(t, tok, sessionQuery, map[string]any{"id": "end"}); !r.isNull(t, "episodicSession") {
			t.Fatalf("an ended session is %s", r.Data)
		}
		s.do(t, tok, end, map[string]any{"s": "end"}).ok(t, &out)
		if out.ExpireEpisodicSession.ExpiredCount != 0 {
			t.Fatalf("ending it again expired %d", out.ExpireEpisodicSession.ExpiredCount)
		}
	})

	t.Run("an item referring to a memory resolves it", func(t *testing.T) {
		app := s.createApp(t, tok, "episodic-app")
		m := s.createMemory(t, tok, app, "the session touched this memory")
		it := putEpisodicItem(t, s, tok, map[string]any{"sessionId": "with-memory", "content": "recalled", "memoryId": m.ID})
		if it.Memory == nil || it.Memory.ID != m.ID || it.Memory.Content != m.Content {
			t.Fatalf("item's memory %+v, want %+v", it.Memory, m)
		}
		got := episodicSession(t, s, tok, "with-memory", nil).EpisodicSession
		if got.Items[0].Memory == nil || got.Items[0].Memory.ID != m.ID {
			t.Fatalf("listed item's memory %+v", got.Items[0].Memory)
		}
	})

	t.Run("an item's memory without memories:read is null with a FORBIDDEN error, the rest resolves", func(t *testing.T) {
		episodicOnly := s.token(t, tenant, auth.ScopeEpisodicRead)
		r := s.do(t, episodicOnly, sessionQuery, map[string]any{"id": "with-memory"})
		e := r.code(t, graph.CodeForbidden)
		if len(e.Path) == 0 || e.Path[len(e.Path)-1] != "memory" {
			t.Fatalf("error path %v", e.Path)
		}
		var got sessionJSON
		r.field(t, "episodicSession", &got.EpisodicSession)
		if got.EpisodicSession == nil || len(got.EpisodicSession.Items) != 1 || got.EpisodicSession.Items[0].Memory != nil {
			t.Fatalf("session %+v", got.EpisodicSession)
		}
	})

	t.Run("a memory id that names no memory is NOT_FOUND", func(t *testing.T) {
		s.do(t, tok, putItemMutation, map[string]any{"input": map[string]any{
			"sessionId": "s", "content": "c", "memoryId": relay.UUIDID(relay.KindMemory, uuid.New()),
		}}).code(t, graph.CodeNotFound)
	})

	t.Run("an unknown session is null", func(t *testing.T) {
		r := s.do(t, tok, sessionQuery, map[string]any{"id": "never-used"})
		r.ok(t, nil)
		if !r.isNull(t, "episodicSession") {
			t.Fatalf("data %s", r.Data)
		}
	})
}

func TestEpisodicRefusesBadInput(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	putEpisodicItem(t, s, tok, map[string]any{"sessionId": "s", "content": "c"})

	put := func(overrides map[string]any) map[string]any {
		in := map[string]any{"sessionId": "s", "content": "c"}
		for k, v := range overrides {
			in[k] = v
		}
		return map[string]any{"input": in}
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"a session id with a space", putItemMutation, put(map[string]any{"sessionId": "my session"})},
		{"an empty session id", putItemMutation, put(map[string]any{"sessionId": ""})},
		{"an item id longer than 128 characters", putItemMutation, put(map[string]any{"itemId": string(long)})},
		{"empty content", putItemMutation, put(map[string]any{"content": ""})},
		{"a weight of zero", putItemMutation, put(map[string]any{"weight": 0})},
		{"a negative weight", putItemMutation, put(map[string]any{"weight": -1})},
		{"a TTL of zero", putItemMutation, put(map[string]any{"ttlSeconds": 0})},
		{"a TTL above thirty days", putItemMutation, put(map[string]any{"ttlSeconds": 30*24*3600 + 1})},
		{"a memory id that is no id", putItemMutation, put(map[string]any{"memoryId": "nope"})},
		{"a code symbol id as a memory id", putItemMutation, put(map[string]any{"memoryId": relay.ID(relay.KindCodeSymbol, "x")})},
		{"a session query with a bad id", sessionQuery, map[string]any{"id": "a/b"}},
		{"a half-life of zero", sessionQuery, map[string]any{"id": "s", "halfLife": 0}},
		{"a negative half-life", sessionQuery, map[string]any{"id": "s", "halfLife": -900}},
		{"first of zero", sessionQuery, map[string]any{"id": "s", "first": 0}},
		{"first above the session cap", sessionQuery, map[string]any{"id": "s", "first": 1001}},
		{"an expiry with a bad item id", `mutation { expireEpisodicItem(input: {sessionId: "s", itemId: "a b"}) { itemId } }`, nil},
		{"ending a session with a bad id", `mutation { expireEpisodicSession(input: {sessionId: "#"}) { expiredCount } }`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is BAD_USER_INPUT", func(t *testing.T) {
			if e := s.do(t, tok, tc.query, tc.vars).code(t, graph.CodeBadUserInput); e.Message == "" {
				t.Fatal("the error has no message")
			}
		})
	}

	t.Run("the TTL error names the allowed range", func(t *testing.T) {
		e := s.do(t, tok, putItemMutation, put(map[string]any{"ttlSeconds": 0})).code(t, graph.CodeBadUserInput)
		if e.Message != "ttlSeconds must be between 1 and 2592000" {
			t.Fatalf("message %q", e.Message)
		}
	})

	t.Run("nothing was stored by the refused puts", func(t *testing.T) {
		if got := episodicSession(t, s, tok, "s", nil).EpisodicSession; got == nil || got.ItemCount != 1 {
			t.Fatalf("session %+v", got)
		}
	})
}

func TestEpisodicNeedsScopes(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	putEpisodicItem(t, s, s.token(t, tenant), map[string]any{"sessionId": "s", "itemId": "i", "content": "c"})
	readOnly := s.token(t, tenant, auth.ScopeEpisodicRead)
	memoriesOnly := s.token(t, tenant, auth.ScopeMemoriesRead, auth.ScopeMemoriesWrite)

	cases := []struct {
		name, token, query, code string
		vars                     map[string]any
	}{
		{"reading a session without a token is UNAUTHENTICATED", "", sessionQuery, graph.CodeUnauthenticated, map[string]any{"id": "s"}},
		{"putting an item without a token is UNAUTHENTICATED", "", putItemMutation, graph.CodeUnauthenticated,
			map[string]any{"input": map[string]any{"sessionId": "s", "content": "c"}}},
		{"reading a session without episodic:read is FORBIDDEN", memoriesOnly, sessionQuery, graph.CodeForbidden, map[string]any{"id": "s"}},
		{"listing sessions without episodic:read is FORBIDDEN", memoriesOnly, `query { episodicSessions { id } }`, graph.CodeForbidden, nil},
		{"putting an item with episodic:read only is FORBIDDEN", readOnly, putItemMutation, graph.CodeForbidden,
			map[string]any{"input": map[string]any{"sessionId": "s", "content": "c"}}},
		{"expiring an item with episodic:read only is FORBIDDEN", readOnly,
			`mutation { expireEpisodicItem(input: {sessionId: "s", itemId: "i"}) { itemId } }`, graph.CodeForbidden, nil},
		{"ending a session with episodic:read only is FORBIDDEN", readOnly,
			`mutation { expireEpisodicSession(input: {sessionId: "s"}) { expiredCount } }`, graph.CodeForbidden, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.token, tc.query, tc.vars).code(t, tc.code)
		})
	}

	t.Run("the refused writes changed nothing", func(t *testing.T) {
		got := episodicSession(t, s, readOnly, "s", nil).EpisodicSession
		if got == nil || !reflect.DeepEqual(episodicItemIDs(got.Items), []string{"i"}) {
			t.Fatalf("session %+v", got)
		}
	})
}

func TestEpisodicIsolatesTenants(t *testing.T) {
	s := newTestServer(t)
	a := storetest.NewTenant()
	tokA := s.token(t, a)
	app := s.createApp(t, tokA, "a-app")
	memory := s.createMemory(t, tokA, app, "tenant A's memory")
	putEpisodicItem(t, s, tokA, map[string]any{"sessionId": "shared-name", "itemId": "i", "content": "A's item", "memoryId": memory.ID})
	before := episodicSession(t, s, tokA, "shared-name", nil)

	others := []struct {
		name   string
		tenant func() string
	}{
		{"another organisation", func() string { return s.token(t, storetest.NewTenant()) }},
		{"another user of the same organisation", func() string { return s.token(t, storetest.SameOrgOtherUser(a)) }},
	}
	for _, other := range others {
		tokB := other.tenant()
		t.Run(other.name+" reading the session gets null, as for an unused id", func(t *testing.T) {
			theirs := s.do(t, tokB, sessionQuery, map[string]any{"id": "shared-name"})
			none := s.do(t, tokB, sessionQuery, map[string]any{"id": "never-used"})
			theirs.ok(t, nil)
			none.ok(t, nil)
			if !theirs.isNull(t, "episodicSession") || string(theirs.Data) != string(none.Data) {
				t.Fatalf("tenant A's session gives %s, an unused one %s", theirs.Data, none.Data)
			}
		})

		t.Run(other.name+" lists no sessions", func(t *testing.T) {
			var list struct{ EpisodicSessions []struct{ ID string } }
			s.do(t, tokB, `query { episodicSessions { id } }`, nil).ok(t, &list)
			if len(list.EpisodicSessions) != 0 {
				t.Fatalf("sessions %+v", list.EpisodicSessions)
			}
		})

		t.Run(other.name+" expiring the item gets NOT_FOUND, as for an unused id", func(t *testing.T) {
			const expire = `mutation($s: String!) { expireEpisodicItem(input: {sessionId: $s, itemId: "i"}) { itemId } }`
			theirs := s.do(t, tokB, expire, map[string]any{"s": "shared-name"}).code(t, graph.CodeNotFound)
			none := s.do(t, tokB, expire, map[string]any{"s": "never-used"}).code(t, graph.CodeNotFound)
			if theirs.Message != none.Message {
				t.Fatalf("messages differ: %q and %q", theirs.Message, none.Message)
			}
		})

		t.Run(other.name+" ending the session expires nothing, as for an unused id", func(t *testing.T) {
			const end = `mutation($s: String!) { expireEpisodicSession(input: {sessionId: $s}) { expiredCount } }`
			var theirs, none struct{ ExpireEpisodicSession struct{ ExpiredCount int } }
			s.do(t, tokB, end, map[string]any{"s": "shared-name"}).ok(t, &theirs)
			s.do(t, tokB, end, map[string]any{"s": "never-used"}).ok(t, &none)
			if theirs.ExpireEpisodicSession.ExpiredCount != 0 || none.ExpireEpisodicSession.ExpiredCount != 0 {
				t.Fatalf("expired %d and %d", theirs.ExpireEpisodicSession.ExpiredCount, none.ExpireEpisodicSession.ExpiredCount)
			}
		})

		t.Run(other.name+" putting an item in the same session name keeps it apart", func(t *testing.T) {
			putEpisodicItem(t, s, tokB, map[string]any{"sessionId": "shared-name", "itemId": "i", "content": "B's item"})
			got := episodicSession(t, s, tokB, "shared-name", nil).EpisodicSession
			if got == nil || got.ItemCount != 1 || got.Items[0].Content != "B's item" {
				t.Fatalf("session %+v", got)
			}
			s.do(t, tokB, `mutation { expireEpisodicSession(input: {sessionId: "shared-name"}) { expiredCount } }`, nil).ok(t, nil)
		})
	}

	t.Run("another organisation referring to tenant A's memory gets NOT_FOUND, as for a random memory", func(t *testing.T) {
		tokB := s.token(t, storetest.NewTenant())
		put := func(memoryID string) gqlError {
			return s.do(t, tokB, putItemMutation, map[string]any{"input": map[string]any{
				"sessionId": "s", "content": "c", "memoryId": memoryID,
			}}).code(t, graph.CodeNotFound)
		}
		put(memory.ID)
		put(relay.UUIDID(relay.KindMemory, uuid.New()))
	})

	t.Run("tenant A's session is unchanged", func(t *testing.T) {
		after := episodicSession(t, s, tokA, "shared-name", nil)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("session changed from %+v to %+v", before.EpisodicSession, after.EpisodicSession)
		}
		if it := after.EpisodicSession.Items[0]; it.Content != "A's item" || it.Memory == nil || it.Memory.ID != memory.ID {
			t.Fatalf("item %+v", it)
		}
	})
}
