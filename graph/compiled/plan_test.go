package compiled

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/graph/generated"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestPlanner checks which operations get a plan: only what the writer
// answers exactly, everything else (and anything unsure) is gqlgen's.
func TestPlanner(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	cases := []struct {
		name     string
		doc      string
		compiled bool
	}{
		{"the benchmark's page", `query Memories($first: Int!) { memories(first: $first) { nodes { id content state version createdAt app { name } categories { name } } } }`, true},
		{"edges, page info, total count and typenames", `{ memories(first: 2, after: "x") { __typename totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id __typename } } } }`, true},
		{"aliases", `{ m: memories { n: nodes { i: id } } }`, true},
		{"fragments on the object's own type", `{ memories { nodes { ...F ... on Memory { state } ... { version } } } } fragment F on Memory { id }`, true},
		{"a filter (an input object)", `{ memories(filter: {states: [ACTIVE]}) { nodes { id } } }`, false},
		{"a directive on a field", `query($s: Boolean!) { memories { nodes { id content @skip(if: $s) } } }`, false},
		{"a directive on a fragment", `query($s: Boolean!) { memories { nodes { id ... @include(if: $s) { content } } } }`, false},
		{"@defer", `{ memories { nodes { id ... @defer { content } } } }`, false},
		{"a repeated response key (merged by gqlgen)", `{ memories { nodes { id id } } }`, false},
		{"the same key from two fragments", `{ memories { nodes { ...F ...F } } } fragment F on Memory { id }`, false},
		{"a field the writer does not know", `{ memories { nodes { id metadata } } }`, false},
		{"a resolver field that waits", `{ memories { nodes { id indexStatus { state } } } }`, false},
		{"another root field alongside", `{ memories { nodes { id } } viewer { orgId } }`, false},
		{"another root field", `{ apps { nodes { id } } }`, false},
		{"a single memory", `query($id: ID!) { memory(id: $id) { id } }`, false},
		{"a fragment on an interface", `{ memories { nodes { ... on Node { id } } } }`, false},
		{"a mutation", `mutation { createApp(input: {name: "x"}) { app { id } } }`, false},
		{"a subscription", `subscription { memoryChanged { kind } }`, false},
		{"introspection", `{ __schema { queryType { name } } }`, false},
		{"a root typename", `{ __typename }`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := gqlparser.LoadQueryWithRules(schema, c.doc, nil) // nil: the default rules, as gqlgen validates
			if err != nil {
				t.Fatalf("does not validate: %v", err)
			}
			if got := Compiles(doc.Operations[0]); got != c.compiled {
				t.Fatalf("compiled = %v, want %v", got, c.compiled)
			}
		})
	}
}

// TestASplitSelectionIsNeverCompiled: the transport runs a fragment
// deferred at the root as a copy of the operation with another selection
// set and the same text. Plans are cached by text, so such a copy must go
// to gqlgen, whichever of the two executions asks first (it used to get the
// plan of the other, and the initial payload came back empty).
func TestASplitSelectionIsNeverCompiled(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	text := `{ viewer { orgId } ... @defer { memories(first: 1) { nodes { id } } } }`
	doc, err := gqlparser.LoadQueryWithRules(schema, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(generated.NewExecutableSchema(generated.Config{}), nil)
	whole := &graphql.OperationContext{RawQuery: text, Doc: doc, Operation: doc.Operations[0]}
	split := *doc.Operations[0]
	split.SelectionSet = doc.Operations[0].SelectionSet[1].(*ast.InlineFragment).SelectionSet
	deferred := &graphql.OperationContext{RawQuery: text, Doc: doc, Operation: &split}
	if !Compiles(&split) {
		t.Fatal("the deferred selection alone should be a compiled shape, or this test proves nothing")
	}
	for _, oc := range []*graphql.OperationContext{deferred, whole, deferred} {
		if p := s.plan(context.Background(), oc); p != nil {
			t.Fatalf("a plan for %v", oc.Operation.SelectionSet)
		}
	}
}
