package graph

import (
	"context"
	"encoding/json"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
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

// documentLimits refuses a document before gqlgen parses and validates it:
// by its tokens alone (more than MaxTokens, or a name longer than
// maxNameLength), and, for a document big enough that its shape could make
// the validator slow, by that shape (a fragment cycle, too many aliases).
// It runs after persisted queries have put the text in place.
type documentLimits struct {
	Limits
	// checked remembers documents that passed, so a client repeating its
	// operations (every client) pays the checks once per document.
	checked *lru.LRU[struct{}]
}

func newDocumentLimits(l Limits) documentLimits {
	return documentLimits{Limits: l, checked: lru.New[struct{}](1000)}
}

// maxCachedDocument bounds the documents remembered as checked (the cache
// keys on the text).
const maxCachedDocument = 16 << 10

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l documentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if _, ok := l.checked.Get(ctx, p.Query); ok {
		return nil
	}
	if err := l.check(p.Query); err != nil {
		return err
	}
	if len(p.Query) <= maxCachedDocument {
		l.checked.Add(ctx, p.Query, struct{}{})
	}
	return nil
}

// check lexes the document, then parses it to check its shape: the
// validator's cost grows faster than the document where fragments spread
// each other or fields share a name (1,000 fragments in a cycle cost it
// 600 ms, 3,300 aliases 60 ms, 9,900 copies of __typename 8.7 s); the parse
// is linear and cheap next to that.
func (l documentLimits) check(query string) *gqlerror.Error {
	lex := lexer.New(&ast.Source{Input: query})
	tokens := 0
	for ; ; tokens++ {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break // a lexical error is the parser's to report, with its location
		}
		if l.MaxTokens > 0 && tokens >= l.MaxTokens {
			return limitError("tokens", l.MaxTokens, tokens+1, "the document has more than %d tokens; the limit is %d", l.MaxTokens, l.MaxTokens)
		}
		if tok.Kind == lexer.Name && len(tok.Value) > maxNameLength {
			return limitError("nameLength", maxNameLength, len(tok.Value), "a name in the document is %d characters long; the limit is %d", len(tok.Value), maxNameLength)
		}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil // the parser reports it again, with its location
	}
	return l.checkShape(doc)
}

// checkShape finds fragment cycles and counts aliases on the parsed,
// unvalidated document, each fragment once.
func (l documentLimits) checkShape(doc *ast.QueryDocument) *gqlerror.Error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	aliases := map[string]int{}
	var cycle, repeated string
	spreads := 0
	var walk func(set ast.SelectionSet) int
	walk = func(set ast.SelectionSet) int {
		if name := mostRepeated(set); name != "" {
			repeated = name
		}
		n := 0
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Alias != "" && s.Alias != s.Name {
					n = satAdd(n, 1)
				}
				n = satAdd(n, walk(s.SelectionSet))
			case *ast.InlineFragment:
				n = satAdd(n, walk(s.SelectionSet))
			case *ast.FragmentSpread:
				spreads++
				def := doc.Fragments.ForName(s.Name)
				if def == nil || cycle != "" {
					continue
				}
				switch state[s.Name] {
				case visiting:
					cycle = s.Name
					continue
				case unvisited:
					state[s.Name] = visiting
					aliases[s.Name] = walk(def.SelectionSet)
					state[s.Name] = done
				}
				n = satAdd(n, aliases[s.Name])
			}
		}
		return n
	}
	most := 0
	for _, op := range doc.Operations {
		most = max(most, walk(op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		if state[f.Name] == unvisited {
			state[f.Name] = visiting
			aliases[f.Name] = walk(f.SelectionSet)
			state[f.Name] = done
		}
	}
	if spreads > maxFragmentSpreads {
		return limitError("fragmentSpreads", maxFragmentSpreads, spreads, "the document spreads fragments %d times; the limit is %d", spreads, maxFragmentSpreads)
	}
	if repeated != "" {
		return limitError("repeatedField", maxRepeatedField, maxRepeatedField+1, "the field %q is selected more than %d times in one selection set; the limit is %d", repeated, maxRepeatedField, maxRepeatedField)
	}
	if cycle != "" {
		err := gqlerror.Errorf("cannot spread fragment %q within itself", cycle)
		err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
		return err
	}
	if l.MaxAliases > 0 && most > l.MaxAliases {
		return limitError("aliases", l.MaxAliases, most, "the query uses %d aliases; the limit is %d", most, l.MaxAliases)
	}
	return nil
}

// maxRepeatedField bounds how often one response name may be selected in one
// selection set (inline fragments included). The validator compares every
// pair of fields that share a name, so 9,900 copies of __typename took it
// 8.7 s; a real query repeats a field a few times at most, and aliases are
// bounded by MaxAliases.
const maxRepeatedField = 100

// maxFragmentSpreads bounds the fragment spreads of one document: the
// validator compares the fields of every pair of fragments spread in one
// selection set, so 70 fragments each spreading the earlier ones (2,415
// spreads) cost it 30 ms. Generated clients spread a few dozen.
const maxFragmentSpreads = 500

// responseKey is the name a field's value has in the response: its alias,
// else its name.
func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// mostRepeated returns a response name selected more than maxRepeatedField
// times in set, or "".
func mostRepeated(set ast.SelectionSet) string {
	counts := map[string]int{}
	var count func(set ast.SelectionSet) string
	count = func(set ast.SelectionSet) string {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				key := responseKey(s)
				if counts[key]++; counts[key] > maxRepeatedField {
					return key
				}
			case *ast.InlineFragment:
				if name := count(s.SelectionSet); name != "" {
					return name
				}
			}
		}
		return ""
	}
	return count(set)
}

func limitError(name string, limit, actual int, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": CodeBadUserInput, "limit": name, "max": limit, "actual": actual}
	return err
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
			return limitError(c.name, c.limit, c.actual, c.message, c.actual, c.limit)
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

// intArgument reads an Int argument's value as gqlparser gives it: int64 from
// a literal, int or json.Number from variables. ok is false for anything
// else (null, a missing argument).
func intArgument(v any) (n int, ok bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case int:
		return x, true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i), true
		}
	}
	return 0, false
}

func (m *measure) multiplier(f *ast.Field, parentType string) int {
	if f.Definition == nil {
		return 1
	}
	if f.Definition.Arguments.ForName("first") != nil {
		if n, ok := intArgument(f.ArgumentMap(m.vars)["first"]); ok {
			return max(n, 1)
		}
		return m.listSize
	}
	if f.Definition.Type.Elem == nil || strings.HasSuffix(parentType, "Connection") {
		return 1
	}
	return m.listSize
}
