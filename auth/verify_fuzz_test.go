package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// FuzzVerify feeds arbitrary strings to the token parser: it never panics,
// refuses with ErrUnauthenticated and a short message, and accepts nothing
// but a token signed with the key; a valid token with one byte changed is
// refused.
func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz-secret-0123456789abcdef-0123456789")
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	v, err := NewVerifier(Config{HMACSecret: secret, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := Issue(secret, Principal{UserID: uuid.MustParse("0b000000-0000-4000-8000-000000000001"), OrgID: uuid.MustParse("0a000000-0000-4000-8000-000000000001"), Scopes: []string{ScopeMemoriesRead}}, time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		valid, "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("e", 4096), "\x00\xff.\xfe.",
	} {
		f.Add(seed, 0, byte(0))
	}
	f.Add(valid, 10, byte(1))
	f.Add(valid, len(valid)-1, byte(2))
	f.Fuzz(func(t *testing.T, token string, at int, mask byte) {
		if mask != 0 && len(token) > 0 {
			b := []byte(token)
			b[(at%len(b)+len(b))%len(b)] ^= mask
			token = string(b)
		}
		p, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Verify(%q) = %v, want ErrUnauthenticated", token, err)
			}
			if len(err.Error()) > 200 || strings.Contains(err.Error(), token) && len(token) > 20 {
				t.Fatalf("the refusal echoes the token or is long: %q", err.Error())
			}
			return
		}
		if token != valid && !sameClaims(t, token, valid) {
			t.Fatalf("Verify accepted %q, which is not the issued token", token)
		}
		if p.OrgID == uuid.Nil || p.UserID == uuid.Nil {
			t.Fatalf("an accepted token has no tenant: %+v", p)
		}
	})
}

// sameClaims reports whether two tokens differ only in their encoding
// (base64 trailing bits JWT decoders tolerate), not in what they say.
func sameClaims(t *testing.T, a, b string) bool {
	t.Helper()
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range 3 {
		x, errX := decodeSegment(pa[i])
		y, errY := decodeSegment(pb[i])
		if errX != nil || errY != nil || string(x) != string(y) {
			return false
		}
	}
	return true
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}
