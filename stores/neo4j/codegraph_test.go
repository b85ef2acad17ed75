package neo4j

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// Test-only statements: they plant what the store itself never writes.
const (
	cypherShowKeys = `SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties
WHERE name IN $names RETURN name, type, labelsOrTypes, properties`
	cypherRawCreate  = `CREATE (n:CODE_SYMBOL {org_id: $org_id, id: $id})`
	cypherCrossCalls = `MATCH (a:CODE_SYMBOL {org_id: $from_org, id: $from}), (b:CODE_SYMBOL {org_id: $to_org, id: $to})
CREATE (a)-[:CALLS]->(b), (a)-[:INHERITS]->(b)`
	cypherCrossContains = `MATCH (r:CODE_REPO {org_id: $from_org, id: $repo}), (f:CODE_FILE {org_id: $to_org, id: $file})
CREATE (r)-[:CONTAINS]->(f)`
	cypherCrossDefines = `MATCH (f:CODE_FILE {org_id: $from_org, id: $file}), (s:CODE_SYMBOL {org_id: $to_org, id: $symbol})
CREATE (f)-[:DEFINES]->(s)`
	cypherCountOrg = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL {org_id: $org_id}) RETURN count(n) AS nodes`
)

// store returns a store on the shared backend for a fresh tenant, deleted
// when the test ends.
func store(t *testing.T) (stores.CodeGraphStore, stores.Tenant) {
	t.Helper()
	tenant := storetest.NewTenant()
	return cleaningBackend{testBackend(t), t}.CodeGraph(tenant), tenant
}

// graph builds repo r with one file per entry of files, each defining the
// symbols named, and the edges given as "from>to" (CALLS).
func graph(t *testing.T, st stores.CodeGraphStore, files map[string][]string, edges ...string) {
	t.Helper()
	ctx := storetest.Ctx(t)
	_, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: "r", Name: "repo"})
	storetest.RequireNoError(t, err)
	for file, syms := range files {
		_, err := st.UpsertFiles(ctx, []stores.CodeFile{{ID: file, RepoID: "r", Path: file + ".go"}})
		storetest.RequireNoError(t, err)
		var batch []stores.CodeSymbol
		for i, id := range syms {
			batch = append(batch, stores.CodeSymbol{ID: id, FileID: file, Kind: stores.SymbolFunction, Name: id, StartLine: i + 1})
		}
		_, err = st.UpsertSymbols(ctx, batch)
		storetest.RequireNoError(t, err)
	}
	var es []stores.Edge
	for _, e := range edges {
		from, to, _ := strings.Cut(e, ">")
		es = append(es, stores.Edge{FromID: from, ToID: to, Kind: stores.EdgeCalls})
	}
	storetest.RequireNoError(t, st.AddEdges(ctx, es))
}

// reach renders every traversal of ids in both directions up to depth as
// one string, to compare a graph's answers before and after a change.
func reach(t *testing.T, st stores.CodeGraphStore, depth int, ids ...string) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []stores.Direction{stores.Dependencies, stores.Dependents} {
		for d := 1; d <= depth; d++ {
			res, err := st.Traverse(storetest.Ctx(t), ids, dir, nil, d)
			storetest.RequireNoError(t, err)
			for _, id := range ids {
				fmt.Fprintf(&b, "%s %s %d:", dir, id, d)
				for _, dep := range res[id] {
					fmt.Fprintf(&b, " %s/%s/%d/%s", dep.Symbol.ID, dep.Kind, dep.Depth, dep.Symbol.FileID)
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func TestSchemaHoldsAUniqueOrgAndIdPerLabelAndIsCreatedIdempotently(t *testing.T) {
	b := testBackend(t)
	storetest.RequireNoError(t, b.EnsureSchema(storetest.Ctx(t)))
	storetest.RequireNoError(t, b.EnsureSchema(storetest.Ctx(t)))
	names := []any{"code_repo_org_id_id", "code_file_org_id_id", "code_symbol_org_id_id"}
	res, err := neo4j.ExecuteQuery(storetest.Ctx(t), b.driver, cypherShowKeys, map[string]any{"names": names}, neo4j.EagerResultTransformer)
	storetest.RequireNoError(t, err)
	got := map[string]string{}
	for _, rec := range res.Records {
		name, _ := rec.Get("name")
		typ, _ := rec.Get("type")
		labels, _ := rec.Get("labelsOrTypes")
		props, _ := rec.Get("properties")
		got[name.(string)] = fmt.Sprintf("%v %v %v", typ, labels, props)
	}
	want := map[string]string{
		"code_repo_org_id_id":   "UNIQUENESS [CODE_REPO] [org_id id]",
		"code_file_org_id_id":   "UNIQUENESS [CODE_FILE] [org_id id]",
		"code_symbol_org_id_id": "UNIQUENESS [CODE_SYMBOL] [org_id id]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("constraints %v, want %v", got, want)
	}
}

func TestARawDuplicateIdInOneOrgIsRefusedByTheDatabaseAsAConflictButTwoOrgsMayShareIt(t *testing.T) {
	b := testBackend(t)
	_, mine := store(t)
	_, theirs := store(t)
	create := func(tenant stores.Tenant) error {
		return rawWrite(t, b, cypherRawCreate, map[string]any{"org_id": tenant.OrgID.String(), "id": "dup"})
	}
	storetest.RequireNoError(t, create(mine))
	err := create(mine)
	var ne *neo4j.Neo4jError
	if !errors.As(err, &ne) || ne.Code != codeConstraintViolation {
		t.Fatalf("second CREATE in one org: %v, want %s", err, codeConstraintViolation)
	}
	storetest.RequireKind(t, mapError(context.Background(), err), stores.ErrConflict)
	if strings.Contains(stores.PublicMessage(mapError(context.Background(), err)), "Neo") {
		t.Fatalf("driver text leaks into the client message")
	}
	storetest.RequireNoError(t, create(theirs))
}

func TestAnIdAlreadyDefinedUnderAnotherParentIsAConflictEvenWhenWrittenConcurrently(t *testing.T) {
	st, _ := store(t)
	ctx := storetest.Ctx(t)
	graph(t, st, map[string][]string{"f1": {"a"}, "f2": {"b"}})
	_, err := st.UpsertSymbols(ctx, []stores.CodeSymbol{{ID: "a", FileID: "f2", Kind: stores.SymbolFunction, Name: "a"}})
	storetest.RequireKind(t, err, stores.ErrConflict)
	_, err = st.UpsertRepo(ctx, stores.CodeRepo{ID: "r2", Name: "other"})
	storetest.RequireNoError(t, err)
	_, err = st.UpsertFiles(ctx, []stores.CodeFile{{ID: "f1", RepoID: "r2", Path: "f1.go"}})
	storetest.RequireKind(t, err, stores.ErrConflict)

	// Ten writers race to define one new symbol id, half under each file:
	// whoever commits first owns it, every later writer for the other file
	// gets a conflict, and the symbol ends in exactly one file.
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file := []string{"f1", "f2"}[i%2]
			_, errs[i] = st.UpsertSymbols(ctx, []stores.CodeSymbol{{ID: "raced", FileID: file, Kind: stores.SymbolFunction, Name: "raced"}})
		}()
	}
	wg.Wait()
	byFile, err := st.SymbolsByFile(ctx, []string{"f1", "f2"})
	storetest.RequireNoError(t, err)
	owner := "f1"
	if len(byFile["f2"]) == 2 {
		owner = "f2"
	}
	if len(byFile["f1"])+len(byFile["f2"]) != 3 {
		t.Fatalf("symbols after the race: %+v", byFile)
	}
	for i, err := range errs {
		if file := []string{"f1", "f2"}[i%2]; file == owner {
			storetest.RequireNoError(t, err)
		} else {
			storetest.RequireKind(t, err, stores.ErrConflict)
		}
	}
}

func TestARelationshipCreatedByMistakeAcrossOrgsLeadsNowhere(t *testing.T) {
	b := testBackend(t)
	mine, me := store(t)
	theirs, them := store(t)
	// The same ids in both orgs, so a leak would look plausible.
	files := map[string][]string{"f1": {"a", "b"}, "f2": {"c", "x"}}
	graph(t, mine, files, "a>b", "b>c")
	graph(t, theirs, files, "x>c")
	ids := []string{"a", "b", "c", "x"}
	myBefore, theirBefore := reach(t, mine, 3, ids...), reach(t, theirs, 3, ids...)

	for _, pair := range [][2]stores.Tenant{{me, them}, {them, me}} {
		from, to := pair[0].OrgID.String(), pair[1].OrgID.String()
		for _, e := range [][2]string{{"a", "x"}, {"x", "a"}, {"c", "a"}, {"b", "b"}} {
			storetest.RequireNoError(t, rawWrite(t, b, cypherCrossCalls, map[string]any{"from_org": from, "to_org": to, "from": e[0], "to": e[1]}))
		}
		storetest.RequireNoError(t, rawWrite(t, b, cypherCrossContains, map[string]any{"from_org": from, "to_org": to, "repo": "r", "file": "f2"}))
		storetest.RequireNoError(t, rawWrite(t, b, cypherCrossDefines, map[string]any{"from_org": from, "to_org": to, "file": "f1", "symbol": "x"}))
	}

	if got := reach(t, mine, 3, ids...); got != myBefore {
		t.Fatalf("my traversals changed:\n%s\nwas\n%s", got, myBefore)
	}
	if got := reach(t, theirs, 3, ids...); got != theirBefore {
		t.Fatalf("their traversals changed:\n%s\nwas\n%s", got, theirBefore)
	}
	ctx := storetest.Ctx(t)
	for _, st := range []stores.CodeGraphStore{mine, theirs} {
		byRepo, err := st.FilesByRepo(ctx, []string{"r"})
		storetest.RequireNoError(t, err)
		byFile, err := st.SymbolsByFile(ctx, []string{"f1", "f2"})
		storetest.RequireNoError(t, err)
		if len(byRepo["r"]) != 2 || len(byFile["f1"]) != 2 || len(byFile["f2"]) != 2 {
			t.Fatalf("a mistaken relationship shows up: files %+v, symbols %+v", byRepo, byFile)
		}
	}
}

func TestHostileNamesAndIdsAreStoredAndFoundVerbatimAndHarmNothing(t *testing.T) {
	b := testBackend(t)
	bystander, other := store(t)
	graph(t, bystander, map[string][]string{"f": {"safe"}})
	st, me := store(t)
	ctx := storetest.Ctx(t)
	hostile := []string{
		`}) MATCH (n) DETACH DELETE n //`,
		`'}) MATCH (n) DETACH DELETE n //`,
		`"}) MATCH (n) DETACH DELETE n //`,
		"`}) MATCH (n) DETACH DELETE n //",
		`$org_id`,
		`\' OR 1=1 --`,
		`a.*+?[(`,
		`%_ 100% LIKE`,
		`名前 ünïcödé 🚀`,
		`x {org_id: $org_id}`,
	}
	_, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: hostile[0], Name: hostile[3], URL: hostile[1]})
	storetest.RequireNoError(t, err)
	var files []stores.CodeFile
	var syms []stores.CodeSymbol
	var edges []stores.Edge
	for i, h := range hostile {
		files = append(files, stores.CodeFile{ID: h, RepoID: hostile[0], Path: h, Language: h})
		syms = append(syms, stores.CodeSymbol{ID: "s" + h, FileID: h, Kind: stores.SymbolFunction, Name: h, Signature: h, StartLine: i + 1})
		if i > 0 {
			edges = append(edges, stores.Edge{FromID: "s" + hostile[i-1], ToID: "s" + h, Kind: stores.EdgeCalls})
		}
	}
	_, err = st.UpsertFiles(ctx, files)
	storetest.RequireNoError(t, err)
	_, err = st.UpsertSymbols(ctx, syms)
	storetest.RequireNoError(t, err)
	storetest.RequireNoError(t, st.AddEdges(ctx, edges))

	repos, err := st.ReposByID(ctx, []string{hostile[0]})
	storetest.RequireNoError(t, err)
	if r := repos[hostile[0]]; r.Name != hostile[3] || r.URL != hostile[1] {
		t.Fatalf("repo %+v", r)
	}
	for i, h := range hostile {
		page, err := st.FindSymbols(ctx, stores.SymbolQuery{Name: h, RepoID: hostile[0]}, stores.PageArgs{First: 20})
		storetest.RequireNoError(t, err)
		if len(page.Items) != 1 || page.Items[0].ID != "s"+h || page.Items[0].Name != h || page.Items[0].Signature != h || page.Items[0].FileID != h {
			t.Fatalf("finding %q: %+v", h, page.Items)
		}
		byFile, err := st.SymbolsByFile(ctx, []string{h})
		storetest.RequireNoError(t, err)
		if len(byFile[h]) != 1 || byFile[h][0].Name != h {
			t.Fatalf("symbols of file %q: %+v", h, byFile[h])
		}
		if i > 0 {
			deps, err := st.Traverse(ctx, []string{"s" + hostile[i-1]}, stores.Dependencies, nil, 1)
			storetest.RequireNoError(t, err)
			if got := deps["s"+hostile[i-1]]; len(got) != 1 || got[0].Symbol.ID != "s"+h {
				t.Fatalf("dependencies of %q: %+v", hostile[i-1], got)
			}
		}
	}
	byRepo, err := st.FilesByRepo(ctx, []string{hostile[0]})
	storetest.RequireNoError(t, err)
	if len(byRepo[hostile[0]]) != len(hostile) {
		t.Fatalf("files of the hostile repo: %d, want %d", len(byRepo[hostile[0]]), len(hostile))
	}
	count := func(tenant stores.Tenant) int64 {
		res, err := neo4j.ExecuteQuery(ctx, b.driver, cypherCountOrg, map[string]any{"org_id": tenant.OrgID.String()}, neo4j.EagerResultTransformer)
		storetest.RequireNoError(t, err)
		n, _ := res.Records[0].Get("nodes")
		return n.(int64)
	}
	if mine, theirs := count(me), count(other); mine != int64(1+2*len(hostile)) || theirs != 3 {
		t.Fatalf("nodes after hostile input: mine %d, a bystander's %d", mine, theirs)
	}
}

func TestADeadServerIsStoreUnavailableWithinTheTimeout(t *testing.T) {
	const timeout = time.Second
	within := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		storetest.RequireKind(t, err, stores.ErrUnavailable)
		if msg := stores.PublicMessage(err); msg != "neo4j is unavailable" {
			t.Fatalf("%s: client message %q", what, msg)
		}
		if took := time.Since(start); took > timeout+time.Second {
			t.Fatalf("%s against a dead server took %s, timeout %s", what, took, timeout)
		}
	}
	within("open", func() error {
		_, err := Open(context.Background(), "bolt://127.0.0.1:1", "neo4j", "secret-password", Options{Timeout: timeout})
		return err
	})
	driver, err := NewDriver("bolt://127.0.0.1:1", "neo4j", "secret-password", Options{Timeout: timeout})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = driver.Close(context.Background()) })
	st := NewCodeGraphBackend(driver, Options{Timeout: timeout}).CodeGraph(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	within("a batch read", func() error {
		_, err := st.ReposByID(ctx, []string{"r"})
		return err
	})
	within("a write", func() error {
		_, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: "r", Name: "r"})
		return err
	})
	within("a traversal", func() error {
		_, err := st.Traverse(ctx, []string{"a"}, stores.Dependencies, nil, 1)
		return err
	})
}

func TestACancelledCallReturnsAtOnceAsUnavailable(t *testing.T) {
	st, _ := store(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := st.SymbolsByID(ctx, []string{"a"})
	storetest.RequireKind(t, err, stores.ErrUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cause lost: %v", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancelShort()
	<-short.Done()
	_, err = st.UpsertRepo(short, stores.CodeRepo{ID: "r", Name: "r"})
	storetest.RequireKind(t, err, stores.ErrUnavailable)
}

func TestTheTraversalDepthCapIsTheConstructorsNotTheDefault(t *testing.T) {
	b := testBackend(t)
	deep := NewCodeGraphBackend(b.driver, Options{MaxDepth: 8})
	shallow := NewCodeGraphBackend(b.driver, Options{MaxDepth: 2})
	tenant := storetest.NewTenant()
	t.Cleanup(func() { deleteOrg(t, b, tenant) })
	st := deep.CodeGraph(tenant)
	chain := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}
	var edges []string
	for i := 1; i < len(chain); i++ {
		edges = append(edges, chain[i-1]+">"+chain[i])
	}
	graph(t, st, map[string][]string{"f": chain}, edges...)
	ctx := storetest.Ctx(t)
	res, err := st.Traverse(ctx, []string{"c0"}, stores.Dependencies, nil, 8)
	storetest.RequireNoError(t, err)
	if deps := res["c0"]; len(deps) != 8 || deps[7].Symbol.ID != "c8" || deps[7].Depth != 8 {
		t.Fatalf("depth 8 reached %+v", deps)
	}
	_, err = st.Traverse(ctx, []string{"c0"}, stores.Dependencies, nil, 9)
	storetest.RequireKind(t, err, stores.ErrInvalid)
	_, err = shallow.CodeGraph(tenant).Traverse(ctx, []string{"c0"}, stores.Dependencies, nil, 3)
	storetest.RequireKind(t, err, stores.ErrInvalid)
}
