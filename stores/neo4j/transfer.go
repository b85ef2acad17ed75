package neo4j

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/codingbrain/gateway/stores"
)

// Keyset pages over one org's code graph, for tenant export: each statement
// returns at most $limit nodes after $after_id in id order, so an export
// holds one page at a time whatever the size of the graph.
const (
	cypherPageRepos = `MATCH (r:CODE_REPO {org_id: $org_id})
WHERE r.id > $after_id
RETURN r ` + repoFields + ` AS item
ORDER BY r.id
LIMIT $limit`

	cypherPageFiles = `MATCH (f:CODE_FILE {org_id: $org_id})
WHERE f.id > $after_id
RETURN f ` + fileFields + ` AS item
ORDER BY f.id
LIMIT $limit`

	cypherPageSymbols = `MATCH (s:CODE_SYMBOL {org_id: $org_id})
WHERE s.id > $after_id
RETURN s ` + symbolFields + ` AS item
ORDER BY s.id
LIMIT $limit`

	// The edges leaving a page of symbols; a symbol without edges still
	// comes back once (with a null kind) so that the page's last id moves on.
	cypherPageEdges = `MATCH (a:CODE_SYMBOL {org_id: $org_id})
WHERE a.id > $after_id
WITH a ORDER BY a.id LIMIT $limit
OPTIONAL MATCH (a)-[e:CALLS|IMPORTS|INHERITS]->(b:CODE_SYMBOL {org_id: $org_id})
RETURN a.id AS from, type(e) AS kind, b.id AS to
ORDER BY from, kind, to`
)

// CodePage is one page of an org's code graph nodes or edges. Next is the
// id to pass as after for the following page, empty after the last one.
type CodePage struct {
	Repos   []stores.CodeRepo
	Files   []stores.CodeFile
	Symbols []stores.CodeSymbol
	Edges   []stores.Edge
	Next    string
}

// CodeGraphKind names what a page of ExportPage holds.
type CodeGraphKind int

// The kinds of ExportPage, in the order an import must write them: a file
// needs its repo, a symbol its file, an edge both symbols.
const (
	ExportRepos CodeGraphKind = iota
	ExportFiles
	ExportSymbols
	ExportEdges
)

// ExportPage reads one page of org's repos, files, symbols or edges (the
// edges leaving up to limit symbols) after the id after ("" for the first).
func (b *CodeGraphBackend) ExportPage(ctx context.Context, org uuid.UUID, kind CodeGraphKind, after string, limit int) (CodePage, error) {
	cypher := [...]string{cypherPageRepos, cypherPageFiles, cypherPageSymbols, cypherPageEdges}[kind]
	recs, err := b.query(ctx, neo4j.AccessModeRead, cypher, map[string]any{"org_id": org.String(), "after_id": after, "limit": int64(limit)})
	if err != nil {
		return CodePage{}, err
	}
	var page CodePage
	for _, rec := range recs {
		switch kind {
		case ExportRepos:
			page.Repos = append(page.Repos, decodeRepo(item(rec)))
			page.Next = page.Repos[len(page.Repos)-1].ID
		case ExportFiles:
			page.Files = append(page.Files, decodeFile(item(rec)))
			page.Next = page.Files[len(page.Files)-1].ID
		case ExportSymbols:
			page.Symbols = append(page.Symbols, decodeSymbol(item(rec)))
			page.Next = page.Symbols[len(page.Symbols)-1].ID
		case ExportEdges:
			from, _ := rec.Get("from")
			page.Next, _ = from.(string)
			k, _ := rec.Get("kind")
			to, _ := rec.Get("to")
			if ks, ok := k.(string); ok {
				ts, _ := to.(string)
				page.Edges = append(page.Edges, stores.Edge{FromID: page.Next, ToID: ts, Kind: stores.EdgeKind(ks)})
			}
		}
	}
	// A short page of nodes is the last one; for edges a short page of
	// distinct symbols is, which the caller learns from an empty next page.
	if kind != ExportEdges && len(recs) < limit {
		page.Next = ""
	}
	return page, nil
}

// Statements that put back the times an export recorded on nodes an import
// has just upserted (an upsert stamps them now), one per node kind.
const (
	cypherRestoreRepoTimes = `UNWIND $items AS it
MATCH (n:CODE_REPO {org_id: $org_id, id: it.id})
SET n.created_at = it.created_at, n.updated_at = it.updated_at`
	cypherRestoreFileTimes = `UNWIND $items AS it
MATCH (n:CODE_FILE {org_id: $org_id, id: it.id})
SET n.updated_at = it.updated_at`
	cypherRestoreSymbolTimes = `UNWIND $items AS it
MATCH (n:CODE_SYMBOL {org_id: $org_id, id: it.id})
SET n.updated_at = it.updated_at`
)

// NodeTimes are the times of one node as an export recorded them; a file
// or symbol has no creation time.
type NodeTimes struct {
	ID                   string
	CreatedAt, UpdatedAt time.Time
}

// RestoreTimes sets the recorded times on org's nodes of kind (repos, files
// or symbols), for tenant import: at most stores.MaxCodeBatch at once.
func (b *CodeGraphBackend) RestoreTimes(ctx context.Context, org uuid.UUID, kind CodeGraphKind, nodes []NodeTimes) error {
	if kind > ExportSymbols || len(nodes) > stores.MaxCodeBatch {
		return stores.Invalid("times of at most %d repos, files or symbols at once", stores.MaxCodeBatch)
	}
	cypher := [...]string{cypherRestoreRepoTimes, cypherRestoreFileTimes, cypherRestoreSymbolTimes}[kind]
	items := make([]any, len(nodes))
	for i, n := range nodes {
		items[i] = map[string]any{"id": n.ID, "created_at": n.CreatedAt, "updated_at": n.UpdatedAt}
	}
	_, err := b.query(ctx, neo4j.AccessModeWrite, cypher, map[string]any{"org_id": org.String(), "items": items})
	return err
}
