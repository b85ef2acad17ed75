package graph

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The plain transport writes a response without errors itself; what it
// writes must be what json.Marshal writes, byte for byte.
func TestEncodeDataIsJSONMarshal(t *testing.T) {
	hasNext := false
	for _, r := range []*graphql.Response{
		{Data: json.RawMessage(`{"memories":{"nodes":[{"id":"TWVt","content":"a <b> & c \u2028 d \u2029","n":1.5,"m":null,"l":[]}]}}`)},
		{Data: json.RawMessage(`{"x":"\"quoted\" \\ back\u00e9"}`), Extensions: map[string]any{"cost": map[string]any{"depth": 4, "limits": map[string]any{"z": 1, "a": "<"}}}},
		{},
		{Data: json.RawMessage(`null`)},
	} {
		got, ok := encodeData(r)
		want, err := json.Marshal(r)
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("encodeData = %s, %v; json.Marshal = %s, %v", got, ok, want, err)
		}
	}
	for _, r := range []*graphql.Response{
		{Data: json.RawMessage(`{}`), Errors: gqlerror.List{{Message: "x"}}},
		{Data: json.RawMessage(`{}`), Label: "l"},
		{Data: json.RawMessage(`{}`), HasNext: &hasNext},
	} {
		if _, ok := encodeData(r); ok {
			t.Errorf("encodeData took %+v, which json.Marshal must encode", r)
		}
	}
}
