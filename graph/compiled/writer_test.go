package compiled

import (
	"bytes"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// FuzzString checks that the writer quotes a string exactly as gqlgen's
// own marshaller does, for any bytes (invalid UTF-8 included).
func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `quotes " and \ backslash`, "tab\tcr\rnl\n", "\x00\x01\x1f\x7f", "html <script>&amp;</script>",
		"emoji 🧠 and \u2028\u2029 separators", "invalid \xff\xfe utf-8 \xc3", "ünïcödé", "\"\\\"\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		graphql.MarshalString(s).MarshalGQL(&want)
		w := writer{buf: &bytes.Buffer{}}
		w.str(s)
		if !bytes.Equal(w.buf.Bytes(), want.Bytes()) {
			t.Fatalf("str(%q) = %s, gqlgen writes %s", s, w.buf.Bytes(), want.Bytes())
		}
	})
}
