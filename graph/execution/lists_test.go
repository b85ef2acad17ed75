package execution

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// marshalList runs one of the list marshallers under a field "nodes" the way
// the generated code does, with an element that fails and one that panics,
// and returns the JSON and the errors the client would get.
func marshalList(t *testing.T, marshal func(ctx context.Context, n int, f func(ctx context.Context, i int) graphql.Marshaler) graphql.Array) (string, gqlerror.List) {
	t.Helper()
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, func(_ context.Context, p any) error {
		return fmt.Errorf("panic: %v", p)
	})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "nodes"}}})
	ret := marshal(ctx, 4, func(ctx context.Context, i int) graphql.Marshaler {
		switch i {
		case 1:
			graphql.AddError(ctx, errors.New("element failed"))
			return graphql.Null
		case 2:
			panic("element panicked")
		}
		return graphql.MarshalInt(i)
	})
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	// The concurrent marshaller's elements fail in any order.
	errs := graphql.GetErrors(ctx)
	slices.SortFunc(errs, func(a, b *gqlerror.Error) int { return strings.Compare(a.Path.String(), b.Path.String()) })
	return buf.String(), errs
}

// A list marshalled in a plain loop reads as gqlgen's concurrent one: the
// same JSON, the same errors at the same paths.
func TestMarshalSliceMatchesMarshalSliceConcurrently(t *testing.T) {
	wantJSON, wantErrs := marshalList(t, func(ctx context.Context, n int, f func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
		return graphql.MarshalSliceConcurrently(ctx, n, 0, false, f)
	})
	gotJSON, gotErrs := marshalList(t, func(ctx context.Context, n int, f func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
		return MarshalSlice(ctx, n, 0, false, f)
	})
	if gotJSON != wantJSON || gotErrs.Error() != wantErrs.Error() || len(gotErrs) != 2 {
		t.Fatalf("MarshalSlice: %s %v; MarshalSliceConcurrently: %s %v", gotJSON, gotErrs, wantJSON, wantErrs)
	}
	for i, e := range gotErrs {
		if e.Path.String() != wantErrs[i].Path.String() {
			t.Errorf("error %d at %s, want %s", i, e.Path, wantErrs[i].Path)
		}
	}
	if gotErrs[0].Path.String() != "nodes[1]" {
		t.Errorf("first error at %s, want nodes[1]", gotErrs[0].Path)
	}
}

// Without a deferred field the group carries no path (nothing reads it);
// with one it is gqlgen's own.
func TestNewDeferredGroupComputesThePathOnlyForDeferredFields(t *testing.T) {
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "memory"}}})
	plain := []graphql.CollectedField{{Field: &ast.Field{Alias: "id"}}}
	if g := NewDeferredGroup(ctx, plain); g.Path != nil || len(g.Defers) != 0 || g.Context != ctx {
		t.Fatalf("group without deferred fields: %+v", g)
	}
	deferred := []graphql.CollectedField{plain[0], {Field: &ast.Field{Alias: "app"}, Deferrables: []*graphql.Deferrable{{Label: "app"}}}}
	if g := NewDeferredGroup(ctx, deferred); g.Path.String() != "memory" || g.FieldSet == nil || g.Defers == nil {
		t.Fatalf("group with a deferred field: %+v", g)
	}
}
