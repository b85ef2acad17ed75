package graph_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/guarded"
	"github.com/codingbrain/gateway/stores/storetest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestTracing(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	previous, previousPropagator := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		_ = provider.Shutdown(context.Background())
		otel.SetTracerProvider(previous)
		otel.SetTextMapPropagator(previousPropagator)
	})
	s := newTestServer(t, func(c *graph.Config) {
		c.TraceResolvers = true
		c.Backends = c.Backends.Override(guarded.Wrap(stores.Backends{Memories: c.Backends.Memories}, guarded.New("memstore", guarded.Options{})))
	})
	tok := s.token(t, storetest.NewTenant())

	// A caller's trace context is continued, not replaced.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	body := strings.NewReader(`{"query":"query ListMine { memories(first: 2) { nodes { id } } }"}`)
	req, _ := http.NewRequest(http.MethodPost, s.url+graph.PathGraphQL, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	names := map[string]bool{}
	for _, span := range exporter.GetSpans() {
		names[span.Name] = true
		if span.SpanContext.TraceID().String() != traceID {
			t.Errorf("span %q is in trace %s, not the caller's", span.Name, span.SpanContext.TraceID())
		}
	}
	for _, want := range []string{"graphql query ListMine", "resolve Query.memories", "store memstore.ListMemories"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
}
