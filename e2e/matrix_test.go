package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/Khan/genqlient/graphql"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/google/uuid"
)

// matrixCase is one root field called by tenant B with ids of tenant A.
type matrixCase struct {
	field string // Query.x or Mutation.x, for the coverage check
	name  string
	ids   func(f fixture) []string
	// call makes the request; the recorder keeps the answer. ids are A's
	// ids, or fresh ids of the same shape that exist nowhere.
	call func(ctx context.Context, c graphql.Client, ids []string)
	// raw, instead of call, posts a document by hand (fields the typed
	// client does not know, such as the federation entry point).
	raw func(t *testing.T, s *stack, token string, ids []string) exchange
}

// noIDFields take no id of any kind: nothing another tenant could name.
// Every other root field needs a matrix case; a new field without one fails
// TestCrossTenantMatrix.
var noIDFields = map[string]string{
	"Query.viewer":               "the caller only",
	"Query.apps":                 "lists the caller's org",
	"Query.categories":           "lists the caller's org",
	"Query.experiments":          "lists the caller's org",
	"Query.episodicSessions":     "lists the caller's sessions",
	"Query.codeRepos":            "lists the caller's org",
	"Query._service":             "the public SDL",
	"Mutation.createApp":         "a name only; names are per org",
	"Mutation.createExperiment":  "a name only; names are per org",
	"Query.organizationErasures": "lists the caller's org",
}

func ids(v ...string) []string { return v }

func matrixCases() []matrixCase {
	var cases []matrixCase
	add := func(field, name string, idf func(f fixture) []string, call func(ctx context.Context, c graphql.Client, ids []string)) {
		cases = append(cases, matrixCase{field: field, name: name, ids: idf, call: call})
	}
	for _, kind := range []struct {
		name string
		id   func(f fixture) string
	}{
		{"Memory", func(f fixture) string { return f.memory }},
		{"App", func(f fixture) string { return f.app }},
		{"Category", func(f fixture) string { return f.category }},
		{"FeedbackEvent", func(f fixture) string { return f.feedback }},
		{"Experiment", func(f fixture) string { return f.experiment }},
		{"Variant", func(f fixture) string { return f.variant }},
		{"CodeRepo", func(f fixture) string { return f.repo }},
		{"CodeFile", func(f fixture) string { return f.file }},
		{"CodeSymbol", func(f fixture) string { return f.symbol }},
	} {
		add("Query.node", "node of a "+kind.name, func(f fixture) []string { return ids(kind.id(f)) },
			func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Node(ctx, c, ids[0]) })
	}
	add("Query.nodes", "nodes of every kind at once", func(f fixture) []string {
		return ids(f.memory, f.app, f.category, f.feedback, f.experiment, f.variant, f.repo, f.file, f.symbol)
	}, func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Nodes(ctx, c, ids) })

	add("Query.memory", "memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Memory(ctx, c, ids[0]) })
	add("Query.memories", "memories filtered by app", func(f fixture) []string { return ids(f.app) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{AppId: &ids[0]})
		})
	add("Query.memories", "memories filtered by category", func(f fixture) []string { return ids(f.category) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{CategoryId: &ids[0]})
		})
	add("Query.memories", "memories filtered by A's word", func(f fixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{TextContains: &ids[0]})
		})
	add("Query.feedbackEvents", "feedback events of a memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackEvents(ctx, c, &client.FeedbackFilter{MemoryId: &ids[0]})
		})
	add("Query.feedbackEvents", "feedback events of an experiment", func(f fixture) []string { return ids(f.experiment) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackEvents(ctx, c, &client.FeedbackFilter{ExperimentId: &ids[0]})
		})
	add("Query.feedbackAggregates", "feedback aggregates of a memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackAggregates(ctx, c, &client.FeedbackFilter{MemoryId: &ids[0]})
		})
	add("Query.feedbackAggregates", "feedback aggregates of an experiment", func(f fixture) []string { return ids(f.experiment) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackAggregates(ctx, c, &client.FeedbackFilter{ExperimentId: &ids[0]})
		})
	add("Query.experiment", "experiment", func(f fixture) []string { return ids(f.experiment) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Experiment(ctx, c, ids[0]) })
	add("Query.episodicSession", "episodic session", func(f fixture) []string { return ids(f.session) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.EpisodicSession(ctx, c, ids[0])
		})
	add("Query.codeRepo", "code repo", func(f fixture) []string { return ids(f.repo) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.CodeRepo(ctx, c, ids[0]) })
	add("Query.codeSymbol", "code symbol with its traversals", func(f fixture) []string { return ids(f.symbol) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.CodeSymbol(ctx, c, ids[0]) })
	add("Query.codeSymbols", "code symbols of a repo", func(f fixture) []string { return ids(f.repo) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.CodeSymbols(ctx, c, &client.SymbolFilter{RepoId: &ids[0]})
		})
	add("Query.codeSymbols", "code symbols by A's name", func(f fixture) []string { return ids("Alpha" + f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.CodeSymbols(ctx, c, &client.SymbolFilter{Name: &ids[0]})
		})
	add("Query.vectorSearch", "vector search with A's payload tag", func(f fixture) []string { return ids(f.tag) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.VectorSearch(ctx, c, matrixModel, []float64{0.11, 0.72, 0.05, 0.31}, rawJSON(`{"tag":"`+ids[0]+`"}`))
		})
	add("Query.vectorSearch", "vector search filtered on A's memory id (reserved key)", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.VectorSearch(ctx, c, matrixModel, []float64{0.11, 0.72, 0.05, 0.31}, rawJSON(`{"memory_id":"`+ids[0]+`"}`))
		})
	add("Query.search", "full-text search for A's word", func(f fixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Search(ctx, c, ids[0], nil) })
	add("Query.search", "B's own document with A's word: scores do not reveal A's documents", func(f fixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			doc := "b-doc-" + ids[0] // masked like the word, so only the score can differ
			if _, err := client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: doc, Body: "note " + ids[0]}}}); err != nil {
				return
			}
			// Scores are BM25 over B's own documents: each probe leaves B's
			// corpus as it found it, so that both probes score against one
			// document and only A's documents could make them differ.
			defer func() { _, _ = client.DeleteDocuments(ctx, c, client.DeleteDocumentsInput{Ids: []string{doc}}) }()
			for range 100 {
				if r, err := client.Search(ctx, c, ids[0], nil); err == nil && r.Search != nil && len(r.Search.Nodes) > 0 {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	add("Query.search", "full-text search by A's tag", func(f fixture) []string { return ids(f.word, f.tag) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Search(ctx, c, ids[0], []string{ids[1]})
		})
	add("Query.recall", "recall with A's session, experiment and word", func(f fixture) []string {
		return ids(f.word, f.session, f.experiment)
	}, func(ctx context.Context, c graphql.Client, ids []string) {
		_, _ = client.Recall(ctx, c, &ids[0], []float64{0.11, 0.72, 0.05, 0.31}, ptr(matrixModel), &ids[1], &ids[2])
	})
	for _, kind := range []struct {
		typename string
		id       func(f fixture) string
	}{
		{"Memory", func(f fixture) string { return f.memory }},
		{"Experiment", func(f fixture) string { return f.experiment }},
		{"CodeRepo", func(f fixture) string { return f.repo }},
		{"CodeSymbol", func(f fixture) string { return f.symbol }},
	} {
		cases = append(cases, matrixCase{field: "Query._entities", name: "federation entity " + kind.typename,
			ids: func(f fixture) []string { return ids(kind.id(f)) },
			raw: func(t *testing.T, s *stack, token string, ids []string) exchange {
				return s.post(t, token, `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Node { id } } }`,
					map[string]any{"r": []any{map[string]any{"__typename": kind.typename, "id": ids[0]}}})
			}})
	}

	add("Mutation.createMemory", "create a memory in A's app", func(f fixture) []string { return ids(f.app) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.CreateMemory(ctx, c, client.CreateMemoryInput{AppId: ids[0], Content: "by B"})
		})
	add("Mutation.createMemories", "create memories in A's app", func(f fixture) []string { return ids(f.app) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.CreateMemories(ctx, c, client.CreateMemoriesInput{Memories: []client.CreateMemoryInput{{AppId: ids[0], Content: "by B"}}})
		})
	add("Mutation.updateMemory", "update A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpdateMemory(ctx, c, client.UpdateMemoryInput{Id: ids[0], ExpectedVersion: 1, Content: ptr("overwritten by B")})
		})
	add("Mutation.updateMemory", "move B's memory into A's app", func(f fixture) []string { return ids(f.app) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			app, err := client.CreateApp(ctx, c, client.CreateAppInput{Name: unique("b-app")})
			if err != nil {
				return
			}
			m, err := client.CreateMemory(ctx, c, client.CreateMemoryInput{AppId: app.CreateApp.App.Id, Content: "B's own"})
			if err != nil {
				return
			}
			_, _ = client.UpdateMemory(ctx, c, client.UpdateMemoryInput{Id: m.CreateMemory.Memory.Id, ExpectedVersion: 1, AppId: &ids[0]})
		})
	add("Mutation.setMemoryState", "archive A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.SetMemoryState(ctx, c, client.SetMemoryStateInput{Id: ids[0], State: client.MemoryStateArchived})
		})
	add("Mutation.setMemoryVisibility", "make A's memory private", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.SetMemoryVisibility(ctx, c, client.SetMemoryVisibilityInput{Id: ids[0], Visibility: client.MemoryVisibilityPrivate})
		})
	add("Mutation.deleteMemory", "delete A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteMemory(ctx, c, client.DeleteMemoryInput{Id: ids[0]})
		})
	add("Mutation.eraseOrganization", "erasure of A's organisation", func(f fixture) []string { return ids(f.tenant.org.String()) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.EraseOrganization(ctx, c, client.EraseOrganizationInput{OrganizationId: ids[0]})
		})
	add("Mutation.recordFeedback", "feedback on A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.RecordFeedback(ctx, c, client.RecordFeedbackInput{QueryId: "q", MemoryId: &ids[0], Tool: "e2e", QueryType: "recall", Outcome: client.FeedbackOutcomeRejected})
		})
	add("Mutation.recordFeedback", "feedback under A's experiment", func(f fixture) []string { return ids(f.experiment) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.RecordFeedback(ctx, c, client.RecordFeedbackInput{QueryId: "q", ExperimentId: &ids[0], VariantKey: ptr("control"), Tool: "e2e", QueryType: "recall", Outcome: client.FeedbackOutcomeRejected})
		})
	cases = append(cases, matrixCase{field: "Mutation.purgeFeedback", name: "purge all feedback (B's only)",
		ids: func(fixture) []string { return nil },
		call: func(ctx context.Context, c graphql.Client, _ []string) {
			_, _ = client.PurgeFeedback(ctx, c, client.PurgeFeedbackInput{Before: time.Now().Add(time.Hour)})
		}})
	add("Mutation.transitionExperiment", "pause A's experiment", func(f fixture) []string { return ids(f.experiment) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.TransitionExperiment(ctx, c, client.TransitionExperimentInput{Id: ids[0], To: client.ExperimentStatusPaused})
		})
	add("Mutation.expireEpisodicItem", "expire A's item", func(f fixture) []string { return ids(f.session, f.item) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.ExpireEpisodicItem(ctx, c, client.ExpireEpisodicItemInput{SessionId: ids[0], ItemId: ids[1]})
		})
	add("Mutation.expireEpisodicSession", "expire A's session", func(f fixture) []string { return ids(f.session) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.ExpireEpisodicSession(ctx, c, client.ExpireEpisodicSessionInput{SessionId: ids[0]})
		})
	add("Mutation.putEpisodicItem", "put into A's session and item", func(f fixture) []string { return ids(f.session, f.item) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.PutEpisodicItem(ctx, c, client.PutEpisodicItemInput{SessionId: ids[0], ItemId: &ids[1], Content: "by B"})
		})
	add("Mutation.putEpisodicItem", "put an item naming A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.PutEpisodicItem(ctx, c, client.PutEpisodicItemInput{SessionId: "b-session", ItemId: ptr("b-item"), Content: "by B", MemoryId: &ids[0]})
		})
	add("Mutation.registerCodeRepo", "register A's repo key", func(f fixture) []string { return ids(f.repoKey) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.RegisterCodeRepo(ctx, c, client.RegisterCodeRepoInput{Key: ids[0], Name: ptr("B's")})
		})
	add("Mutation.upsertCodeFiles", "add a file to A's repo", func(f fixture) []string { return ids(f.repo) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertCodeFiles(ctx, c, client.UpsertCodeFilesInput{RepoId: ids[0], Files: []client.CodeFileInput{{Key: "main.go", Path: "evil.go"}}})
		})
	add("Mutation.upsertCodeSymbols", "add a symbol to A's file", func(f fixture) []string { return ids(f.file) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertCodeSymbols(ctx, c, client.UpsertCodeSymbolsInput{Symbols: []client.CodeSymbolInput{{FileId: ids[0], Key: "main.Alpha", Kind: client.SymbolKindFunction, Name: "Evil"}}})
		})
	add("Mutation.addCodeDependencies", "link A's symbols", func(f fixture) []string { return ids(f.symbol2, f.symbol) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.AddCodeDependencies(ctx, c, client.AddCodeDependenciesInput{Dependencies: []client.CodeDependencyInput{{FromId: ids[0], ToId: ids[1], Kind: client.DependencyKindImports}}})
		})
	add("Mutation.upsertVectors", "write a point with A's point id", func(f fixture) []string { return ids(f.point) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{Id: &ids[0], Vector: []float64{1, 0, 0, 0}, Payload: rawJSON(`{"tag":"b"}`)}}})
		})
	add("Mutation.upsertVectors", "write a point naming A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{Id: ptr("00000000-0000-4000-8000-00000000000b"), MemoryId: &ids[0], Vector: []float64{1, 0, 0, 0}}}})
		})
	add("Mutation.deleteVectors", "delete A's point", func(f fixture) []string { return ids(f.point) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteVectors(ctx, c, client.DeleteVectorsInput{Model: matrixModel, PointIds: []string{ids[0]}})
		})
	add("Mutation.indexDocuments", "index a document with A's document id", func(f fixture) []string { return ids(f.doc) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: ids[0], Body: "overwritten by B"}}})
		})
	add("Mutation.indexDocuments", "index a document naming A's memory", func(f fixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: "b-doc", MemoryId: &ids[0], Body: "by B"}}})
		})
	add("Mutation.deleteDocuments", "delete A's document", func(f fixture) []string { return ids(f.doc) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteDocuments(ctx, c, client.DeleteDocumentsInput{Ids: []string{ids[0]}})
		})
	return cases
}

// TestCrossTenantMatrix has tenant B call every root field that takes an
// id with tenant A's ids, and checks that each answer is exactly the answer
// for ids that exist nowhere, and that A's data is unchanged afterwards.
func TestCrossTenantMatrix(t *testing.T) {
	s := gateway(t)
	a := seed(t, s, s.newTenant(t))
	before := view(t, s, a)
	cases := matrixCases()

	t.Run("every root field that takes an id has a case", func(t *testing.T) {
		covered := map[string]bool{}
		for _, c := range cases {
			covered[c.field] = true
		}
		var missing, stale []string
		roots := rootFields(t, s)
		for _, f := range roots {
			if !covered[f] && noIDFields[f] == "" {
				missing = append(missing, f)
			}
		}
		for f := range covered {
			if !slices.Contains(roots, f) {
				stale = append(stale, f)
			}
		}
		if len(missing) > 0 || len(stale) > 0 {
			t.Fatalf("root fields without a matrix case: %v; cases of fields the schema no longer has: %v", missing, stale)
		}
	})

	leaks := 0
	for _, c := range cases {
		t.Run(c.field+" "+c.name, func(t *testing.T) {
			if probeLeaks(t, s, s.newTenant(t), c.ids(a), c.call, c.raw, "B's answer for A's ids") {
				leaks++
			}
		})
	}

	t.Run("tenant A's data is unchanged after every probe", func(t *testing.T) {
		if after := view(t, s, a); after != before {
			leaks++
			t.Fatalf("A's view changed:\nbefore %s\nafter  %s", before, after)
		}
	})
	t.Logf("cross-tenant matrix: %d cases over %d root fields, %d leaks", len(cases), len(fieldsOf(cases)), leaks)
}

func fieldsOf(cases []matrixCase) map[string]bool {
	out := map[string]bool{}
	for _, c := range cases {
		out[c.field] = true
	}
	return out
}

// rootFields lists Query.x and Mutation.x of the running gateway's schema.
func rootFields(t *testing.T, s *stack) []string {
	t.Helper()
	ex := s.post(t, "", `{ q: __type(name: "Query") { fields { name } } m: __type(name: "Mutation") { fields { name } } }`, nil)
	var r struct {
		Data struct {
			Q, M struct{ Fields []struct{ Name string } }
		}
	}
	if err := json.Unmarshal(ex.body, &r); err != nil || len(r.Data.Q.Fields) == 0 {
		t.Fatalf("introspection: HTTP %d %s", ex.status, ex.body)
	}
	var out []string
	for _, f := range r.Data.Q.Fields {
		out = append(out, "Query."+f.Name)
	}
	for _, f := range r.Data.M.Fields {
		out = append(out, "Mutation."+f.Name)
	}
	sort.Strings(out)
	return out
}

// probeLeaks asks as prober, with call or else raw, for theirs (ids of data
// the prober must not see) and for fresh ids of the same shape that exist
// nowhere, and fails the test where the two answers tell them apart or one
// is an internal error. It reports whether the answers differed.
func probeLeaks(t *testing.T, s *stack, prober tenant, theirs []string,
	call func(ctx context.Context, c graphql.Client, ids []string),
	raw func(t *testing.T, s *stack, token string, ids []string) exchange, answer string,
) bool {
	fresh := freshIDs(theirs)
	probe := func(ids []string) exchange {
		if raw != nil {
			return raw(t, s, prober.token, ids)
		}
		cl, rec := s.client(prober)
		call(context.Background(), cl, ids)
		return rec.lastExchange()
	}
	// A store timing out on either probe says nothing about isolation: such
	// a pair is tried again.
	var got, want exchange
	for try := 0; try < 3; try++ {
		got, want = probe(theirs), probe(fresh)
		if !strings.Contains(string(got.body)+string(want.body), "STORE_UNAVAILABLE") {
			break
		}
	}
	leaked := normalise(t, got, withRaw(theirs)) != normalise(t, want, withRaw(fresh))
	if leaked {
		t.Errorf("%s differs from its answer for ids that do not exist:\ntheirs: HTTP %d %s\nfresh:  HTTP %d %s", answer, got.status, got.body, want.status, want.body)
	}
	if strings.Contains(string(got.body), "INTERNAL_SERVER_ERROR") {
		t.Errorf("an internal error: %s", got.body)
	}
	return leaked
}

// freshIDs returns, for each id, an id of the same shape that exists
// nowhere: a global id of the same kind around a fresh store id, a fresh
// UUID, or a string with the same pattern of character classes.
func freshIDs(in []string) []string {
	out := make([]string, len(in))
	for i, id := range in {
		out[i] = freshID(id)
	}
	return out
}

func freshID(id string) string {
	if _, err := uuid.Parse(id); err == nil {
		return uuid.NewString()
	}
	if b, err := base64.RawURLEncoding.DecodeString(id); err == nil {
		if kind, raw, ok := strings.Cut(string(b), ":"); ok && kind != "" && isTypeName(kind) {
			return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + freshID(raw)))
		}
	}
	var sb strings.Builder
	for _, r := range id {
		switch {
		case unicode.IsDigit(r):
			sb.WriteRune(rune('0' + rand.IntN(10)))
		case unicode.IsLower(r):
			sb.WriteRune(rune('a' + rand.IntN(26)))
		case unicode.IsUpper(r):
			sb.WriteRune(rune('A' + rand.IntN(26)))
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// withRaw adds the store id inside each global id: messages such as
// `repo "x" not found` echo the id the caller sent.
func withRaw(ids []string) []string {
	out := slices.Clone(ids)
	for _, id := range ids {
		if b, err := base64.RawURLEncoding.DecodeString(id); err == nil {
			if kind, raw, ok := strings.Cut(string(b), ":"); ok && isTypeName(kind) {
				out = append(out, raw)
			}
		}
	}
	return out
}

func isTypeName(s string) bool {
	return regexp.MustCompile(`^[A-Z][A-Za-z]+$`).MatchString(s)
}

var (
	uuidRE      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	requestIDRE = regexp.MustCompile(`request id [^)\s]+`)
)

// normalise turns an answer into text where what legitimately differs
// between two probes is masked: the probe's own ids (as given, and inside
// global ids), UUIDs and global ids the gateway minted, timestamps and
// request ids. Everything else, such as a field being null or not, an error
// code or a count, must match.
func normalise(t *testing.T, ex exchange, probeIDs []string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(ex.body, &v); err != nil {
		return fmt.Sprintf("HTTP %d non-JSON %q", ex.status, ex.body)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			return maskString(x, probeIDs)
		}
		return v
	}
	b, _ := json.Marshal(walk(v))
	return fmt.Sprintf("HTTP %d %s", ex.status, b)
}

func maskString(s string, probeIDs []string) string {
	for _, id := range probeIDs {
		if id != "" {
			s = strings.ReplaceAll(s, id, "<ID>")
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return "<TIME>"
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		if kind, _, ok := strings.Cut(string(b), ":"); ok && isTypeName(kind) {
			return "<GID:" + kind + ">"
		}
	}
	s = uuidRE.ReplaceAllString(s, "<UUID>")
	return requestIDRE.ReplaceAllString(s, "request id <RID>")
}
