package graph

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// anonymousTokenLimit caps the document of a request without a token: the
// full introspection query of GraphiQL and graphql-js (descriptions,
// deprecations, repeatable directives, nine levels of ofType) is about 500
// tokens.
const anonymousTokenLimit = 2000

// introspectionOnly reports whether the operation a request without a token
// names asks for introspection alone (__schema, __type, __typename, and the
// federation SDL, public like the SDL endpoint). It parses under
// anonymousTokenLimit and never validates: anything bigger or malformed is
// simply not introspection.
func introspectionOnly(query, operationName string) bool {
	if query == "" {
		return false
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, anonymousTokenLimit)
	if err != nil {
		return false
	}
	var op *ast.OperationDefinition
	switch {
	case operationName != "":
		op = doc.Operations.ForName(operationName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil || op.Operation != ast.Query {
		return false
	}
	seen := map[string]bool{}
	var public func(ast.SelectionSet) bool
	public = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if !strings.HasPrefix(s.Name, "__") && s.Name != "_service" {
					return false
				}
			case *ast.InlineFragment:
				if !public(s.SelectionSet) {
					return false
				}
			case *ast.FragmentSpread:
				def := doc.Fragments.ForName(s.Name)
				if def == nil || seen[s.Name] {
					return false // unknown, or a cycle: not a query to run
				}
				seen[s.Name] = true
				if !public(def.SelectionSet) {
					return false
				}
			}
		}
		return true
	}
	return public(op.SelectionSet)
}
