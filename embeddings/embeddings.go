// Package embeddings turns texts into vectors on an embedding server: the
// Embedder interface, an OpenAI-compatible HTTP provider that batches,
// retries, breaks the circuit and caches, and the caches it can use (an
// in-process LRU, or Valkey shared by every gateway process).
package embeddings

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Embedder embeds texts with one model.
type Embedder interface {
	// Embed returns one vector per text, in the order of texts, each of
	// Dimension() floats. An empty slice gives an empty result. Returns an
	// error wrapping ErrInvalid for an empty text, ErrUnavailable when the
	// server cannot be reached, keeps failing or the circuit breaker is open,
	// ErrRejected when the server refuses the request, and ErrBadResponse when
	// its answer has the wrong count or dimension.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model returns the model name sent to the server (and part of every
	// cache key).
	Model() string
	// Dimension returns the length of every vector Embed returns, so that the
	// caller can check it against its vector collection.
	Dimension() int
}

// Errors returned by this package, to be compared with errors.Is. Messages
// carry no text that was embedded.
var (
	// ErrUnavailable: the server is down, timed out, kept answering 429 or
	// 5xx through every retry, or the circuit breaker is open. The gateway
	// maps it to STORE_UNAVAILABLE.
	ErrUnavailable = errors.New("embeddings: server unavailable")
	// ErrRejected: the server refused the request with a 4xx other than 429
	// (a wrong API key, an unknown model, an input it cannot take).
	ErrRejected = errors.New("embeddings: request rejected by the server")
	// ErrBadResponse: the answer could not be decoded, or held the wrong
	// number of vectors or vectors of the wrong dimension.
	ErrBadResponse = errors.New("embeddings: bad response from the server")
	// ErrInvalid: the caller passed an empty text.
	ErrInvalid = errors.New("embeddings: invalid input")
	// ErrClosed: Embed was called after Close.
	ErrClosed = errors.New("embeddings: embedder closed")
)

// Config configures an OpenAI-compatible embedding provider. Zero values take
// the defaults documented on each field (applied in one place, withDefaults).
type Config struct {
	// URL is the API's base URL, as OpenAI clients take it, e.g.
	// http://127.0.0.1:7997/v1; requests go to URL + "/embeddings".
	// (EMBEDDINGS_URL)
	URL string
	// Model is the model name sent with every request. (EMBEDDINGS_MODEL)
	Model string
	// APIKey, when set, is sent as "Authorization: Bearer APIKey".
	// (EMBEDDINGS_API_KEY)
	APIKey string
	// Dimension of the model's vectors. 0: learned at start by embedding one
	// probe text, which then needs the server up. When set, NewOpenAI starts
	// without the server and every answer is checked against it.
	// (EMBEDDINGS_DIMENSION)
	Dimension int

	// MaxBatch is the most texts sent in one request. Default 32.
	MaxBatch int
	// BatchWindow is how long the first text of a batch waits for others
	// (from any caller) before the batch is sent. Default 2 ms.
	BatchWindow time.Duration
	// MaxConcurrent bounds the requests in flight at once. Default 4.
	MaxConcurrent int
	// MaxTextBytes: longer texts are cut (at a UTF-8 boundary) before they
	// are sent and hashed. The server truncates at its own token limit
	// anyway (256 tokens for all-MiniLM-L6-v2). Default 8192.
	MaxTextBytes int

	// Timeout bounds one HTTP attempt. Default 10 s.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt (transport error, 429,
	// 5xx) is retried. Default 3; negative: no retry.
	MaxRetries int
	// RetryBase is the first backoff; it doubles per retry up to RetryMax,
	// with jitter (a random wait between half of it and all of it). Defaults
	// 100 ms and 2 s.
	RetryBase, RetryMax time.Duration
	// MaxRetryAfter: a Retry-After longer than this ends the retries at once
	// with ErrUnavailable instead of holding the caller. Default 10 s.
	MaxRetryAfter time.Duration

	// BreakerFailures consecutive failed attempts open the circuit breaker.
	// Default 5.
	BreakerFailures int
	// BreakerCooldown is how long the breaker stays open before it lets one
	// trial request through. Default 2 s: a server that returns serves again
	// within about that long.
	BreakerCooldown time.Duration

	// Cache holds vectors by (model, sha256 of text). Default: an in-process
	// LRU of 10,000 vectors (NewLRU). Pass a ValkeyCache to share it.
	Cache Cache
	// HTTPClient sends the requests. Default: a client of its own with
	// keep-alive connections for MaxConcurrent requests.
	HTTPClient *http.Client
}

// withDefaults returns cfg with every zero field set to its default, or an
// error for a setting that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" {
		return cfg, fmt.Errorf("%w: no URL configured", ErrInvalid)
	}
	if cfg.Model == "" {
		return cfg, fmt.Errorf("%w: no model configured", ErrInvalid)
	}
	if cfg.Dimension < 0 {
		return cfg, fmt.Errorf("%w: negative dimension", ErrInvalid)
	}
	setDefault(&cfg.MaxBatch, 32)
	setDefault(&cfg.BatchWindow, 2*time.Millisecond)
	setDefault(&cfg.MaxConcurrent, 4)
	setDefault(&cfg.MaxTextBytes, 8192)
	setDefault(&cfg.Timeout, 10*time.Second)
	setDefault(&cfg.MaxRetries, 3)
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	setDefault(&cfg.RetryBase, 100*time.Millisecond)
	setDefault(&cfg.RetryMax, 2*time.Second)
	setDefault(&cfg.MaxRetryAfter, 10*time.Second)
	setDefault(&cfg.BreakerFailures, 5)
	setDefault(&cfg.BreakerCooldown, 2*time.Second)
	if cfg.Cache == nil {
		cfg.Cache = NewLRU(10000)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment, // never used for loopback addresses
			MaxIdleConnsPerHost: cfg.MaxConcurrent,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return cfg, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Stats are counters since the provider was made; tests and benchmarks read
// them to count round trips.
type Stats struct {
	Requests    uint64 // HTTP requests sent, retries included
	Retries     uint64 // of those, retries
	Batches     uint64 // requests answered with vectors
	TextsSent   uint64 // texts in the answered requests
	CacheHits   uint64 // texts answered from the cache
	CacheMisses uint64 // texts not in the cache (sent, or joined a batch already sending them)
	CacheErrors uint64 // cache calls that failed (the text is then embedded as a miss)
	Rejected    uint64 // calls refused at once by the open circuit breaker
}
