package neo4j

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// codeGraphStore is one organisation's view of the graph. orgID is bound as
// $org_id into every statement it runs.
type codeGraphStore struct {
	b      *CodeGraphBackend
	tenant stores.Tenant
	orgID  string
}

// begin refuses a call that cannot be served before any I/O: a cancelled
// context or an incomplete tenant.
func (s *codeGraphStore) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return stores.Unavailable(backendName, err)
	}
	return s.tenant.Validate()
}

// params returns the statement parameters with the org bound.
func (s *codeGraphStore) params(kv ...any) map[string]any {
	p := map[string]any{"org_id": s.orgID}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return p
}

func (s *codeGraphStore) UpsertRepo(ctx context.Context, r stores.CodeRepo) (stores.CodeRepo, error) {
	if err := s.begin(ctx); err != nil {
		return stores.CodeRepo{}, err
	}
	if err := r.Validate(); err != nil {
		return stores.CodeRepo{}, err
	}
	recs, err := s.b.query(ctx, neo4j.AccessModeWrite, cypherUpsertRepo, s.params("id", r.ID, "name", r.Name, "url", r.URL, "now", s.b.now().UTC()))
	if err != nil || len(recs) != 1 {
		return stores.CodeRepo{}, err
	}
	return decodeRepo(item(recs[0])), nil
}

func (s *codeGraphStore) ReposByID(ctx context.Context, ids []string) (map[string]stores.CodeRepo, error) {
	out := map[string]stores.CodeRepo{}
	err := s.lookup(ctx, "repo", ids, cypherReposByID, func(m map[string]any) {
		r := decodeRepo(m)
		out[r.ID] = r
	})
	return out, err
}

func (s *codeGraphStore) ListRepos(ctx context.Context, p stores.PageArgs) (stores.Page[stores.CodeRepo], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.CodeRepo]{}, err
	}
	after, err := stores.CodePageStart(p)
	if err != nil {
		return stores.Page[stores.CodeRepo]{}, err
	}
	afterID := ""
	if after != nil {
		afterID = after.ID
	}
	recs, err := s.b.query(ctx, neo4j.AccessModeRead, cypherListRepos, s.params("after_id", afterID, "limit", int64(p.First)+1))
	if err != nil {
		return stores.Page[stores.CodeRepo]{}, err
	}
	repos := make([]stores.CodeRepo, len(recs))
	for i, rec := range recs {
		repos[i] = decodeRepo(item(rec))
	}
	return stores.CodePage(repos, p.First, func(r stores.CodeRepo) (string, string) { return r.ID, r.ID }), nil
}

func (s *codeGraphStore) CountRepos(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	return s.count(ctx, cypherCountRepos, s.params())
}

// count runs a statement that returns one count as n.
func (s *codeGraphStore) count(ctx context.Context, cypher string, params map[string]any) (int, error) {
	recs, err := s.b.query(ctx, neo4j.AccessModeRead, cypher, params)
	if err != nil || len(recs) != 1 {
		return 0, err
	}
	return recordInt(recs[0], "n"), nil
}

func (s *codeGraphStore) UpsertFiles(ctx context.Context, files []stores.CodeFile) ([]stores.CodeFile, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := checkBatch(len(files), "files"); err != nil {
		return nil, err
	}
	rows := make([]any, len(files))
	for i, f := range files {
		if err := f.Validate(); err != nil {
			return nil, err
		}
		rows[i] = map[string]any{"i": int64(i), "id": f.ID, "repo_id": f.RepoID, "path": f.Path, "language": f.Language}
	}
	out := make([]stores.CodeFile, 0, len(files))
	if len(files) == 0 {
		return out, nil
	}
	now := s.b.now().UTC()
	err := s.b.write(ctx, func(ctx context.Context, tx neo4j.ManagedTransaction) error {
		_, err := s.writeBatch(ctx, tx, cypherUpsertFiles, cypherCheckFiles, s.params("files", rows, "now", now), len(rows), func(i int, parentFound bool, owner any) error {
			f := files[i]
			if !parentFound {
				return stores.NotFound("repo %q not found", f.RepoID)
			}
			if owner != nil && owner != f.RepoID {
				return stores.Conflict("file %q belongs to another repo", f.ID)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out = append(out, stores.CodeFile{ID: f.ID, RepoID: f.RepoID, Path: f.Path, Language: f.Language, UpdatedAt: now})
	}
	return out, nil
}

func (s *codeGraphStore) FilesByRepo(ctx context.Context, repoIDs []string) (map[string][]stores.CodeFile, error) {
	out := make(map[string][]stores.CodeFile, len(repoIDs))
	for _, id := range repoIDs {
		out[id] = []stores.CodeFile{}
	}
	err := s.lookupByKey(ctx, "repo", repoIDs, cypherFilesByRepo, func(key string, m map[string]any) {
		out[key] = append(out[key], decodeFile(m))
	})
	return out, err
}

func (s *codeGraphStore) FilesByID(ctx context.Context, ids []string) (map[string]stores.CodeFile, error) {
	out := map[string]stores.CodeFile{}
	err := s.lookup(ctx, "file", ids, cypherFilesByID, func(m map[string]any) {
		f := decodeFile(m)
		out[f.ID] = f
	})
	return out, err
}

func (s *codeGraphStore) UpsertSymbols(ctx context.Context, symbols []stores.CodeSymbol) ([]stores.CodeSymbol, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := checkBatch(len(symbols), "symbols"); err != nil {
		return nil, err
	}
	rows := make([]any, len(symbols))
	for i, sym := range symbols {
		if err := sym.Validate(); err != nil {
			return nil, err
		}
		rows[i] = map[string]any{
			"i": int64(i), "id": sym.ID, "file_id": sym.FileID, "kind": string(sym.Kind),
			"name": sym.Name, "name_lower": strings.ToLower(sym.Name), "signature": sym.Signature,
			"start_line": int64(sym.StartLine), "end_line": int64(sym.EndLine),
		}
	}
	out := make([]stores.CodeSymbol, 0, len(symbols))
	if len(symbols) == 0 {
		return out, nil
	}
	now := s.b.now().UTC()
	var written []*neo4j.Record
	err := s.b.write(ctx, func(ctx context.Context, tx neo4j.ManagedTransaction) error {
		var err error
		written, err = s.writeBatch(ctx, tx, cypherUpsertSymbols, cypherCheckSymbols, s.params("symbols", rows, "now", now), len(rows), func(i int, parentFound bool, owner any) error {
			sym := symbols[i]
			if !parentFound {
				return stores.NotFound("file %q not found", sym.FileID)
			}
			if owner != nil && owner != sym.FileID {
				return stores.Conflict("symbol %q belongs to another file", sym.ID)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	repoOf := make([]string, len(symbols))
	for _, rec := range written {
		i, _ := rec.Get("i")
		repo, _ := rec.Get("repo_id")
		repoOf[toInt(i)], _ = repo.(string)
	}
	for i, sym := range symbols {
		sym.RepoID = repoOf[i]
		sym.UpdatedAt = now
		out = append(out, sym)
	}
	return out, nil
}

func (s *codeGraphStore) SymbolsByFile(ctx context.Context, fileIDs []string) (map[string][]stores.CodeSymbol, error) {
	out := make(map[string][]stores.CodeSymbol, len(fileIDs))
	for _, id := range fileIDs {
		out[id] = []stores.CodeSymbol{}
	}
	err := s.lookupByKey(ctx, "file", fileIDs, cypherSymbolsByFile, func(key string, m map[string]any) {
		out[key] = append(out[key], decodeSymbol(m))
	})
	return out, err
}

func (s *codeGraphStore) SymbolsByID(ctx context.Context, ids []string) (map[string]stores.CodeSymbol, error) {
	out := map[string]stores.CodeSymbol{}
	err := s.lookup(ctx, "symbol", ids, cypherSymbolsByID, func(m map[string]any) {
		sym := decodeSymbol(m)
		out[sym.ID] = sym
	})
	return out, err
}

func (s *codeGraphStore) FindSymbols(ctx context.Context, q stores.SymbolQuery, p stores.PageArgs) (stores.Page[stores.CodeSymbol], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.CodeSymbol]{}, err
	}
	after, err := stores.CheckSymbolPage(q, p)
	if err != nil {
		return stores.Page[stores.CodeSymbol]{}, err
	}
	// The empty position sorts before every item: names and ids are never empty.
	var afterName, afterID string
	if after != nil {
		afterName, afterID = after.Key, after.ID
	}
	params := s.params("prefix", strings.ToLower(q.Name), "kind", string(q.Kind), "repo_id", q.RepoID,
		"after_name", afterName, "after_id", afterID, "limit", int64(p.First)+1)
	recs, err := s.b.query(ctx, neo4j.AccessModeRead, cypherFindSymbols, params)
	if err != nil {
		return stores.Page[stores.CodeSymbol]{}, err
	}
	found := make([]stores.CodeSymbol, len(recs))
	for i, rec := range recs {
		found[i] = decodeSymbol(item(rec))
	}
	return stores.CodePage(found, p.First, func(sym stores.CodeSymbol) (string, string) { return sym.Name, sym.ID }), nil
}

func (s *codeGraphStore) CountSymbols(ctx context.Context, q stores.SymbolQuery) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	return s.count(ctx, cypherCountSymbols, s.params("prefix", strings.ToLower(q.Name), "kind", string(q.Kind), "repo_id", q.RepoID))
}

func (s *codeGraphStore) AddEdges(ctx context.Context, edges []stores.Edge) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := checkBatch(len(edges), "edges"); err != nil {
		return err
	}
	rows := make([]any, len(edges))
	for i, e := range edges {
		if err := e.Validate(); err != nil {
			return err
		}
		rows[i] = map[string]any{"i": int64(i), "from": e.FromID, "to": e.ToID, "kind": string(e.Kind)}
	}
	if len(edges) == 0 {
		return nil
	}
	return s.b.write(ctx, func(ctx context.Context, tx neo4j.ManagedTransaction) error {
		_, err := s.writeBatch(ctx, tx, cypherAddEdges, cypherCheckEdges, s.params("edges", rows), len(rows), func(i int, fromFound bool, toFound any) error {
			e := edges[i]
			if !fromFound {
				return stores.NotFound("symbol %q not found", e.FromID)
			}
			if toFound != true {
				return stores.NotFound("symbol %q not found", e.ToID)
			}
			return nil
		})
		return err
	})
}

// rowProblem says what is wrong with row i of a batch, given the two
// columns its check statement returned after i (nil when nothing is).
type rowProblem func(i int, first bool, second any) error

// writeBatch runs a guarded batch write of rows rows, which returns one
// record per row it wrote. When it wrote fewer rows than it was given, the check statement
// (run in the same transaction, so it sees the batch's own earlier rows)
// finds the first row at fault, and the error it returns rolls everything
// back: a batch is written all or none.
func (s *codeGraphStore) writeBatch(ctx context.Context, tx neo4j.ManagedTransaction, write, check string, params map[string]any, rows int, problem rowProblem) ([]*neo4j.Record, error) {
	written, err := run(ctx, tx, write, params)
	if err != nil || len(written) == rows {
		return written, err
	}
	checked, err := run(ctx, tx, check, params)
	if err != nil {
		return nil, err
	}
	sort.Slice(checked, func(a, b int) bool { return recordInt(checked[a], "i") < recordInt(checked[b], "i") })
	for _, rec := range checked {
		first, _ := rec.Values[1].(bool)
		if err := problem(recordInt(rec, "i"), first, rec.Values[2]); err != nil {
			return nil, err
		}
	}
	// Every row checks out now, so another transaction changed the graph
	// between the two statements: the caller may retry.
	return nil, stores.Conflict("the code graph changed during the write; retry")
}

// lookup runs a batch read by id (`UNWIND $ids`) and hands each found item to
// add. One statement, one round trip, whatever the number of ids.
func (s *codeGraphStore) lookup(ctx context.Context, what string, ids []string, cypher string, add func(map[string]any)) error {
	return s.lookupByKey(ctx, what, ids, cypher, func(_ string, m map[string]any) { add(m) })
}

// lookupByKey runs a batch read whose records carry the id they answer
// (`key`) and an item, in the statement's order.
func (s *codeGraphStore) lookupByKey(ctx context.Context, what string, ids []string, cypher string, add func(string, map[string]any)) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := stores.CheckCodeLookup(what, ids); err != nil {
		return err
	}
	keys := distinct(ids)
	if len(keys) == 0 {
		return nil
	}
	recs, err := s.b.query(ctx, neo4j.AccessModeRead, cypher, s.params("ids", keys))
	if err != nil {
		return err
	}
	for _, rec := range recs {
		key, _ := rec.Get("key")
		k, _ := key.(string)
		add(k, item(rec))
	}
	return nil
}

// distinct returns ids without repeats, in a fixed order, as the []any the
// driver sends.
func distinct(ids []string) []any {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := make([]any, len(sorted))
	for i, id := range sorted {
		out[i] = id
	}
	return out
}

func item(rec *neo4j.Record) map[string]any {
	v, _ := rec.Get("item")
	m, _ := v.(map[string]any)
	return m
}

func recordInt(rec *neo4j.Record, key string) int {
	v, _ := rec.Get(key)
	return toInt(v)
}

func toInt(v any) int {
	n, _ := v.(int64)
	return int(n)
}

func text(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func stamp(m map[string]any, key string) time.Time {
	t, _ := m[key].(time.Time)
	return t.UTC()
}

func decodeRepo(m map[string]any) stores.CodeRepo {
	return stores.CodeRepo{ID: text(m, "id"), Name: text(m, "name"), URL: text(m, "url"), CreatedAt: stamp(m, "created_at"), UpdatedAt: stamp(m, "updated_at")}
}

func decodeFile(m map[string]any) stores.CodeFile {
	return stores.CodeFile{ID: text(m, "id"), RepoID: text(m, "repo_id"), Path: text(m, "path"), Language: text(m, "language"), UpdatedAt: stamp(m, "updated_at")}
}

func decodeSymbol(m map[string]any) stores.CodeSymbol {
	return stores.CodeSymbol{
		ID: text(m, "id"), RepoID: text(m, "repo_id"), FileID: text(m, "file_id"),
		Kind: stores.SymbolKind(text(m, "kind")), Name: text(m, "name"), Signature: text(m, "signature"),
		StartLine: toInt(m["start_line"]), EndLine: toInt(m["end_line"]), UpdatedAt: stamp(m, "updated_at"),
	}
}
