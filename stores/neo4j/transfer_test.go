package neo4j

import (
	"slices"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestExportPagesWalkTheWholeGraphOfOneOrg reads a graph in pages smaller
// than it, edges included (a page of edges ends with a symbol, whatever its
// out-degree), and finds exactly what was written, nothing of another org.
func TestExportPagesWalkTheWholeGraphOfOneOrg(t *testing.T) {
	st, tenant := store(t)
	graph(t, st, map[string][]string{"f1": {"a", "b", "c"}, "f2": {"d", "e"}}, "a>b", "a>c", "a>d", "a>e", "c>a", "e>d")
	other, _ := store(t)
	graph(t, other, map[string][]string{"f1": {"a", "x"}}, "a>x")
	b := testBackend(t)
	ctx := storetest.Ctx(t)

	walk := func(kind CodeGraphKind) []string {
		t.Helper()
		var out []string
		after := ""
		for range 20 {
			page, err := b.ExportPage(ctx, tenant.OrgID, kind, after, 2)
			storetest.RequireNoError(t, err)
			for _, r := range page.Repos {
				out = append(out, r.ID)
			}
			for _, f := range page.Files {
				out = append(out, f.ID+"@"+f.RepoID)
			}
			for _, s := range page.Symbols {
				out = append(out, s.ID+"@"+s.FileID)
			}
			for _, e := range page.Edges {
				out = append(out, e.FromID+">"+e.ToID)
			}
			if page.Next == "" {
				return out
			}
			after = page.Next
		}
		t.Fatal("the pages never end")
		return nil
	}
	for _, c := range []struct {
		kind CodeGraphKind
		want string
	}{
		{ExportRepos, "r"},
		{ExportFiles, "f1@r f2@r"},
		{ExportSymbols, "a@f1 b@f1 c@f1 d@f2 e@f2"},
		{ExportEdges, "a>b a>c a>d a>e c>a e>d"},
	} {
		got := walk(c.kind)
		slices.Sort(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("kind %d: pages hold %v, want %s", c.kind, got, c.want)
		}
	}
}
