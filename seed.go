package main

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// The demo tenant `go run .` seeds and prints a token for.
var (
	demoOrg  = uuid.MustParse("0a000000-0000-4000-8000-000000000001")
	demoUser = uuid.MustParse("0b000000-0000-4000-8000-000000000001")
)

// demoModel is the embedding model of the demo vectors: four dimensions, so
// a person can type a query vector in GraphiQL.
const demoModel = "demo-4d"

func demoPrincipal() auth.Principal {
	return auth.Principal{UserID: demoUser, OrgID: demoOrg, Scopes: auth.AllScopes()}
}

// seedDemo fills the demo tenant with a little of every domain, through the
// same store interfaces the resolvers use.
func seedDemo(ctx context.Context, backends stores.Backends) error {
	b, err := backends.For(stores.Tenant{OrgID: demoOrg, UserID: demoUser})
	if err != nil {
		return err
	}
	app, err := b.Memories.CreateApp(ctx, "vscode", "The VS Code extension")
	if err != nil {
		return err
	}
	memories, err := b.Memories.CreateMemories(ctx, []stores.NewMemory{
		{AppID: app.ID, Content: "The payments service retries failed webhooks with exponential backoff, capped at 5 attempts.", Categories: []string{"payments", "reliability"}},
		{AppID: app.ID, Content: "Use pgx batch queries to load categories for a page of memories in one round trip.", Categories: []string{"database", "performance"}},
		{AppID: app.ID, Content: "Feature flags live in the flags package; never read them from environment variables directly.", Categories: []string{"conventions"}},
		{AppID: app.ID, Content: "The auth middleware rejects tokens without an org claim before any resolver runs.", Categories: []string{"security"}},
		{AppID: app.ID, Content: "Integration tests start real PostgreSQL and Valkey with e2e/services/up; do not mock the database.", Categories: []string{"testing", "database"}},
	})
	if err != nil {
		return err
	}
	vectors := [][]float32{{0.9, 0.1, 0, 0}, {0.1, 0.9, 0.1, 0}, {0, 0.1, 0.9, 0.1}, {0, 0, 0.2, 0.9}, {0.2, 0.7, 0, 0.3}}
	points := make([]stores.VectorPoint, len(memories))
	for i, m := range memories {
		points[i] = stores.VectorPoint{ID: m.ID, MemoryID: &memories[i].ID, Vector: vectors[i], Payload: map[string]any{"source": "demo"}}
	}
	if err := b.Vectors.UpsertVectors(ctx, demoModel, points); err != nil {
		return err
	}

	exp, err := b.Experiments.CreateExperiment(ctx, stores.NewExperiment{
		Name:        "recall-fusion-weights",
		Description: "Does weighting vector hits higher raise acceptance?",
		Variants: []stores.NewVariant{
			{Key: "control", Weight: 1, Config: map[string]any{"recall": map[string]any{"fullTextWeight": 1.0, "vectorWeight": 1.0}}},
			{Key: "vector-heavy", Weight: 1, Config: map[string]any{"recall": map[string]any{"fullTextWeight": 0.5, "vectorWeight": 2.0}}},
		},
	})
	if err != nil {
		return err
	}
	if _, err := b.Experiments.TransitionExperiment(ctx, exp.ID, stores.ExperimentRunning, "demo"); err != nil {
		return err
	}
	assigned, err := b.Experiments.Assignments(ctx, []uuid.UUID{exp.ID})
	if err != nil {
		return err
	}
	latency := 42
	for i, outcome := range []stores.Outcome{stores.OutcomeAccepted, stores.OutcomeAccepted, stores.OutcomeRejected, stores.OutcomeEdited, stores.OutcomeIgnored} {
		if _, err := b.Feedback.RecordFeedback(ctx, stores.NewFeedbackEvent{
			QueryID: "demo-query-" + string(rune('a'+i)), MemoryID: &memories[i].ID, Tool: []string{"vscode", "cli"}[i%2],
			QueryType: "recall", Outcome: outcome, LatencyMs: &latency,
			ExperimentID: &exp.ID, VariantKey: assigned[exp.ID].Variant.Key,
		}); err != nil {
			return err
		}
	}

	for i, m := range memories[:2] {
		if _, err := b.Episodic.PutItem(ctx, "demo-session", stores.NewEpisodicItem{
			ID: "opened-" + string(rune('1'+i)), Content: "Opened a file about: " + m.Content[:30], MemoryID: &memories[i].ID, TTL: 24 * time.Hour,
		}); err != nil {
			return err
		}
	}

	repo, err := b.CodeGraph.UpsertRepo(ctx, stores.CodeRepo{ID: "github.com/acme/payments", Name: "payments", URL: "https://github.com/acme/payments"})
	if err != nil {
		return err
	}
	if _, err := b.CodeGraph.UpsertFiles(ctx, []stores.CodeFile{
		{ID: "payments/webhook.go", RepoID: repo.ID, Path: "webhook.go", Language: "go"},
		{ID: "payments/retry.go", RepoID: repo.ID, Path: "retry.go", Language: "go"},
	}); err != nil {
		return err
	}
	if _, err := b.CodeGraph.UpsertSymbols(ctx, []stores.CodeSymbol{
		{ID: "payments.HandleWebhook", FileID: "payments/webhook.go", Kind: stores.SymbolFunction, Name: "HandleWebhook", Signature: "func HandleWebhook(w http.ResponseWriter, r *http.Request)", StartLine: 12, EndLine: 40},
		{ID: "payments.Retry", FileID: "payments/retry.go", Kind: stores.SymbolFunction, Name: "Retry", Signature: "func Retry(ctx context.Context, attempts int, f func() error) error", StartLine: 8, EndLine: 30},
		{ID: "payments.Backoff", FileID: "payments/retry.go", Kind: stores.SymbolFunction, Name: "Backoff", Signature: "func Backoff(attempt int) time.Duration", StartLine: 32, EndLine: 38},
	}); err != nil {
		return err
	}
	return b.CodeGraph.AddEdges(ctx, []stores.Edge{
		{FromID: "payments.HandleWebhook", ToID: "payments.Retry", Kind: stores.EdgeCalls},
		{FromID: "payments.Retry", ToID: "payments.Backoff", Kind: stores.EdgeCalls},
	})
}
