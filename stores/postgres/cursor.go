package postgres

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Keyset pagination. A cursor names the last row of a page by its sort key
// and id; the next page's query starts strictly after it with a row
// comparison the list's index serves, so rows inserted between pages neither
// repeat nor skip rows that were already there. The graph layer seals
// cursors; these only need to be unambiguous and refused when malformed.

const (
	newestCursorKind = "t" // lists ordered by created_at desc, id desc
	nameCursorKind   = "n" // lists ordered by name
)

// timeCursor is a decoded newest-first cursor; the zero value means "from the start".
type timeCursor struct {
	at *time.Time
	id uuid.UUID
}

func newestCursor(at time.Time, id uuid.UUID) string {
	return packCursor(newestCursorKind, id, strconv.FormatInt(at.UnixMicro(), 10))
}

func parseNewestCursor(s string) (timeCursor, error) {
	if s == "" {
		return timeCursor{}, nil
	}
	id, key, ok := unpackCursor(newestCursorKind, s)
	if !ok {
		return timeCursor{}, stores.Invalid("malformed cursor")
	}
	micros, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return timeCursor{}, stores.Invalid("malformed cursor")
	}
	at := time.UnixMicro(micros).UTC()
	return timeCursor{at: &at, id: id}, nil
}

func nameCursor(name string, id uuid.UUID) string { return packCursor(nameCursorKind, id, name) }

// parseNameCursor returns the name to start after, nil for the first page.
func parseNameCursor(s string) (*string, error) {
	if s == "" {
		return nil, nil
	}
	_, name, ok := unpackCursor(nameCursorKind, s)
	if !ok || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return nil, stores.Invalid("malformed cursor")
	}
	return &name, nil
}

// packCursor encodes kind, id and key as base64url("kind|id|key").
func packCursor(kind string, id uuid.UUID, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "|" + id.String() + "|" + key))
}

func unpackCursor(kind, s string) (uuid.UUID, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return uuid.Nil, "", false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[0] != kind {
		return uuid.Nil, "", false
	}
	id, err := uuid.Parse(parts[1])
	if err != nil {
		return uuid.Nil, "", false
	}
	return id, parts[2], true
}

// page cuts rows fetched with LIMIT first+1 into a stores.Page.
func page[T any](rows []T, first int, cursor func(T) string) stores.Page[T] {
	more := len(rows) > first
	if more {
		rows = rows[:first]
	}
	p := stores.Page[T]{Items: rows, Cursors: make([]string, len(rows)), HasNextPage: more}
	if p.Items == nil {
		p.Items = []T{}
	}
	for i, r := range rows {
		p.Cursors[i] = cursor(r)
	}
	return p
}
