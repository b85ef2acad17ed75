package stores

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Input checks every backend runs before it stores anything, so that all of
// them refuse the same input with the same words. PostgreSQL cannot store a
// NUL character, so no backend accepts one.

// MaxQueryIDLength bounds a feedback event's query id.
const MaxQueryIDLength = 128

// CheckContent checks a memory's content: 1..MaxMemoryContent bytes of
// UTF-8 without NUL.
func CheckContent(content string) error {
	switch {
	case content == "":
		return Invalid("content must not be empty")
	case len(content) > MaxMemoryContent:
		return Invalid("content must be at most %d bytes", MaxMemoryContent)
	case !utf8.ValidString(content):
		return Invalid("content must be valid UTF-8")
	case strings.ContainsRune(content, 0):
		// PostgreSQL text cannot hold NUL, so no backend accepts it.
		return Invalid("content must not contain NUL characters")
	}
	return nil
}

// CheckName trims a name and checks it is 1..MaxNameLength characters of
// UTF-8 without control characters. It returns the trimmed name.
func CheckName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	return name, CheckLabel(what, name, MaxNameLength)
}

// CheckLabel checks s as given: 1..max characters of UTF-8, no control characters.
func CheckLabel(what, s string, max int) error {
	switch {
	case s == "":
		return Invalid("%s must not be empty", what)
	case !utf8.ValidString(s):
		return Invalid("%s must be valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return Invalid("%s must be at most %d characters", what, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return Invalid("%s must not contain control characters", what)
	}
	return nil
}

// CheckFilterText refuses filter text no PostgreSQL query could carry.
func CheckFilterText(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return Invalid("%s must be UTF-8 without NUL characters", what)
	}
	return nil
}

// CheckDescription checks a description: at most MaxMemoryContent bytes of
// UTF-8 without NUL.
func CheckDescription(d string) error {
	switch {
	case len(d) > MaxMemoryContent:
		return Invalid("description must be at most %d bytes", MaxMemoryContent)
	case !utf8.ValidString(d):
		return Invalid("description must be valid UTF-8")
	case strings.ContainsRune(d, 0):
		return Invalid("description must not contain NUL characters")
	}
	return nil
}

// CheckCategoryNames trims and checks category names and drops duplicates,
// keeping the first occurrence. Names are case-sensitive.
func CheckCategoryNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n, err := CheckName("category name", n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// CheckNewFeedback checks a feedback event's fields.
func CheckNewFeedback(in NewFeedbackEvent) error {
	if err := CheckLabel("query id", in.QueryID, MaxQueryIDLength); err != nil {
		return err
	}
	if err := CheckLabel("tool", in.Tool, MaxNameLength); err != nil {
		return err
	}
	if err := CheckLabel("query type", in.QueryType, MaxNameLength); err != nil {
		return err
	}
	if !in.Outcome.Valid() {
		return Invalid("unknown outcome %q", in.Outcome)
	}
	if in.LatencyMs != nil && *in.LatencyMs < 0 {
		return Invalid("latency must not be negative")
	}
	if in.VariantKey != "" && in.ExperimentID == nil {
		return Invalid("a variant key needs an experiment id")
	}
	if in.VariantKey != "" {
		if err := CheckLabel("variant key", in.VariantKey, MaxNameLength); err != nil {
			return err
		}
	}
	return nil
}

// PlainText reports whether s is valid UTF-8 of at most limit characters
// without control characters.
func PlainText(s string, limit int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > limit {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CheckNewVisibility returns the visibility of a new memory: "" is ORG, an
// unknown value is ErrInvalid.
func CheckNewVisibility(v Visibility) (Visibility, error) {
	switch {
	case v == "":
		return VisibilityOrg, nil
	case !v.Valid():
		return "", Invalid("visibility must be PRIVATE or ORG")
	}
	return v, nil
}

// CheckIndexedVisibility refuses a document or vector point whose visibility
// is unknown, or PRIVATE and not written by its author, user.
func CheckIndexedVisibility(v Visibility, author, user uuid.UUID) error {
	switch {
	case v != "" && !v.Valid():
		return Invalid("visibility must be PRIVATE or ORG")
	case v == VisibilityPrivate && author != user:
		return Invalid("a private document or point is written by its author only")
	}
	return nil
}

// PrivateOwner returns the user in whose own id space a document or vector
// point of this visibility and author lives: its author when it is PRIVATE,
// uuid.Nil (the org's shared id space) otherwise. Ids are unique per space,
// so another user writing or deleting the same id reaches a different,
// shared document and never the private one; and a memory whose visibility
// changes moves between its author's space and the shared one.
func PrivateOwner(v Visibility, author uuid.UUID) uuid.UUID {
	if v == VisibilityPrivate {
		return author
	}
	return uuid.Nil
}
