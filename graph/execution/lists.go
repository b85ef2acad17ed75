// Package execution holds what the generated executor calls instead of
// gqlgen's MarshalSliceConcurrently for lists whose elements never block
// (graph/internal/execgen rewrites those calls when it generates the code):
// such a list is marshalled in a plain loop, with no goroutine per element.
package execution

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/graph/loaders"
)

// MarshalSlice marshals the elements of a list one after the other. It gives
// each element the field context MarshalSliceConcurrently gives it (its index,
// so error paths are the same) and recovers a panic the same way; it is only
// for elements whose fields never wait, since each element is complete before
// the next starts.
func MarshalSlice(ctx context.Context, length int, _ int64, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	// One allocation for every element's context and index instead of two
	// per element.
	fcs := make([]graphql.FieldContext, length)
	indices := make([]int, length)
	for i := range length {
		indices[i] = i
		fcs[i].Index = &indices[i]
		childCtx := graphql.WithFieldContext(ctx, &fcs[i])
		if omitPanicHandler {
			ret[i] = marshal(childCtx, i)
			continue
		}
		ret[i] = marshalRecovering(childCtx, i, marshal)
	}
	return ret
}

func marshalRecovering(ctx context.Context, i int, marshal func(ctx context.Context, i int) graphql.Marshaler) (ret graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ret = graphql.Null
		}
	}()
	return marshal(ctx, i)
}

// MarshalPrimedSlice marshals a list whose elements wait only on loaders:
// in a plain loop when the resolver that produced it primed the request's
// loaders with everything its selection needs (loaders.MarkPrimed), else
// with a goroutine per element, so that the elements' loads form one batch.
func MarshalPrimedSlice[T any](ctx context.Context, v []T, workerLimit int64, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if len(v) > 0 {
		if l := loaders.For(ctx); l != nil && l.Primed(&v[0]) {
			return MarshalSlice(ctx, len(v), workerLimit, omitPanicHandler, marshal)
		}
	}
	return graphql.MarshalSliceConcurrently(ctx, len(v), workerLimit, omitPanicHandler, marshal)
}

// ResolveInline resolves a field of an object at once, in the goroutine
// marshalling the object, where gqlgen would schedule it on a goroutine of
// its own (FieldSet.ResolveConcurrently, whose arguments it takes): for
// fields that never wait, or wait only on a primed loader. A field under
// @defer is left to ResolveConcurrently, which delivers it later.
func ResolveInline(ctx context.Context, field graphql.CollectedField, out *graphql.FieldSet, oc *graphql.OperationContext, deferred *graphql.DeferredGroup, i int, recoverFromPanic, nonNull bool, resolve func(ctx context.Context) graphql.Marshaler) {
	if field.IsDeferred() {
		out.ResolveConcurrently(oc, deferred, i, recoverFromPanic, nonNull, resolve)
		return
	}
	v := resolveRecovering(ctx, oc, recoverFromPanic, resolve)
	out.Values[i] = v
	// The value that makes the object invalid, as ResolveConcurrently counts it.
	invalid := graphql.Marshaler(graphql.RequiredNull)
	if nonNull {
		invalid = graphql.Null
	}
	if v == invalid {
		// Atomic: the object's concurrent fields, dispatched later, count
		// on the same field set.
		atomic.AddUint32(&out.Invalids, 1)
	}
}

func resolveRecovering(ctx context.Context, oc *graphql.OperationContext, recoverFromPanic bool, resolve func(ctx context.Context) graphql.Marshaler) (ret graphql.Marshaler) {
	if recoverFromPanic {
		defer func() {
			if r := recover(); r != nil {
				oc.Error(ctx, oc.Recover(ctx, r))
				ret = graphql.Null
			}
		}()
	}
	return resolve(ctx)
}

// NewDeferredGroup is graphql.NewDeferredGroup for an object whose fields
// are fields: gqlgen's computes the object's path (allocating it) for every
// object, though only a group holding a field under @defer ever reads it.
// Without such a field the group stays empty (ResolveConcurrently touches
// it only for a deferred field), so only its context is set.
func NewDeferredGroup(ctx context.Context, fields []graphql.CollectedField) graphql.DeferredGroup {
	for _, f := range fields {
		if f.IsDeferred() {
			return graphql.NewDeferredGroup(ctx)
		}
	}
	return graphql.DeferredGroup{Context: ctx}
}
