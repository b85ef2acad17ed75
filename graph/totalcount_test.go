package graph_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// memoryCountCalls wraps a memory backend and counts the CountMemories
// calls that reach it, to show when the gateway asks the store for a count.
type memoryCountCalls struct {
	stores.MemoryBackend
	calls *atomic.Int64
}

func (b memoryCountCalls) Memories(t stores.Tenant) stores.MemoryStore {
	return memoryCountCallsStore{MemoryStore: b.MemoryBackend.Memories(t), calls: b.calls}
}

type memoryCountCallsStore struct {
	stores.MemoryStore
	calls *atomic.Int64
}

func (s memoryCountCallsStore) CountMemories(ctx context.Context, f stores.MemoryFilter) (int, error) {
	s.calls.Add(1)
	return s.MemoryStore.CountMemories(ctx, f)
}

// connectionCount is a connection page with its totalCount.
type connectionCount struct {
	TotalCount int
	Nodes      []struct{ ID, Key string }
	PageInfo   struct{ HasNextPage bool }
}

func TestTotalCount(t *testing.T) {
	var countCalls atomic.Int64
	s := newTestServer(t, func(c *graph.Config) {
		c.Backends.Memories = memoryCountCalls{MemoryBackend: c.Backends.Memories, calls: &countCalls}
	})
	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	tokA, tokB := s.token(t, alice), s.token(t, bob)

	appA := s.createApp(t, tokA, "vscode")
	for _, content := range []string{"retry with backoff", "cap the backoff", "warm the cache", "backoff jitter"} {
		s.createMemory(t, tokA, appA, content, "reliability")
	}
	s.createMemory(t, tokA, appA, "unrelated note")
	appB := s.createApp(t, tokB, "cli")
	for _, content := range []string{"bob's backoff", "bob's other backoff"} {
		s.createMemory(t, tokB, appB, content, "reliability")
	}

	memories := `query($filter: MemoryFilter) { memories(first: 1, filter: $filter) { totalCount nodes { id } pageInfo { hasNextPage } } }`
	memoryCount := func(t *testing.T, tok string, filter map[string]any) connectionCount {
		t.Helper()
		var out struct{ Memories connectionCount }
		s.do(t, tok, memories, map[string]any{"filter": filter}).ok(t, &out)
		return out.Memories
	}

	t.Run("memories count the whole filtered list, not the page", func(t *testing.T) {
		got := memoryCount(t, tokA, map[string]any{"textContains": "BACKOFF"})
		if got.TotalCount != 3 || len(got.Nodes) != 1 || !got.PageInfo.HasNextPage {
			t.Fatalf("memories(textContains: BACKOFF) = %+v, want 3 in all, 1 on the page", got)
		}
		if all := memoryCount(t, tokA, nil); all.TotalCount != 5 {
			t.Fatalf("memories() totalCount = %d, want 5", all.TotalCount)
		}
	})

	t.Run("another tenant's memories are never counted", func(t *testing.T) {
		if got := memoryCount(t, tokB, map[string]any{"textContains": "backoff"}); got.TotalCount != 2 {
			t.Fatalf("bob's count = %d, want his 2", got.TotalCount)
		}
		if got := memoryCount(t, s.token(t, storetest.NewTenant()), nil); got.TotalCount != 0 || len(got.Nodes) != 0 {
			t.Fatalf("a new tenant's count = %+v, want 0", got)
		}
		// Alice's app id names nothing for bob: his count under it is 0.
		if got := memoryCount(t, tokB, map[string]any{"appId": appA}); got.TotalCount != 0 {
			t.Fatalf("bob's count under alice's app = %d, want 0", got.TotalCount)
		}
	})

	t.Run("the count is asked of the store only when totalCount is selected", func(t *testing.T) {
		before := countCalls.Load()
		s.do(t, tokA, `{ memories(first: 2) { nodes { id } pageInfo { hasNextPage } } }`, nil).ok(t, nil)
		if n := countCalls.Load() - before; n != 0 {
			t.Fatalf("%d count calls without totalCount, want 0", n)
		}
		s.do(t, tokA, `{ memories(first: 2) { totalCount } }`, nil).ok(t, nil)
		if n := countCalls.Load() - before; n != 1 {
			t.Fatalf("%d count calls with totalCount, want 1", n)
		}
	})

	t.Run("a bad filter is BAD_USER_INPUT before anything is counted", func(t *testing.T) {
		before := countCalls.Load()
		s.do(t, tokA, memories, map[string]any{"filter": map[string]any{"appId": "not an id"}}).code(t, graph.CodeBadUserInput)
		if n := countCalls.Load() - before; n != 0 {
			t.Fatalf("%d count calls for a refused filter, want 0", n)
		}
	})

	t.Run("search counts every hit for the text and tags in the tenant's own index", func(t *testing.T) {
		indexDocuments(t, s, tokA,
			map[string]any{"id": "a1", "body": "a wombat digs burrows", "tags": []string{"go"}},
			map[string]any{"id": "a2", "body": "a wombat eats grass", "tags": []string{"go", "http"}},
			map[string]any{"id": "a3", "body": "the wombat sleeps"},
			map[string]any{"id": "a4", "body": "the cache is warm"},
		)
		indexDocuments(t, s, tokB, map[string]any{"id": "b1", "body": "bob's wombat", "tags": []string{"go"}})
		query := `query($text: String!, $tags: [String!]) { search(text: $text, tags: $tags, first: 1) { totalCount } }`
		for _, tc := range []struct {
			name, tok, text string
			tags            []string
			want            int
		}{
			{"every hit of alice's", tokA, "wombat", nil, 3},
			{"only hits carrying the tags", tokA, "wombat", []string{"go"}, 2},
			{"no hit", tokA, "platypus", nil, 0},
			{"only bob's own hit", tokB, "wombat", nil, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out struct{ Search connectionCount }
				s.do(t, tc.tok, query, map[string]any{"text": tc.text, "tags": tc.tags}).ok(t, &out)
				if out.Search.TotalCount != tc.want {
					t.Fatalf("totalCount = %d, want %d", out.Search.TotalCount, tc.want)
				}
			})
		}
	})

	t.Run("code symbols and repositories count under the filter, per tenant", func(t *testing.T) {
		seedCodeGraph(t, s, tokA, "github.com/acme/api")
		s.do(t, tokA, registerRepoMutation, map[string]any{"input": map[string]any{"key": "github.com/acme/empty"}}).ok(t, nil)
		g := seedCodeGraph(t, s, tokB, "github.com/bob/api")
		query := `query($filter: SymbolFilter) { codeSymbols(first: 1, filter: $filter) { totalCount nodes { key } } codeRepos(first: 1) { totalCount } }`
		for _, tc := range []struct {
			name, tok      string
			filter         map[string]any
			symbols, repos int
		}{
			{"every symbol of alice's repositories", tokA, nil, 4, 2},
			{"a name prefix", tokA, map[string]any{"name": "s"}, 2, 2},
			{"a kind", tokA, map[string]any{"kind": "TYPE"}, 1, 2},
			{"bob's repository seen by alice counts nothing", tokA, map[string]any{"repoId": g.repo}, 0, 2},
			{"bob counts his own only", tokB, nil, 4, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out struct{ CodeSymbols, CodeRepos connectionCount }
				s.do(t, tc.tok, query, map[string]any{"filter": tc.filter}).ok(t, &out)
				if out.CodeSymbols.TotalCount != tc.symbols || out.CodeRepos.TotalCount != tc.repos {
					t.Fatalf("symbols %d, repos %d; want %d, %d", out.CodeSymbols.TotalCount, out.CodeRepos.TotalCount, tc.symbols, tc.repos)
				}
				if tc.symbols > 0 && len(out.CodeSymbols.Nodes) != 1 {
					t.Fatalf("page of %d symbols, want 1", len(out.CodeSymbols.Nodes))
				}
			})
		}
	})

	t.Run("every other connection counts the tenant's own list", func(t *testing.T) {
		s.do(t, tokA, `mutation { createExperiment(input: {name: "fusion", variants: [{key: "a", weight: 1}]}) { experiment { id } } }`, nil).ok(t, nil)
		s.do(t, tokA, recordFeedback, map[string]any{"in": map[string]any{"queryId": "q", "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED"}}).ok(t, nil)
		s.do(t, tokA, recordFeedback, map[string]any{"in": map[string]any{"queryId": "q", "tool": "cli", "queryType": "recall", "outcome": "REJECTED"}}).ok(t, nil)
		query := `{
  apps(first: 1) { totalCount }
  categories(first: 1) { totalCount }
  experiments(first: 1, statuses: [DRAFT]) { totalCount }
  feedbackEvents(first: 1, filter: {outcomes: [ACCEPTED]}) { totalCount }
}`
		var out struct{ Apps, Categories, Experiments, FeedbackEvents connectionCount }
		s.do(t, tokA, query, nil).ok(t, &out)
		if out.Apps.TotalCount != 1 || out.Categories.TotalCount != 1 || out.Experiments.TotalCount != 1 || out.FeedbackEvents.TotalCount != 1 {
			t.Fatalf("alice's counts %+v, want 1 each", out)
		}
		s.do(t, tokB, query, nil).ok(t, &out)
		if out.Apps.TotalCount != 1 || out.Categories.TotalCount != 1 || out.Experiments.TotalCount != 0 || out.FeedbackEvents.TotalCount != 0 {
			t.Fatalf("bob's counts %+v, want his app and category only", out)
		}
	})
}
