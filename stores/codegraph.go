package stores

import (
	"context"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"
)

// The code graph: repositories contain files, files define symbols, symbols
// depend on symbols. Ids are chosen by the client (an indexer knows its repo
// and its qualified names) and are unique per org and per kind of node.

// CodeRepo is a source repository.
type CodeRepo struct {
	ID        string
	Name      string
	URL       string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CodeFile is a file of a repository.
type CodeFile struct {
	ID        string
	RepoID    string
	Path      string
	Language  string
	UpdatedAt time.Time
}

// SymbolKind is what a symbol is.
type SymbolKind string

// Symbol kinds.
const (
	SymbolFunction  SymbolKind = "FUNCTION"
	SymbolMethod    SymbolKind = "METHOD"
	SymbolClass     SymbolKind = "CLASS"
	SymbolInterface SymbolKind = "INTERFACE"
	SymbolType      SymbolKind = "TYPE"
	SymbolVariable  SymbolKind = "VARIABLE"
	SymbolConstant  SymbolKind = "CONSTANT"
	SymbolModule    SymbolKind = "MODULE"
)

// Valid reports whether k is a known kind.
func (k SymbolKind) Valid() bool {
	switch k {
	case SymbolFunction, SymbolMethod, SymbolClass, SymbolInterface, SymbolType, SymbolVariable, SymbolConstant, SymbolModule:
		return true
	}
	return false
}

// CodeSymbol is a named definition in a file.
type CodeSymbol struct {
	ID        string
	RepoID    string
	FileID    string
	Kind      SymbolKind
	Name      string
	Signature string
	StartLine int // 1-based, 0 when unknown
	EndLine   int
	UpdatedAt time.Time
}

// EdgeKind is how one symbol depends on another.
type EdgeKind string

// Dependency edge kinds.
const (
	EdgeCalls    EdgeKind = "CALLS"
	EdgeImports  EdgeKind = "IMPORTS"
	EdgeInherits EdgeKind = "INHERITS"
)

// Valid reports whether k is a known edge kind.
func (k EdgeKind) Valid() bool {
	return k == EdgeCalls || k == EdgeImports || k == EdgeInherits
}

// Edge is a dependency: From depends on To.
type Edge struct {
	FromID string
	ToID   string
	Kind   EdgeKind
}

// Direction of a traversal.
type Direction string

// Traversal directions: Dependencies follows edges forward (what a symbol
// uses), Dependents backward (what uses it).
const (
	Dependencies Direction = "DEPENDENCIES"
	Dependents   Direction = "DEPENDENTS"
)

// Dependency is a symbol reached by a traversal.
type Dependency struct {
	Symbol CodeSymbol
	Kind   EdgeKind // kind of the last edge on the shortest path
	Depth  int      // 1 for a direct neighbour
}

// SymbolQuery finds symbols. Zero values mean "any"; Name matches a
// case-insensitive prefix.
type SymbolQuery struct {
	Name   string
	Kind   SymbolKind
	RepoID string
}

// Bounds on code-graph input.
const (
	MaxTraversalDepth = 5 // the default server-side cap on depth
	MaxCodeBatch      = 1000
)

var codeID = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,512}$`)

// ValidCodeID reports whether s can name a repo, file or symbol: 1..512
// characters without control characters.
func ValidCodeID(s string) bool { return codeID.MatchString(s) }

// CodeGraphStore holds an organisation's code graph.
type CodeGraphStore interface {
	// UpsertRepo creates or updates a repo by id. ErrInvalid for a bad id or name.
	UpsertRepo(ctx context.Context, r CodeRepo) (CodeRepo, error)
	// ReposByID returns the repos that exist among ids. One round trip.
	ReposByID(ctx context.Context, ids []string) (map[string]CodeRepo, error)
	// ListRepos pages through repos ordered by id.
	ListRepos(ctx context.Context, p PageArgs) (Page[CodeRepo], error)
	// CountRepos counts the org's repos.
	CountRepos(ctx context.Context) (int, error)
	// UpsertFiles creates or updates files (at most MaxCodeBatch), all or none.
	// ErrNotFound if a repo is missing; ErrConflict if a file id exists under
	// another repo.
	UpsertFiles(ctx context.Context, files []CodeFile) ([]CodeFile, error)
	// FilesByRepo returns each repo's files ordered by path; every id is a key.
	FilesByRepo(ctx context.Context, repoIDs []string) (map[string][]CodeFile, error)
	// FilesByID returns the files that exist among ids.
	FilesByID(ctx context.Context, ids []string) (map[string]CodeFile, error)
	// UpsertSymbols creates or updates symbols (RepoID is taken from the file),
	// all or none. ErrNotFound if a file is missing; ErrConflict if a symbol id
	// exists under another file.
	UpsertSymbols(ctx context.Context, symbols []CodeSymbol) ([]CodeSymbol, error)
	// SymbolsByFile returns each file's symbols ordered by start line, then
	// name; every id is a key.
	SymbolsByFile(ctx context.Context, fileIDs []string) (map[string][]CodeSymbol, error)
	// SymbolsByID returns the symbols that exist among ids.
	SymbolsByID(ctx context.Context, ids []string) (map[string]CodeSymbol, error)
	// FindSymbols pages through symbols matching q, ordered by name, then id.
	FindSymbols(ctx context.Context, q SymbolQuery, p PageArgs) (Page[CodeSymbol], error)
	// CountSymbols counts the symbols FindSymbols would page through with q.
	// ErrInvalid for a bad query.
	CountSymbols(ctx context.Context, q SymbolQuery) (int, error)
	// AddEdges adds dependency edges (idempotent), all or none. ErrNotFound if
	// an endpoint is missing.
	AddEdges(ctx context.Context, edges []Edge) error
	// Traverse returns, for each symbol id, the symbols reachable in the given
	// direction within depth hops (1..the caller's cap), nearest first, then
	// by id, each once, never the start symbol; kinds empty means every kind.
	// Every id is a key.
	Traverse(ctx context.Context, ids []string, dir Direction, kinds []EdgeKind, depth int) (map[string][]Dependency, error)
}

// Bounds on the code graph's free text. They are generous: they exist so one
// request cannot store megabytes in a name. Every backend checks input with
// the Validate methods below, so all refuse the same input alike.
const (
	MaxCodeText     = 512  // repo and symbol names, languages
	MaxCodeLongText = 4096 // URLs, paths, signatures
)

// CheckCodeID refuses an id that cannot name a node: what says which kind.
func CheckCodeID(what, id string) error {
	if !ValidCodeID(id) || !utf8.ValidString(id) {
		return Invalid("%s id must be 1..512 characters without control characters", what)
	}
	return nil
}

// CheckCodeLookup refuses more ids than one batch read may ask for.
func CheckCodeLookup(what string, ids []string) error {
	if len(ids) > MaxCodeBatch {
		return Invalid("at most %d %s ids at once", MaxCodeBatch, what)
	}
	return nil
}

// Validate refuses a repo a backend must not store.
func (r CodeRepo) Validate() error {
	if err := CheckCodeID("repo", r.ID); err != nil {
		return err
	}
	if r.Name == "" || !PlainText(r.Name, MaxCodeText) {
		return Invalid("repo name must be 1..%d characters without control characters", MaxCodeText)
	}
	if !PlainText(r.URL, MaxCodeLongText) {
		return Invalid("repo URL must be at most %d characters without control characters", MaxCodeLongText)
	}
	return nil
}

// Validate refuses a file a backend must not store.
func (f CodeFile) Validate() error {
	if err := CheckCodeID("file", f.ID); err != nil {
		return err
	}
	if err := CheckCodeID("repo", f.RepoID); err != nil {
		return err
	}
	if f.Path == "" || !PlainText(f.Path, MaxCodeLongText) {
		return Invalid("file path must be 1..%d characters without control characters", MaxCodeLongText)
	}
	if !PlainText(f.Language, MaxCodeText) {
		return Invalid("file language must be at most %d characters without control characters", MaxCodeText)
	}
	return nil
}

// Validate refuses a symbol a backend must not store. RepoID is not checked:
// the backend takes it from the file.
func (s CodeSymbol) Validate() error {
	if err := CheckCodeID("symbol", s.ID); err != nil {
		return err
	}
	if err := CheckCodeID("file", s.FileID); err != nil {
		return err
	}
	if !s.Kind.Valid() {
		return Invalid("unknown symbol kind %q", string(s.Kind))
	}
	if s.Name == "" || !PlainText(s.Name, MaxCodeText) {
		return Invalid("symbol name must be 1..%d characters without control characters", MaxCodeText)
	}
	// A signature may span lines, so only its length and encoding are checked.
	if !utf8.ValidString(s.Signature) || utf8.RuneCountInString(s.Signature) > MaxCodeLongText {
		return Invalid("symbol signature must be at most %d characters", MaxCodeLongText)
	}
	if s.StartLine < 0 || s.EndLine < 0 || (s.EndLine != 0 && s.EndLine < s.StartLine) {
		return Invalid("symbol lines must be positive (0 when unknown) and end at or after the start")
	}
	return nil
}

// Validate refuses an edge a backend must not store.
func (e Edge) Validate() error {
	if err := CheckCodeID("symbol", e.FromID); err != nil {
		return err
	}
	if err := CheckCodeID("symbol", e.ToID); err != nil {
		return err
	}
	if !e.Kind.Valid() {
		return Invalid("unknown edge kind %q", string(e.Kind))
	}
	return nil
}

// Validate refuses a query no backend can answer.
func (q SymbolQuery) Validate() error {
	if q.Kind != "" && !q.Kind.Valid() {
		return Invalid("unknown symbol kind %q", string(q.Kind))
	}
	if q.RepoID != "" {
		if err := CheckCodeID("repo", q.RepoID); err != nil {
			return err
		}
	}
	if !PlainText(q.Name, MaxCodeText) {
		return Invalid("symbol name prefix must be at most %d characters without control characters", MaxCodeText)
	}
	return nil
}

// CheckSymbolPage checks a FindSymbols call: the query and the page, whose
// start it returns as CodePageStart does.
func CheckSymbolPage(q SymbolQuery, p PageArgs) (*CodeCursor, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return CodePageStart(p)
}

// Hop is an edge seen from the symbol a traversal stands on: where it leads
// and its kind.
type Hop struct {
	To   string
	Kind EdgeKind
}

// WalkBreadthFirst is the traversal every backend answers with, given the
// hops (already filtered by kind) leaving each symbol in the walk's
// direction: nearest first, then by id, each symbol once at its shortest
// distance, never the start. When several shortest paths reach a symbol, its
// Kind is the smallest (alphabetically) kind among their last edges, so the
// answer does not depend on storage order. Only Symbol.ID is set in what it
// returns; the caller fills in the rest.
func WalkBreadthFirst(start string, depth int, hops func(from string) []Hop) []Dependency {
	deps := []Dependency{}
	visited := map[string]bool{start: true}
	frontier := []string{start}
	for level := 1; level <= depth && len(frontier) > 0; level++ {
		reached := map[string]EdgeKind{}
		for _, from := range frontier {
			for _, h := range hops(from) {
				if visited[h.To] {
					continue
				}
				if prev, ok := reached[h.To]; !ok || h.Kind < prev {
					reached[h.To] = h.Kind
				}
			}
		}
		next := make([]string, 0, len(reached))
		for id := range reached {
			visited[id] = true
			next = append(next, id)
		}
		sort.Strings(next)
		for _, id := range next {
			deps = append(deps, Dependency{Symbol: CodeSymbol{ID: id}, Kind: reached[id], Depth: level})
		}
		frontier = next
	}
	return deps
}

// CodeCursor is the keyset position of an item in a code-graph list: its
// sort key and its id. It travels as base64url-encoded JSON, opaque to
// clients (the graph layer signs it as well). Every code-graph backend issues
// the same cursors, so a cursor survives moving a tenant between backends.
type CodeCursor struct {
	Key string `json:"k"`
	ID  string `json:"i"`
}

// Encode returns the cursor's opaque text.
func (c CodeCursor) Encode() string { return encodeJSONCursor(c) }

// CodePageStart checks page arguments and returns the position to continue
// after, or nil to start at the beginning. A malformed cursor is ErrInvalid.
func CodePageStart(p PageArgs) (*CodeCursor, error) {
	if p.First < 1 {
		return nil, Invalid("first must be at least 1")
	}
	if p.After == "" {
		return nil, nil
	}
	var c CodeCursor
	if !decodeJSONCursor(p.After, &c) || c.ID == "" {
		return nil, Invalid("malformed cursor")
	}
	return &c, nil
}

// CodePage makes a page of the first items of a list that starts after the
// cursor, giving each item a cursor from its key and id; more items than
// first (a backend fetches one extra) mean a next page follows.
func CodePage[T any](items []T, first int, key func(T) (string, string)) Page[T] {
	page := Page[T]{Items: []T{}, Cursors: []string{}}
	if len(items) > first {
		items = items[:first]
		page.HasNextPage = true
	}
	for _, it := range items {
		k, id := key(it)
		page.Items = append(page.Items, it)
		page.Cursors = append(page.Cursors, CodeCursor{Key: k, ID: id}.Encode())
	}
	return page
}
