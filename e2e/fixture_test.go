package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/google/uuid"
)

// matrixModel is the vector model (Qdrant collection) the suite writes.
const matrixModel = "e2e-4d"

// fixture is one tenant's data in every domain, made through the typed
// client: the ids the cross-tenant matrix hands to another tenant.
type fixture struct {
	tenant tenant
	word   string // a word only this tenant's memory and document contain

	app, memory, category, feedback, experiment, variant string
	session, item                                        string
	repoKey, repo, file, symbol, symbol2                 string
	point, tag, doc                                      string
	vector                                               []float64
}

func ptr[T any](v T) *T { return &v }

func rawJSON(s string) *json.RawMessage { m := json.RawMessage(s); return &m }

// seed writes a fixture for tn in every domain.
func seed(t *testing.T, s *stack, tn tenant) fixture {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(tn)
	f := fixture{tenant: tn, word: unique("zq")}
	f.word = "zq" + f.word[3:]

	app := must(client.CreateApp(ctx, c, client.CreateAppInput{Name: unique("app")}))
	f.app = app.CreateApp.App.Id
	mem := must(client.CreateMemory(ctx, c, client.CreateMemoryInput{
		AppId: f.app, Content: "secret of tenant A " + f.word, Categories: []string{unique("cat")},
		Metadata: rawJSON(`{"owner":"A"}`),
	}))
	f.memory = mem.CreateMemory.Memory.Id
	f.category = mem.CreateMemory.Memory.Categories[0].Id

	exp := must(client.CreateExperiment(ctx, c, client.CreateExperimentInput{
		Name: unique("exp"),
		Variants: []client.VariantInput{
			{Key: "control", Weight: 1, Config: rawJSON(`{"recall":{"vectorWeight":2}}`)},
		},
	}))
	f.experiment = exp.CreateExperiment.Experiment.Id
	f.variant = exp.CreateExperiment.Experiment.Variants[0].Id
	must(client.TransitionExperiment(ctx, c, client.TransitionExperimentInput{Id: f.experiment, To: client.ExperimentStatusRunning}))
	fb := must(client.RecordFeedback(ctx, c, client.RecordFeedbackInput{
		QueryId: unique("q"), MemoryId: &f.memory, Tool: "e2e", QueryType: "recall",
		Outcome: client.FeedbackOutcomeAccepted, ExperimentId: &f.experiment, VariantKey: ptr("control"),
	}))
	f.feedback = fb.RecordFeedback.Event.Id

	f.session, f.item = unique("sess"), unique("item")
	must(client.PutEpisodicItem(ctx, c, client.PutEpisodicItemInput{
		SessionId: f.session, ItemId: &f.item, Content: "opened " + f.word, MemoryId: &f.memory, TtlSeconds: ptr(3600),
	}))

	f.repoKey = unique("repo")
	repo := must(client.RegisterCodeRepo(ctx, c, client.RegisterCodeRepoInput{Key: f.repoKey, Name: ptr("A's repo")}))
	f.repo = repo.RegisterCodeRepo.Repo.Id
	files := must(client.UpsertCodeFiles(ctx, c, client.UpsertCodeFilesInput{RepoId: f.repo, Files: []client.CodeFileInput{{Key: "main.go", Path: "main.go", Language: ptr("go")}}}))
	f.file = files.UpsertCodeFiles.Files[0].Id
	syms := must(client.UpsertCodeSymbols(ctx, c, client.UpsertCodeSymbolsInput{Symbols: []client.CodeSymbolInput{
		{FileId: f.file, Key: "main.Alpha", Kind: client.SymbolKindFunction, Name: "Alpha" + f.word},
		{FileId: f.file, Key: "main.Beta", Kind: client.SymbolKindFunction, Name: "Beta" + f.word},
	}}))
	f.symbol, f.symbol2 = syms.UpsertCodeSymbols.Symbols[0].Id, syms.UpsertCodeSymbols.Symbols[1].Id
	must(client.AddCodeDependencies(ctx, c, client.AddCodeDependenciesInput{Dependencies: []client.CodeDependencyInput{{FromId: f.symbol, ToId: f.symbol2, Kind: client.DependencyKindCalls}}}))

	f.vector = []float64{0.11, 0.72, 0.05, 0.31}
	f.tag = unique("tag")
	pts := must(client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{
		Id: ptr(uuid.NewString()), MemoryId: &f.memory, Vector: f.vector, Payload: rawJSON(`{"tag":"` + f.tag + `"}`),
	}}}))
	f.point = pts.UpsertVectors.PointIds[0]

	// The indexer copies the memory into the search indexes after the
	// write: wait for it, so that A's view is stable from here on.
	waitFor(t, 30*time.Second, "the memory's index status to settle", func() bool {
		r, err := client.MemoryIndexStatus(ctx, c, f.memory)
		if err != nil || r.Memory == nil {
			return false
		}
		for _, st := range r.Memory.IndexStatus {
			if st.State == client.IndexStatePending {
				return false
			}
		}
		return true
	})

	f.doc = unique("doc")
	must(client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{
		Id: f.doc, MemoryId: &f.memory, Title: ptr("A's note"), Body: "secret note " + f.word, Tags: []string{f.tag},
	}}}))
	waitFor(t, 15*time.Second, "the document to be searchable", func() bool {
		r, err := client.Search(ctx, c, f.word, nil)
		return err == nil && r.Search != nil && len(r.Search.Nodes) > 0
	})
	return f
}

// view is everything tenant A can read of its fixture, as JSON: it must not
// change while another tenant probes A's ids.
func view(t *testing.T, s *stack, f fixture) string {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(f.tenant)
	var out []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("tenant A's view: %v", err)
		}
		out = append(out, v)
	}
	add(client.Memory(ctx, c, f.memory))
	add(client.Memories(ctx, c, ptr(100), nil, &client.MemoryFilter{States: []client.MemoryState{client.MemoryStateActive, client.MemoryStatePaused, client.MemoryStateArchived, client.MemoryStateDeleted}}))
	add(client.FeedbackEvents(ctx, c, nil))
	add(client.Experiment(ctx, c, f.experiment))
	add(client.EpisodicSession(ctx, c, f.session))
	add(client.CodeRepo(ctx, c, f.repo))
	add(client.CodeSymbol(ctx, c, f.symbol))
	add(client.VectorSearch(ctx, c, matrixModel, f.vector, rawJSON(`{"tag":"`+f.tag+`"}`)))
	add(client.Search(ctx, c, f.word, nil))
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	// Scores are compared by the matrix's own case; here only what A's data
	// is, not how it ranks, must stay.
	return scoreRE.ReplaceAllString(string(b), `"score":0`)
}

var scoreRE = regexp.MustCompile(`"score":[-0-9.e+]+`)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

var _ graphql.Client // clients come from stack.client
