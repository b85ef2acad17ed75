package storetest

import (
	"math"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunVectors checks a VectorBackend. Each test uses a model name of its own:
// a model's dimension is fixed by its first upsert, possibly for every org of
// a shared server, so tests never share one.
func RunVectors(t *testing.T, newHarness NewHarness) {
	setup := func(t *testing.T) (Harness, stores.VectorStore, string) {
		t.Helper()
		h := newHarness(t)
		return h, h.Bundle(t, NewTenant()).Vectors, vectorModel()
	}

	t.Run("search returns the nearest points by cosine similarity", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		p := vectorIDs(4)
		mem := uuid.New()
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{
			{ID: p[0], Vector: []float32{2, 0, 0}, MemoryID: &mem, Payload: map[string]any{"lang": "go", "ok": true}},
			{ID: p[1], Vector: []float32{0.9, 0.1, 0}},
			{ID: p[2], Vector: []float32{0, 1, 0}},
			{ID: p[3], Vector: []float32{-1, 0, 0}},
		}))
		hits, err := st.SearchVectors(ctx, model, []float32{1, 0, 0}, nil, 3)
		RequireNoError(t, err)
		if got, want := vectorHitIDs(hits), vectorJoin(p[0], p[1], p[2]); got != want {
			t.Fatalf("nearest %s, want %s", got, want)
		}
		wantScores := []float64{1, 0.9 / math.Sqrt(0.82), 0}
		for i, h := range hits {
			if math.Abs(h.Score-wantScores[i]) > 1e-3 {
				t.Fatalf("hit %d scored %v, want cosine %v", i, h.Score, wantScores[i])
			}
		}
		if hits[0].MemoryID == nil || *hits[0].MemoryID != mem || hits[0].Payload["lang"] != "go" || hits[0].Payload["ok"] != true {
			t.Fatalf("first hit lost its memory id or payload: %+v", hits[0])
		}
		if hits[1].MemoryID != nil {
			t.Fatalf("a point without memory id came back with %v", hits[1].MemoryID)
		}
		hits[0].Payload["lang"] = "changed"
		all, err := st.SearchVectors(ctx, model, []float32{1, 0, 0}, nil, stores.MaxVectorLimit)
		RequireNoError(t, err)
		if len(all) != 4 || all[3].ID != p[3] || math.Abs(all[3].Score+1) > 1e-3 {
			t.Fatalf("all points %+v, want the opposite one last with score -1", all)
		}
		if all[0].Payload["lang"] != "go" {
			t.Fatal("changing a returned payload changed the store")
		}
	})

	t.Run("upserting an existing id replaces the point", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		p := vectorIDs(2)
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{
			{ID: p[0], Vector: []float32{1, 0}, Payload: map[string]any{"v": "1"}},
			{ID: p[1], Vector: []float32{1, 1}},
		}))
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: p[0], Vector: []float32{0, 1}, Payload: map[string]any{"v": "2"}}}))
		hits, err := st.SearchVectors(ctx, model, []float32{0, 1}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(p[0], p[1]) || hits[0].Payload["v"] != "2" {
			t.Fatalf("after replacing: %+v", hits)
		}
	})

	t.Run("a filter keeps the points whose payload equals every entry", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		p := vectorIDs(4)
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{
			{ID: p[0], Vector: []float32{1, 0}, Payload: map[string]any{"lang": "go", "tested": true, "stars": 2}},
			{ID: p[1], Vector: []float32{1, 0.2}, Payload: map[string]any{"lang": "go", "tested": false, "stars": 5}},
			{ID: p[2], Vector: []float32{1, 0.4}, Payload: map[string]any{"lang": "python", "tested": true, "stars": 2}},
			{ID: p[3], Vector: []float32{1, 0.6}},
		}))
		cases := []struct {
			filter map[string]any
			want   string
		}{
			{nil, vectorJoin(p...)},
			{map[string]any{}, vectorJoin(p...)},
			{map[string]any{"lang": "go"}, vectorJoin(p[0], p[1])},
			{map[string]any{"lang": "go", "tested": true}, vectorJoin(p[0])},
			{map[string]any{"tested": true}, vectorJoin(p[0], p[2])},
			{map[string]any{"stars": 2}, vectorJoin(p[0], p[2])},
			{map[string]any{"lang": "rust"}, ""},
			{map[string]any{"missing": "x"}, ""},
		}
		for _, c := range cases {
			hits, err := st.SearchVectors(ctx, model, []float32{1, 0}, c.filter, 10)
			RequireNoError(t, err)
			if hits == nil {
				t.Fatalf("filter %v gave nil", c.filter)
			}
			if got := vectorHitIDs(hits); got != c.want {
				t.Fatalf("filter %v: %s, want %s", c.filter, got, c.want)
			}
		}
	})

	t.Run("a model's dimension is fixed by its first upsert", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		p := vectorIDs(3)
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: p[0], Vector: []float32{1, 2, 3}}}))
		err := st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: p[1], Vector: []float32{1, 2, 3, 4}}})
		RequireKind(t, err, stores.ErrInvalid)
		err = st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: p[1], Vector: []float32{1, 2, 3}}, {ID: p[2], Vector: []float32{1, 2}}})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = st.SearchVectors(ctx, model, []float32{1, 2, 3, 4}, nil, 10)
		RequireKind(t, err, stores.ErrInvalid)
		hits, err := st.SearchVectors(ctx, model, []float32{1, 2, 3}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(p[0]) {
			t.Fatalf("after refused upserts: %s", vectorHitIDs(hits))
		}
	})

	t.Run("an unknown model gives an empty list", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		hits, err := st.SearchVectors(ctx, model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if hits == nil || len(hits) != 0 {
			t.Fatalf("unknown model gave %#v, want an empty non-nil slice", hits)
		}
		n, err := st.DeleteVectors(ctx, model, vectorIDs(1))
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("deleting from an unknown model counted %d", n)
		}
	})

	t.Run("invalid input is refused", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		id := vectorIDs(1)[0]
		for _, bad := range []string{"", "-lead", ".lead", "has space", "a/b", "emb:x", strings.Repeat("m", 65)} {
			RequireKind(t, st.UpsertVectors(ctx, bad, []stores.VectorPoint{{ID: id, Vector: []float32{1}}}), stores.ErrInvalid)
			_, err := st.SearchVectors(ctx, bad, []float32{1}, nil, 1)
			RequireKind(t, err, stores.ErrInvalid)
			_, err = st.DeleteVectors(ctx, bad, []uuid.UUID{id})
			RequireKind(t, err, stores.ErrInvalid)
		}
		badVectors := [][]float32{
			nil,
			{},
			make([]float32, stores.MaxVectorDimension+1),
			{1, float32(math.NaN())},
			{1, float32(math.Inf(1))},
			{float32(math.Inf(-1)), 1},
		}
		for i, v := range badVectors {
			if err := st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: id, Vector: v}}); err == nil {
				t.Fatalf("bad vector %d was stored", i)
			} else {
				RequireKind(t, err, stores.ErrInvalid)
			}
			_, err := st.SearchVectors(ctx, model, v, nil, 1)
			RequireKind(t, err, stores.ErrInvalid)
		}
		for _, key := range []string{"org_id", "memory_id"} {
			err := st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: id, Vector: []float32{1, 0}, Payload: map[string]any{key: uuid.NewString()}}})
			RequireKind(t, err, stores.ErrInvalid)
		}
		tooMany := make([]stores.VectorPoint, stores.MaxBatchSize+1)
		for i := range tooMany {
			tooMany[i] = stores.VectorPoint{ID: uuid.New(), Vector: []float32{1, 0}}
		}
		RequireKind(t, st.UpsertVectors(ctx, model, tooMany), stores.ErrInvalid)

		// Nothing above was stored: the model is still unknown.
		hits, err := st.SearchVectors(ctx, model, []float32{1, 0, 0, 0, 0}, nil, 1)
		RequireNoError(t, err)
		if len(hits) != 0 {
			t.Fatalf("refused upserts stored %+v", hits)
		}
		RequireNoError(t, st.UpsertVectors(ctx, model, tooMany[:stores.MaxBatchSize]))
		for _, limit := range []int{0, -1, stores.MaxVectorLimit + 1} {
			_, err := st.SearchVectors(ctx, model, []float32{1, 0}, nil, limit)
			RequireKind(t, err, stores.ErrInvalid)
		}
		hits, err = st.SearchVectors(ctx, model, []float32{1, 0}, nil, stores.MaxVectorLimit)
		RequireNoError(t, err)
		if len(hits) != stores.MaxVectorLimit {
			t.Fatalf("limit %d gave %d hits", stores.MaxVectorLimit, len(hits))
		}
	})

	t.Run("delete removes points and counts those that existed", func(t *testing.T) {
		_, st, model := setup(t)
		ctx := Ctx(t)
		p := vectorIDs(3)
		RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{
			{ID: p[0], Vector: []float32{1, 0}}, {ID: p[1], Vector: []float32{0, 1}}, {ID: p[2], Vector: []float32{1, 1}},
		}))
		n, err := st.DeleteVectors(ctx, model, []uuid.UUID{p[0], p[1], uuid.New()})
		RequireNoError(t, err)
		if n != 2 {
			t.Fatalf("deleted %d, want 2", n)
		}
		n, err = st.DeleteVectors(ctx, model, []uuid.UUID{p[0]})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("deleting again counted %d", n)
		}
		hits, err := st.SearchVectors(ctx, model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(p[2]) {
			t.Fatalf("after delete: %s", vectorHitIDs(hits))
		}
	})

	t.Run("another org's points are never returned, replaced or deleted", func(t *testing.T) {
		h, _, model := setup(t)
		ctx := Ctx(t)
		me := NewTenant()
		mine := h.Bundle(t, me).Vectors
		theirs := h.Bundle(t, NewTenant()).Vectors
		colleague := h.Bundle(t, SameOrgOtherUser(me)).Vectors
		myID, theirID := uuid.New(), uuid.New()
		RequireNoError(t, mine.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: myID, Vector: []float32{0, 1}, Payload: map[string]any{"owner": "me"}}}))
		// Their point is exactly the query; mine is orthogonal to it.
		RequireNoError(t, theirs.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: theirID, Vector: []float32{1, 0}, Payload: map[string]any{"owner": "them"}}}))

		hits, err := mine.SearchVectors(ctx, model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(myID) {
			t.Fatalf("my search returned %s, want only my point", vectorHitIDs(hits))
		}
		hits, err = mine.SearchVectors(ctx, model, []float32{1, 0}, map[string]any{"owner": "them"}, 10)
		RequireNoError(t, err)
		if len(hits) != 0 {
			t.Fatalf("a payload filter reached their point: %+v", hits)
		}
		_, err = mine.SearchVectors(ctx, model, []float32{1, 0}, map[string]any{"org_id": uuid.NewString()}, 10)
		RequireKind(t, err, stores.ErrInvalid)

		n, err := theirs.DeleteVectors(ctx, model, []uuid.UUID{myID})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("they deleted %d of my points", n)
		}
		n, err = mine.DeleteVectors(ctx, model, []uuid.UUID{theirID})
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("I deleted %d of their points", n)
		}
		// Their upsert of my id is their own point.
		RequireNoError(t, theirs.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: myID, Vector: []float32{1, 1}, Payload: map[string]any{"owner": "them"}}}))

		hits, err = mine.SearchVectors(ctx, model, []float32{0, 1}, nil, 10)
		RequireNoError(t, err)
		if len(hits) != 1 || hits[0].ID != myID || hits[0].Payload["owner"] != "me" || math.Abs(hits[0].Score-1) > 1e-3 {
			t.Fatalf("my point changed: %+v", hits)
		}
		hits, err = theirs.SearchVectors(ctx, model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(theirID, myID) || hits[1].Payload["owner"] != "them" {
			t.Fatalf("their search %+v", hits)
		}
		// Vectors belong to the org: a colleague sees and deletes mine.
		hits, err = colleague.SearchVectors(ctx, model, []float32{0, 1}, nil, 10)
		RequireNoError(t, err)
		if vectorHitIDs(hits) != vectorJoin(myID) {
			t.Fatalf("a colleague's search %s, want my point", vectorHitIDs(hits))
		}
		n, err = colleague.DeleteVectors(ctx, model, []uuid.UUID{myID, theirID})
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("a colleague's delete counted %d, want my one point", n)
		}
		hits, err = theirs.SearchVectors(ctx, model, []float32{1, 0}, nil, 10)
		RequireNoError(t, err)
		if len(hits) != 2 {
			t.Fatalf("their points after our delete: %+v", hits)
		}
	})

	runPrivateVectors(t, newHarness)
	runVersionedVectors(t, newHarness)
}

// vectorModel returns a model name no other test uses.
func vectorModel() string {
	return "test-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
}

func vectorIDs(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	return ids
}

func vectorJoin(ids ...uuid.UUID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ",")
}

func vectorHitIDs(hits []stores.VectorHit) string {
	parts := make([]string, len(hits))
	for i, h := range hits {
		parts[i] = h.ID.String()
	}
	return strings.Join(parts, ",")
}
