package embedded

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// CodeGraphBackend keeps every organisation's code graph in process. Ids are
// unique per org and per kind of node, so two orgs may use the same ids
// without meeting: every map below is reached through the org first.
type CodeGraphBackend struct {
	now      Clock
	maxDepth int

	mu   sync.RWMutex
	orgs map[uuid.UUID]*codeGraph
}

type codeGraph struct {
	repos   map[string]*stores.CodeRepo
	files   map[string]*stores.CodeFile
	symbols map[string]*stores.CodeSymbol

	filesByRepo   map[string]map[string]struct{}
	symbolsByFile map[string]map[string]struct{}
	// out and in index the same edges from either end: out[from][to] and
	// in[to][from] hold the kinds of the edges between the two symbols.
	out map[string]map[string]map[stores.EdgeKind]struct{}
	in  map[string]map[string]map[stores.EdgeKind]struct{}
}

func newCodeGraph() *codeGraph {
	return &codeGraph{
		repos:         map[string]*stores.CodeRepo{},
		files:         map[string]*stores.CodeFile{},
		symbols:       map[string]*stores.CodeSymbol{},
		filesByRepo:   map[string]map[string]struct{}{},
		symbolsByFile: map[string]map[string]struct{}{},
		out:           map[string]map[string]map[stores.EdgeKind]struct{}{},
		in:            map[string]map[string]map[stores.EdgeKind]struct{}{},
	}
}

// NewCodeGraphBackend returns an empty code-graph backend. maxDepth caps
// Traverse's depth; zero or less means stores.MaxTraversalDepth.
func NewCodeGraphBackend(now Clock, maxDepth int) *CodeGraphBackend {
	if now == nil {
		now = time.Now
	}
	if maxDepth <= 0 {
		maxDepth = stores.MaxTraversalDepth
	}
	return &CodeGraphBackend{now: now, maxDepth: maxDepth, orgs: map[uuid.UUID]*codeGraph{}}
}

// CodeGraph returns the store bound to t's organisation.
func (b *CodeGraphBackend) CodeGraph(t stores.Tenant) stores.CodeGraphStore {
	return &codeGraphStore{b: b, tenant: t}
}

type codeGraphStore struct {
	b      *CodeGraphBackend
	tenant stores.Tenant
}

func (s *codeGraphStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

// readGraph returns the org's graph for reading (an empty one when the org has
// stored nothing); the caller holds the read lock.
func (s *codeGraphStore) readGraph() *codeGraph {
	if g := s.b.orgs[s.tenant.OrgID]; g != nil {
		return g
	}
	return newCodeGraph()
}

// writeGraph returns the org's graph, creating it; the caller holds the lock.
func (s *codeGraphStore) writeGraph() *codeGraph {
	g := s.b.orgs[s.tenant.OrgID]
	if g == nil {
		g = newCodeGraph()
		s.b.orgs[s.tenant.OrgID] = g
	}
	return g
}

func (s *codeGraphStore) UpsertRepo(ctx context.Context, r stores.CodeRepo) (stores.CodeRepo, error) {
	if err := s.begin(ctx); err != nil {
		return stores.CodeRepo{}, err
	}
	if err := r.Validate(); err != nil {
		return stores.CodeRepo{}, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g := s.writeGraph()
	now := s.b.now()
	stored := &stores.CodeRepo{ID: r.ID, Name: r.Name, URL: r.URL, CreatedAt: now, UpdatedAt: now}
	if old := g.repos[r.ID]; old != nil {
		stored.CreatedAt = old.CreatedAt
	}
	g.repos[r.ID] = stored
	return *stored, nil
}

func (s *codeGraphStore) ReposByID(ctx context.Context, ids []string) (map[string]stores.CodeRepo, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckCodeLookup("repo", ids); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	out := make(map[string]stores.CodeRepo, len(ids))
	for _, id := range ids {
		if r := g.repos[id]; r != nil {
			out[id] = *r
		}
	}
	return out, nil
}

// codePage cuts a sorted list after the cursor (keyset: key, then id).
func codePage[T any](items []T, key func(T) (string, string), after *stores.CodeCursor, first int) stores.Page[T] {
	start := 0
	if after != nil {
		start = sort.Search(len(items), func(i int) bool {
			k, id := key(items[i])
			return k > after.Key || (k == after.Key && id > after.ID)
		})
	}
	return stores.CodePage(items[start:], first, key)
}

func (s *codeGraphStore) ListRepos(ctx context.Context, p stores.PageArgs) (stores.Page[stores.CodeRepo], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.CodeRepo]{}, err
	}
	after, err := stores.CodePageStart(p)
	if err != nil {
		return stores.Page[stores.CodeRepo]{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	repos := make([]stores.CodeRepo, 0, len(g.repos))
	for _, r := range g.repos {
		repos = append(repos, *r)
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].ID < repos[j].ID })
	return codePage(repos, func(r stores.CodeRepo) (string, string) { return r.ID, r.ID }, after, p.First), nil
}

func (s *codeGraphStore) CountRepos(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return len(s.readGraph().repos), nil
}

func (s *codeGraphStore) UpsertFiles(ctx context.Context, files []stores.CodeFile) ([]stores.CodeFile, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if len(files) > stores.MaxCodeBatch {
		return nil, stores.Invalid("at most %d files at once", stores.MaxCodeBatch)
	}
	for _, f := range files {
		if err := f.Validate(); err != nil {
			return nil, err
		}
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g := s.writeGraph()
	// Check the whole batch before writing anything: all or none. A file
	// repeated in the batch must name the same repo each time.
	owner := map[string]string{}
	for _, f := range files {
		if g.repos[f.RepoID] == nil {
			return nil, stores.NotFound("repo %q not found", f.RepoID)
		}
		repo, seen := owner[f.ID]
		if !seen {
			if old := g.files[f.ID]; old != nil {
				repo, seen = old.RepoID, true
			}
		}
		if seen && repo != f.RepoID {
			return nil, stores.Conflict("file %q belongs to another repo", f.ID)
		}
		owner[f.ID] = f.RepoID
	}
	now := s.b.now()
	out := make([]stores.CodeFile, 0, len(files))
	for _, f := range files {
		stored := &stores.CodeFile{ID: f.ID, RepoID: f.RepoID, Path: f.Path, Language: f.Language, UpdatedAt: now}
		g.files[f.ID] = stored
		byRepo := g.filesByRepo[f.RepoID]
		if byRepo == nil {
			byRepo = map[string]struct{}{}
			g.filesByRepo[f.RepoID] = byRepo
		}
		byRepo[f.ID] = struct{}{}
		out = append(out, *stored)
	}
	return out, nil
}

func (s *codeGraphStore) FilesByRepo(ctx context.Context, repoIDs []string) (map[string][]stores.CodeFile, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckCodeLookup("repo", repoIDs); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	out := make(map[string][]stores.CodeFile, len(repoIDs))
	for _, id := range repoIDs {
		files := make([]stores.CodeFile, 0, len(g.filesByRepo[id]))
		for fid := range g.filesByRepo[id] {
			files = append(files, *g.files[fid])
		}
		sort.Slice(files, func(i, j int) bool {
			if files[i].Path != files[j].Path {
				return files[i].Path < files[j].Path
			}
			return files[i].ID < files[j].ID
		})
		out[id] = files
	}
	return out, nil
}

func (s *codeGraphStore) FilesByID(ctx context.Context, ids []string) (map[string]stores.CodeFile, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckCodeLookup("file", ids); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	out := make(map[string]stores.CodeFile, len(ids))
	for _, id := range ids {
		if f := g.files[id]; f != nil {
			out[id] = *f
		}
	}
	return out, nil
}

func (s *codeGraphStore) UpsertSymbols(ctx context.Context, symbols []stores.CodeSymbol) ([]stores.CodeSymbol, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if len(symbols) > stores.MaxCodeBatch {
		return nil, stores.Invalid("at most %d symbols at once", stores.MaxCodeBatch)
	}
	for _, sym := range symbols {
		if err := sym.Validate(); err != nil {
			return nil, err
		}
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g := s.writeGraph()
	owner := map[string]string{}
	for _, sym := range symbols {
		if g.files[sym.FileID] == nil {
			return nil, stores.NotFound("file %q not found", sym.FileID)
		}
		file, seen := owner[sym.ID]
		if !seen {
			if old := g.symbols[sym.ID]; old != nil {
				file, seen = old.FileID, true
			}
		}
		if seen && file != sym.FileID {
			return nil, stores.Conflict("symbol %q belongs to another file", sym.ID)
		}
		owner[sym.ID] = sym.FileID
	}
	now := s.b.now()
	out := make([]stores.CodeSymbol, 0, len(symbols))
	for _, sym := range symbols {
		stored := sym
		stored.RepoID = g.files[sym.FileID].RepoID
		stored.UpdatedAt = now
		g.symbols[sym.ID] = &stored
		byFile := g.symbolsByFile[sym.FileID]
		if byFile == nil {
			byFile = map[string]struct{}{}
			g.symbolsByFile[sym.FileID] = byFile
		}
		byFile[sym.ID] = struct{}{}
		out = append(out, stored)
	}
	return out, nil
}

func (s *codeGraphStore) SymbolsByFile(ctx context.Context, fileIDs []string) (map[string][]stores.CodeSymbol, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckCodeLookup("file", fileIDs); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	out := make(map[string][]stores.CodeSymbol, len(fileIDs))
	for _, id := range fileIDs {
		syms := make([]stores.CodeSymbol, 0, len(g.symbolsByFile[id]))
		for sid := range g.symbolsByFile[id] {
			syms = append(syms, *g.symbols[sid])
		}
		sort.Slice(syms, func(i, j int) bool {
			a, b := syms[i], syms[j]
			if a.StartLine != b.StartLine {
				return a.StartLine < b.StartLine
			}
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return a.ID < b.ID
		})
		out[id] = syms
	}
	return out, nil
}

func (s *codeGraphStore) SymbolsByID(ctx context.Context, ids []string) (map[string]stores.CodeSymbol, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckCodeLookup("symbol", ids); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	out := make(map[string]stores.CodeSymbol, len(ids))
	for _, id := range ids {
		if sym := g.symbols[id]; sym != nil {
			out[id] = *sym
		}
	}
	return out, nil
}

func (s *codeGraphStore) FindSymbols(ctx context.Context, q stores.SymbolQuery, p stores.PageArgs) (stores.Page[stores.CodeSymbol], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.CodeSymbol]{}, err
	}
	after, err := stores.CheckSymbolPage(q, p)
	if err != nil {
		return stores.Page[stores.CodeSymbol]{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	found := s.matchingSymbols(q)
	sort.Slice(found, func(i, j int) bool {
		if found[i].Name != found[j].Name {
			return found[i].Name < found[j].Name
		}
		return found[i].ID < found[j].ID
	})
	return codePage(found, func(sym stores.CodeSymbol) (string, string) { return sym.Name, sym.ID }, after, p.First), nil
}

// matchingSymbols returns the org's symbols that q selects, in no order.
// The caller holds the read lock and has validated q.
func (s *codeGraphStore) matchingSymbols(q stores.SymbolQuery) []stores.CodeSymbol {
	prefix := strings.ToLower(q.Name)
	found := []stores.CodeSymbol{}
	for _, sym := range s.readGraph().symbols {
		if q.Kind != "" && sym.Kind != q.Kind {
			continue
		}
		if q.RepoID != "" && sym.RepoID != q.RepoID {
			continue
		}
		if prefix != "" && !strings.HasPrefix(strings.ToLower(sym.Name), prefix) {
			continue
		}
		found = append(found, *sym)
	}
	return found
}

func (s *codeGraphStore) CountSymbols(ctx context.Context, q stores.SymbolQuery) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return len(s.matchingSymbols(q)), nil
}

func (s *codeGraphStore) AddEdges(ctx context.Context, edges []stores.Edge) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if len(edges) > stores.MaxCodeBatch {
		return stores.Invalid("at most %d edges at once", stores.MaxCodeBatch)
	}
	for _, e := range edges {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g := s.writeGraph()
	for _, e := range edges {
		if g.symbols[e.FromID] == nil {
			return stores.NotFound("symbol %q not found", e.FromID)
		}
		if g.symbols[e.ToID] == nil {
			return stores.NotFound("symbol %q not found", e.ToID)
		}
	}
	for _, e := range edges {
		codeLink(g.out, e.FromID, e.ToID, e.Kind)
		codeLink(g.in, e.ToID, e.FromID, e.Kind)
	}
	return nil
}

func codeLink(index map[string]map[string]map[stores.EdgeKind]struct{}, a, b string, kind stores.EdgeKind) {
	byA := index[a]
	if byA == nil {
		byA = map[string]map[stores.EdgeKind]struct{}{}
		index[a] = byA
	}
	kinds := byA[b]
	if kinds == nil {
		kinds = map[stores.EdgeKind]struct{}{}
		byA[b] = kinds
	}
	kinds[kind] = struct{}{}
}

// Traverse walks breadth first (stores.WalkBreadthFirst), so each symbol is
// found at its shortest distance.
func (s *codeGraphStore) Traverse(ctx context.Context, ids []string, dir stores.Direction, kinds []stores.EdgeKind, depth int) (map[string][]stores.Dependency, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := stores.CheckTraversal(ids, dir, kinds, depth, s.b.maxDepth); err != nil {
		return nil, err
	}
	allowed := map[stores.EdgeKind]bool{}
	for _, k := range kinds {
		allowed[k] = true
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	g := s.readGraph()
	index := g.out
	if dir == stores.Dependents {
		index = g.in
	}
	out := make(map[string][]stores.Dependency, len(ids))
	for _, start := range ids {
		if _, done := out[start]; done {
			continue
		}
		deps := []stores.Dependency{}
		if g.symbols[start] != nil {
			deps = stores.WalkBreadthFirst(start, depth, func(from string) []stores.Hop {
				var hops []stores.Hop
				for to, edgeKinds := range index[from] {
					for k := range edgeKinds {
						if len(allowed) == 0 || allowed[k] {
							hops = append(hops, stores.Hop{To: to, Kind: k})
						}
					}
				}
				return hops
			})
			for i := range deps {
				deps[i].Symbol = *g.symbols[deps[i].Symbol.ID]
			}
		}
		out[start] = deps
	}
	return out, nil
}
