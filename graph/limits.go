package graph

import (
	"context"
	"encoding/json"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
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
	// MaxTokens refuses a document of more tokens before it is parsed (0:
	// no limit), so a flood of aliases or directives costs a lexer pass.
	MaxTokens int
}

// maxNameLength bounds every name in a document. The spec sets none, but no
// schema has a name this long, and the validator's "did you mean" compares
// an unknown name with every known one: a 900 KB field name cost over a
// second of CPU before this limit.
const maxNameLength = 256

// lexicalLimits refuses a document by its tokens alone, before it is parsed
// or validated: more than MaxTokens tokens, or a name longer than
// maxNameLength. It runs after persisted queries have put the text in place.
type lexicalLimits struct{ maxTokens int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = lexicalLimits{}

func (lexicalLimits) ExtensionName() string                   { return "LexicalLimits" }
func (lexicalLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l lexicalLimits) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	lex := lexer.New(&ast.Source{Input: p.Query})
	for tokens := 0; ; tokens++ {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return nil // a lexical error is the parser's to report, with its location
		}
		if l.maxTokens > 0 && tokens >= l.maxTokens {
			err := gqlerror.Errorf("the document has more than %d tokens; the limit is %d", l.maxTokens, l.maxTokens)
			err.Extensions = map[string]any{"code": CodeBadUserInput, "limit": "tokens", "max": l.maxTokens}
			return err
		}
		if tok.Kind == lexer.Name && len(tok.Value) > maxNameLength {
			err := gqlerror.Errorf("a name in the document is %d characters long; the limit is %d", len(tok.Value), maxNameLength)
			err.Extensions = map[string]any{"code": CodeBadUserInput, "limit": "nameLength", "max": maxNameLength, "actual": len(tok.Value)}
			return err
		}
	}
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
	m := measure{vars: oc.Variables, listSize: l.DefaultListSize, fragments: map[fragmentKey]fragmentMeasure{}}
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
	report := Cost{Estimated: complexity, Depth: m.maxDepth, Aliases: m.aliases, RootFields: len(roots),
		Limits: CostLimits{Complexity: l.MaxComplexity, Depth: l.MaxDepth, Aliases: l.MaxAliases, RootFields: l.MaxRootFields}}
	oc.Stats.SetExtension(costExtension, report)
	for _, c := range checks {
		if c.limit > 0 && c.actual > c.limit {
			err := gqlerror.Errorf(c.message, c.actual, c.limit)
			err.Extensions = map[string]any{"code": CodeBadUserInput, "limit": c.name, "max": c.limit, "actual": c.actual}
			return err
		}
	}
	return nil
}

// costExtension is the key of the cost report in a response's extensions.
const costExtension = "cost"

// Cost is what the query limits measured of an operation, reported to the
// client in extensions.cost of every response (as Hive Router and Apollo's
// demand control do), so a UI can see how close a query is to the limits
// before it hits them.
type Cost struct {
	// Estimated is the complexity: each field 1, times first (or the
	// default list size) for lists; the complexity limit applies to it.
	Estimated  int        `json:"estimated"`
	Depth      int        `json:"depth"`
	Aliases    int        `json:"aliases"`
	RootFields int        `json:"rootFields"`
	Limits     CostLimits `json:"limits"`
}

// CostLimits are the limits the cost was measured against (0: none).
type CostLimits struct {
	Complexity int `json:"complexity"`
	Depth      int `json:"depth"`
	Aliases    int `json:"aliases"`
	RootFields int `json:"rootFields"`
}

// reportCost adds the operation's measured cost to its responses.
func reportCost(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if graphql.HasOperationContext(ctx) {
		if cost := graphql.GetOperationContext(ctx).Stats.GetExtension(costExtension); cost != nil {
			graphql.RegisterExtension(ctx, costExtension, cost)
		}
	}
	return next(ctx)
}

// measure walks an operation once, counting depth, aliases and cost.
// Each fragment is measured once per parent type and its figures reused at
// every spread: a "billion laughs" document (each fragment spreading the
// previous one twice) is measured in linear time, while its cost and alias
// count still add up to what executing it would mean. Sums saturate instead
// of overflowing, so an exponential document cannot wrap below a limit.
type measure struct {
	vars      map[string]any
	listSize  int
	maxDepth  int
	aliases   int
	fragments map[fragmentKey]fragmentMeasure
}

type fragmentKey struct{ name, parentType string }

// fragmentMeasure is what one spread of a fragment adds: its cost, its
// aliases and its depth below the spread.
type fragmentMeasure struct{ cost, aliases, depth int }

// saturation bounds every sum: far above any limit, far below overflow.
const saturation = math.MaxInt32

func satAdd(a, b int) int { return min(a+b, saturation) }

func satMul(a, b int) int {
	if a != 0 && b > saturation/a {
		return saturation
	}
	return min(a*b, saturation)
}

// fragment measures a fragment spread at a depth, once per fragment.
func (m *measure) fragment(def *ast.FragmentDefinition, depth int, parentType string) int {
	key := fragmentKey{def.Name, parentType}
	f, ok := m.fragments[key]
	if !ok {
		outerDepth, outerAliases := m.maxDepth, m.aliases
		m.maxDepth, m.aliases = 0, 0
		f.cost = m.selections(def.SelectionSet, 0, parentType)
		f.aliases, f.depth = m.aliases, m.maxDepth
		m.maxDepth, m.aliases = outerDepth, outerAliases
		if m.fragments == nil {
			m.fragments = map[fragmentKey]fragmentMeasure{}
		}
		m.fragments[key] = f
	}
	m.aliases = satAdd(m.aliases, f.aliases)
	m.maxDepth = max(m.maxDepth, depth+f.depth)
	return f.cost
}

// totalCountCost is the cost of a connection's totalCount instead of 1: it
// is not a value already fetched but one more store call, a count over the
// whole filtered list, which weighs like a default page of values. Inside a
// connection it is multiplied by first like every other field there, so the
// estimate errs high, never low.
const totalCountCost = 10

// selections returns the cost of a selection set at a depth: each field
// costs 1 (a connection's totalCount, totalCountCost) plus its children,
// times the list size for a list field (its first argument, or the default).
// The edges and nodes of a connection are not multiplied again: the
// connection's first already was.
func (m *measure) selections(set ast.SelectionSet, depth int, parentType string) int {
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue // introspection is served from the schema, not the stores
			}
			if s.Alias != "" && s.Alias != s.Name {
				m.aliases = satAdd(m.aliases, 1)
			}
			m.maxDepth = max(m.maxDepth, depth+1)
			childType := ""
			if s.Definition != nil {
				childType = s.Definition.Type.Name()
			}
			own := 1
			if s.Name == "totalCount" && strings.HasSuffix(parentType, "Connection") {
				own = totalCountCost
			}
			total = satAdd(total, satMul(m.multiplier(s, parentType), satAdd(own, m.selections(s.SelectionSet, depth+1, childType))))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				total = satAdd(total, m.fragment(s.Definition, depth, parentType))
			}
		case *ast.InlineFragment:
			total = satAdd(total, m.selections(s.SelectionSet, depth, parentType))
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
