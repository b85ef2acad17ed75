package graph_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/telemetry"
)

func TestObservability(t *testing.T) {
	ready := true
	s := newTestServer(t, func(c *graph.Config) {
		c.Metrics = telemetry.New()
		c.Readiness = func(context.Context) (bool, any) { return ready, map[string]string{"postgres": "closed"} }
	})
	tok := s.token(t, storetest.NewTenant())
	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("metrics count operations by name and loader batches", func(t *testing.T) {
		s.do(t, tok, `query ListMine { memories(first: 5) { nodes { app { name } } } }`, nil).ok(t, nil)
		_, body := get(t, graph.PathMetrics)
		for _, want := range []string{`gateway_requests_total{operation="ListMine",outcome="ok"} 1`, `gateway_request_duration_seconds_bucket{operation="ListMine"`, "go_goroutines"} {
			if !strings.Contains(body, want) {
				t.Fatalf("metrics lack %q in %s", want, body[:min(len(body), 3000)])
			}
		}
	})
	t.Run("readyz reports the backends and answers 503 when one is down", func(t *testing.T) {
		if code, body := get(t, graph.PathReady); code != 200 || !strings.Contains(body, "postgres") {
			t.Fatalf("readyz = %d %s", code, body)
		}
		ready = false
		if code, _ := get(t, graph.PathReady); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d while a backend is down", code)
		}
	})
}
