// Package relay implements the Relay conventions the schema follows: opaque
// global ids ("Node" ids) and tamper-checked cursors, and turns connection
// arguments into store page requests.
package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Kind is the type of object a global id names; it is the GraphQL type name.
type Kind string

// The kinds of global ids.
const (
	KindMemory        Kind = "Memory"
	KindApp           Kind = "App"
	KindCategory      Kind = "Category"
	KindFeedbackEvent Kind = "FeedbackEvent"
	KindExperiment    Kind = "Experiment"
	KindVariant       Kind = "Variant"
	KindCodeRepo      Kind = "CodeRepo"
	KindCodeFile      Kind = "CodeFile"
	KindCodeSymbol    Kind = "CodeSymbol"
)

var encoding = base64.RawURLEncoding.Strict()

// decode reads an id or cursor, refusing every non-canonical spelling (the
// decoder alone skips newlines and, unless strict, stray trailing bits), so
// each object has exactly one id string.
func decode(s string) ([]byte, bool) {
	b, err := encoding.DecodeString(s)
	return b, err == nil && encoding.EncodeToString(b) == s
}

// ID returns the global id of the object of the given kind whose store id is raw.
func ID(kind Kind, raw string) string {
	return encoding.EncodeToString([]byte(string(kind) + ":" + raw))
}

// UUIDID is ID for objects whose store id is a UUID.
func UUIDID(kind Kind, id uuid.UUID) string { return ID(kind, id.String()) }

// Parse splits a global id into its kind and store id. A string that is not a
// global id of this API is ErrInvalid.
func Parse(id string) (Kind, string, error) {
	b, ok := decode(id)
	if !ok {
		return "", "", stores.Invalid("%q is not an id of this API", clip(id))
	}
	kind, raw, ok := strings.Cut(string(b), ":")
	if !ok || kind == "" || raw == "" {
		return "", "", stores.Invalid("%q is not an id of this API", clip(id))
	}
	return Kind(kind), raw, nil
}

// Decode returns the store id of a global id that must be of the given kind.
func Decode(id string, kind Kind) (string, error) {
	k, raw, err := Parse(id)
	if err != nil {
		return "", err
	}
	if k != kind {
		return "", stores.Invalid("%q is not a %s id", clip(id), kind)
	}
	return raw, nil
}

// DecodeUUID is Decode for kinds whose store ids are UUIDs.
func DecodeUUID(id string, kind Kind) (uuid.UUID, error) {
	raw, err := Decode(id, kind)
	if err != nil {
		return uuid.Nil, err
	}
	u, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, stores.Invalid("%q is not a %s id", clip(id), kind)
	}
	return u, nil
}

// DecodeOptionalUUID is DecodeUUID for optional arguments: nil stays nil.
func DecodeOptionalUUID(id *string, kind Kind) (*uuid.UUID, error) {
	if id == nil {
		return nil, nil
	}
	u, err := DecodeUUID(*id, kind)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// clip keeps error messages short when a client sends a huge id.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Cursors seals store cursors so clients cannot forge them: a cursor is the
// store's own token plus an HMAC over the list it belongs to (scope, which
// includes the tenant) and the token. A cursor from another list or another
// tenant, or an edited one, is ErrInvalid.
type Cursors struct {
	key []byte
}

// NewCursors returns a sealer keyed by key (at least 32 random bytes in production).
func NewCursors(key []byte) Cursors {
	return Cursors{key: append([]byte(nil), key...)}
}

const macLen = 16

// Seal wraps a store cursor for a client.
func (c Cursors) Seal(scope, raw string) string {
	return encoding.EncodeToString(append(c.mac(scope, raw), raw...))
}

// Open checks and unwraps a client cursor.
func (c Cursors) Open(scope, cursor string) (string, error) {
	b, ok := decode(cursor)
	if !ok || len(b) < macLen {
		return "", stores.Invalid("the cursor is not valid for this list")
	}
	mac, raw := b[:macLen], string(b[macLen:])
	if !hmac.Equal(mac, c.mac(scope, raw)) {
		return "", stores.Invalid("the cursor is not valid for this list")
	}
	return raw, nil
}

func (c Cursors) mac(scope, raw string) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	return h.Sum(nil)[:macLen]
}

// Limits bound page sizes.
type Limits struct {
	DefaultFirst int // used when first is omitted
	MaxFirst     int // first above it is refused
}

// Args turns connection arguments into a store page request, opening the
// cursor. first must be 1..MaxFirst.
func (c Cursors) Args(l Limits, scope string, first *int, after *string) (stores.PageArgs, error) {
	n := l.DefaultFirst
	if first != nil {
		n = *first
	}
	if n < 1 || n > l.MaxFirst {
		return stores.PageArgs{}, stores.Invalid("first must be between 1 and %d", l.MaxFirst)
	}
	args := stores.PageArgs{First: n}
	if after != nil && *after != "" {
		raw, err := c.Open(scope, *after)
		if err != nil {
			return stores.PageArgs{}, err
		}
		args.After = raw
	}
	return args, nil
}

// changeCursorKind marks a change-log position, so that an id or a
// connection cursor given as a change cursor is refused, not misread.
const changeCursorKind = "change"

// ChangeCursor is the cursor of a position in the change log (a
// MemoryChangeEvent's cursor). A position is no secret (a tenant reads only
// its own changes, after any position), so the cursor is opaque, not sealed.
func ChangeCursor(seq int64) string { return ID(changeCursorKind, strconv.FormatInt(seq, 10)) }

// DecodeChangeCursor returns the change-log position of a ChangeCursor;
// anything else is ErrInvalid.
func DecodeChangeCursor(cursor string) (int64, error) {
	if b, ok := decode(cursor); ok {
		if digits, ok := strings.CutPrefix(string(b), changeCursorKind+":"); ok {
			if seq, err := strconv.ParseInt(digits, 10, 64); err == nil && seq >= 0 {
				return seq, nil
			}
		}
	}
	return 0, stores.Invalid("%q is not a memoryChanged cursor", clip(cursor))
}
