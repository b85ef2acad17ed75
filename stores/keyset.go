package stores

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Keyset cursors of the lists of memories, apps, categories, experiments and
// feedback, the same in PostgreSQL and the embedded stores. A cursor names
// the last row of a page by its sort key and id; the next page starts
// strictly after it, so rows inserted between pages neither repeat nor skip
// rows that were already there. The graph layer seals cursors; these only
// need to be unambiguous and refused when malformed.

const (
	newestCursorKind = "t" // lists ordered by created_at desc, id desc
	nameCursorKind   = "n" // lists ordered by name
)

// NewestCursor is a decoded cursor of a newest-first list; the zero value
// (no cursor) starts at the beginning.
type NewestCursor struct {
	Set bool
	At  time.Time
	ID  uuid.UUID
}

// NameCursor is a decoded cursor of a list ordered by name; the zero value
// (no cursor) starts at the beginning.
type NameCursor struct {
	Set  bool
	Name string
	ID   uuid.UUID
}

// EncodeNewestCursor names a row of a newest-first list.
func EncodeNewestCursor(at time.Time, id uuid.UUID) string {
	return packCursor(newestCursorKind, id, strconv.FormatInt(at.UnixMicro(), 10))
}

func decodeNewestCursor(s string) (NewestCursor, error) {
	if s == "" {
		return NewestCursor{}, nil
	}
	id, key, ok := unpackCursor(newestCursorKind, s)
	if !ok {
		return NewestCursor{}, Invalid("malformed cursor")
	}
	micros, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return NewestCursor{}, Invalid("malformed cursor")
	}
	return NewestCursor{Set: true, At: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// NewestPageStart checks the page arguments of a newest-first list and
// returns the position to continue after.
func NewestPageStart(p PageArgs) (NewestCursor, error) {
	c, err := decodeNewestCursor(p.After)
	if err != nil {
		return NewestCursor{}, err
	}
	return c, CheckPage(p)
}

// NamePageStart checks the page arguments of a list ordered by name and
// returns the position to continue after.
func NamePageStart(p PageArgs) (NameCursor, error) {
	c, err := decodeNameCursor(p.After)
	if err != nil {
		return NameCursor{}, err
	}
	return c, CheckPage(p)
}

// EncodeNameCursor names a row of a list ordered by name.
func EncodeNameCursor(name string, id uuid.UUID) string {
	return packCursor(nameCursorKind, id, name)
}

func decodeNameCursor(s string) (NameCursor, error) {
	if s == "" {
		return NameCursor{}, nil
	}
	id, name, ok := unpackCursor(nameCursorKind, s)
	if !ok || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return NameCursor{}, Invalid("malformed cursor")
	}
	return NameCursor{Set: true, Name: name, ID: id}, nil
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

// encodeJSONCursor is the text of a cursor that travels as base64url-encoded
// JSON (CodeCursor, SearchCursor).
func encodeJSONCursor(c any) string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeJSONCursor reads what encodeJSONCursor wrote into c; false when s is
// not such a text.
func decodeJSONCursor(s string, c any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && json.Unmarshal(raw, c) == nil
}
