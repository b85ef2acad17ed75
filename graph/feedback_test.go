package graph_test

import (
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

const recordFeedback = `mutation($in: RecordFeedbackInput!) { recordFeedback(input: $in) { event { id outcome memory { content } createdAt } } }`

func TestFeedback(t *testing.T) {
	s := newTestServer(t)
	alice := storetest.NewTenant()
	tok := s.token(t, alice)
	app := s.createApp(t, tok, "cli")
	m := s.createMemory(t, tok, app, "remember this")

	record := func(t *testing.T, tool, outcome string) {
		t.Helper()
		s.do(t, tok, recordFeedback, map[string]any{"in": map[string]any{"queryId": "q", "memoryId": m.ID, "tool": tool, "queryType": "recall", "outcome": outcome, "latencyMs": 12}}).ok(t, nil)
	}
	record(t, "cli", "ACCEPTED")
	record(t, "cli", "REJECTED")
	record(t, "vscode", "ACCEPTED")
	record(t, "vscode", "EDITED")

	t.Run("aggregates give the acceptance rate overall and by tool", func(t *testing.T) {
		var out struct {
			FeedbackAggregates struct {
				Overall struct {
					Total          int
					Accepted       int
					AcceptanceRate float64
					Outcomes       []struct {
						Outcome string
						Count   int
					}
				}
				ByTool []struct {
					Key   string
					Stats struct{ Total, Accepted int }
				}
			}
		}
		s.do(t, tok, `{ feedbackAggregates { overall { total accepted acceptanceRate outcomes { outcome count } } byTool { key stats { total accepted } } } }`, nil).ok(t, &out)
		a := out.FeedbackAggregates
		if a.Overall.Total != 4 || a.Overall.Accepted != 2 || a.Overall.AcceptanceRate != 0.5 || len(a.Overall.Outcomes) != 4 {
			t.Fatalf("overall = %+v", a.Overall)
		}
		if len(a.ByTool) != 2 || a.ByTool[0].Key != "cli" || a.ByTool[0].Stats.Total != 2 {
			t.Fatalf("byTool = %+v", a.ByTool)
		}
	})

	t.Run("events list newest first with the memory resolved", func(t *testing.T) {
		var out struct {
			FeedbackEvents struct {
				Nodes []struct {
					Outcome string
					Memory  *struct{ Content string }
				}
			}
		}
		s.do(t, tok, `{ feedbackEvents(filter: {outcomes: [ACCEPTED]}) { nodes { outcome memory { content } } } }`, nil).ok(t, &out)
		if len(out.FeedbackEvents.Nodes) != 2 || out.FeedbackEvents.Nodes[0].Memory == nil || out.FeedbackEvents.Nodes[0].Memory.Content != "remember this" {
			t.Fatalf("events = %+v", out.FeedbackEvents.Nodes)
		}
	})

	t.Run("bad input is refused with BAD_USER_INPUT", func(t *testing.T) {
		s.do(t, tok, recordFeedback, map[string]any{"in": map[string]any{"queryId": "", "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED"}}).code(t, "BAD_USER_INPUT")
		s.do(t, tok, recordFeedback, map[string]any{"in": map[string]any{"queryId": "q", "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED", "latencyMs": -1}}).code(t, "BAD_USER_INPUT")
		s.do(t, tok, `{ feedbackAggregates(filter: {since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z"}) { overall { total } } }`, nil).code(t, "BAD_USER_INPUT")
	})

	t.Run("another tenant's memory in feedback is NOT_FOUND, like a missing one", func(t *testing.T) {
		bob := s.token(t, storetest.NewTenant())
		for _, id := range []string{m.ID, relay.UUIDID(relay.KindMemory, uuid.New())} {
			s.do(t, bob, recordFeedback, map[string]any{"in": map[string]any{"queryId": "q", "memoryId": id, "tool": "cli", "queryType": "recall", "outcome": "ACCEPTED"}}).code(t, "NOT_FOUND")
		}
		var out struct {
			FeedbackAggregates struct{ Overall struct{ Total int } }
		}
		s.do(t, bob, `{ feedbackAggregates { overall { total } } }`, nil).ok(t, &out)
		if out.FeedbackAggregates.Overall.Total != 0 {
			t.Fatalf("bob sees %d of alice's events", out.FeedbackAggregates.Overall.Total)
		}
	})

	t.Run("purging needs the admin scope and deletes only older events", func(t *testing.T) {
		nonAdmin := s.token(t, alice, auth.ScopeFeedbackRead, auth.ScopeFeedbackWrite)
		purge := `mutation($b: DateTime!) { purgeFeedback(input: {before: $b}) { deletedCount } }`
		s.do(t, nonAdmin, purge, map[string]any{"b": s.clock.Now().Add(time.Hour).Format(time.RFC3339)}).code(t, "FORBIDDEN")

		s.clock.Advance(48 * time.Hour)
		tok := s.token(t, alice) // the old token expired meanwhile
		s.do(t, tok, recordFeedback, map[string]any{"in": map[string]any{"queryId": "later", "tool": "cli", "queryType": "recall", "outcome": "IGNORED"}}).ok(t, nil)
		var out struct{ PurgeFeedback struct{ DeletedCount int } }
		s.do(t, tok, purge, map[string]any{"b": s.clock.Now().Add(-24 * time.Hour).Format(time.RFC3339)}).ok(t, &out)
		if out.PurgeFeedback.DeletedCount != 4 {
			t.Fatalf("purged %d events, want the 4 older ones", out.PurgeFeedback.DeletedCount)
		}
	})
}
