package compiled

import (
	"bytes"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// plan is a compiled operation: its one root field, `memories`, and what to
// write of the connection.
type plan struct {
	root   *ast.Field
	key    []byte // the root field's response key, quoted, and a colon
	fields []field
	size   atomic.Int64 // bytes of the last response written
}

// field is one selected field: where it goes in the response (key), what it
// is (kind) and, for an object, its own fields.
type field struct {
	key      []byte
	kind     kind
	typename string // for kindTypename
	fields   []field
}

type kind uint8

const (
	kindTypename kind = iota
	kindNodes
	kindEdges
	kindPageInfo
	kindTotalCount
	kindCursor
	kindNode
	kindHasNextPage
	kindHasPreviousPage
	kindStartCursor
	kindEndCursor
	kindMemoryID
	kindContent
	kindState
	kindVisibility
	kindVersion
	kindCreatedAt
	kindUpdatedAt
	kindDeletedAt
	kindApp
	kindCategories
	kindAppID
	kindCategoryID
	kindName
	kindDescription
)

// objectType is what the planner knows of an object type: the kind of each
// field it compiles and the object type of the fields that have one.
type objectType struct {
	name   string
	fields map[string]kind
	child  map[string]*objectType
}

var (
	appType = &objectType{name: "App", fields: map[string]kind{
		"id": kindAppID, "name": kindName, "description": kindDescription, "createdAt": kindCreatedAt,
	}}
	categoryType = &objectType{name: "Category", fields: map[string]kind{
		"id": kindCategoryID, "name": kindName, "createdAt": kindCreatedAt,
	}}
	memoryType = &objectType{name: "Memory", fields: map[string]kind{
		"id": kindMemoryID, "content": kindContent, "state": kindState, "visibility": kindVisibility,
		"version": kindVersion, "createdAt": kindCreatedAt, "updatedAt": kindUpdatedAt, "deletedAt": kindDeletedAt,
		"app": kindApp, "categories": kindCategories,
	}, child: map[string]*objectType{"app": appType, "categories": categoryType}}
	edgeType = &objectType{name: "MemoryEdge", fields: map[string]kind{
		"cursor": kindCursor, "node": kindNode,
	}, child: map[string]*objectType{"node": memoryType}}
	pageInfoType = &objectType{name: "PageInfo", fields: map[string]kind{
		"hasNextPage": kindHasNextPage, "hasPreviousPage": kindHasPreviousPage,
		"startCursor": kindStartCursor, "endCursor": kindEndCursor,
	}}
	connectionType = &objectType{name: "MemoryConnection", fields: map[string]kind{
		"nodes": kindNodes, "edges": kindEdges, "pageInfo": kindPageInfo, "totalCount": kindTotalCount,
	}, child: map[string]*objectType{"nodes": memoryType, "edges": edgeType, "pageInfo": pageInfoType}}
)

// compile returns the plan of a validated operation, nil when it is not
// one the planner answers exactly.
func compile(op *ast.OperationDefinition) *plan {
	if op.Operation != ast.Query || len(op.Directives) > 0 || len(op.SelectionSet) != 1 {
		return nil
	}
	for _, v := range op.VariableDefinitions {
		if len(v.Directives) > 0 {
			return nil
		}
	}
	root, ok := op.SelectionSet[0].(*ast.Field)
	if !ok || root.Name != "memories" || len(root.Directives) > 0 {
		return nil
	}
	for _, a := range root.Arguments {
		if a.Name != "first" && a.Name != "after" {
			return nil // a filter: its input object is gqlgen's to coerce
		}
	}
	fields, ok := compileSelection(root.SelectionSet, connectionType)
	if !ok {
		return nil
	}
	return &plan{root: root, key: responseKey(root), fields: fields}
}

// compileSelection compiles the selection of an object of type t: fields
// and fragments on t itself (spread in place, as gqlgen collects them),
// none with a directive, each response key once (gqlgen would merge
// repeated keys), each field one the planner knows.
func compileSelection(set ast.SelectionSet, t *objectType) ([]field, bool) {
	var out []field
	seen := map[string]bool{}
	var collect func(set ast.SelectionSet) bool
	collect = func(set ast.SelectionSet) bool {
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				f, ok := compileField(s, t)
				if !ok || seen[alias(s)] {
					return false
				}
				seen[alias(s)] = true
				out = append(out, f)
			case *ast.FragmentSpread:
				if len(s.Directives) > 0 || s.Definition == nil || s.Definition.TypeCondition != t.name || len(s.Definition.Directives) > 0 || !collect(s.Definition.SelectionSet) {
					return false
				}
			case *ast.InlineFragment:
				if len(s.Directives) > 0 || (s.TypeCondition != "" && s.TypeCondition != t.name) || !collect(s.SelectionSet) {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	if !collect(set) || len(out) == 0 {
		return nil, false
	}
	return out, true
}

func compileField(f *ast.Field, t *objectType) (field, bool) {
	if len(f.Directives) > 0 || len(f.Arguments) > 0 {
		return field{}, false
	}
	if f.Name == "__typename" {
		return field{key: responseKey(f), kind: kindTypename, typename: t.name}, true
	}
	k, known := t.fields[f.Name]
	if !known {
		return field{}, false
	}
	c := field{key: responseKey(f), kind: k}
	if child := t.child[f.Name]; child != nil {
		var ok bool
		if c.fields, ok = compileSelection(f.SelectionSet, child); !ok {
			return field{}, false
		}
	} else if len(f.SelectionSet) > 0 {
		return field{}, false
	}
	return c, true
}

func alias(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// responseKey is the field's key as gqlgen writes it: quoted by its own
// marshaller, then a colon.
func responseKey(f *ast.Field) []byte {
	var b bytes.Buffer
	graphql.MarshalString(alias(f)).MarshalGQL(&b)
	b.WriteByte(':')
	return b.Bytes()
}

// Compiles reports whether a validated operation has a plan (the
// differential test checks that the documents it compares do).
func Compiles(op *ast.OperationDefinition) bool { return compile(op) != nil }
