package graph_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/codingbrain/gateway/telemetry"
)

// TestSharedLimitsUnreachable points the shared limits at a Valkey address
// nothing listens on: by default requests go through and the failures are
// counted; failing closed, they are refused with 429.
func TestSharedLimitsUnreachable(t *testing.T) {
	unreachable, err := valkey.Connect("redis://127.0.0.1:1/0", valkey.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unreachable.Close() })
	serve := func(t *testing.T, failClosed bool) (*testServer, string) {
		s := newTestServer(t, func(c *graph.Config) {
			c.RateLimit = graph.RateLimit{PerSecond: 100, Burst: 200}
			c.Shared, c.SharedFailClosed = unreachable.Limits(), failClosed
			c.Metrics = telemetry.New()
		})
		return s, s.token(t, storetest.NewTenant())
	}
	t.Run("fail open: the request is served and the failure counted", func(t *testing.T) {
		s, tok := serve(t, false)
		s.do(t, tok, `{ viewer { orgId } }`, nil).ok(t, nil)
		x := s.raw(t, http.MethodGet, graph.PathMetrics, nil, "")
		if !strings.Contains(string(x.body), `gateway_shared_limits_failures_total{limit="rate limit"} 1`) {
			t.Fatalf("the failure is not counted: %s", grepLines(x.body, "shared_limits"))
		}
	})
	t.Run("fail closed: the request is refused with 429", func(t *testing.T) {
		s, tok := serve(t, true)
		r := s.do(t, tok, `{ viewer { orgId } }`, nil)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", r.Status)
		}
		r.code(t, graph.CodeRateLimited)
	})
}

func grepLines(body []byte, word string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
