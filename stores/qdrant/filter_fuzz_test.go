package qdrant

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores"
)

// FuzzFilterConditions feeds the vector-search filter arbitrary JSON
// objects: it never panics, refuses the reserved keys, and every condition
// it builds reads a key under the caller's payload object, so no filter can
// reach org_id or memory_id.
func FuzzFilterConditions(f *testing.F) {
	for _, seed := range []string{
		`{"tag":"x"}`, `{"org_id":"0a000000-0000-4000-8000-000000000001"}`, `{"memory_id":"x"}`,
		`{"a.b":1}`, `{"a\"]":true}`, `{"n":9007199254740993}`, `{"f":0.5,"b":false}`, `{"l":[1]}`,
		`{"":""}`, `{"payload\".\"org_id":"x"}`, `{"x\\":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var filter map[string]any
		if json.Unmarshal([]byte(data), &filter) != nil {
			return
		}
		conds, err := filterConditions(filter)
		if err != nil {
			return
		}
		for k := range filter {
			if stores.ReservedPayloadKey(k) {
				t.Fatalf("the reserved key %q was accepted", k)
			}
		}
		if len(conds) != len(filter) {
			t.Fatalf("%d conditions for %d keys", len(conds), len(filter))
		}
		for _, c := range conds {
			key := c.GetField().GetKey()
			if !strings.HasPrefix(key, userKey+`."`) || !strings.HasSuffix(key, `"`) || strings.Count(key, `"`) != 2 {
				t.Fatalf("a condition reads %q, outside the caller's payload", key)
			}
		}
	})
}
