package relay

import (
	"errors"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

func TestGlobalIDs(t *testing.T) {
	id := uuid.New()
	gid := UUIDID(KindMemory, id)

	t.Run("a global id decodes back to its store id", func(t *testing.T) {
		got, err := DecodeUUID(gid, KindMemory)
		if err != nil || got != id {
			t.Fatalf("DecodeUUID = %v, %v; want %v", got, err, id)
		}
	})
	t.Run("an id of another kind is refused as invalid input", func(t *testing.T) {
		if _, err := DecodeUUID(gid, KindApp); !errors.Is(err, stores.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	for _, bad := range []string{"", "!!!", ID(KindMemory, "not-a-uuid"), "TWVtb3J5"} {
		t.Run("garbage "+bad+" is refused as invalid input", func(t *testing.T) {
			if _, err := DecodeUUID(bad, KindMemory); !errors.Is(err, stores.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCursors(t *testing.T) {
	c := NewCursors([]byte("0123456789abcdef0123456789abcdef"))
	sealed := c.Seal("memories:org-a", "2026-01-01|abc")

	t.Run("a sealed cursor opens in its own list", func(t *testing.T) {
		raw, err := c.Open("memories:org-a", sealed)
		if err != nil || raw != "2026-01-01|abc" {
			t.Fatalf("Open = %q, %v", raw, err)
		}
	})
	t.Run("a cursor from another tenant's list is refused", func(t *testing.T) {
		if _, err := c.Open("memories:org-b", sealed); !errors.Is(err, stores.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("an edited cursor is refused", func(t *testing.T) {
		b := []byte(sealed)
		b[len(b)-1] ^= 1
		if _, err := c.Open("memories:org-a", string(b)); !errors.Is(err, stores.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("a cursor sealed with another key is refused", func(t *testing.T) {
		other := NewCursors([]byte("another key of thirty-two bytes!"))
		if _, err := other.Open("memories:org-a", sealed); !errors.Is(err, stores.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestArgs(t *testing.T) {
	c := NewCursors([]byte("0123456789abcdef0123456789abcdef"))
	limits := Limits{DefaultFirst: 20, MaxFirst: 100}
	n := func(i int) *int { return &i }
	tests := []struct {
		name    string
		first   *int
		want    int
		invalid bool
	}{
		{"an omitted first takes the default", nil, 20, false},
		{"first at the cap is allowed", n(100), 100, false},
		{"first above the cap is refused", n(101), 0, true},
		{"zero is refused", n(0), 0, true},
		{"a negative first is refused", n(-1), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := c.Args(limits, "s", tt.first, nil)
			if tt.invalid {
				if !errors.Is(err, stores.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || args.First != tt.want {
				t.Fatalf("Args = %+v, %v; want First %d", args, err, tt.want)
			}
		})
	}
}
