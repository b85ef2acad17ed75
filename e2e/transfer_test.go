package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/google/uuid"
)

// These tests run `gateway tenant export` and `gateway tenant import` on
// orgs filled in all five stores through the API, and read the result back
// through the API.

// tenantCommand runs `gateway tenant ARGS` against the real services (not
// the suite's proxies), feeding it stdin, and returns stdout, stderr and
// the error of the run.
func tenantCommand(t *testing.T, s *stack, stdin io.Reader, args ...string) ([]byte, string, error) {
	t.Helper()
	return runTenant(s, stdin, append(tenantEnv(), "TMPDIR="+t.TempDir()), args...)
}

// exportOrg exports tn's org with its vectors to a file and returns the path.
func exportOrg(t *testing.T, s *stack, org uuid.UUID) string {
	t.Helper()
	out, stderr, err := tenantCommand(t, s, nil, "export", "--vectors", org.String())
	if err != nil {
		t.Fatalf("tenant export %s: %v\n%s", org, err, stderr)
	}
	path := filepath.Join(t.TempDir(), org.String()+".ndjson")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// importFile runs tenant import with args and the file as its argument.
func importFile(t *testing.T, s *stack, path string, args ...string) {
	t.Helper()
	if _, stderr, err := tenantCommand(t, s, nil, append(append([]string{"import"}, args...), path)...); err != nil {
		t.Fatalf("tenant import %v: %v\n%s", args, err, stderr)
	}
}

// as returns a tenant of org acting as user, with every scope.
func (s *stack) as(t *testing.T, org, user uuid.UUID) tenant {
	t.Helper()
	tok, err := auth.Issue(s.secret, auth.Principal{OrgID: org, UserID: user, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tenant{org: org, user: user, token: tok}
}

// transferView is what a fixed set of queries answers about a fixture, as
// JSON without what an import does not keep: cursors (they encode ids) and
// scores. Full-text search is reduced to the memories it finds: documents
// indexed directly are not part of an org's export.
func transferView(t *testing.T, s *stack, f fixture) string {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(f.tenant)
	var out []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("view of org %s: %v", f.tenant.org, err)
		}
		out = append(out, v)
	}
	add(client.Memory(ctx, c, f.memory))
	add(client.Memories(ctx, c, ptr(100), nil, &client.MemoryFilter{States: []client.MemoryState{client.MemoryStateActive, client.MemoryStatePaused, client.MemoryStateArchived, client.MemoryStateDeleted}}))
	add(client.Apps(ctx, c))
	add(client.Categories(ctx, c))
	add(client.FeedbackEvents(ctx, c, nil))
	add(client.FeedbackAggregates(ctx, c, nil))
	add(client.Experiment(ctx, c, f.experiment))
	add(client.EpisodicSession(ctx, c, f.session))
	add(client.CodeRepo(ctx, c, f.repo))
	add(client.CodeSymbol(ctx, c, f.symbol))
	add(client.VectorSearch(ctx, c, matrixModel, f.vector, rawJSON(`{"tag":"`+f.tag+`"}`)))
	add(searchedMemories(t, s, f.tenant, f.word), nil)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	v := scoreRE.ReplaceAllString(string(b), `"score":0`)
	return cursorRE.ReplaceAllString(v, `"$1":""`)
}

var (
	cursorRE = regexp.MustCompile(`"(cursor|endCursor)":"[^"]*"`)
)

// searchedMemories is the sorted ids of the memories a full-text search of
// word finds (once each: a document indexed by hand may name a memory too).
func searchedMemories(t *testing.T, s *stack, tn tenant, word string) []string {
	t.Helper()
	c, _ := s.client(tn)
	r, err := client.Search(context.Background(), c, word, nil)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	ids := []string{}
	for _, n := range r.Search.Nodes {
		if n.Document.Memory != nil && !slices.Contains(ids, n.Document.Memory.Id) {
			ids = append(ids, n.Document.Memory.Id)
		}
	}
	sort.Strings(ids)
	return ids
}

// remappedKinds are the objects whose ids an import under another org
// remaps; code-graph ids are the client's own keys and stay.
var remappedKinds = map[relay.Kind]bool{
	relay.KindMemory: true, relay.KindApp: true, relay.KindCategory: true,
	relay.KindFeedbackEvent: true, relay.KindExperiment: true, relay.KindVariant: true,
}

var quotedRE = regexp.MustCompile(`"[A-Za-z0-9_-]{16,}"`)

// remapped is a view as an import under org answers it: every global id of
// a remapped kind and every bare uuid (vector point ids) becomes
// UUIDv5(org, id); user ids stay.
func remapped(view string, org uuid.UUID, users ...uuid.UUID) string {
	view = quotedRE.ReplaceAllStringFunc(view, func(q string) string {
		return `"` + remapGlobalID(org, q[1:len(q)-1]) + `"`
	})
	keep := map[string]bool{}
	for _, u := range users {
		keep[u.String()] = true
	}
	return uuidRE.ReplaceAllStringFunc(view, func(id string) string {
		if keep[id] {
			return id
		}
		return remapID(org, id)
	})
}

// remapGlobalID remaps a global id of a remapped kind; anything else stays.
func remapGlobalID(org uuid.UUID, id string) string {
	kind, raw, err := relay.Parse(id)
	if err != nil || !remappedKinds[kind] {
		return id
	}
	return relay.ID(kind, remapID(org, raw))
}

// remapID is one uuid of the source as an import under org writes it.
func remapID(org uuid.UUID, id string) string {
	old := uuid.MustParse(id)
	return uuid.NewSHA1(org, old[:]).String()
}

// moved is f as an import under tn writes it.
func moved(f fixture, tn tenant) fixture {
	g := f
	g.tenant = tn
	for _, id := range []*string{&g.app, &g.memory, &g.category, &g.feedback, &g.experiment, &g.variant} {
		*id = remapGlobalID(tn.org, *id)
	}
	g.point = remapID(tn.org, g.point)
	return g
}

// waitSearchable waits until a full-text search of f's word finds its
// memory: the indexer has drained the import's outbox rows.
func waitSearchable(t *testing.T, s *stack, f fixture) {
	t.Helper()
	waitFor(t, 60*time.Second, "the imported memory to be searchable", func() bool {
		for _, id := range searchedMemories(t, s, f.tenant, f.word) {
			if id == f.memory {
				return true
			}
		}
		return false
	})
}

func TestTenantExportImportRoundTrip(t *testing.T) {
	s := gateway(t)
	a, b := s.newTenant(t), s.newTenant(t)
	fa, fb := seed(t, s, a), seed(t, s, b)
	// A second user's private memory: the export holds every user's rows,
	// not only those one user binding sees.
	colleague := s.as(t, a.org, uuid.New())
	cc, _ := s.client(colleague)
	private := must(client.CreateMemory(context.Background(), cc, client.CreateMemoryInput{
		AppId: fa.app, Content: "colleague's private note " + fa.word, Visibility: ptr(client.MemoryVisibilityPrivate),
	})).CreateMemory.Memory.Id
	waitSearchable(t, s, fixture{tenant: colleague, word: fa.word, memory: private})
	before, beforeB := transferView(t, s, fa), transferView(t, s, fb)
	graphBefore := codeGraphOf(t, a.org)
	path := exportOrg(t, s, a.org)

	t.Run("the export of an org holds none of another org's data", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{b.org.String(), b.user.String(), fb.word, rawID(fb.memory), rawID(fb.experiment), fb.repoKey, fb.session, fb.tag} {
			if bytes.Contains(data, []byte(leak)) {
				t.Errorf("the export of org A contains %q of org B", leak)
			}
		}
		for _, own := range []string{rawID(fa.memory), rawID(private), rawID(fa.experiment), fa.session, fa.repoKey, fa.tag} {
			if !bytes.Contains(data, []byte(own)) {
				t.Errorf("the export of org A lacks %q", own)
			}
		}
	})

	// The migration the issue describes: export, erase, import elsewhere.
	if _, err := tenantCmd(s, "erase", "--by", "e2e", a.org.String()); err != nil {
		t.Fatalf("erasing org A after its export: %v", err)
	}
	for store, kinds := range audit(t, s, a.org.String()) {
		if n := storeTotal(kinds); n != 0 {
			t.Fatalf("after its erasure org A still holds %d in %s: %v", n, store, kinds)
		}
	}

	t.Run("an import under a new org id answers the same queries, ids aside", func(t *testing.T) {
		c := s.as(t, uuid.New(), a.user)
		importFile(t, s, path, "--org", c.org.String())
		fc := moved(fa, c)
		waitSearchable(t, s, fc)
		want := remapped(before, c.org, a.user, colleague.user)
		if got := transferView(t, s, fc); got != want {
			t.Errorf("the imported org answers\n%s\nwant (org A's answers, remapped)\n%s", got, want)
		}
		if got, want := codeGraphOf(t, c.org), graphBefore; got != want {
			t.Errorf("the imported org's code graph, times included, is\n%s\nwant\n%s", got, want)
		}
		colleagueC := s.as(t, c.org, colleague.user)
		waitSearchable(t, s, fixture{tenant: colleagueC, word: fa.word, memory: remapGlobalID(c.org, private)})

		// A second run writes the same rows: nothing is duplicated.
		importFile(t, s, path, "--org", c.org.String())
		if got := transferView(t, s, fc); got != want {
			t.Errorf("after a second import the org answers\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("an import that failed half-way is finished by running it again", func(t *testing.T) {
		c := s.as(t, uuid.New(), a.user)
		ctx := context.Background()
		// The session of A's episodic item, under the new org, filled to its
		// cap: the import fails at its episodic step, after PostgreSQL has
		// committed.
		vk, err := valkey.Open(ctx, os.Getenv("VALKEY_URL"), valkey.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = vk.Close() }()
		session := vk.Episodic(stores.Tenant{OrgID: c.org, UserID: a.user})
		for i := range stores.MaxSessionItems {
			if _, err := session.PutItem(ctx, fa.session, stores.NewEpisodicItem{ID: fmt.Sprintf("blocker-%d", i), Content: "x", TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		_, stderr, err := tenantCommand(t, s, nil, "import", "--org", c.org.String(), path)
		if err == nil || !strings.Contains(stderr, "already holds") {
			t.Fatalf("the import answered %v, %q; want it to stop at the full session", err, stderr)
		}
		if _, err := session.ExpireSession(ctx, fa.session); err != nil {
			t.Fatal(err)
		}
		importFile(t, s, path, "--org", c.org.String())
		fc := moved(fa, c)
		waitSearchable(t, s, fc)
		if got, want := transferView(t, s, fc), remapped(before, c.org, a.user, colleague.user); got != want {
			t.Errorf("after the second run the org answers\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("org B is unchanged", func(t *testing.T) {
		if got := transferView(t, s, fb); got != beforeB {
			t.Errorf("org B answers\n%s\nafter the export and imports of org A, and before\n%s", got, beforeB)
		}
	})
}

// rawID is the store id inside a global id.
func rawID(id string) string {
	_, raw, err := relay.Parse(id)
	if err != nil {
		panic(err)
	}
	return raw
}

// orgContents is everything a user of tn sees of the org in every store:
// empty lists when the org holds nothing.
func orgContents(t *testing.T, s *stack, tn tenant) string {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(tn)
	var out []any
	for _, q := range []func() (any, error){
		func() (any, error) { return client.Apps(ctx, c) },
		func() (any, error) { return client.Categories(ctx, c) },
		func() (any, error) { return client.Memories(ctx, c, ptr(100), nil, nil) },
		func() (any, error) { return client.Experiments(ctx, c) },
		func() (any, error) { return client.FeedbackEvents(ctx, c, nil) },
		func() (any, error) { return client.EpisodicSessions(ctx, c) },
		func() (any, error) { return client.CodeRepos(ctx, c) },
		func() (any, error) {
			return client.VectorSearch(ctx, c, matrixModel, []float64{0.11, 0.72, 0.05, 0.31}, nil)
		},
	} {
		v, err := q()
		if err != nil {
			t.Fatalf("reading org %s: %v", tn.org, err)
		}
		out = append(out, v)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return cursorRE.ReplaceAllString(string(b), `"$1":""`)
}

func TestTenantImportRefusesBadStreams(t *testing.T) {
	s := gateway(t)
	a := s.newTenant(t)
	fa := seed(t, s, a)
	path := exportOrg(t, s, a.org)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(good, []byte("\n"))
	newer := bytes.Replace(good, []byte(`"version":1`), []byte(`"version":2`), 1)
	tampered := bytes.Replace(good, []byte("secret of tenant A"), []byte("secret of tenant Z"), 1)
	empty := orgContents(t, s, s.as(t, uuid.New(), a.user))

	cases := []struct {
		name, want string
		stream     []byte
		args       []string
	}{
		{"a stream cut in the middle of a line", "truncated", good[:len(good)/2], nil},
		{"a stream cut after a whole line", "truncated", bytes.Join(lines[:len(lines)-2], nil), nil},
		{"a stream whose content was altered", "checksum mismatch", tampered, nil},
		{"a stream of a newer format version", "newer than this binary", newer, nil},
		{"a stream with data after its trailer", "data follows the trailer", append(append([]byte{}, good...), lines[1]...), nil},
		{"an empty stream", "no header", nil, nil},
		{"a merge into an org that holds nothing", "unknown org", good, []string{"--merge"}},
	}
	for _, tc := range cases {
		t.Run("refuses "+tc.name+" and writes nothing", func(t *testing.T) {
			target := s.as(t, uuid.New(), a.user)
			args := append([]string{"import", "--org", target.org.String()}, tc.args...)
			_, stderr, err := tenantCommand(t, s, bytes.NewReader(tc.stream), args...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Fatalf("import answered %v, %q; want a failure saying %q", err, stderr, tc.want)
			}
			if got := orgContents(t, s, target); got != empty {
				t.Errorf("the refused import wrote to org %s:\n%s", target.org, got)
			}
		})
	}

	t.Run("refuses to export an org that holds nothing", func(t *testing.T) {
		out, stderr, err := tenantCommand(t, s, nil, "export", uuid.NewString())
		if err == nil || !strings.Contains(stderr, "unknown org") || len(out) != 0 {
			t.Fatalf("export answered %v, %q and %d bytes; want a failure saying unknown org and no output", err, stderr, len(out))
		}
	})

	t.Run("a good stream on stdin is imported", func(t *testing.T) {
		target := s.as(t, uuid.New(), a.user)
		if _, stderr, err := tenantCommand(t, s, bytes.NewReader(good), "import", "--org", target.org.String()); err != nil {
			t.Fatalf("import: %v\n%s", err, stderr)
		}
		waitSearchable(t, s, moved(fa, target))
	})
}

// namedFixture is one org's rows under names another org uses too.
type namedFixture struct {
	tenant                   tenant
	memory, experiment, word string
}

// seedNamed fills tn with an app, a category and an experiment of the given
// (shared) names, a memory in them and a feedback event on both.
func seedNamed(t *testing.T, s *stack, tn tenant, app, category, experiment string) namedFixture {
	t.Helper()
	ctx := context.Background()
	c, _ := s.client(tn)
	f := namedFixture{tenant: tn, word: unique("zw")}
	appID := must(client.CreateApp(ctx, c, client.CreateAppInput{Name: app})).CreateApp.App.Id
	f.memory = must(client.CreateMemory(ctx, c, client.CreateMemoryInput{
		AppId: appID, Content: "note of org " + tn.org.String() + " " + f.word, Categories: []string{category},
	})).CreateMemory.Memory.Id
	f.experiment = must(client.CreateExperiment(ctx, c, client.CreateExperimentInput{
		Name: experiment, Variants: []client.VariantInput{{Key: "control", Weight: 1}},
	})).CreateExperiment.Experiment.Id
	must(client.TransitionExperiment(ctx, c, client.TransitionExperimentInput{Id: f.experiment, To: client.ExperimentStatusRunning}))
	must(client.RecordFeedback(ctx, c, client.RecordFeedbackInput{
		QueryId: unique("q"), MemoryId: &f.memory, Tool: "e2e", QueryType: "recall",
		Outcome: client.FeedbackOutcomeAccepted, ExperimentId: &f.experiment, VariantKey: ptr("control"),
	}))
	return f
}

func TestTenantImportMerge(t *testing.T) {
	s := gateway(t)
	app, category, experiment := unique("shared-app"), unique("shared-cat"), unique("shared-exp")
	a, b, d := s.newTenant(t), s.newTenant(t), s.newTenant(t)
	fa, fb := seedNamed(t, s, a, app, category, experiment), seedNamed(t, s, b, app, category, experiment)
	seedNamed(t, s, d, app, category, experiment)
	beforeA := orgContents(t, s, a)
	pathA, pathB := exportOrg(t, s, a.org), exportOrg(t, s, b.org)

	t.Run("without --merge a taken name is refused and nothing is written", func(t *testing.T) {
		before := orgContents(t, s, d)
		_, stderr, err := tenantCommand(t, s, nil, "import", "--org", d.org.String(), pathA)
		if err == nil || !strings.Contains(stderr, "--merge") {
			t.Fatalf("import answered %v, %q; want a refusal naming --merge", err, stderr)
		}
		if got := orgContents(t, s, d); got != before {
			t.Errorf("the refused import changed org D:\n%s\nwas\n%s", got, before)
		}
	})

	t.Run("two orgs merged into a third keep every reference", func(t *testing.T) {
		importFile(t, s, pathA, "--org", d.org.String(), "--merge")
		importFile(t, s, pathB, "--org", d.org.String(), "--merge")
		ctx := context.Background()
		for _, src := range []namedFixture{fa, fb} {
			c, _ := s.client(s.as(t, d.org, src.tenant.user))
			memory := remapGlobalID(d.org, src.memory)
			m := must(client.Memory(ctx, c, memory)).Memory
			if m == nil || !strings.Contains(m.Content, src.word) {
				t.Fatalf("org D lacks the memory of org %s: %+v", src.tenant.org, m)
			}
			if m.App.Name != app || len(m.Categories) != 1 || m.Categories[0].Name != category {
				t.Errorf("the merged memory is in app %q and categories %+v, want the shared %q and %q", m.App.Name, m.Categories, app, category)
			}
			// Admin scope: the org's every event; exactly one is on this memory.
			var on []string
			for _, e := range must(client.FeedbackEvents(ctx, c, nil)).FeedbackEvents.Nodes {
				if e.Memory != nil && e.Memory.Id == memory && e.Experiment != nil {
					on = append(on, e.Experiment.Id)
				}
			}
			if want := remapGlobalID(d.org, src.experiment); len(on) != 1 || on[0] != want {
				t.Errorf("org D's feedback on the memory of org %s names experiments %v, want [%s]", src.tenant.org, on, want)
			}
			exp := must(client.Experiment(ctx, c, remapGlobalID(d.org, src.experiment))).Experiment
			if exp == nil || !strings.HasPrefix(exp.Name, experiment+" (import ") || exp.Assignment == nil || exp.Assignment.Variant.Key != "control" {
				t.Errorf("org %s's experiment in org D is %+v, want it renamed from %q with its assignment", src.tenant.org, exp, experiment)
			}
		}
		c, _ := s.client(d)
		if apps := must(client.Apps(ctx, c)).Apps.Nodes; len(apps) != 1 || apps[0].Name != app {
			t.Errorf("org D has apps %+v, want the one shared app %q", apps, app)
		}
		if cats := must(client.Categories(ctx, c)).Categories.Nodes; len(cats) != 1 || cats[0].Name != category {
			t.Errorf("org D has categories %+v, want the one shared category %q", cats, category)
		}
		if mems := must(client.Memories(ctx, c, ptr(100), nil, nil)).Memories.Edges; len(mems) != 3 {
			t.Errorf("org D has %d memories, want its own and the two imported", len(mems))
		}
		if exps := must(client.Experiments(ctx, c)).Experiments.Nodes; len(exps) != 3 {
			t.Errorf("org D has experiments %+v, want its own and the two renamed imports", exps)
		}
	})

	t.Run("merging an org's export into itself, where every id collides, changes nothing", func(t *testing.T) {
		importFile(t, s, pathA, "--merge")
		if got := orgContents(t, s, a); got != beforeA {
			t.Errorf("org A after merging its own export:\n%s\nwas\n%s", got, beforeA)
		}
	})
}

// codeGraphOf is every node and edge of org's code graph with their times,
// read as an export reads them.
func codeGraphOf(t *testing.T, org uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	b, err := neo4j.Open(ctx, os.Getenv("NEO4J_URI"), os.Getenv("NEO4J_USER"), os.Getenv("NEO4J_PASSWORD"), neo4j.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close(ctx) }()
	var pages []neo4j.CodePage
	for _, kind := range []neo4j.CodeGraphKind{neo4j.ExportRepos, neo4j.ExportFiles, neo4j.ExportSymbols, neo4j.ExportEdges} {
		after := ""
		for {
			page, err := b.ExportPage(ctx, org, kind, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, page)
			if page.Next == "" {
				break
			}
			after = page.Next
		}
	}
	out, err := json.Marshal(pages)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
