package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/google/uuid"
)

// colleague returns another user of tn's organisation, with every scope
// (admin included: an org admin does not see private memories either).
func (s *stack) colleague(t *testing.T, tn tenant) tenant {
	t.Helper()
	c := tenant{org: tn.org, user: uuid.New()}
	tok, err := auth.Issue(s.secret, auth.Principal{OrgID: c.org, UserID: c.user, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.token = tok
	return c
}

// privateFixture is a user's private memory and everything naming it: a
// category only it carries, in an app only it is in, a document and a
// vector point naming it, the user's feedback on it.
type privateFixture struct {
	tenant                     tenant
	word, tag                  string
	app, memory, category, doc string
	// rawMemory is the memory's store id: the id of its full-text document
	// (written by the indexer) and of the vector point naming it.
	rawMemory string
	vector    []float64
}

func seedPrivate(t *testing.T, s *stack, tn tenant) privateFixture {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(tn)
	f := privateFixture{tenant: tn, word: unique("zp"), tag: unique("ptag"), vector: []float64{0.61, 0.12, 0.44, 0.05}}
	f.word = "zp" + f.word[3:]
	f.app = must(client.CreateApp(ctx, c, client.CreateAppInput{Name: unique("papp")})).CreateApp.App.Id
	private := client.MemoryVisibilityPrivate
	mem := must(client.CreateMemory(ctx, c, client.CreateMemoryInput{
		AppId: f.app, Content: "private note " + f.word, Categories: []string{unique("pcat")}, Visibility: &private,
	})).CreateMemory.Memory
	if mem.Visibility != client.MemoryVisibilityPrivate {
		t.Fatalf("created a %s memory, want PRIVATE", mem.Visibility)
	}
	f.memory, f.category = mem.Id, mem.Categories[0].Id
	raw, err := relay.DecodeUUID(f.memory, relay.KindMemory)
	if err != nil {
		t.Fatal(err)
	}
	f.rawMemory = raw.String()
	must(client.RecordFeedback(ctx, c, client.RecordFeedbackInput{QueryId: unique("q"), MemoryId: &f.memory, Tool: "e2e", QueryType: "recall", Outcome: client.FeedbackOutcomeAccepted}))
	must(client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{
		MemoryId: &f.memory, Vector: f.vector, Payload: rawJSON(`{"tag":"` + f.tag + `"}`),
	}}}))
	f.doc = unique("pdoc")
	must(client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{
		Id: f.doc, MemoryId: &f.memory, Body: "private document " + f.word, Tags: []string{f.tag},
	}}}))
	// The indexer copies the memory into OpenSearch after the write.
	waitFor(t, 30*time.Second, "the private memory's index status to settle", func() bool {
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
	waitFor(t, 15*time.Second, "the author to find the private memory", func() bool {
		r, err := client.Search(ctx, c, f.word, nil)
		return err == nil && r.Search != nil && len(r.Search.Nodes) == 2
	})
	return f
}

// privateView is what the author reads of a private fixture: it must not
// change while a colleague probes it.
func privateView(t *testing.T, s *stack, f privateFixture) string {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(f.tenant)
	var out []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("the author's view: %v", err)
		}
		out = append(out, v)
	}
	add(client.Memory(ctx, c, f.memory))
	add(client.Memories(ctx, c, ptr(100), nil, &client.MemoryFilter{AppId: &f.app, States: []client.MemoryState{client.MemoryStateActive, client.MemoryStatePaused, client.MemoryStateArchived, client.MemoryStateDeleted}}))
	add(client.FeedbackEvents(ctx, c, &client.FeedbackFilter{MemoryId: &f.memory}))
	add(client.VectorSearch(ctx, c, matrixModel, f.vector, rawJSON(`{"tag":"`+f.tag+`"}`)))
	add(client.Search(ctx, c, f.word, nil))
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return scoreRE.ReplaceAllString(string(b), `"score":0`)
}

// privateCase is one root field called by a colleague with the ids of a
// private fixture (or fresh ids of the same shape).
type privateCase struct {
	field, name string
	ids         func(f privateFixture) []string
	call        func(ctx context.Context, c graphql.Client, ids []string)
	// raw, instead of call, posts a document by hand (the federation entry point).
	raw func(t *testing.T, s *stack, token string, ids []string) exchange
}

// privateCases are the read paths and writes a colleague could name a
// private memory in. Subscriptions (memoryChanged, memoryIndexStatus) are
// covered by graph.TestPrivateMemories over the same change-feed code.
func privateCases() []privateCase {
	var cases []privateCase
	add := func(field, name string, ids func(f privateFixture) []string, call func(ctx context.Context, c graphql.Client, ids []string)) {
		cases = append(cases, privateCase{field: field, name: name, ids: ids, call: call})
	}
	add("Query.node", "node of the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Node(ctx, c, ids[0]) })
	add("Query.nodes", "nodes with the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Nodes(ctx, c, ids) })
	add("Query.memory", "the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Memory(ctx, c, ids[0]) })
	add("Query.memories", "memories of the app only the private memory is in", func(f privateFixture) []string { return ids(f.app) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{AppId: &ids[0]})
		})
	add("Query.memories", "memories of the category only the private memory carries", func(f privateFixture) []string { return ids(f.category) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{CategoryId: &ids[0]})
		})
	add("Query.memories", "memories containing the private word", func(f privateFixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Memories(ctx, c, nil, nil, &client.MemoryFilter{TextContains: &ids[0]})
		})
	add("Query.feedbackEvents", "feedback events of the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackEvents(ctx, c, &client.FeedbackFilter{MemoryId: &ids[0]})
		})
	add("Query.feedbackAggregates", "feedback aggregates of the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.FeedbackAggregates(ctx, c, &client.FeedbackFilter{MemoryId: &ids[0]})
		})
	add("Query.search", "full-text search for the private word", func(f privateFixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) { _, _ = client.Search(ctx, c, ids[0], nil) })
	add("Query.search", "full-text search by the private document's tag", func(f privateFixture) []string { return ids(f.word, f.tag) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Search(ctx, c, ids[0], []string{ids[1]})
		})
	add("Query.vectorSearch", "vector search with the private point's tag", func(f privateFixture) []string { return ids(f.tag) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.VectorSearch(ctx, c, matrixModel, []float64{0.61, 0.12, 0.44, 0.05}, rawJSON(`{"tag":"`+ids[0]+`"}`))
		})
	add("Query.recall", "recall of the private word", func(f privateFixture) []string { return ids(f.word) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.Recall(ctx, c, &ids[0], []float64{0.61, 0.12, 0.44, 0.05}, ptr(matrixModel), nil, nil)
		})
	cases = append(cases, privateCase{field: "Query._entities", name: "federation entity of the private memory",
		ids: func(f privateFixture) []string { return ids(f.memory) },
		raw: func(t *testing.T, s *stack, token string, ids []string) exchange {
			return s.post(t, token, `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Memory { id content } } }`,
				map[string]any{"r": []any{map[string]any{"__typename": "Memory", "id": ids[0]}}})
		}})
	add("Mutation.updateMemory", "update the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpdateMemory(ctx, c, client.UpdateMemoryInput{Id: ids[0], ExpectedVersion: 1, Content: ptr("overwritten by a colleague")})
		})
	add("Mutation.setMemoryState", "archive the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.SetMemoryState(ctx, c, client.SetMemoryStateInput{Id: ids[0], State: client.MemoryStateArchived})
		})
	add("Mutation.setMemoryVisibility", "publish the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.SetMemoryVisibility(ctx, c, client.SetMemoryVisibilityInput{Id: ids[0], Visibility: client.MemoryVisibilityOrg})
		})
	add("Mutation.deleteMemory", "delete the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteMemory(ctx, c, client.DeleteMemoryInput{Id: ids[0]})
		})
	add("Mutation.recordFeedback", "feedback on the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.RecordFeedback(ctx, c, client.RecordFeedbackInput{QueryId: "q", MemoryId: &ids[0], Tool: "e2e", QueryType: "recall", Outcome: client.FeedbackOutcomeRejected})
		})
	add("Mutation.putEpisodicItem", "an item naming the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.PutEpisodicItem(ctx, c, client.PutEpisodicItemInput{SessionId: "c-session", ItemId: ptr("c-item"), Content: "by a colleague", MemoryId: &ids[0]})
		})
	add("Mutation.upsertVectors", "a point naming the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{MemoryId: &ids[0], Vector: []float64{1, 0, 0, 0}}}})
		})
	add("Mutation.indexDocuments", "a document naming the private memory", func(f privateFixture) []string { return ids(f.memory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: "c-doc", MemoryId: &ids[0], Body: "by a colleague"}}})
		})
	// Deletes first: the writes below leave shared documents and points
	// under the private ids, which are the org's and may then be deleted.
	add("Mutation.deleteDocuments", "delete the private memory's documents", func(f privateFixture) []string { return ids(f.rawMemory, f.doc) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteDocuments(ctx, c, client.DeleteDocumentsInput{Ids: ids})
		})
	add("Mutation.deleteVectors", "delete the private point", func(f privateFixture) []string { return ids(f.rawMemory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.DeleteVectors(ctx, c, client.DeleteVectorsInput{Model: matrixModel, PointIds: ids})
		})
	add("Mutation.indexDocuments", "a document with the private memory's document id", func(f privateFixture) []string { return ids(f.rawMemory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: ids[0], Body: "by a colleague"}}})
		})
	add("Mutation.indexDocuments", "a document with the id of a document naming the private memory", func(f privateFixture) []string { return ids(f.doc) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.IndexDocuments(ctx, c, client.IndexDocumentsInput{Documents: []client.DocumentInput{{Id: ids[0], Body: "by a colleague"}}})
		})
	add("Mutation.upsertVectors", "a point with the private point's id", func(f privateFixture) []string { return ids(f.rawMemory) },
		func(ctx context.Context, c graphql.Client, ids []string) {
			_, _ = client.UpsertVectors(ctx, c, client.UpsertVectorsInput{Model: matrixModel, Points: []client.VectorPointInput{{Id: &ids[0], Vector: []float64{1, 0, 0, 0}}}})
		})
	return cases
}

// TestSameOrgPrivateMatrix has a second user of the author's organisation
// name the author's private memory in every read path and every write, and
// checks that each answer is exactly the answer for ids that exist nowhere,
// and that the author's data is unchanged afterwards.
func TestSameOrgPrivateMatrix(t *testing.T) {
	s := gateway(t)
	author := s.newTenant(t)
	f := seedPrivate(t, s, author)
	before := privateView(t, s, f)
	cases := privateCases()

	leaks := 0
	fields := map[string]bool{}
	for _, c := range cases {
		fields[c.field] = true
		t.Run(c.field+" "+c.name, func(t *testing.T) {
			if probeLeaks(t, s, s.colleague(t, author), c.ids(f), c.call, c.raw, "a colleague's answer for the private memory") {
				leaks++
			}
		})
	}

	t.Run("the author's private memory is unchanged after every probe", func(t *testing.T) {
		if after := privateView(t, s, f); after != before {
			leaks++
			t.Fatalf("the author's view changed:\nbefore %s\nafter  %s", before, after)
		}
	})
	t.Logf("same-org private matrix: %d cases over %d root fields, %d leaks", len(cases), len(fields), leaks)
}
