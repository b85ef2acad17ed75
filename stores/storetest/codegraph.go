package storetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores"
)

// RunCodeGraph checks a CodeGraphBackend whose traversal cap is the default,
// stores.MaxTraversalDepth.
func RunCodeGraph(t *testing.T, newHarness NewHarness) {
	setup := func(t *testing.T) stores.CodeGraphStore {
		t.Helper()
		h := newHarness(t)
		return h.Bundle(t, NewTenant()).CodeGraph
	}

	t.Run("a repo is created, updated and read back", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		created, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: "github.com/acme/api", Name: "api", URL: "https://github.com/acme/api"})
		RequireNoError(t, err)
		if created.ID != "github.com/acme/api" || created.Name != "api" || created.URL != "https://github.com/acme/api" {
			t.Fatalf("created %+v", created)
		}
		if created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() {
			t.Fatalf("times not set: %+v", created)
		}
		updated, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: "github.com/acme/api", Name: "api-v2"})
		RequireNoError(t, err)
		if updated.Name != "api-v2" || updated.URL != "" || !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("updated %+v, created %+v", updated, created)
		}
		got, err := st.ReposByID(ctx, []string{"github.com/acme/api", "nosuch"})
		RequireNoError(t, err)
		if len(got) != 1 || got["github.com/acme/api"].Name != "api-v2" {
			t.Fatalf("repos by id %+v", got)
		}
		empty, err := st.ReposByID(ctx, nil)
		RequireNoError(t, err)
		if empty == nil || len(empty) != 0 {
			t.Fatalf("no ids gave %#v", empty)
		}
	})

	t.Run("an invalid repo is refused", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		for _, r := range []stores.CodeRepo{
			{ID: "", Name: "n"},
			{ID: "bad\x00id", Name: "n"},
			{ID: "bad\nid", Name: "n"},
			{ID: strings.Repeat("x", 513), Name: "n"},
			{ID: "ok", Name: ""},
		} {
			_, err := st.UpsertRepo(ctx, r)
			RequireKind(t, err, stores.ErrInvalid)
		}
		_, err := st.UpsertRepo(ctx, stores.CodeRepo{ID: strings.Repeat("x", 512), Name: "n"})
		RequireNoError(t, err)
		page, err := st.ListRepos(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(page.Items) != 1 {
			t.Fatalf("%d repos stored, want only the valid one", len(page.Items))
		}
	})

	t.Run("repos are paged by id, stably across inserts", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		for _, id := range []string{"r-03", "r-01", "r-05", "r-02", "r-04"} {
			codeRepo(t, st, id)
		}
		first, err := st.ListRepos(ctx, stores.PageArgs{First: 2})
		RequireNoError(t, err)
		if got := codeRepoIDs(first.Items); got != "r-01,r-02" || !first.HasNextPage || len(first.Cursors) != 2 {
			t.Fatalf("first page %q, next %v, %d cursors", got, first.HasNextPage, len(first.Cursors))
		}
		codeRepo(t, st, "r-00") // before the cursor: not on later pages
		codeRepo(t, st, "r-06") // after it: on a later page
		seen := strings.Split(codeRepoIDs(first.Items), ",")
		after := first.Cursors[1]
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			page, err := st.ListRepos(ctx, stores.PageArgs{First: 2, After: after})
			RequireNoError(t, err)
			if len(page.Items) != len(page.Cursors) {
				t.Fatalf("%d items, %d cursors", len(page.Items), len(page.Cursors))
			}
			for _, r := range page.Items {
				seen = append(seen, r.ID)
			}
			if !page.HasNextPage {
				break
			}
			after = page.Cursors[len(page.Cursors)-1]
		}
		if got := strings.Join(seen, ","); got != "r-01,r-02,r-03,r-04,r-05,r-06" {
			t.Fatalf("walked %q", got)
		}
		// Every repo counts, r-00 (inserted before the cursor) included.
		if n, err := st.CountRepos(ctx); err != nil || n != len(seen)+1 {
			t.Fatalf("CountRepos = %d, %v; want %d", n, err, len(seen)+1)
		}
		for _, bad := range []string{"!!!", "bm90IGEgY3Vyc29y", "{}"} {
			_, err := st.ListRepos(ctx, stores.PageArgs{First: 2, After: bad})
			RequireKind(t, err, stores.ErrInvalid)
		}
	})

	t.Run("files need an existing repo and stay in their repo", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		codeRepo(t, st, "r1")
		codeRepo(t, st, "r2")
		files, err := st.UpsertFiles(ctx, []stores.CodeFile{
			{ID: "f-z", RepoID: "r1", Path: "z.go", Language: "go"},
			{ID: "f-a", RepoID: "r1", Path: "a.go", Language: "go"},
			{ID: "f-m", RepoID: "r1", Path: "m/b.go"},
			{ID: "f-other", RepoID: "r2", Path: "main.py", Language: "python"},
		})
		RequireNoError(t, err)
		if len(files) != 4 || files[0].ID != "f-z" || files[0].RepoID != "r1" || files[0].Language != "go" || files[0].UpdatedAt.IsZero() {
			t.Fatalf("upserted %+v", files)
		}

		_, err = st.UpsertFiles(ctx, []stores.CodeFile{{ID: "f-new", RepoID: "r1", Path: "new.go"}, {ID: "f-lost", RepoID: "nosuch", Path: "x.go"}})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = st.UpsertFiles(ctx, []stores.CodeFile{{ID: "f-new", RepoID: "r1", Path: "new.go"}, {ID: "f-a", RepoID: "r2", Path: "a.go"}})
		RequireKind(t, err, stores.ErrConflict)
		got, err := st.FilesByID(ctx, []string{"f-new", "f-a", "nosuch"})
		RequireNoError(t, err)
		if len(got) != 1 || got["f-a"].RepoID != "r1" || got["f-a"].Path != "a.go" {
			t.Fatalf("after refused batches: %+v", got)
		}

		_, err = st.UpsertFiles(ctx, []stores.CodeFile{{ID: "f-a", RepoID: "r1", Path: "renamed.go"}})
		RequireNoError(t, err)
		byRepo, err := st.FilesByRepo(ctx, []string{"r1", "r2", "nosuch"})
		RequireNoError(t, err)
		if got := codeFileIDs(byRepo["r1"]); got != "f-m,f-a,f-z" {
			t.Fatalf("r1 files %q, want them ordered by path (m/b.go, renamed.go, z.go)", got)
		}
		if codeFileIDs(byRepo["r2"]) != "f-other" || byRepo["nosuch"] == nil || len(byRepo["nosuch"]) != 0 || len(byRepo) != 3 {
			t.Fatalf("files by repo %+v", byRepo)
		}

		for _, f := range []stores.CodeFile{
			{ID: "", RepoID: "r1", Path: "p"},
			{ID: "ok", RepoID: "", Path: "p"},
			{ID: "ok", RepoID: "r1", Path: ""},
			{ID: "ok\x01", RepoID: "r1", Path: "p"},
		} {
			_, err := st.UpsertFiles(ctx, []stores.CodeFile{f})
			RequireKind(t, err, stores.ErrInvalid)
		}
		tooMany := make([]stores.CodeFile, stores.MaxCodeBatch+1)
		for i := range tooMany {
			tooMany[i] = stores.CodeFile{ID: fmt.Sprintf("many-%d", i), RepoID: "r1", Path: fmt.Sprintf("%d.go", i)}
		}
		_, err = st.UpsertFiles(ctx, tooMany)
		RequireKind(t, err, stores.ErrInvalid)
		_, err = st.UpsertFiles(ctx, tooMany[:stores.MaxCodeBatch])
		RequireNoError(t, err)
	})

	t.Run("symbols take their repo from their file and stay in their file", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		codeRepo(t, st, "r1")
		codeFile(t, st, "r1", "f1", "a.go")
		codeFile(t, st, "r1", "f2", "b.go")
		syms, err := st.UpsertSymbols(ctx, []stores.CodeSymbol{
			{ID: "s-late", FileID: "f1", RepoID: "bogus", Kind: stores.SymbolFunction, Name: "Late", Signature: "func Late()", StartLine: 30, EndLine: 40},
			{ID: "s-b", FileID: "f1", Kind: stores.SymbolType, Name: "B", StartLine: 10, EndLine: 12},
			{ID: "s-a", FileID: "f1", Kind: stores.SymbolConstant, Name: "A", StartLine: 10, EndLine: 10},
			{ID: "s-other", FileID: "f2", Kind: stores.SymbolMethod, Name: "M"},
		})
		RequireNoError(t, err)
		if len(syms) != 4 || syms[0].RepoID != "r1" || syms[0].Signature != "func Late()" || syms[0].StartLine != 30 || syms[0].EndLine != 40 || syms[0].UpdatedAt.IsZero() {
			t.Fatalf("upserted %+v", syms)
		}
		byID, err := st.SymbolsByID(ctx, []string{"s-late", "nosuch"})
		RequireNoError(t, err)
		if len(byID) != 1 || byID["s-late"].RepoID != "r1" || byID["s-late"].Kind != stores.SymbolFunction || byID["s-late"].FileID != "f1" {
			t.Fatalf("symbols by id %+v", byID)
		}
		byFile, err := st.SymbolsByFile(ctx, []string{"f1", "f2", "nosuch"})
		RequireNoError(t, err)
		if got := codeSymbolIDs(byFile["f1"]); got != "s-a,s-b,s-late" {
			t.Fatalf("f1 symbols %q, want them by start line, then name", got)
		}
		if codeSymbolIDs(byFile["f2"]) != "s-other" || byFile["nosuch"] == nil || len(byFile["nosuch"]) != 0 {
			t.Fatalf("symbols by file %+v", byFile)
		}

		_, err = st.UpsertSymbols(ctx, []stores.CodeSymbol{
			{ID: "s-new", FileID: "f1", Kind: stores.SymbolFunction, Name: "New"},
			{ID: "s-lost", FileID: "nosuch", Kind: stores.SymbolFunction, Name: "Lost"},
		})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = st.UpsertSymbols(ctx, []stores.CodeSymbol{
			{ID: "s-new", FileID: "f1", Kind: stores.SymbolFunction, Name: "New"},
			{ID: "s-a", FileID: "f2", Kind: stores.SymbolConstant, Name: "A"},
		})
		RequireKind(t, err, stores.ErrConflict)
		byID, err = st.SymbolsByID(ctx, []string{"s-new", "s-a"})
		RequireNoError(t, err)
		if len(byID) != 1 || byID["s-a"].FileID != "f1" {
			t.Fatalf("after refused batches: %+v", byID)
		}
		renamed, err := st.UpsertSymbols(ctx, []stores.CodeSymbol{{ID: "s-a", FileID: "f1", Kind: stores.SymbolVariable, Name: "AA", StartLine: 11}})
		RequireNoError(t, err)
		if renamed[0].Name != "AA" || renamed[0].Kind != stores.SymbolVariable {
			t.Fatalf("renamed %+v", renamed)
		}
		for _, s := range []stores.CodeSymbol{
			{ID: "x", FileID: "f1", Kind: "FRIEND", Name: "X"},
			{ID: "x", FileID: "f1", Kind: "", Name: "X"},
			{ID: "x", FileID: "f1", Kind: stores.SymbolFunction, Name: ""},
			{ID: "", FileID: "f1", Kind: stores.SymbolFunction, Name: "X"},
			{ID: "x", FileID: "f1", Kind: stores.SymbolFunction, Name: "X", StartLine: -1},
		} {
			_, err := st.UpsertSymbols(ctx, []stores.CodeSymbol{s})
			RequireKind(t, err, stores.ErrInvalid)
		}
	})

	t.Run("symbols are found by name prefix, kind and repo, paged stably", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		codeRepo(t, st, "r1")
		codeRepo(t, st, "r2")
		codeFile(t, st, "r1", "f1", "a.go")
		codeFile(t, st, "r2", "f2", "b.go")
		codeSymbols(t, st, "f1",
			stores.CodeSymbol{ID: "1", Kind: stores.SymbolType, Name: "Handler"},
			stores.CodeSymbol{ID: "2", Kind: stores.SymbolFunction, Name: "handleRequest"},
			stores.CodeSymbol{ID: "3", Kind: stores.SymbolFunction, Name: "HandleFunc"},
			stores.CodeSymbol{ID: "4", Kind: stores.SymbolFunction, Name: "parse"},
		)
		codeSymbols(t, st, "f2",
			stores.CodeSymbol{ID: "5", Kind: stores.SymbolFunction, Name: "HandleFunc"},
			stores.CodeSymbol{ID: "6", Kind: stores.SymbolClass, Name: "Hand"},
		)
		cases := []struct {
			q    stores.SymbolQuery
			want string
		}{
			{stores.SymbolQuery{}, "6,3,5,1,2,4"},
			{stores.SymbolQuery{Name: "HAND"}, "6,3,5,1,2"},
			{stores.SymbolQuery{Name: "handlef"}, "3,5"},
			{stores.SymbolQuery{Name: "hand", Kind: stores.SymbolFunction}, "3,5,2"},
			{stores.SymbolQuery{Name: "hand", RepoID: "r2"}, "6,5"},
			{stores.SymbolQuery{Kind: stores.SymbolFunction, RepoID: "r1"}, "3,2,4"},
			{stores.SymbolQuery{Name: "zzz"}, ""},
			{stores.SymbolQuery{RepoID: "nosuch"}, ""},
		}
		for _, c := range cases {
			page, err := st.FindSymbols(ctx, c.q, stores.PageArgs{First: 10})
			RequireNoError(t, err)
			if got := codeSymbolIDs(page.Items); got != c.want {
				t.Fatalf("find %+v: %q, want %q", c.q, got, c.want)
			}
			if page.Items == nil || page.HasNextPage {
				t.Fatalf("find %+v: items %#v, next %v", c.q, page.Items, page.HasNextPage)
			}
			if n, err := st.CountSymbols(ctx, c.q); err != nil || n != len(page.Items) {
				t.Fatalf("count %+v: %d, %v; want %d", c.q, n, err, len(page.Items))
			}
		}

		q := stores.SymbolQuery{Name: "h"}
		first, err := st.FindSymbols(ctx, q, stores.PageArgs{First: 2})
		RequireNoError(t, err)
		if codeSymbolIDs(first.Items) != "6,3" || !first.HasNextPage {
			t.Fatalf("first page %q", codeSymbolIDs(first.Items))
		}
		// Inserted before the cursor (not seen again) and after it (seen).
		codeSymbols(t, st, "f1",
			stores.CodeSymbol{ID: "0", Kind: stores.SymbolFunction, Name: "H"},
			stores.CodeSymbol{ID: "7", Kind: stores.SymbolFunction, Name: "hz"},
		)
		seen := []string{"6", "3"}
		after := first.Cursors[1]
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			page, err := st.FindSymbols(ctx, q, stores.PageArgs{First: 2, After: after})
			RequireNoError(t, err)
			for _, s := range page.Items {
				seen = append(seen, s.ID)
			}
			if !page.HasNextPage {
				break
			}
			after = page.Cursors[len(page.Cursors)-1]
		}
		if got := strings.Join(seen, ","); got != "6,3,5,1,2,7" {
			t.Fatalf("walked %q, want 6,3,5,1,2,7", got)
		}
		// Every match counts, 0 (inserted before the cursor) included.
		if n, err := st.CountSymbols(ctx, q); err != nil || n != len(seen)+1 {
			t.Fatalf("CountSymbols(%+v) = %d, %v; want %d", q, n, err, len(seen)+1)
		}

		_, err = st.FindSymbols(ctx, stores.SymbolQuery{Kind: "FRIEND"}, stores.PageArgs{First: 2})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = st.CountSymbols(ctx, stores.SymbolQuery{Kind: "FRIEND"})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = st.FindSymbols(ctx, q, stores.PageArgs{First: 2, After: "!!!"})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("edges are idempotent and need existing endpoints", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		codeGraphFixture(t, st)
		RequireNoError(t, st.AddEdges(ctx, []stores.Edge{{FromID: "a", ToID: "b", Kind: stores.EdgeCalls}}))
		RequireNoError(t, st.AddEdges(ctx, nil))
		err := st.AddEdges(ctx, []stores.Edge{{FromID: "b", ToID: "e", Kind: stores.EdgeCalls}, {FromID: "b", ToID: "nosuch", Kind: stores.EdgeCalls}})
		RequireKind(t, err, stores.ErrNotFound)
		err = st.AddEdges(ctx, []stores.Edge{{FromID: "b", ToID: "e", Kind: stores.EdgeCalls}, {FromID: "nosuch", ToID: "a", Kind: stores.EdgeCalls}})
		RequireKind(t, err, stores.ErrNotFound)
		err = st.AddEdges(ctx, []stores.Edge{{FromID: "b", ToID: "e", Kind: stores.EdgeCalls}, {FromID: "a", ToID: "e", Kind: "USES"}})
		RequireKind(t, err, stores.ErrInvalid)
		got := codeTraverse(t, st, "a", stores.Dependencies, nil, 1)
		if got != "b:CALLS:1,c:IMPORTS:1" {
			t.Fatalf("a's dependencies %q: an edge is duplicated or a refused batch left one", got)
		}
		if got := codeTraverse(t, st, "b", stores.Dependencies, nil, 1); got != "d:CALLS:1" {
			t.Fatalf("b's dependencies %q, want d only", got)
		}
	})

	t.Run("traversal walks breadth first within the depth, cycle-safe", func(t *testing.T) {
		st := setup(t)
		ctx := Ctx(t)
		codeGraphFixture(t, st)
		cases := []struct {
			start string
			dir   stores.Direction
			kinds []stores.EdgeKind
			depth int
			want  string
		}{
			{"a", stores.Dependencies, nil, 1, "b:CALLS:1,c:IMPORTS:1"},
			{"a", stores.Dependencies, nil, 2, "b:CALLS:1,c:IMPORTS:1,d:CALLS:2"},
			{"a", stores.Dependencies, nil, 3, "b:CALLS:1,c:IMPORTS:1,d:CALLS:2,e:INHERITS:3"},
			{"a", stores.Dependencies, nil, stores.MaxTraversalDepth, "b:CALLS:1,c:IMPORTS:1,d:CALLS:2,e:INHERITS:3"},
			{"a", stores.Dependencies, []stores.EdgeKind{stores.EdgeCalls}, stores.MaxTraversalDepth, "b:CALLS:1,d:CALLS:2"},
			{"a", stores.Dependencies, []stores.EdgeKind{stores.EdgeImports, stores.EdgeInherits}, 3, "c:IMPORTS:1"},
			{"d", stores.Dependents, nil, 1, "b:CALLS:1,c:CALLS:1"},
			{"d", stores.Dependents, []stores.EdgeKind{stores.EdgeCalls}, stores.MaxTraversalDepth, "b:CALLS:1,c:CALLS:1,a:CALLS:2,e:CALLS:3"},
			{"b", stores.Dependents, nil, stores.MaxTraversalDepth, "a:CALLS:1,e:CALLS:2,d:INHERITS:3,c:CALLS:4"},
			{"e", stores.Dependencies, nil, stores.MaxTraversalDepth, "a:CALLS:1,b:CALLS:2,c:IMPORTS:2,d:CALLS:3"},
			{"lonely", stores.Dependencies, nil, 3, ""},
			{"nosuch", stores.Dependents, nil, 3, ""},
		}
		for _, c := range cases {
			if got := codeTraverse(t, st, c.start, c.dir, c.kinds, c.depth); got != c.want {
				t.Fatalf("traverse %s %s %v depth %d: %q, want %q", c.start, c.dir, c.kinds, c.depth, got, c.want)
			}
		}
		res, err := st.Traverse(ctx, []string{"a", "nosuch", "d"}, stores.Dependencies, nil, 1)
		RequireNoError(t, err)
		if len(res) != 3 || res["nosuch"] == nil || len(res["nosuch"]) != 0 || len(res["a"]) != 2 || len(res["d"]) != 1 {
			t.Fatalf("traverse of several ids %+v", res)
		}
		dep := res["d"][0]
		if dep.Symbol.ID != "e" || dep.Symbol.Name != "E" || dep.Symbol.FileID != "f2" || dep.Symbol.RepoID != "r1" || dep.Symbol.Kind != stores.SymbolClass {
			t.Fatalf("dependency symbol %+v", dep.Symbol)
		}
		for _, depth := range []int{0, -1, 1000} {
			_, err := st.Traverse(ctx, []string{"a"}, stores.Dependencies, nil, depth)
			RequireKind(t, err, stores.ErrInvalid)
		}
		_, err = st.Traverse(ctx, []string{"a"}, "SIDEWAYS", nil, 1)
		RequireKind(t, err, stores.ErrInvalid)
		_, err = st.Traverse(ctx, []string{"a"}, stores.Dependencies, []stores.EdgeKind{"USES"}, 1)
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("another org's code graph is not found by any operation", func(t *testing.T) {
		h := newHarness(t)
		ctx := Ctx(t)
		mine := h.Bundle(t, NewTenant()).CodeGraph
		theirs := h.Bundle(t, NewTenant()).CodeGraph
		codeGraphFixture(t, mine)
		before := codeTraverse(t, mine, "a", stores.Dependencies, nil, stores.MaxTraversalDepth)

		repos, err := theirs.ReposByID(ctx, []string{"r1"})
		RequireNoError(t, err)
		files, err := theirs.FilesByID(ctx, []string{"f1", "f2"})
		RequireNoError(t, err)
		syms, err := theirs.SymbolsByID(ctx, []string{"a", "b"})
		RequireNoError(t, err)
		if len(repos)+len(files)+len(syms) != 0 {
			t.Fatalf("they see repos %v, files %v, symbols %v", repos, files, syms)
		}
		list, err := theirs.ListRepos(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		found, err := theirs.FindSymbols(ctx, stores.SymbolQuery{}, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if list.Items == nil || len(list.Items) != 0 || found.Items == nil || len(found.Items) != 0 {
			t.Fatalf("they list repos %+v and symbols %+v", list.Items, found.Items)
		}
		repoCount, err := theirs.CountRepos(ctx)
		RequireNoError(t, err)
		symbolCount, err := theirs.CountSymbols(ctx, stores.SymbolQuery{})
		RequireNoError(t, err)
		if repoCount != 0 || symbolCount != 0 {
			t.Fatalf("they count %d repos and %d symbols of mine", repoCount, symbolCount)
		}
		if n, err := mine.CountSymbols(ctx, stores.SymbolQuery{}); err != nil || n == 0 {
			t.Fatalf("my own symbols count %d, %v", n, err)
		}
		byRepo, err := theirs.FilesByRepo(ctx, []string{"r1"})
		RequireNoError(t, err)
		byFile, err := theirs.SymbolsByFile(ctx, []string{"f1"})
		RequireNoError(t, err)
		trav, err := theirs.Traverse(ctx, []string{"a", "d"}, stores.Dependencies, nil, 2)
		RequireNoError(t, err)
		if byRepo["r1"] == nil || len(byRepo["r1"]) != 0 || byFile["f1"] == nil || len(byFile["f1"]) != 0 || len(trav["a"]) != 0 || len(trav["d"]) != 0 || trav["a"] == nil {
			t.Fatalf("they see files %+v, symbols %+v, dependencies %+v", byRepo, byFile, trav)
		}

		_, err = theirs.UpsertFiles(ctx, []stores.CodeFile{{ID: "intruder", RepoID: "r1", Path: "x.go"}})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = theirs.UpsertSymbols(ctx, []stores.CodeSymbol{{ID: "intruder", FileID: "f1", Kind: stores.SymbolFunction, Name: "X"}})
		RequireKind(t, err, stores.ErrNotFound)
		RequireKind(t, theirs.AddEdges(ctx, []stores.Edge{{FromID: "a", ToID: "lonely", Kind: stores.EdgeCalls}}), stores.ErrNotFound)

		// The same ids in their org are their own nodes.
		_, err = theirs.UpsertRepo(ctx, stores.CodeRepo{ID: "r1", Name: "their repo"})
		RequireNoError(t, err)
		_, err = theirs.UpsertFiles(ctx, []stores.CodeFile{{ID: "f1", RepoID: "r1", Path: "theirs.go"}})
		RequireNoError(t, err)
		codeSymbols(t, theirs, "f1",
			stores.CodeSymbol{ID: "a", Kind: stores.SymbolFunction, Name: "TheirA"},
			stores.CodeSymbol{ID: "z", Kind: stores.SymbolFunction, Name: "Z"},
		)
		RequireNoError(t, theirs.AddEdges(ctx, []stores.Edge{{FromID: "a", ToID: "z", Kind: stores.EdgeCalls}, {FromID: "z", ToID: "a", Kind: stores.EdgeInherits}}))
		// An edge to a node only my org has is refused for them.
		RequireKind(t, theirs.AddEdges(ctx, []stores.Edge{{FromID: "a", ToID: "b", Kind: stores.EdgeCalls}}), stores.ErrNotFound)
		if got := codeTraverse(t, theirs, "a", stores.Dependencies, nil, stores.MaxTraversalDepth); got != "z:CALLS:1" {
			t.Fatalf("their traversal %q, want z only", got)
		}

		if got := codeTraverse(t, mine, "a", stores.Dependencies, nil, stores.MaxTraversalDepth); got != before {
			t.Fatalf("my traversal changed from %q to %q", before, got)
		}
		myRepos, err := mine.ReposByID(ctx, []string{"r1"})
		RequireNoError(t, err)
		myFiles, err := mine.FilesByID(ctx, []string{"f1", "intruder"})
		RequireNoError(t, err)
		mySyms, err := mine.SymbolsByID(ctx, []string{"a", "z", "intruder"})
		RequireNoError(t, err)
		if myRepos["r1"].Name != "repo r1" || len(myFiles) != 1 || myFiles["f1"].Path != "a.go" || len(mySyms) != 1 || mySyms["a"].Name != "A" {
			t.Fatalf("my graph changed: repos %+v, files %+v, symbols %+v", myRepos, myFiles, mySyms)
		}
		myFound, err := mine.FindSymbols(ctx, stores.SymbolQuery{}, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		if got := codeSymbolIDs(myFound.Items); got != "a,b,c,d,e,lonely" {
			t.Fatalf("my symbols %q", got)
		}
		myByRepo, err := mine.FilesByRepo(ctx, []string{"r1"})
		RequireNoError(t, err)
		if codeFileIDs(myByRepo["r1"]) != "f1,f2" {
			t.Fatalf("my files %q", codeFileIDs(myByRepo["r1"]))
		}
	})
}

// codeGraphFixture builds repo r1 with files f1 and f2 and the graph
//
//	a -CALLS-> b -CALLS-> d -INHERITS-> e -CALLS-> a
//	a -IMPORTS-> c -CALLS-> d
//
// plus a symbol "lonely" without edges.
func codeGraphFixture(t *testing.T, st stores.CodeGraphStore) {
	t.Helper()
	codeRepo(t, st, "r1")
	codeFile(t, st, "r1", "f1", "a.go")
	codeFile(t, st, "r1", "f2", "b.go")
	codeSymbols(t, st, "f1",
		stores.CodeSymbol{ID: "a", Kind: stores.SymbolFunction, Name: "A"},
		stores.CodeSymbol{ID: "b", Kind: stores.SymbolFunction, Name: "B"},
		stores.CodeSymbol{ID: "c", Kind: stores.SymbolModule, Name: "C"},
	)
	codeSymbols(t, st, "f2",
		stores.CodeSymbol{ID: "d", Kind: stores.SymbolInterface, Name: "D"},
		stores.CodeSymbol{ID: "e", Kind: stores.SymbolClass, Name: "E"},
		stores.CodeSymbol{ID: "lonely", Kind: stores.SymbolVariable, Name: "Lonely"},
	)
	RequireNoError(t, st.AddEdges(Ctx(t), []stores.Edge{
		{FromID: "a", ToID: "b", Kind: stores.EdgeCalls},
		{FromID: "a", ToID: "c", Kind: stores.EdgeImports},
		{FromID: "b", ToID: "d", Kind: stores.EdgeCalls},
		{FromID: "c", ToID: "d", Kind: stores.EdgeCalls},
		{FromID: "d", ToID: "e", Kind: stores.EdgeInherits},
		{FromID: "e", ToID: "a", Kind: stores.EdgeCalls},
		{FromID: "a", ToID: "b", Kind: stores.EdgeCalls}, // a duplicate in the batch
	}))
}

// codeRepo upserts a repo named "repo <id>".
func codeRepo(t *testing.T, st stores.CodeGraphStore, id string) {
	t.Helper()
	_, err := st.UpsertRepo(Ctx(t), stores.CodeRepo{ID: id, Name: "repo " + id})
	RequireNoError(t, err)
}

func codeFile(t *testing.T, st stores.CodeGraphStore, repo, id, path string) {
	t.Helper()
	_, err := st.UpsertFiles(Ctx(t), []stores.CodeFile{{ID: id, RepoID: repo, Path: path}})
	RequireNoError(t, err)
}

func codeSymbols(t *testing.T, st stores.CodeGraphStore, file string, syms ...stores.CodeSymbol) {
	t.Helper()
	for i := range syms {
		syms[i].FileID = file
	}
	_, err := st.UpsertSymbols(Ctx(t), syms)
	RequireNoError(t, err)
}

// codeTraverse renders one start's traversal as "id:KIND:depth,..." in order.
func codeTraverse(t *testing.T, st stores.CodeGraphStore, start string, dir stores.Direction, kinds []stores.EdgeKind, depth int) string {
	t.Helper()
	res, err := st.Traverse(Ctx(t), []string{start}, dir, kinds, depth)
	RequireNoError(t, err)
	deps, ok := res[start]
	if !ok || deps == nil {
		t.Fatalf("traverse of %s has no (non-nil) entry for it: %#v", start, res)
	}
	parts := make([]string, len(deps))
	for i, d := range deps {
		parts[i] = fmt.Sprintf("%s:%s:%d", d.Symbol.ID, d.Kind, d.Depth)
	}
	// Guard against a store that returns nearest first but not by id.
	if !sort.SliceIsSorted(deps, func(i, j int) bool {
		if deps[i].Depth != deps[j].Depth {
			return deps[i].Depth < deps[j].Depth
		}
		return deps[i].Symbol.ID < deps[j].Symbol.ID
	}) {
		t.Fatalf("traversal of %s not ordered by depth, then id: %v", start, parts)
	}
	return strings.Join(parts, ",")
}

func codeRepoIDs(repos []stores.CodeRepo) string {
	ids := make([]string, len(repos))
	for i, r := range repos {
		ids[i] = r.ID
	}
	return strings.Join(ids, ",")
}

func codeFileIDs(files []stores.CodeFile) string {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.ID
	}
	return strings.Join(ids, ",")
}

func codeSymbolIDs(syms []stores.CodeSymbol) string {
	ids := make([]string, len(syms))
	for i, s := range syms {
		ids[i] = s.ID
	}
	return strings.Join(ids, ",")
}
