package neo4j

import (
	"context"

	"github.com/codingbrain/gateway/stores"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// allEdgeKinds is what an empty kinds filter means.
var allEdgeKinds = []any{string(stores.EdgeCalls), string(stores.EdgeImports), string(stores.EdgeInherits)}

// Traverse walks breadth first: one statement per level for every start
// symbol at once (a level expands the union of all starts' frontiers, each
// symbol at most once per call), so a call costs at most depth statements
// whatever the number of ids. Cypher cannot take the bound of a
// variable-length pattern as a parameter, and a var-length match enumerates
// paths rather than nodes; stepping level by level keeps the depth a plain
// loop bound. stores.WalkBreadthFirst then replays the search over the hops
// fetched, exactly as stores/embedded does over its maps. Levels run as
// separate transactions: Neo4j reads are read-committed, so one transaction
// would give no snapshot either.
func (s *codeGraphStore) Traverse(ctx context.Context, ids []string, dir stores.Direction, kinds []stores.EdgeKind, depth int) (map[string][]stores.Dependency, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckTraversal(ids, dir, kinds, depth, s.b.maxDepth); err != nil {
		return nil, err
	}
	step := cypherStepForward
	if dir == stores.Dependents {
		step = cypherStepBackward
	}
	allowed := allEdgeKinds
	if len(kinds) > 0 {
		allowed = make([]any, len(kinds))
		for i, k := range kinds {
			allowed[i] = string(k)
		}
	}

	hops, symbols := map[string][]stores.Hop{}, map[string]stores.CodeSymbol{}
	expanded := map[string]bool{}
	frontier := distinct(ids)
	for level := 1; level <= depth && len(frontier) > 0; level++ {
		for _, id := range frontier {
			expanded[id.(string)] = true
		}
		recs, err := s.b.query(ctx, neo4j.AccessModeRead, step, s.params("ids", frontier, "kinds", allowed))
		if err != nil {
			return nil, err
		}
		var reached []string
		for _, rec := range recs {
			key, _ := rec.Get("key")
			kind, _ := rec.Get("kind")
			sym := decodeSymbol(item(rec))
			from, _ := key.(string)
			edgeKind, _ := kind.(string)
			hops[from] = append(hops[from], stores.Hop{To: sym.ID, Kind: stores.EdgeKind(edgeKind)})
			symbols[sym.ID] = sym
			if !expanded[sym.ID] {
				reached = append(reached, sym.ID)
			}
		}
		frontier = distinct(reached)
	}
	out := make(map[string][]stores.Dependency, len(ids))
	for _, start := range ids {
		if _, done := out[start]; !done {
			deps := stores.WalkBreadthFirst(start, depth, func(from string) []stores.Hop { return hops[from] })
			for i := range deps {
				deps[i].Symbol = symbols[deps[i].Symbol.ID]
			}
			out[start] = deps
		}
	}
	return out, nil
}
