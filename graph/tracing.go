package graph

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceRequest opens the request's server span, joined to the caller's trace
// when its headers carry one (W3C traceparent). Store calls and resolvers
// hang their spans below it.
func traceRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := telemetry.Tracer().Start(ctx, "graphql", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("codingbrain.request_id", RequestID(r.Context()))))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// nameSpan names the request's span after its operation, as traces are
// searched by it.
func nameSpan(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if op := graphql.GetOperationContext(ctx).Operation; op != nil {
		span := trace.SpanFromContext(ctx)
		span.SetName("graphql " + string(op.Operation) + " " + op.Name)
		span.SetAttributes(attribute.String("graphql.operation.type", string(op.Operation)), attribute.String("graphql.operation.name", op.Name))
	}
	return next(ctx)
}

// traceResolver makes a span of every resolver that does work (fields read
// straight from a struct are not resolvers and get none).
func traceResolver(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := telemetry.Tracer().Start(ctx, "resolve "+fc.Object+"."+fc.Field.Name)
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "resolver error")
	}
	return res, err
}
