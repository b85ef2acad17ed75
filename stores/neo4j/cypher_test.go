package neo4j

import (
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"strings"
	"testing"
)

// cypherConstants evaluates every string constant declared in cypher.go, so
// the check below sees each statement exactly as the server does.
func cypherConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "cypher.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	// cypher.go refers to nothing outside itself, so it type-checks alone.
	if _, err := conf.Check("neo4j", fset, []*ast.File{file}, info); err != nil {
		t.Fatalf("cypher.go must stand alone (constants only): %v", err)
	}
	out := map[string]string{}
	for ident, obj := range info.Defs {
		if c, ok := obj.(*types.Const); ok && c.Val().Kind() == constant.String && c.Parent() == c.Pkg().Scope() {
			out[ident.Name] = constant.StringVal(c.Val())
		}
	}
	return out
}

var (
	// A node pattern: an optional variable, optional labels, an optional
	// property map, and nothing else between the parentheses. A function call
	// (`count(x)`) is excluded by the word character before its parenthesis.
	nodePattern = regexp.MustCompile(`(?:^|[^\w])\(\s*([A-Za-z_]\w*)?\s*((?::\s*[A-Za-z_]\w*\s*(?:[|&]\s*[A-Za-z_]\w*\s*)*)?)(\{[^{}]*\})?\s*\)`)
	orgInMap    = regexp.MustCompile(`\borg_id\s*:\s*\$org_id\b`)
	varLength   = regexp.MustCompile(`\[[^\]]*\*[^\]]*\]`)
)

// orgViolations lists the node patterns of one statement that are not bound
// to $org_id: every labelled or property-matched node must carry
// `org_id: $org_id` (or a `var.org_id = $org_id` predicate), and a bare
// `(var)` must name a node bound so earlier in the statement. A
// variable-length pattern must check every node of its path.
func orgViolations(stmt string) []string {
	var bad []string
	if !strings.Contains(stmt, "$org_id") {
		bad = append(bad, "does not bind $org_id")
	}
	bound := map[string]bool{}
	for _, m := range nodePattern.FindAllStringSubmatch(stmt, -1) {
		variable, labels, props := m[1], strings.TrimSpace(m[2]), m[3]
		switch {
		case orgInMap.MatchString(props):
			bound[variable] = variable != ""
		case variable != "" && regexp.MustCompile(`\b`+variable+`\.org_id\s*=\s*\$org_id\b`).MatchString(stmt):
			bound[variable] = true
		case labels == "" && props == "" && bound[variable]:
			// A reference to a node already matched within the org.
		default:
			bad = append(bad, "node pattern "+strings.TrimSpace(m[0])+" is not bound to $org_id")
		}
	}
	if varLength.MatchString(stmt) && !regexp.MustCompile(`all\(\s*(\w+)\s+IN\s+nodes\(\w+\)\s+WHERE\s+\w+\.org_id\s*=\s*\$org_id\s*\)`).MatchString(stmt) {
		bad = append(bad, "a variable-length pattern without all(n IN nodes(p) WHERE n.org_id = $org_id)")
	}
	return bad
}

func TestEveryStatementMatchesTheOrgOnEveryNode(t *testing.T) {
	consts := cypherConstants(t)
	schema := map[string]bool{}
	for _, stmt := range schemaStatements {
		schema[stmt] = true
	}
	checked := 0
	for name, stmt := range consts {
		if !strings.HasPrefix(name, "cypher") {
			// Schema commands take no parameters and touch no data; fragments
			// (projections) are checked inside the statements that use them.
			if strings.HasPrefix(name, "schema") && !schema[stmt] {
				t.Errorf("%s is not in schemaStatements, so it is never created", name)
			}
			continue
		}
		checked++
		for _, v := range orgViolations(stmt) {
			t.Errorf("%s: %s", name, v)
		}
	}
	if checked < 15 {
		t.Fatalf("only %d statements found in cypher.go: the parser missed some", checked)
	}
}

// The checker itself must catch what it is there to catch.
func TestTheOrgCheckRefusesStatementsThatEscapeTheOrg(t *testing.T) {
	cases := []struct{ name, stmt string }{
		{"no org parameter", `MATCH (n:CODE_SYMBOL {id: $id}) RETURN n`},
		{"one node without the org", `MATCH (a:CODE_SYMBOL {org_id: $org_id, id: $id})-[:CALLS]->(b:CODE_SYMBOL) RETURN b`},
		{"an anonymous node", `MATCH (a:CODE_SYMBOL {org_id: $org_id})-[:CALLS]->() RETURN a`},
		{"an unbound bare variable", `MATCH (a:CODE_SYMBOL {org_id: $org_id})-[:CALLS]->(b) RETURN b`},
		{"org matched as a literal", `MATCH (a:CODE_SYMBOL {org_id: 'x'}) WHERE $org_id = 1 RETURN a`},
		{"a variable-length path unchecked", `MATCH p = (a:CODE_SYMBOL {org_id: $org_id})-[*1..3]->(b:CODE_SYMBOL {org_id: $org_id}) RETURN b`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(orgViolations(c.stmt)) == 0 {
				t.Fatalf("accepted %q", c.stmt)
			}
		})
	}
	good := `MATCH p = (a:CODE_SYMBOL {org_id: $org_id})-[*1..3]->(b) WHERE b.org_id = $org_id AND all(n IN nodes(p) WHERE n.org_id = $org_id) RETURN count(b)`
	if v := orgViolations(good); len(v) != 0 {
		t.Fatalf("refused a bound statement: %v", v)
	}
}
