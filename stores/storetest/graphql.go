package storetest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// GraphQLError is one error of a GraphQL answer, as a client reads it.
type GraphQLError struct {
	Message    string
	Extensions struct{ Code string }
}

// GraphQL posts one operation to base+"/graphql" as the bearer of token,
// decodes its data into out (when not nil) and returns its errors: for the
// tests that check what a store does through a gateway.
func GraphQL(t testing.TB, base, token, query string, vars map[string]any, out any) []GraphQLError {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	RequireNoError(t, err)
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	RequireNoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	RequireNoError(t, err)
	defer func() { _ = resp.Body.Close() }() // decoded whole below
	var r struct {
		Data   json.RawMessage
		Errors []GraphQLError
	}
	RequireNoError(t, json.NewDecoder(resp.Body).Decode(&r))
	if out != nil && len(r.Data) > 0 {
		RequireNoError(t, json.Unmarshal(r.Data, out))
	}
	return r.Errors
}

// MustGraphQL is GraphQL for operations that must succeed.
func MustGraphQL(t testing.TB, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	if errs := GraphQL(t, base, token, query, vars, out); len(errs) > 0 {
		t.Fatalf("%s: errors %+v", query, errs)
	}
}
