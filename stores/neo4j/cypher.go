package neo4j

// Every Cypher statement the code-graph store runs. They are constants so that
// no input can ever become Cypher: values travel as parameters only. Every
// data statement binds $org_id and matches it on every node it touches, and
// cypher_test.go fails the build's tests if one does not.

// Schema statements, run idempotently at start-up. Schema commands take no
// parameters and touch no data, so they are the one place without $org_id.
// Community edition supports node uniqueness constraints (composite ones
// included) and range indexes; node keys and existence constraints are
// Enterprise-only, so none are used.
const (
	schemaRepoKey = `CREATE CONSTRAINT code_repo_org_id_id IF NOT EXISTS
FOR (n:CODE_REPO) REQUIRE (n.org_id, n.id) IS UNIQUE`
	schemaFileKey = `CREATE CONSTRAINT code_file_org_id_id IF NOT EXISTS
FOR (n:CODE_FILE) REQUIRE (n.org_id, n.id) IS UNIQUE`
	schemaSymbolKey = `CREATE CONSTRAINT code_symbol_org_id_id IF NOT EXISTS
FOR (n:CODE_SYMBOL) REQUIRE (n.org_id, n.id) IS UNIQUE`
	schemaSymbolNameLower = `CREATE INDEX code_symbol_org_id_name_lower IF NOT EXISTS
FOR (n:CODE_SYMBOL) ON (n.org_id, n.name_lower)`
	schemaSymbolName = `CREATE INDEX code_symbol_org_id_name IF NOT EXISTS
FOR (n:CODE_SYMBOL) ON (n.org_id, n.name)`
	schemaRepoName = `CREATE INDEX code_repo_org_id_name IF NOT EXISTS
FOR (n:CODE_REPO) ON (n.org_id, n.name)`
)

// schemaStatements lists the schema in the order it is created.
var schemaStatements = []string{schemaRepoKey, schemaFileKey, schemaSymbolKey, schemaSymbolNameLower, schemaSymbolName, schemaRepoName}

// Projections shared by the statements that return nodes. They are
// constant fragments joined to constants at compile time, never input.
const (
	repoFields   = `{.id, .name, .url, .created_at, .updated_at}`
	fileFields   = `{.id, .repo_id, .path, .language, .updated_at}`
	symbolFields = `{.id, .repo_id, .file_id, .kind, .name, .signature, .start_line, .end_line, .updated_at}`
)

// Repos.
const (
	cypherUpsertRepo = `MERGE (r:CODE_REPO {org_id: $org_id, id: $id})
ON CREATE SET r.created_at = $now
SET r.name = $name, r.url = $url, r.updated_at = $now
RETURN r ` + repoFields + ` AS item`

	cypherReposByID = `UNWIND $ids AS id
MATCH (r:CODE_REPO {org_id: $org_id, id: id})
RETURN r ` + repoFields + ` AS item`

	// The empty cursor id sorts before every id (ids are never empty).
	cypherListRepos = `MATCH (r:CODE_REPO {org_id: $org_id})
WHERE r.id > $after_id
RETURN r ` + repoFields + ` AS item
ORDER BY r.id
LIMIT $limit`

	cypherCountRepos = `MATCH (r:CODE_REPO {org_id: $org_id})
RETURN count(r) AS n`
)

// Files. The write keeps a file in the repo that first created it: a row
// whose file already belongs to another repo is filtered out, so it returns
// fewer rows than it was given and the caller rolls the transaction back. This holds
// under concurrency too, because MERGE on a uniquely constrained node locks it.
const (
	cypherUpsertFiles = `UNWIND $files AS f
MATCH (r:CODE_REPO {org_id: $org_id, id: f.repo_id})
MERGE (file:CODE_FILE {org_id: $org_id, id: f.id})
ON CREATE SET file.repo_id = f.repo_id
WITH f, r, file
WHERE file.repo_id = f.repo_id
SET file.path = f.path, file.language = f.language, file.updated_at = $now
MERGE (r)-[:CONTAINS]->(file)
RETURN f.i AS i`

	// Explains, row by row, why cypherUpsertFiles wrote fewer rows than it was given.
	cypherCheckFiles = `UNWIND $files AS f
OPTIONAL MATCH (r:CODE_REPO {org_id: $org_id, id: f.repo_id})
OPTIONAL MATCH (file:CODE_FILE {org_id: $org_id, id: f.id})
RETURN f.i AS i, r IS NOT NULL AS parent_found, file.repo_id AS owner`

	cypherFilesByRepo = `UNWIND $ids AS key
MATCH (r:CODE_REPO {org_id: $org_id, id: key})-[:CONTAINS]->(file:CODE_FILE {org_id: $org_id})
RETURN key, file ` + fileFields + ` AS item
ORDER BY item.path, item.id`

	cypherFilesByID = `UNWIND $ids AS id
MATCH (file:CODE_FILE {org_id: $org_id, id: id})
RETURN file ` + fileFields + ` AS item`
)

// Symbols, written like files: a symbol stays in the file that defined it.
const (
	cypherUpsertSymbols = `UNWIND $symbols AS s
MATCH (file:CODE_FILE {org_id: $org_id, id: s.file_id})
MERGE (sym:CODE_SYMBOL {org_id: $org_id, id: s.id})
ON CREATE SET sym.file_id = s.file_id
WITH s, file, sym
WHERE sym.file_id = s.file_id
SET sym.repo_id = file.repo_id, sym.kind = s.kind, sym.name = s.name, sym.name_lower = s.name_lower,
    sym.signature = s.signature, sym.start_line = s.start_line, sym.end_line = s.end_line, sym.updated_at = $now
MERGE (file)-[:DEFINES]->(sym)
RETURN s.i AS i, sym.repo_id AS repo_id`

	// Explains, row by row, why cypherUpsertSymbols wrote fewer rows than it was given.
	cypherCheckSymbols = `UNWIND $symbols AS s
OPTIONAL MATCH (file:CODE_FILE {org_id: $org_id, id: s.file_id})
OPTIONAL MATCH (sym:CODE_SYMBOL {org_id: $org_id, id: s.id})
RETURN s.i AS i, file IS NOT NULL AS parent_found, sym.file_id AS owner`

	cypherSymbolsByFile = `UNWIND $ids AS key
MATCH (file:CODE_FILE {org_id: $org_id, id: key})-[:DEFINES]->(sym:CODE_SYMBOL {org_id: $org_id})
RETURN key, sym ` + symbolFields + ` AS item
ORDER BY item.start_line, item.name, item.id`

	cypherSymbolsByID = `UNWIND $ids AS id
MATCH (sym:CODE_SYMBOL {org_id: $org_id, id: id})
RETURN sym ` + symbolFields + ` AS item`

	// Empty filters match everything: every lowered name starts with "",
	// and every name sorts after the empty cursor name.
	cypherFindSymbols = `MATCH (sym:CODE_SYMBOL {org_id: $org_id})` + symbolFilter + `
  AND (sym.name > $after_name OR (sym.name = $after_name AND sym.id > $after_id))
RETURN sym ` + symbolFields + ` AS item
ORDER BY sym.name, sym.id
LIMIT $limit`

	cypherCountSymbols = `MATCH (sym:CODE_SYMBOL {org_id: $org_id})` + symbolFilter + `
RETURN count(sym) AS n`

	// The filter of a symbol search: $prefix (lowered), $kind and $repo_id.
	symbolFilter = `
WHERE sym.name_lower STARTS WITH $prefix
  AND ($kind = '' OR sym.kind = $kind)
  AND ($repo_id = '' OR sym.repo_id = $repo_id)`
)

// Edges. Relationship types cannot be parameters, so each kind has its own
// MERGE behind a FOREACH that runs only for rows of that kind.
const (
	cypherAddEdges = `UNWIND $edges AS e
MATCH (a:CODE_SYMBOL {org_id: $org_id, id: e.from})
MATCH (b:CODE_SYMBOL {org_id: $org_id, id: e.to})
FOREACH (_ IN CASE WHEN e.kind = 'CALLS' THEN [1] ELSE [] END | MERGE (a)-[:CALLS]->(b))
FOREACH (_ IN CASE WHEN e.kind = 'IMPORTS' THEN [1] ELSE [] END | MERGE (a)-[:IMPORTS]->(b))
FOREACH (_ IN CASE WHEN e.kind = 'INHERITS' THEN [1] ELSE [] END | MERGE (a)-[:INHERITS]->(b))
RETURN e.i AS i`

	// Explains, edge by edge, why cypherAddEdges wrote fewer rows than it was given.
	cypherCheckEdges = `UNWIND $edges AS e
OPTIONAL MATCH (a:CODE_SYMBOL {org_id: $org_id, id: e.from})
OPTIONAL MATCH (b:CODE_SYMBOL {org_id: $org_id, id: e.to})
RETURN e.i AS i, a IS NOT NULL AS from_found, b IS NOT NULL AS to_found`
)

// Traversal, one hop per statement: the store walks breadth first, one
// statement per level for all start symbols at once. Both ends of every hop
// carry the org, so a relationship created by mistake across orgs leads
// nowhere.
const (
	cypherStepForward = `UNWIND $ids AS key
MATCH (a:CODE_SYMBOL {org_id: $org_id, id: key})-[r:CALLS|IMPORTS|INHERITS]->(b:CODE_SYMBOL {org_id: $org_id})
WHERE type(r) IN $kinds
RETURN key, type(r) AS kind, b ` + symbolFields + ` AS item`

	cypherStepBackward = `UNWIND $ids AS key
MATCH (a:CODE_SYMBOL {org_id: $org_id, id: key})<-[r:CALLS|IMPORTS|INHERITS]-(b:CODE_SYMBOL {org_id: $org_id})
WHERE type(r) IN $kinds
RETURN key, type(r) AS kind, b ` + symbolFields + ` AS item`
)
