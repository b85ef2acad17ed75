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

// NewestCursor is a row's position in a newest-first list.
type NewestCursor struct {
	At time.Time
	ID uuid.UUID
}

// NameCursor is a row's position in a list ordered by a unique name.
type NameCursor struct {
	Name string
	ID   uuid.UUID
}

// Encode gives the cursor a client hands back as after.
func (c NewestCursor) Encode() string {
	return packCursor(newestCursorKind, c.ID, strconv.FormatInt(c.At.UnixMicro(), 10))
}

// Encode gives the cursor a client hands back as after.
func (c NameCursor) Encode() string { return packCursor(nameCursorKind, c.ID, c.Name) }

// NewestPageStart checks the page arguments of a newest-first list and
// returns the position to continue after (nil on the first page).
func NewestPageStart(p PageArgs) (*NewestCursor, error) {
	if p.After == "" {
		return nil, CheckPage(p)
	}
	id, key, ok := unpackCursor(newestCursorKind, p.After)
	if !ok {
		return nil, Invalid("malformed cursor")
	}
	micros, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return nil, Invalid("malformed cursor")
	}
	return &NewestCursor{At: time.UnixMicro(micros).UTC(), ID: id}, CheckPage(p)
}

// NamePageStart checks the page arguments of a list ordered by name and
// returns the position to continue after (nil on the first page).
func NamePageStart(p PageArgs) (*NameCursor, error) {
	if p.After == "" {
		return nil, CheckPage(p)
	}
	id, name, ok := unpackCursor(nameCursorKind, p.After)
	if !ok || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return nil, Invalid("malformed cursor")
	}
	return &NameCursor{Name: name, ID: id}, CheckPage(p)
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
