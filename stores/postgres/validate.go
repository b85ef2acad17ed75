package postgres

import (
	"bytes"
	"encoding/json"

	"github.com/codingbrain/gateway/stores"
)

// Input checks of PostgreSQL's own (the shared ones are in stores): they run
// before anything is sent, so a refused value costs no round trip.

// jsonObject checks that m is a JSON object jsonb can store and returns its
// encoding; nil is {}.
func jsonObject(what string, m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", stores.Invalid("%s must be a JSON object", what)
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return "", stores.Invalid("%s must not contain NUL characters", what)
	}
	return string(raw), nil
}
