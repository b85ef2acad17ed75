package model

import (
	"bytes"
	"math"
	"testing"
)

// A value the JSON scalar cannot encode fails while the field is resolved,
// inside gqlgen's panic recovery for the field, not later in the writer that
// runs while the response is written, where a panic aborts the response.
func TestMarshalJSONFailsBeforeTheWriter(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MarshalJSON returned a writer for a value JSON cannot encode")
		}
	}()
	_ = MarshalJSON(map[string]any{"score": math.NaN()})
}

func TestMarshalJSONWritesTheObject(t *testing.T) {
	var buf bytes.Buffer
	MarshalJSON(map[string]any{"a": []any{1.5, "x"}}).MarshalGQL(&buf)
	if buf.String() != `{"a":[1.5,"x"]}` {
		t.Errorf("wrote %s", buf.String())
	}
	buf.Reset()
	MarshalJSON(nil).MarshalGQL(&buf)
	if buf.String() != "null" {
		t.Errorf("nil wrote %s", buf.String())
	}
}
