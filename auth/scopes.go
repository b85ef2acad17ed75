package auth

import (
	"slices"
	"strings"
)

// Scopes name what a token may do: "<domain>:read" and "<domain>:write" per
// data domain, plus ScopeAdmin for operations that cross or destroy tenant
// data (retention purge, tenant moves). They are constants so a typo is a
// compile error rather than a silently denied request.
const (
	ScopeMemoriesRead  = "memories:read"
	ScopeMemoriesWrite = "memories:write"
	ScopeFeedbackRead  = "feedback:read"
	ScopeFeedbackWrite = "feedback:write"
	// ScopeFeedbackAdmin reads every user's raw feedback events of the org
	// (as ScopeAdmin does); without it a user reads only their own.
	ScopeFeedbackAdmin    = "feedback:admin"
	ScopeExperimentsRead  = "experiments:read"
	ScopeExperimentsWrite = "experiments:write"
	ScopeEpisodicRead     = "episodic:read"
	ScopeEpisodicWrite    = "episodic:write"
	ScopeCodeGraphRead    = "codegraph:read"
	ScopeCodeGraphWrite   = "codegraph:write"
	ScopeVectorsRead      = "vectors:read"
	ScopeVectorsWrite     = "vectors:write"
	ScopeSearchRead       = "search:read"
	ScopeSearchWrite      = "search:write"
	ScopeAdmin            = "admin"
)

var allScopes = []string{
	ScopeMemoriesRead, ScopeMemoriesWrite,
	ScopeFeedbackRead, ScopeFeedbackWrite, ScopeFeedbackAdmin,
	ScopeExperimentsRead, ScopeExperimentsWrite,
	ScopeEpisodicRead, ScopeEpisodicWrite,
	ScopeCodeGraphRead, ScopeCodeGraphWrite,
	ScopeVectorsRead, ScopeVectorsWrite,
	ScopeSearchRead, ScopeSearchWrite,
	ScopeAdmin,
}

// AllScopes returns every scope in a stable order, so the development token
// can be granted everything and help text can list them. The slice is a
// fresh copy the caller may modify.
func AllScopes() []string {
	return append([]string(nil), allScopes...)
}

// ValidScope reports whether s is a scope this gateway knows, so callers can
// reject typos when issuing tokens.
func ValidScope(s string) bool {
	return slices.Contains(allScopes, s)
}

// knownScopes keeps the valid scopes of list, in their original order and
// without duplicates; unknown scopes are dropped because other services may
// share the identity provider and mint scopes we do not use.
func knownScopes(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if ValidScope(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// splitScopes parses an OAuth 2 "scope" value (RFC 6749 section 3.3).
func splitScopes(s string) []string { return strings.Fields(s) }
