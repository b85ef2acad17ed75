package indexer

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/stores"
)

// TestFailureKinds: what is parked and what is retried. A wrong guess
// either way hurts: retrying a bad entry forever holds back its batch, and
// parking an unavailable index's entries needs an operator.
func TestFailureKinds(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		retryable bool
	}{
		{"an unavailable index", stores.Unavailable("opensearch", errors.New("connection refused")), true},
		{"a timeout", stores.Unavailable("qdrant", context.DeadlineExceeded), true},
		{"an unexplained error", errors.New("something odd"), true},
		{"a document the index rejects", stores.Invalid("document too large"), false},
		{"a vector of the wrong dimension", stores.Invalid("model %q takes vectors of dimension %d", "m", 384), false},
		{"the embedding server down", embeddingFailure(fmt.Errorf("%w: dial tcp: connection refused", embeddings.ErrUnavailable)), true},
		{"the embedding breaker open", embeddingFailure(fmt.Errorf("%w: circuit breaker open", embeddings.ErrUnavailable)), true},
		{"an embedder closing", embeddingFailure(embeddings.ErrClosed), true},
		{"an empty text", embeddingFailure(fmt.Errorf("%w: text 0 is empty", embeddings.ErrInvalid)), false},
		{"a text the embedding server refuses", embeddingFailure(fmt.Errorf("%w: status 413", embeddings.ErrRejected)), false},
		{"vectors of the wrong dimension from the server", embeddingFailure(fmt.Errorf("%w: dimension 3", embeddings.ErrBadResponse)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := retryable(c.err); got != c.retryable {
				t.Fatalf("retryable(%v) = %v, want %v", c.err, got, c.retryable)
			}
		})
	}
}

// TestBackoff: the delay doubles from about 100ms and stays within the cap,
// jitter included, however many attempts came before.
func TestBackoff(t *testing.T) {
	ix := New(nil, stores.Backends{}, Options{MaxBackoff: 500e6})
	for attempts, upTo := range map[int]float64{1: 0.2, 2: 0.4, 3: 0.5, 25: 0.5, 1000: 0.5} {
		for range 100 {
			d := ix.backoff(attempts).Seconds()
			if d < upTo/2 || d > upTo {
				t.Fatalf("backoff after %d attempts: %.3fs, want between %.3fs and %.3fs", attempts, d, upTo/2, upTo)
			}
		}
	}
}
