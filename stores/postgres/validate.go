package postgres

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/codingbrain/gateway/stores"
)

// Input checks, with the limits and messages of stores/embedded, so every
// backend refuses the same input with the same words. They run before
// anything is sent: PostgreSQL cannot store a NUL character, and a refused
// value should not cost a round trip.

// maxQueryIDLength bounds a feedback event's query id.
const maxQueryIDLength = 128

func checkContent(content string) error {
	switch {
	case content == "":
		return stores.Invalid("content must not be empty")
	case len(content) > stores.MaxMemoryContent:
		return stores.Invalid("content must be at most %d bytes", stores.MaxMemoryContent)
	case !utf8.ValidString(content):
		return stores.Invalid("content must be valid UTF-8")
	case strings.ContainsRune(content, 0):
		return stores.Invalid("content must not contain NUL characters")
	}
	return nil
}

// checkName trims a name and checks it like checkLabel; it returns the trimmed name.
func checkName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	return name, checkLabel(what, name, stores.MaxNameLength)
}

// checkLabel checks s as given: 1..max characters of UTF-8, no control characters.
func checkLabel(what, s string, max int) error {
	switch {
	case s == "":
		return stores.Invalid("%s must not be empty", what)
	case !utf8.ValidString(s):
		return stores.Invalid("%s must be valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return stores.Invalid("%s must be at most %d characters", what, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return stores.Invalid("%s must not contain control characters", what)
	}
	return nil
}

// checkFilterText refuses filter text PostgreSQL could not carry.
func checkFilterText(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return stores.Invalid("%s must be UTF-8 without NUL characters", what)
	}
	return nil
}

func checkDescription(d string) error {
	switch {
	case len(d) > stores.MaxMemoryContent:
		return stores.Invalid("description must be at most %d bytes", stores.MaxMemoryContent)
	case !utf8.ValidString(d):
		return stores.Invalid("description must be valid UTF-8")
	case strings.ContainsRune(d, 0):
		return stores.Invalid("description must not contain NUL characters")
	}
	return nil
}

// checkCategoryNames trims and checks category names and drops duplicates,
// keeping the first occurrence. Names are case-sensitive.
func checkCategoryNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n, err := checkName("category name", n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// jsonObject checks that m is a JSON object jsonb can store and returns its
// encoding; nil is {}.
func jsonObject(what string, m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", stores.Invalid("%s must be a JSON object", what)
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return "", stores.Invalid("%s must not contain NUL characters", what)
	}
	return string(raw), nil
}
