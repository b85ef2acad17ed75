package stores

import (
	"context"
	"regexp"
	"time"
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
	// AddEdges adds dependency edges (idempotent), all or none. ErrNotFound if
	// an endpoint is missing.
	AddEdges(ctx context.Context, edges []Edge) error
	// Traverse returns, for each symbol id, the symbols reachable in the given
	// direction within depth hops (1..the caller's cap), nearest first, then
	// by id, each once, never the start symbol; kinds empty means every kind.
	// Every id is a key.
	Traverse(ctx context.Context, ids []string, dir Direction, kinds []EdgeKind, depth int) (map[string][]Dependency, error)
}
