package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/graph"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// loadStandalone parses sdl the way a tool that reads the served file does:
// with nothing but GraphQL's built-in scalars, directives and introspection
// types (gqlparser's prelude), none of gqlgen's federation additions.
func loadStandalone(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("the SDL is not a standalone schema: %v", err)
	}
	return schema
}

func TestSDL(t *testing.T) {
	schema := loadStandalone(t, graph.SDL())

	t.Run("it parses as a standalone schema that keeps the entity keys", func(t *testing.T) {
		for _, entity := range []string{"Memory", "Experiment", "CodeRepo", "CodeSymbol"} {
			def := schema.Types[entity]
			if def == nil || def.Directives.ForName("key") == nil {
				t.Errorf("%s lacks its @key in the SDL", entity)
			}
		}
	})
	t.Run("it declares every name the @link imports", func(t *testing.T) {
		link := schema.SchemaDirectives.ForName("link")
		if link == nil {
			t.Fatal("no @link on the schema")
		}
		imports := link.Arguments.ForName("import")
		if imports == nil || len(imports.Value.Children) == 0 {
			t.Fatal("@link imports nothing")
		}
		for _, imported := range imports.Value.Children {
			name := imported.Value.Raw
			var declared bool
			if directive, ok := strings.CutPrefix(name, "@"); ok {
				declared = schema.Directives[directive] != nil
			} else {
				declared = schema.Types[name] != nil
			}
			if !declared {
				t.Errorf("@link imports %s, which graph/federation.graphql does not declare", name)
			}
		}
	})
	t.Run("every deprecation gives a reason", func(t *testing.T) {
		if missing := deprecationsWithoutReason(schema); len(missing) > 0 {
			t.Fatalf("@deprecated without a reason on %s: add @deprecated(reason: \"what to use instead\")", strings.Join(missing, ", "))
		}
	})
}

func TestDeprecationsWithoutReason(t *testing.T) {
	for _, tc := range []struct {
		name, sdl string
		want      []string
	}{
		{"a reason is enough", `type Query { a: Int @deprecated(reason: "Use b.") b: Int }`, nil},
		{"a bare @deprecated is reported", `type Query { a: Int @deprecated b: Int }`, []string{"Query.a"}},
		{"an empty reason is reported", `type Query { a: Int @deprecated(reason: "") b: Int }`, []string{"Query.a"}},
		{"a blank reason is reported", `type Query { a: Int @deprecated(reason: "  ") b: Int }`, []string{"Query.a"}},
		{"arguments are checked", `type Query { a(x: Int @deprecated): Int }`, []string{"Query.a(x:)"}},
		{"input fields are checked", `input In { x: Int @deprecated } type Query { a(in: In): Int }`, []string{"In.x"}},
		{"enum values are checked", `enum E { A B @deprecated } type Query { e: E }`, []string{"E.B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deprecationsWithoutReason(loadStandalone(t, tc.sdl)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// deprecationsWithoutReason lists the schema's deprecated fields, arguments,
// input fields and enum values whose @deprecated has no reason, or a blank
// one. GraphQL fills in "No longer supported" for a bare @deprecated, so the
// reason is read from the document, not from introspection.
func deprecationsWithoutReason(schema *ast.Schema) []string {
	var missing []string
	check := func(where string, directives ast.DirectiveList) {
		deprecated := directives.ForName("deprecated")
		if deprecated == nil {
			return
		}
		if reason := deprecated.Arguments.ForName("reason"); reason == nil || strings.TrimSpace(reason.Value.Raw) == "" {
			missing = append(missing, where)
		}
	}
	names := make([]string, 0, len(schema.Types))
	for name, def := range schema.Types {
		if !def.BuiltIn {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		def := schema.Types[name]
		for _, field := range def.Fields {
			check(name+"."+field.Name, field.Directives)
			for _, arg := range field.Arguments {
				check(name+"."+field.Name+"("+arg.Name+":)", arg.Directives)
			}
		}
		for _, value := range def.EnumValues {
			check(name+"."+value.Name, value.Directives)
		}
	}
	return missing
}
