package model

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalJSON writes the JSON scalar: an object, or null.
//
// The value is encoded now, while the field is being resolved, not in the
// returned writer: gqlgen calls writers when it writes the response, after
// the field's panic recovery has ended, where a panic would abort the
// response mid-write. Here it is recovered and answered as an internal error
// on the field.
func MarshalJSON(v map[string]any) graphql.Marshaler {
	if v == nil {
		return graphql.Null
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Stores only hold values that came in as JSON; this is a bug.
		panic(fmt.Errorf("JSON scalar: %w", err))
	}
	return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(b) })
}

// UnmarshalJSON reads the JSON scalar. It must be an object. Numbers become
// float64 wherever they sit, as encoding/json reads them, so a value looks
// the same when it comes in and when a store gives it back (gqlgen decodes
// variables with UseNumber, which would otherwise leave json.Number values).
func UnmarshalJSON(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a JSON value here must be an object, got %T", v)
	}
	out, err := normalise(m)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

func normalise(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("the number %s is out of range", x)
		}
		return f, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalise(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalise(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	return v, nil
}
