package relay

import (
	"errors"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// FuzzDecodeID feeds arbitrary strings to the id decoders: they never
// panic, every refusal is ErrInvalid with a short message, and what they
// accept re-encodes to the same id.
func FuzzDecodeID(f *testing.F) {
	for _, seed := range []string{
		UUIDID(KindMemory, uuid.MustParse("0a000000-0000-4000-8000-000000000001")),
		ID(KindCodeSymbol, "main.Alpha"), ID(KindCodeFile, "a:b:c"), "", "=", "TWVtb3J5Og", "TWVtb3J5OjE",
		"TWVtb3J5OnNlY3JldA==", strings.Repeat("A", 1000), "\xff\xfe", "Q29kZVJlcG86",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		kind, raw, err := Parse(id)
		if err != nil {
			if !errors.Is(err, stores.ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid", id, err)
			}
			if len(stores.PublicMessage(err)) > 320 { // 64 clipped bytes, each at most 4 quoted
				t.Fatalf("the message for a %d-byte id is %d bytes", len(id), len(stores.PublicMessage(err)))
			}
		} else {
			if kind == "" || raw == "" {
				t.Fatalf("Parse(%q) accepted an empty kind or store id", id)
			}
			if again := ID(kind, raw); again != id {
				t.Fatalf("Parse(%q) = %q, %q, which encode to %q", id, kind, raw, again)
			}
		}
		u, err := DecodeUUID(id, KindMemory)
		if err == nil && UUIDID(KindMemory, u) != strings.ToLower(id) && kind != KindMemory {
			t.Fatalf("DecodeUUID(%q) accepted a %s id", id, kind)
		}
		if err != nil && !errors.Is(err, stores.ErrInvalid) {
			t.Fatalf("DecodeUUID(%q) = %v, want ErrInvalid", id, err)
		}
	})
}

// FuzzCursor opens arbitrary cursors (never a panic, only ErrInvalid), and
// checks that a sealed cursor opens only for its own list and key, and
// that any change to it is refused.
func FuzzCursor(f *testing.F) {
	c := NewCursors([]byte("0123456789abcdef0123456789abcdef"))
	f.Add("memories:org-a", "2026-11-25T09:30:00Z|0a000000", "", 0, byte(1))
	f.Add("search:org-b", "", "AAAAAAAAAAAAAAAAAAAAAA", 3, byte(0x80))
	f.Add("", "x", "\xff", 100, byte(0))
	f.Fuzz(func(t *testing.T, scope, raw, cursor string, flip int, mask byte) {
		if got, err := c.Open(scope, cursor); err != nil {
			if !errors.Is(err, stores.ErrInvalid) {
				t.Fatalf("Open(%q) = %v, want ErrInvalid", cursor, err)
			}
		} else if c.Seal(scope, got) != cursor {
			t.Fatalf("Open accepted %q, which is not what Seal gives for %q", cursor, got)
		}
		sealed := c.Seal(scope, raw)
		if got, err := c.Open(scope, sealed); err != nil || got != raw {
			t.Fatalf("Open(Seal(%q)) = %q, %v", raw, got, err)
		}
		if _, err := c.Open(scope+"x", sealed); err == nil {
			t.Fatalf("a cursor of list %q opened for another list", scope)
		}
		if _, err := NewCursors([]byte("another key, another key, 32 by")).Open(scope, sealed); err == nil {
			t.Fatal("a cursor opened under another key")
		}
		if mask != 0 && len(sealed) > 0 {
			b := []byte(sealed)
			i := (flip%len(b) + len(b)) % len(b)
			b[i] ^= mask
			if got, err := c.Open(scope, string(b)); err == nil && got != raw {
				t.Fatalf("an edited cursor %q opened as %q", b, got)
			}
		}
	})
}
