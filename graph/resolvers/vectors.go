package resolvers

import (
	"context"
	"strings"

	"github.com/codingbrain/gateway/stores"
)

// checkModelName refuses a model name that cannot name a collection.
func checkModelName(name string) error {
	if !stores.ValidModelName(name) {
		return stores.Invalid("model must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// embedQuery embeds one query text with the gateway's embedder: blank text
// is the caller's fault, a failure to embed the embedding server's.
func (r *Resolver) embedQuery(ctx context.Context, text string) ([]float32, error) {
	if strings.TrimSpace(text) == "" {
		return nil, stores.Invalid("text must not be blank")
	}
	vectors, err := r.Embedder.Embed(ctx, []string{text})
	if err != nil {
		return nil, stores.Unavailable("embeddings", err)
	}
	return vectors[0], nil
}

// vectorSearch runs vectorSearch: a vector with its model, or text that the
// gateway embeds (once) with its own model.
func (r *Resolver) vectorSearch(ctx context.Context, b *stores.Bundle, model string, vector []float64, text string, filter map[string]any, first *int) ([]stores.VectorHit, error) {
	limit := 10
	if first != nil {
		limit = *first
	}
	if limit < 1 || limit > stores.MaxVectorLimit {
		return nil, stores.Invalid("first must be between 1 and %d", stores.MaxVectorLimit)
	}
	var query []float32
	switch {
	case vector != nil && text != "":
		return nil, stores.Invalid("give a vector or text, not both")
	case vector != nil:
		if model == "" {
			return nil, stores.Invalid("a vector needs its model")
		}
		v, err := float32s(vector)
		if err != nil {
			return nil, err
		}
		query = v
	case text != "":
		if r.Embedder == nil {
			return nil, stores.Invalid("this gateway has no embedding server (EMBEDDINGS_URL): give a vector instead of text")
		}
		if model == "" {
			model = r.Embedder.Model()
		} else if model != r.Embedder.Model() {
			return nil, stores.Invalid("text is embedded with the model %s, not %s", r.Embedder.Model(), model)
		}
		v, err := r.embedQuery(ctx, text)
		if err != nil {
			return nil, err
		}
		query = v
	default:
		return nil, stores.Invalid("vectorSearch needs a vector or text")
	}
	if err := checkModelName(model); err != nil {
		return nil, err
	}
	return b.Vectors.SearchVectors(ctx, model, query, filter, limit)
}
