package tenantio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// stream writes a small valid stream and returns it.
func stream(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf, Header{Org: uuid.New(), ExportedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.record(KindApp, appRecord{ID: uuid.New(), Name: "app " + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.record(KindMemory, memoryRecord{ID: uuid.New(), Content: "a memory", Metadata: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads a stream to its end and returns the kinds it held.
func readAll(in []byte) ([]string, error) {
	r, err := newReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	var kinds []string
	for {
		kind, _, err := r.next()
		if errors.Is(err, io.EOF) {
			return kinds, nil
		}
		if err != nil {
			return kinds, err
		}
		kinds = append(kinds, kind)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	kinds, err := readAll(stream(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(kinds, ","), "app,app,app,memory"; got != want {
		t.Fatalf("read %s, want %s", got, want)
	}
}

func TestStreamRefusals(t *testing.T) {
	good := stream(t)
	lines := bytes.SplitAfter(good, []byte("\n"))
	cases := []struct {
		name, want string
		in         []byte
	}{
		{"an empty stream", "no header", nil},
		{"a stream cut inside a line", "truncated", good[:len(good)-10]},
		{"a stream cut between lines", "truncated", bytes.Join(lines[:3], nil)},
		{"a stream whose record was altered", "checksum mismatch", bytes.Replace(good, []byte("a memory"), []byte("b memory"), 1)},
		{"a stream with a line removed", "checksum mismatch", append(bytes.Join(lines[:2], nil), bytes.Join(lines[3:], nil)...)},
		{"a newer format version", "newer than this binary", bytes.Replace(good, []byte(`"version":1`), []byte(`"version":2`), 1)},
		{"a first line that is no header", "not a codingbrain-tenant-export header", bytes.Join(lines[1:], nil)},
		{"an unknown kind", "unknown kind", bytes.Replace(good, []byte(`"kind":"memory"`), []byte(`"kind":"secret"`), 1)},
		{"data after the trailer", "data follows the trailer", append(append([]byte{}, good...), lines[1]...)},
		{"a line that is not JSON", "not a JSON record", bytes.Replace(good, []byte(`{"kind":"memory"`), []byte(`["kind","memory"`), 1)},
	}
	for _, tc := range cases {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := readAll(tc.in)
			if !errors.Is(err, ErrInvalidStream) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read answered %v, want an invalid stream saying %q", err, tc.want)
			}
		})
	}
}
