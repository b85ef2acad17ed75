package embedded

import (
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestVectorsContract(t *testing.T) {
	storetest.RunVectors(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{Vectors: NewVectorBackend()}}
	})
}

func TestVectorsDimensionIsPerModelAcrossOrgs(t *testing.T) {
	b := NewVectorBackend()
	ctx := storetest.Ctx(t)
	first := b.Vectors(storetest.NewTenant())
	second := b.Vectors(storetest.NewTenant())
	storetest.RequireNoError(t, first.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0}}}))
	err := second.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0, 0}}})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	storetest.RequireNoError(t, second.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{0, 1}}}))
}

func TestVectorsPayloadTypes(t *testing.T) {
	st := NewVectorBackend().Vectors(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	id := uuid.New()
	storetest.RequireNoError(t, st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: id, Vector: []float32{1, 0}, Payload: map[string]any{
		"i": 3, "f": 2.5, "s": "x", "b": true, "list": []any{"a", "b"},
	}}}))
	for _, filter := range []map[string]any{{"i": 3.0}, {"i": int64(3)}, {"f": 2.5}, {"list": "b"}} {
		hits, err := st.SearchVectors(ctx, "m", []float32{1, 0}, filter, 1)
		storetest.RequireNoError(t, err)
		if len(hits) != 1 {
			t.Fatalf("filter %v found nothing", filter)
		}
		if hits[0].Payload["i"] != int64(3) {
			t.Fatalf("integer payload came back as %#v", hits[0].Payload["i"])
		}
	}
	for _, bad := range []map[string]any{{"o": map[string]any{"x": 1}}, {"l": []any{1}}, {"n": nil}, {"": "x"}} {
		err := st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0}, Payload: bad}})
		storetest.RequireKind(t, err, stores.ErrInvalid)
	}
	_, err := st.SearchVectors(ctx, "m", []float32{1, 0}, map[string]any{"list": []string{"a"}}, 1)
	storetest.RequireKind(t, err, stores.ErrInvalid)
	storetest.RequireKind(t, st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.Nil, Vector: []float32{1, 0}}}), stores.ErrInvalid)
}

func TestVectorsZeroVectorScoresZero(t *testing.T) {
	st := NewVectorBackend().Vectors(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	storetest.RequireNoError(t, st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{0, 0}}}))
	hits, err := st.SearchVectors(ctx, "m", []float32{1, 0}, nil, 1)
	storetest.RequireNoError(t, err)
	if len(hits) != 1 || hits[0].Score != 0 {
		t.Fatalf("hits %+v", hits)
	}
}
