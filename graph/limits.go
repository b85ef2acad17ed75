package graph

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one operation may ask for. They are checked on the
// parsed and validated document, before any resolver runs, so a hostile
// query never reaches a store.
type Limits struct {
	MaxDepth      int // nesting of fields, introspection not counted
	MaxComplexity int // estimated number of values resolved (see cost)
	MaxAliases    int // fields renamed with an alias, the tool of alias bombs
	MaxRootFields int // top-level fields of one operation
	// DefaultListSize is the size assumed for a list field without first.
	DefaultListSize int
}

// queryLimits is the gqlgen extension that enforces Limits.
type queryLimits struct{ Limits }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = queryLimits{}

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation and refuses it when it is
// over a limit.
func (l queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	m := measure{vars: oc.Variables, listSize: l.DefaultListSize}
	complexity := m.selections(oc.Operation.SelectionSet, 0, "")
	roots := graphql.CollectFields(oc, oc.Operation.SelectionSet, nil)
	checks := []struct {
		name          string
		actual, limit int
		message       string
	}{
		{"depth", m.maxDepth, l.MaxDepth, "the query is nested %d levels deep; the limit is %d"},
		{"complexity", complexity, l.MaxComplexity, "the query would resolve about %d values; the limit is %d (lower first, or split the query)"},
		{"aliases", m.aliases, l.MaxAliases, "the query uses %d aliases; the limit is %d"},
		{"rootFields", len(roots), l.MaxRootFields, "the query asks for %d top-level fields; the limit is %d"},
	}
	for _, c := range checks {
		if c.limit > 0 && c.actual > c.limit {
			err := gqlerror.Errorf(c.message, c.actual, c.limit)
			err.Extensions = map[string]any{"code": CodeBadUserInput, "limit": c.name, "max": c.limit, "actual": c.actual}
			return err
		}
	}
	return nil
}

// measure walks an operation once, counting depth, aliases and cost.
type measure struct {
	vars     map[string]any
	listSize int
	maxDepth int
	aliases  int
}

// selections returns the cost of a selection set at a depth: each field
// costs 1 plus its children, times the list size for a list field (its first
// argument, or the default). The edges and nodes of a connection are not
// multiplied again: the connection's first already was.
func (m *measure) selections(set ast.SelectionSet, depth int, parentType string) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue // introspection is served from the schema, not the stores
			}
			if s.Alias != "" && s.Alias != s.Name {
				m.aliases++
			}
			m.maxDepth = max(m.maxDepth, depth+1)
			childType := ""
			if s.Definition != nil {
				childType = s.Definition.Type.Name()
			}
			total += m.multiplier(s, parentType) * (1 + m.selections(s.SelectionSet, depth+1, childType))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total += m.selections(s.Definition.SelectionSet, depth, parentType)
			}
		case *ast.InlineFragment:
			total += m.selections(s.SelectionSet, depth, parentType)
		}
	}
	return total
}

func (m *measure) multiplier(f *ast.Field, parentType string) int {
	if f.Definition == nil {
		return 1
	}
	if f.Definition.Arguments.ForName("first") != nil {
		switch n := f.ArgumentMap(m.vars)["first"].(type) {
		case int64:
			return max(int(n), 1)
		case int:
			return max(n, 1)
		case json.Number:
			if v, err := n.Int64(); err == nil {
				return max(int(v), 1)
			}
		}
		return m.listSize
	}
	if f.Definition.Type.Elem == nil || strings.HasSuffix(parentType, "Connection") {
		return 1
	}
	return m.listSize
}
