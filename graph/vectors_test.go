package graph_test

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

const upsertVectorsMutation = `mutation($input: UpsertVectorsInput!) { upsertVectors(input: $input) { pointIds } }`

const deleteVectorsMutation = `mutation($input: DeleteVectorsInput!) { deleteVectors(input: $input) { deletedCount } }`

const vectorSearchQuery = `query($model: String!, $vector: [Float!]!, $filter: JSON, $first: Int) {
  vectorSearch(model: $model, vector: $vector, filter: $filter, first: $first) {
    pointId score payload memory { id content }
  }
}`

type vectorHitJSON struct {
	PointID string         `json:"pointId"`
	Score   float64        `json:"score"`
	Payload map[string]any `json:"payload"`
	Memory  *struct{ ID, Content string }
}

// upsertVectors stores points under a model through the API and returns their ids.
func upsertVectors(t *testing.T, s *testServer, tok, model string, points ...map[string]any) []string {
	t.Helper()
	var out struct {
		UpsertVectors struct{ PointIds []string } `json:"upsertVectors"`
	}
	s.do(t, tok, upsertVectorsMutation, map[string]any{"input": map[string]any{"model": model, "points": points}}).ok(t, &out)
	return out.UpsertVectors.PointIds
}

// vectorSearch runs a kNN search through the API; vars beyond model and vector are optional.
func vectorSearch(t *testing.T, s *testServer, tok, model string, vector []float64, vars map[string]any) []vectorHitJSON {
	t.Helper()
	all := map[string]any{"model": model, "vector": vector}
	for k, v := range vars {
		all[k] = v
	}
	var out struct {
		VectorSearch []vectorHitJSON `json:"vectorSearch"`
	}
	s.do(t, tok, vectorSearchQuery, all).ok(t, &out)
	return out.VectorSearch
}

func hitIDs(hits []vectorHitJSON) []string {
	ids := []string{}
	for _, h := range hits {
		ids = append(ids, h.PointID)
	}
	return ids
}

// memoryUUID returns the UUID inside a Memory global id.
func memoryUUID(t *testing.T, id string) string {
	t.Helper()
	u, err := relay.DecodeUUID(id, relay.KindMemory)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func TestVectors(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	tok := s.token(t, tenant)
	app := s.createApp(t, tok, "vectors-app")
	webhook := s.createMemory(t, tok, app, "webhooks retry with backoff")
	flags := s.createMemory(t, tok, app, "feature flags live in one package")
	explicit := uuid.NewString()

	ids := upsertVectors(t, s, tok, "test-3d",
		map[string]any{"memoryId": webhook.ID, "vector": []float64{1, 0, 0}, "payload": map[string]any{"lang": "go"}},
		map[string]any{"memoryId": flags.ID, "vector": []float64{0, 1, 0}, "payload": map[string]any{"lang": "ts"}},
		map[string]any{"vector": []float64{0, 0, 1}, "payload": map[string]any{"lang": "go", "stars": 5}},
		map[string]any{"id": explicit, "vector": []float64{-1, 0, 0}},
	)

	t.Run("a point id is the memory's UUID when a memory is given, the given id, or a new UUID", func(t *testing.T) {
		if len(ids) != 4 || ids[0] != memoryUUID(t, webhook.ID) || ids[1] != memoryUUID(t, flags.ID) || ids[3] != explicit {
			t.Fatalf("point ids %v", ids)
		}
		if _, err := uuid.Parse(ids[2]); err != nil || ids[2] == ids[0] || ids[2] == ids[1] {
			t.Fatalf("generated point id %q", ids[2])
		}
	})

	t.Run("vectorSearch returns the nearest points first, with their memories", func(t *testing.T) {
		hits := vectorSearch(t, s, tok, "test-3d", []float64{0.9, 0.3, 0}, map[string]any{"first": 2})
		if !reflect.DeepEqual(hitIDs(hits), ids[:2]) {
			t.Fatalf("hits %v, want %v", hitIDs(hits), ids[:2])
		}
		if hits[0].Score <= hits[1].Score || hits[0].Score > 1 {
			t.Fatalf("scores %v then %v", hits[0].Score, hits[1].Score)
		}
		if hits[0].Memory == nil || hits[0].Memory.ID != webhook.ID || hits[0].Memory.Content != webhook.Content {
			t.Fatalf("first hit's memory %+v", hits[0].Memory)
		}
		if hits[1].Memory == nil || hits[1].Memory.ID != flags.ID {
			t.Fatalf("second hit's memory %+v", hits[1].Memory)
		}
		if hits[0].Payload["lang"] != "go" {
			t.Fatalf("payload %v", hits[0].Payload)
		}
	})

	t.Run("the default page is ten points and a point without a memory has none", func(t *testing.T) {
		hits := vectorSearch(t, s, tok, "test-3d", []float64{0, 0, 1}, nil)
		if len(hits) != 4 || hits[0].PointID != ids[2] || hits[0].Memory != nil {
			t.Fatalf("hits %+v", hits)
		}
	})

	t.Run("a filter keeps only points whose payload has its values", func(t *testing.T) {
		hits := vectorSearch(t, s, tok, "test-3d", []float64{0, 1, 0}, map[string]any{"filter": map[string]any{"lang": "go"}})
		if got := hitIDs(hits); len(got) != 2 || got[0] == ids[1] || got[1] == ids[1] {
			t.Fatalf("hits %v keep the ts point %s", got, ids[1])
		}
		hits = vectorSearch(t, s, tok, "test-3d", []float64{0, 1, 0}, map[string]any{"filter": map[string]any{"lang": "go", "stars": 5}})
		if got := hitIDs(hits); !reflect.DeepEqual(got, []string{ids[2]}) {
			t.Fatalf("hits %v, want %v", got, ids[2])
		}
	})

	t.Run("an unknown model has no points", func(t *testing.T) {
		if hits := vectorSearch(t, s, tok, "never-used", []float64{1, 2}, nil); hits == nil || len(hits) != 0 {
			t.Fatalf("hits %+v, want an empty list", hits)
		}
	})

	t.Run("upserting an existing id replaces the point", func(t *testing.T) {
		upsertVectors(t, s, tok, "test-3d", map[string]any{"id": explicit, "vector": []float64{0, 0.1, 1}, "payload": map[string]any{"v": 2}})
		hits := vectorSearch(t, s, tok, "test-3d", []float64{0, 0.1, 1}, map[string]any{"first": 1})
		if len(hits) != 1 || hits[0].PointID != explicit || hits[0].Payload["v"] != float64(2) {
			t.Fatalf("hits %+v", hits)
		}
	})

	t.Run("deleteVectors says how many points existed", func(t *testing.T) {
		var out struct {
			DeleteVectors struct{ DeletedCount int } `json:"deleteVectors"`
		}
		s.do(t, tok, deleteVectorsMutation, map[string]any{"input": map[string]any{
			"model": "test-3d", "pointIds": []string{explicit, uuid.NewString()},
		}}).ok(t, &out)
		if out.DeleteVectors.DeletedCount != 1 {
			t.Fatalf("deleted %d", out.DeleteVectors.DeletedCount)
		}
		if hits := vectorSearch(t, s, tok, "test-3d", []float64{0, 0, 1}, nil); len(hits) != 3 {
			t.Fatalf("%d points left, want 3", len(hits))
		}
	})

	t.Run("a hit's memory without memories:read is null with a FORBIDDEN error, the hit resolves", func(t *testing.T) {
		vectorsOnly := s.token(t, tenant, auth.ScopeVectorsRead)
		r := s.do(t, vectorsOnly, vectorSearchQuery, map[string]any{"model": "test-3d", "vector": []float64{1, 0, 0}, "first": 1})
		e := r.code(t, graph.CodeForbidden)
		if len(e.Path) == 0 || e.Path[len(e.Path)-1] != "memory" {
			t.Fatalf("error path %v", e.Path)
		}
		var hits []vectorHitJSON
		r.field(t, "vectorSearch", &hits)
		if len(hits) != 1 || hits[0].PointID != ids[0] || hits[0].Memory != nil {
			t.Fatalf("hits %+v", hits)
		}
	})
}

func TestVectorsRefuseBadInput(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	upsertVectors(t, s, tok, "dim3", map[string]any{"vector": []float64{1, 2, 3}})

	upsert := func(model string, point map[string]any) map[string]any {
		return map[string]any{"input": map[string]any{"model": model, "points": []map[string]any{point}}}
	}
	search := func(vars map[string]any) map[string]any {
		all := map[string]any{"model": "dim3", "vector": []float64{1, 2, 3}}
		for k, v := range vars {
			all[k] = v
		}
		return all
	}
	cases := []struct {
		name, query string
		vars        map[string]any
	}{
		{"a search vector of the wrong dimension", vectorSearchQuery, search(map[string]any{"vector": []float64{1, 2}})},
		{"an upsert of the wrong dimension", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1, 2, 3, 4}})},
		{"an empty vector", vectorSearchQuery, search(map[string]any{"vector": []float64{}})},
		{"a value beyond the float32 range", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1e39, 0, 0}})},
		{"a model name with a space", vectorSearchQuery, search(map[string]any{"model": "my model"})},
		{"a model name in an upsert with a slash", upsertVectorsMutation, upsert("a/b", map[string]any{"vector": []float64{1, 2, 3}})},
		{"first of zero", vectorSearchQuery, search(map[string]any{"first": 0})},
		{"first above a hundred", vectorSearchQuery, search(map[string]any{"first": 101})},
		{"a filter on the reserved key org_id", vectorSearchQuery, search(map[string]any{"filter": map[string]any{"org_id": uuid.NewString()}})},
		{"a filter value that is an object", vectorSearchQuery, search(map[string]any{"filter": map[string]any{"a": map[string]any{"b": 1}}})},
		{"a payload with the reserved key memory_id", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1, 2, 3}, "payload": map[string]any{"memory_id": "x"}})},
		{"a memory id that is no id", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1, 2, 3}, "memoryId": "nope"})},
		{"an app id as a memory id", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1, 2, 3}, "memoryId": relay.UUIDID(relay.KindApp, uuid.New())})},
		{"the nil UUID as a point id", upsertVectorsMutation, upsert("dim3", map[string]any{"vector": []float64{1, 2, 3}, "id": uuid.Nil.String()})},
		{"no points", upsertVectorsMutation, map[string]any{"input": map[string]any{"model": "dim3", "points": []any{}}}},
		{"no point ids to delete", deleteVectorsMutation, map[string]any{"input": map[string]any{"model": "dim3", "pointIds": []string{}}}},
		{"a malformed point id", deleteVectorsMutation, map[string]any{"input": map[string]any{"model": "dim3", "pointIds": []string{"not-a-uuid"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is BAD_USER_INPUT", func(t *testing.T) {
			if e := s.do(t, tok, tc.query, tc.vars).code(t, graph.CodeBadUserInput); e.Message == "" {
				t.Fatal("the error has no message")
			}
		})
	}

	t.Run("a memory id that names no memory is NOT_FOUND", func(t *testing.T) {
		s.do(t, tok, upsertVectorsMutation, upsert("dim3", map[string]any{
			"vector": []float64{1, 2, 3}, "memoryId": relay.UUIDID(relay.KindMemory, uuid.New()),
		})).code(t, graph.CodeNotFound)
	})

	t.Run("nothing was stored by the refused upserts", func(t *testing.T) {
		if hits := vectorSearch(t, s, tok, "dim3", []float64{1, 2, 3}, nil); len(hits) != 1 {
			t.Fatalf("%d points, want 1", len(hits))
		}
	})
}

func TestVectorsNeedScopes(t *testing.T) {
	s := newTestServer(t)
	tenant := storetest.NewTenant()
	id := upsertVectors(t, s, s.token(t, tenant), "m", map[string]any{"vector": []float64{1, 0}})[0]
	readOnly := s.token(t, tenant, auth.ScopeVectorsRead)
	memoriesOnly := s.token(t, tenant, auth.ScopeMemoriesRead)
	searchVars := map[string]any{"model": "m", "vector": []float64{1, 0}}
	upsertVars := map[string]any{"input": map[string]any{"model": "m", "points": []any{map[string]any{"vector": []float64{0, 1}}}}}
	deleteVars := map[string]any{"input": map[string]any{"model": "m", "pointIds": []string{id}}}

	cases := []struct {
		name, token, query, code string
		vars                     map[string]any
	}{
		{"searching without a token is UNAUTHENTICATED", "", vectorSearchQuery, graph.CodeUnauthenticated, searchVars},
		{"upserting without a token is UNAUTHENTICATED", "", upsertVectorsMutation, graph.CodeUnauthenticated, upsertVars},
		{"searching without vectors:read is FORBIDDEN", memoriesOnly, vectorSearchQuery, graph.CodeForbidden, searchVars},
		{"upserting with vectors:read only is FORBIDDEN", readOnly, upsertVectorsMutation, graph.CodeForbidden, upsertVars},
		{"deleting with vectors:read only is FORBIDDEN", readOnly, deleteVectorsMutation, graph.CodeForbidden, deleteVars},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.token, tc.query, tc.vars).code(t, tc.code)
		})
	}

	t.Run("the refused writes changed nothing", func(t *testing.T) {
		if hits := vectorSearch(t, s, readOnly, "m", []float64{1, 0}, nil); !reflect.DeepEqual(hitIDs(hits), []string{id}) {
			t.Fatalf("hits %v", hitIDs(hits))
		}
	})
}

func TestVectorsIsolateTenants(t *testing.T) {
	s := newTestServer(t)
	tokA, tokB := s.token(t, storetest.NewTenant()), s.token(t, storetest.NewTenant())
	app := s.createApp(t, tokA, "a-app")
	memory := s.createMemory(t, tokA, app, "tenant A's embedded memory")
	ids := upsertVectors(t, s, tokA, "shared-model",
		map[string]any{"memoryId": memory.ID, "vector": []float64{1, 0, 0}, "payload": map[string]any{"team": "a"}},
		map[string]any{"vector": []float64{0, 1, 0}},
	)
	query := []float64{1, 0.2, 0}
	before := vectorSearch(t, s, tokA, "shared-model", query, nil)

	t.Run("another tenant searching the same model finds nothing, as in an unknown model", func(t *testing.T) {
		theirs := vectorSearch(t, s, tokB, "shared-model", query, nil)
		none := vectorSearch(t, s, tokB, "unknown-model", query, nil)
		if len(theirs) != 0 || len(none) != 0 {
			t.Fatalf("tenant B finds %+v and %+v", theirs, none)
		}
	})

	t.Run("another tenant deleting tenant A's points deletes nothing, as for random ids", func(t *testing.T) {
		var theirs, none struct {
			DeleteVectors struct{ DeletedCount int } `json:"deleteVectors"`
		}
		s.do(t, tokB, deleteVectorsMutation, map[string]any{"input": map[string]any{"model": "shared-model", "pointIds": ids}}).ok(t, &theirs)
		s.do(t, tokB, deleteVectorsMutation, map[string]any{"input": map[string]any{"model": "shared-model", "pointIds": []string{uuid.NewString()}}}).ok(t, &none)
		if theirs.DeleteVectors.DeletedCount != 0 || none.DeleteVectors.DeletedCount != 0 {
			t.Fatalf("deleted %d and %d", theirs.DeleteVectors.DeletedCount, none.DeleteVectors.DeletedCount)
		}
	})

	t.Run("another tenant embedding tenant A's memory gets NOT_FOUND, as for a random memory", func(t *testing.T) {
		for _, m := range []string{memory.ID, relay.UUIDID(relay.KindMemory, uuid.New())} {
			s.do(t, tokB, upsertVectorsMutation, map[string]any{"input": map[string]any{"model": "shared-model", "points": []any{
				map[string]any{"memoryId": m, "vector": []float64{1, 0, 0}},
			}}}).code(t, graph.CodeNotFound)
		}
	})

	t.Run("another tenant upserting tenant A's point id stores a point of its own", func(t *testing.T) {
		upsertVectors(t, s, tokB, "shared-model", map[string]any{"id": ids[0], "vector": []float64{0, 0, 1}, "payload": map[string]any{"team": "b"}})
		hits := vectorSearch(t, s, tokB, "shared-model", query, nil)
		if len(hits) != 1 || hits[0].PointID != ids[0] || hits[0].Payload["team"] != "b" || hits[0].Memory != nil {
			t.Fatalf("tenant B's hits %+v", hits)
		}
	})

	t.Run("tenant A's points are unchanged", func(t *testing.T) {
		after := vectorSearch(t, s, tokA, "shared-model", query, nil)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("hits changed from %+v to %+v", before, after)
		}
		if len(after) != 2 || after[0].Memory == nil || after[0].Memory.ID != memory.ID || after[0].Payload["team"] != "a" {
			t.Fatalf("hits %+v", after)
		}
	})
}

func TestVectorSearchFromText(t *testing.T) {
	s := newTestServer(t)
	tok := s.token(t, storetest.NewTenant())
	t.Run("text without an embedding server is a clear BAD_USER_INPUT", func(t *testing.T) {
		e := s.do(t, tok, `{ vectorSearch(text: "webhook retries") { pointId } }`, nil).code(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "EMBEDDINGS_URL") {
			t.Fatalf("message %q does not say what is missing", e.Message)
		}
	})
	t.Run("neither a vector nor text is refused", func(t *testing.T) {
		s.do(t, tok, `{ vectorSearch(model: "m") { pointId } }`, nil).code(t, "BAD_USER_INPUT")
	})
	t.Run("a vector without its model is refused", func(t *testing.T) {
		s.do(t, tok, `{ vectorSearch(vector: [1, 0]) { pointId } }`, nil).code(t, "BAD_USER_INPUT")
	})
}

// countingEmbedder embeds every text as a fixed 3-d vector and counts calls.
type countingEmbedder struct{ calls atomic.Int64 }

func (e *countingEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	out := make([][]float32, len(texts))
	for i := range out {
		out[i] = []float32{1, 0, 0}
	}
	return out, nil
}

func (e *countingEmbedder) Model() string { return "counting-3d" }

// Blank text is the caller's mistake, whatever the embedding server's
// state: BAD_USER_INPUT, and nothing is sent to be embedded.
func TestBlankTextIsBadUserInput(t *testing.T) {
	embedder := &countingEmbedder{}
	s := newTestServer(t, func(c *graph.Config) { c.Embedder = embedder })
	tok := s.token(t, storetest.NewTenant())
	for _, q := range []string{
		`{ vectorSearch(text: " ") { pointId } }`,
		`{ vectorSearch(text: "\t\n") { pointId } }`,
		`{ recall(text: " ") { hits { score } } }`,
		`{ recall(text: " ", vector: [1, 0, 0], model: "counting-3d") { hits { score } } }`,
		`{ search(text: "  ") { nodes { score } } }`,
	} {
		e := s.do(t, tok, q, nil).code(t, "BAD_USER_INPUT")
		if !strings.Contains(e.Message, "text must not be") {
			t.Errorf("%s: message %q", q, e.Message)
		}
	}
	if n := embedder.calls.Load(); n != 0 {
		t.Fatalf("blank texts made %d embedding calls", n)
	}
	s.do(t, tok, `{ vectorSearch(text: "webhook retries") { pointId } }`, nil).ok(t, nil)
	if n := embedder.calls.Load(); n != 1 {
		t.Fatalf("a real text made %d embedding calls, want 1", n)
	}
}
