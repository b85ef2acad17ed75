package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// LoadTrustedDocuments reads a persisted-operations manifest: a JSON object
// mapping each operation's sha256 (hex) to its text, as UI build tools emit
// it (Relay, graphql-codegen's client preset, Apollo's generate-persisted-query-manifest
// after conversion). Every hash is checked against its text.
func LoadTrustedDocuments(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs map[string]string
	if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of sha256 -> operation text: %w", path, err)
	}
	for hash, text := range docs {
		if hashOf(text) != hash {
			return nil, fmt.Errorf("%s: the text under %s does not hash to it", path, hash)
		}
	}
	return docs, nil
}

func hashOf(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// trustedDocuments serves only registered operations: a request names one
// by hash (the Apollo persisted-query extension) or sends a registered text.
// Anything else is refused before parsing, so an attacker cannot make the
// server even parse a document it does not know.
type trustedDocuments struct{ docs map[string]string }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = trustedDocuments{}

func (trustedDocuments) ExtensionName() string                   { return "TrustedDocuments" }
func (trustedDocuments) Validate(graphql.ExecutableSchema) error { return nil }

func (t trustedDocuments) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	if pq, ok := p.Extensions["persistedQuery"].(map[string]any); ok {
		hash, _ := pq["sha256Hash"].(string)
		if text, known := t.docs[hash]; known && (p.Query == "" || p.Query == text) {
			p.Query = text
			return nil
		}
	} else if _, known := t.docs[hashOf(p.Query)]; known && p.Query != "" {
		return nil
	}
	err := gqlerror.Errorf("this gateway serves only registered operations (trusted documents); send a registered operation's sha256 in extensions.persistedQuery")
	err.Extensions = map[string]any{"code": CodeForbidden}
	return err
}
