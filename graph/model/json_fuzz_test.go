package model

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzUnmarshalJSON feeds the JSON scalar what gqlgen's decoder makes of
// arbitrary variables: it never panics, accepts objects only, and what it
// accepts marshals back to JSON that reads the same again.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"recall":{"vectorWeight":2,"k":60}}`, `{"n":1e308}`, `{"n":1e309}`,
		`{"a":[1,"x",true,null,{"b":-0.5}]}`, `[]`, `"s"`, `null`, `{"\u0000":"\ud800"}`, `{"a":{"a":{"a":{}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // as gqlgen decodes variables
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		m, err := UnmarshalJSON(v)
		if err != nil {
			if _, isObject := v.(map[string]any); isObject && m != nil {
				t.Fatalf("an error and a value for %s", data)
			}
			return
		}
		if _, isObject := v.(map[string]any); !isObject {
			t.Fatalf("accepted a non-object: %s", data)
		}
		var out bytes.Buffer
		MarshalJSON(m).MarshalGQL(&out)
		var again map[string]any
		if err := json.Unmarshal(out.Bytes(), &again); err != nil {
			t.Fatalf("marshalled %s to invalid JSON %s: %v", data, out.Bytes(), err)
		}
		m2, err := UnmarshalJSON(again)
		if err != nil {
			t.Fatalf("the marshalled value %s does not read again: %v", out.Bytes(), err)
		}
		b1, _ := json.Marshal(m)
		b2, _ := json.Marshal(m2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("a round trip changed %s into %s", b1, b2)
		}
	})
}
