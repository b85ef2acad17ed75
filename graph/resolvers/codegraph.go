package resolvers

import (
	"context"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
)

// traversalCap is the largest depth a traversal may ask for.
func (r *Resolver) traversalCap() int {
	if r.MaxTraversalDepth > 0 {
		return r.MaxTraversalDepth
	}
	return stores.MaxTraversalDepth
}

// traverse resolves dependencies and dependents through the request's
// Traverse loader, so a list of symbols costs one store call per distinct
// depth and kinds, not one per symbol.
func (r *Resolver) traverse(ctx context.Context, symbolID string, dir stores.Direction, depth *int, kinds []stores.EdgeKind) ([]stores.Dependency, error) {
	l, err := loadersFor(ctx, auth.ScopeCodeGraphRead)
	if err != nil {
		return nil, err
	}
	d := 1
	if depth != nil {
		d = *depth
	}
	if limit := r.traversalCap(); d < 1 || d > limit {
		return nil, stores.Invalid("depth must be between 1 and %d", limit)
	}
	for _, k := range kinds {
		if !k.Valid() {
			return nil, stores.Invalid("unknown dependency kind %q", string(k))
		}
	}
	return l.Traverse.Load(ctx, loaders.NewTraverseKey(symbolID, dir, d, kinds))()
}

// checkCodeKey refuses a client key the code graph cannot store, naming
// what it was meant to identify.
func checkCodeKey(what, key string) error {
	if !stores.ValidCodeID(key) {
		return stores.Invalid("the %s key must be 1 to 512 characters without control characters", what)
	}
	return nil
}

// checkCodeBatch bounds the size of a code-graph write.
func checkCodeBatch(what string, n int) error {
	if n < 1 || n > stores.MaxCodeBatch {
		return stores.Invalid("give between 1 and %d %s", stores.MaxCodeBatch, what)
	}
	return nil
}

// newCodeSymbol converts an upsertCodeSymbols input to the store's.
func newCodeSymbol(in model.CodeSymbolInput) (stores.CodeSymbol, error) {
	fileID, err := relay.Decode(in.FileID, relay.KindCodeFile)
	if err != nil {
		return stores.CodeSymbol{}, err
	}
	if err := checkCodeKey("symbol", in.Key); err != nil {
		return stores.CodeSymbol{}, err
	}
	if !in.Kind.Valid() {
		return stores.CodeSymbol{}, stores.Invalid("unknown symbol kind %q", string(in.Kind))
	}
	if in.Name == "" {
		return stores.CodeSymbol{}, stores.Invalid("symbol %q needs a name", in.Key)
	}
	start, end := deref(in.StartLine), deref(in.EndLine)
	if start < 0 || end < 0 || (end != 0 && end < start) {
		return stores.CodeSymbol{}, stores.Invalid("symbol %q: lines are 1-based and endLine must not precede startLine", in.Key)
	}
	return stores.CodeSymbol{
		ID:        in.Key,
		FileID:    fileID,
		Kind:      in.Kind,
		Name:      in.Name,
		Signature: deref(in.Signature),
		StartLine: start,
		EndLine:   end,
	}, nil
}

// newCodeEdge converts an addCodeDependencies input to the store's.
func newCodeEdge(in model.CodeDependencyInput) (stores.Edge, error) {
	from, err := relay.Decode(in.FromID, relay.KindCodeSymbol)
	if err != nil {
		return stores.Edge{}, err
	}
	to, err := relay.Decode(in.ToID, relay.KindCodeSymbol)
	if err != nil {
		return stores.Edge{}, err
	}
	if !in.Kind.Valid() {
		return stores.Edge{}, stores.Invalid("unknown dependency kind %q", string(in.Kind))
	}
	return stores.Edge{FromID: from, ToID: to, Kind: in.Kind}, nil
}

// symbolQuery converts a codeSymbols filter to the store's.
func symbolQuery(in *model.SymbolFilter) (stores.SymbolQuery, error) {
	if in == nil {
		return stores.SymbolQuery{}, nil
	}
	q := stores.SymbolQuery{Name: deref(in.Name), Kind: deref(in.Kind)}
	if q.Kind != "" && !q.Kind.Valid() {
		return stores.SymbolQuery{}, stores.Invalid("unknown symbol kind %q", string(q.Kind))
	}
	if in.RepoID != nil {
		repoID, err := relay.Decode(*in.RepoID, relay.KindCodeRepo)
		if err != nil {
			return stores.SymbolQuery{}, err
		}
		q.RepoID = repoID
	}
	return q, nil
}
