package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the gateway's spans' instrumentation scope.
const TracerName = "github.com/codingbrain/gateway"

// Tracer returns the gateway's tracer. Until StartTracing installs a
// provider it is OpenTelemetry's no-op tracer: spans cost next to nothing.
func Tracer() trace.Tracer { return otel.Tracer(TracerName) }

// StartTracing exports spans over OTLP/HTTP to endpoint (e.g.
// http://collector:4318) and propagates W3C trace context, so a request's
// trace joins its caller's. It returns the function that flushes and stops.
func StartTracing(ctx context.Context, endpoint, service string) (func(context.Context) error, error) {
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return provider.Shutdown, nil
}
