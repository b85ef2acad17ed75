package embedded

import (
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestCodeGraphContract(t *testing.T) {
	storetest.RunCodeGraph(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{CodeGraph: NewCodeGraphBackend(clock.Now, 0)},
			Advance:  clock.Advance,
		}
	})
}

func TestCodeGraphDepthCapIsConfigurable(t *testing.T) {
	st := NewCodeGraphBackend(nil, 2).CodeGraph(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	_, err := st.Traverse(ctx, []string{"a"}, stores.Dependencies, nil, 2)
	storetest.RequireNoError(t, err)
	_, err = st.Traverse(ctx, []string{"a"}, stores.Dependencies, nil, 3)
	storetest.RequireKind(t, err, stores.ErrInvalid)
}

func TestCodeGraphShortestPathKindIsDeterministic(t *testing.T) {
	st := NewCodeGraphBackend(nil, 0).CodeGraph(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	_, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: "r", Name: "r"})
	storetest.RequireNoError(t, err)
	_, err = st.UpsertFiles(ctx, []stores.CodeFile{{ID: "f", RepoID: "r", Path: "f.go"}})
	storetest.RequireNoError(t, err)
	var syms []stores.CodeSymbol
	for _, id := range []string{"a", "b", "c", "d"} {
		syms = append(syms, stores.CodeSymbol{ID: id, FileID: "f", Kind: stores.SymbolFunction, Name: id})
	}
	_, err = st.UpsertSymbols(ctx, syms)
	storetest.RequireNoError(t, err)
	// d is two hops from a along a-IMPORTS->b-INHERITS->d and a-CALLS->c-CALLS->d.
	storetest.RequireNoError(t, st.AddEdges(ctx, []stores.Edge{
		{FromID: "a", ToID: "b", Kind: stores.EdgeImports},
		{FromID: "b", ToID: "d", Kind: stores.EdgeInherits},
		{FromID: "a", ToID: "c", Kind: stores.EdgeCalls},
		{FromID: "c", ToID: "d", Kind: stores.EdgeCalls},
		{FromID: "a", ToID: "a", Kind: stores.EdgeCalls},
	}))
	for i := 0; i < 20; i++ {
		res, err := st.Traverse(ctx, []string{"a"}, stores.Dependencies, nil, 2)
		storetest.RequireNoError(t, err)
		deps := res["a"]
		if len(deps) != 3 || deps[2].Symbol.ID != "d" || deps[2].Kind != stores.EdgeCalls || deps[2].Depth != 2 {
			t.Fatalf("dependencies %+v", deps)
		}
	}
}
