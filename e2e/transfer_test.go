package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/codingbrain/gateway/graph/relay"
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
	cmd := exec.Command(s.bin, append([]string{"tenant"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	for _, v := range []string{"DATABASE_OWNER_URL", "VALKEY_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "QDRANT_URL"} {
		cmd.Env = append(cmd.Env, v+"="+os.Getenv(v))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
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

	t.Run("an import under a new org id answers the same queries, ids aside", func(t *testing.T) {
		c := s.as(t, uuid.New(), a.user)
		importFile(t, s, path, "--org", c.org.String())
		fc := moved(fa, c)
		waitSearchable(t, s, fc)
		want := remapped(before, c.org, a.user, colleague.user)
		if got := transferView(t, s, fc); got != want {
			t.Errorf("the imported org answers\n%s\nwant (org A's answers, remapped)\n%s", got, want)
		}
		colleagueC := s.as(t, c.org, colleague.user)
		waitSearchable(t, s, fixture{tenant: colleagueC, word: fa.word, memory: remapGlobalID(c.org, private)})

		// A second run writes the same rows: nothing is duplicated.
		importFile(t, s, path, "--org", c.org.String())
		if got := transferView(t, s, fc); got != want {
			t.Errorf("after a second import the org answers\n%s\nwant\n%s", got, want)
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
