package embeddings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests in this file use a fake server (httptest) because they need
// failures on demand: 503s, 429 with Retry-After, wrong answers. Everything
// else is tested against the real embedding server in openai_test.go.

// fakeServer answers POST /v1/embeddings with the status that answer returns
// for the n-th request (from 1); on 200 it sends dim-d vectors (or the count
// and dimension that wrong sets).
type fakeServer struct {
	*httptest.Server
	requests atomic.Int64
	answer   func(n int64, w http.ResponseWriter) (status int)
	wrong    struct{ extra, dim int }
	lastAuth atomic.Value
	lastBody atomic.Value
}

func newFakeServer(t *testing.T, answer func(n int64, w http.ResponseWriter) int) *fakeServer {
	t.Helper()
	f := &fakeServer{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		var req embeddingRequest
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f.lastAuth.Store(r.Header.Get("Authorization"))
		f.lastBody.Store(req)
		if status := f.answer(n, w); status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		dim := 4
		if f.wrong.dim != 0 {
			dim = f.wrong.dim
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i := 0; i < len(req.Input)+f.wrong.extra; i++ {
			v := make([]float32, dim)
			v[0] = float32(len(req.Input[min(i, len(req.Input)-1)]))
			data = append(data, item{Index: i, Embedding: v})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	}))
	t.Cleanup(f.Close)
	return f
}

func always(status int) func(int64, http.ResponseWriter) int {
	return func(int64, http.ResponseWriter) int { return status }
}

// fakeConfig: fast retries, so that the tests take milliseconds.
func fakeConfig(url string) Config {
	return Config{
		URL: url + "/v1", Model: "fake-4d", Dimension: 4,
		RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond,
		BreakerFailures: 3, BreakerCooldown: 50 * time.Millisecond,
	}
}

func newFake(t *testing.T, cfg Config) *OpenAI {
	t.Helper()
	o, err := NewOpenAI(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func TestRetries(t *testing.T) {
	t.Run("503 twice then 200 succeeds after two retries", func(t *testing.T) {
		f := newFakeServer(t, func(n int64, _ http.ResponseWriter) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		o := newFake(t, fakeConfig(f.URL))
		vecs, err := o.Embed(context.Background(), []string{"abc"})
		if err != nil {
			t.Fatalf("Embed: %v", err)
		}
		if vecs[0][0] != 3 {
			t.Errorf("vector %v, want the fake's [3 0 0 0]", vecs[0])
		}
		if s := o.Stats(); s.Requests != 3 || s.Retries != 2 || s.Batches != 1 {
			t.Errorf("stats %+v, want 3 requests, 2 retries, 1 batch", s)
		}
	})

	t.Run("a server that keeps failing gives ErrUnavailable after MaxRetries", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusBadGateway))
		cfg := fakeConfig(f.URL)
		cfg.MaxRetries = 2
		cfg.BreakerFailures = 100
		o := newFake(t, cfg)
		_, err := o.Embed(context.Background(), []string{"abc"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v, want ErrUnavailable", err)
		}
		if n := f.requests.Load(); n != 3 {
			t.Errorf("%d requests, want 1 + 2 retries", n)
		}
	})

	t.Run("Retry-After is waited for", func(t *testing.T) {
		f := newFakeServer(t, func(n int64, w http.ResponseWriter) int {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		})
		o := newFake(t, fakeConfig(f.URL))
		start := time.Now()
		if _, err := o.Embed(context.Background(), []string{"abc"}); err != nil {
			t.Fatalf("Embed: %v", err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("answered after %s, want at least the 1 s of Retry-After", d)
		}
	})

	t.Run("a Retry-After beyond MaxRetryAfter ends the retries at once", func(t *testing.T) {
		f := newFakeServer(t, func(_ int64, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "120")
			return http.StatusTooManyRequests
		})
		o := newFake(t, fakeConfig(f.URL))
		_, err := o.Embed(context.Background(), []string{"abc"})
		if !errors.Is(err, ErrUnavailable) || f.requests.Load() != 1 {
			t.Errorf("error %v after %d requests, want ErrUnavailable after 1", err, f.requests.Load())
		}
	})

	t.Run("a 4xx is ErrRejected, not retried and does not open the breaker", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusUnauthorized))
		o := newFake(t, fakeConfig(f.URL))
		for range 5 {
			if _, err := o.Embed(context.Background(), []string{"abc"}); !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v, want ErrRejected", err)
			}
		}
		if s := o.Stats(); s.Requests != 5 || s.Rejected != 0 {
			t.Errorf("stats %+v, want 5 requests and no breaker rejection", s)
		}
	})

	t.Run("the caller's deadline gives ErrUnavailable", func(t *testing.T) {
		release := make(chan struct{})
		f := newFakeServer(t, func(int64, http.ResponseWriter) int { <-release; return http.StatusOK })
		t.Cleanup(func() { close(release) })
		o := newFake(t, fakeConfig(f.URL))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := o.Embed(ctx, []string{"abc"}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})
}

func TestCircuitBreaker(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	f := newFakeServer(t, func(int64, http.ResponseWriter) int {
		if down.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	cfg := fakeConfig(f.URL)
	cfg.MaxRetries = -1
	o := newFake(t, cfg)
	ctx := context.Background()

	for i := range 3 {
		if _, err := o.Embed(ctx, []string{"abc"}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: error %v, want ErrUnavailable", i, err)
		}
	}
	if _, err := o.Embed(ctx, []string{"abc"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with the breaker open: error %v, want ErrUnavailable", err)
	}
	if s := o.Stats(); s.Requests != 3 || s.Rejected != 1 {
		t.Fatalf("stats %+v, want 3 requests then 1 refused by the open breaker", s)
	}

	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := o.Embed(ctx, []string{"abc"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 5 s after the server recovered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := o.Stats(); s.Requests != 4 {
		t.Errorf("%d requests, want the 3 failures + 1 trial after the cooldown", s.Requests)
	}
}

func TestAnswers(t *testing.T) {
	t.Run("one vector too many is ErrBadResponse, not retried", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		f.wrong.extra = 1
		o := newFake(t, fakeConfig(f.URL))
		if _, err := o.Embed(context.Background(), []string{"abc"}); !errors.Is(err, ErrBadResponse) || f.requests.Load() != 1 {
			t.Errorf("error %v after %d requests, want ErrBadResponse after 1", err, f.requests.Load())
		}
	})

	t.Run("a vector of another dimension is ErrBadResponse", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		f.wrong.dim = 5
		o := newFake(t, fakeConfig(f.URL))
		if _, err := o.Embed(context.Background(), []string{"abc"}); !errors.Is(err, ErrBadResponse) {
			t.Errorf("error %v, want ErrBadResponse", err)
		}
	})

	t.Run("the dimension is learned from the server when not configured", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		cfg := fakeConfig(f.URL)
		cfg.Dimension = 0
		o := newFake(t, cfg)
		if o.Dimension() != 4 {
			t.Errorf("Dimension() = %d, want 4", o.Dimension())
		}
	})

	t.Run("a server down at start fails NewOpenAI with ErrUnavailable when the dimension must be learned", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		f.Close()
		cfg := fakeConfig(f.URL)
		cfg.Dimension = 0
		if _, err := NewOpenAI(context.Background(), cfg); !errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v, want ErrUnavailable", err)
		}
		cfg.Dimension = 4
		if _, err := NewOpenAI(context.Background(), cfg); err != nil {
			t.Errorf("with a configured dimension: %v, want a provider", err)
		}
	})

	t.Run("the API key goes as a bearer token, with the model", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		cfg := fakeConfig(f.URL)
		cfg.APIKey = "sk-test"
		o := newFake(t, cfg)
		if _, err := o.Embed(context.Background(), []string{"abc"}); err != nil {
			t.Fatal(err)
		}
		if got := f.lastAuth.Load(); got != "Bearer sk-test" {
			t.Errorf("Authorization %q", got)
		}
		if got := f.lastBody.Load().(embeddingRequest); got.Model != "fake-4d" || got.EncodingFormat != "float" {
			t.Errorf("request %+v", got)
		}
	})

	t.Run("an empty text is ErrInvalid and sends nothing", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		o := newFake(t, fakeConfig(f.URL))
		if _, err := o.Embed(context.Background(), []string{"abc", "  "}); !errors.Is(err, ErrInvalid) || f.requests.Load() != 0 {
			t.Errorf("error %v after %d requests, want ErrInvalid and none", err, f.requests.Load())
		}
	})

	t.Run("Embed after Close is ErrClosed", func(t *testing.T) {
		f := newFakeServer(t, always(http.StatusOK))
		o := newFake(t, fakeConfig(f.URL))
		_ = o.Close()
		if _, err := o.Embed(context.Background(), []string{"abc"}); !errors.Is(err, ErrClosed) {
			t.Errorf("error %v, want ErrClosed", err)
		}
	})
}

func TestRetryAfterHeader(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"Mon, 02 Jan 2006 15:04:05 GMT", 0}, // in the past
	} {
		if got := retryAfter(tc.header); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < 59*time.Minute {
		t.Errorf("retryAfter(an HTTP date in an hour) = %s", got)
	}
}

// A provider made while the server is down answers ErrUnavailable at once,
// without a request, until a probe reaches the server.
func TestUnprobedProviderServesOnceAProbeSucceeds(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	f := newFakeServer(t, func(int64, http.ResponseWriter) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := fakeConfig(f.URL)
	cfg.Dimension = 0
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	ctx := context.Background()

	if _, err := o.Embed(ctx, []string{"abc"}); !errors.Is(err, ErrUnavailable) || f.requests.Load() != 0 {
		t.Fatalf("before a probe: error %v after %d requests, want ErrUnavailable and none", err, f.requests.Load())
	}
	for range 5 { // more failures than BreakerFailures: probes do not trip the breaker
		if err := o.Probe(ctx); !errors.Is(err, ErrUnavailable) || o.Status() != "connecting" || o.Dimension() != 0 {
			t.Fatalf("probe of a server answering 503: %v, status %s, dimension %d", err, o.Status(), o.Dimension())
		}
	}
	down.Store(false)
	if err := o.Probe(ctx); err != nil || o.Status() != "closed" || o.Dimension() != 4 {
		t.Fatalf("probe of a server that is up: %v, status %s, dimension %d", err, o.Status(), o.Dimension())
	}
	if _, err := o.Embed(ctx, []string{"abc"}); err != nil {
		t.Fatalf("right after the probe: %v", err)
	}
}

// An unreachable cache costs a call at most its lookup bound, and the calls
// after it nothing while the cache rests: embedding goes on without it.
func TestAnUnreachableCacheDoesNotHoldCalls(t *testing.T) {
	f := newFakeServer(t, always(http.StatusOK))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	client := redis.NewClient(&redis.Options{Addr: closed, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	cfg := fakeConfig(f.URL)
	cfg.Cache = NewValkeyCache(client, time.Minute)
	o := newFake(t, cfg)
	for i := range 5 {
		start := time.Now()
		if _, err := o.Embed(context.Background(), []string{fmt.Sprint("text ", i)}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if took := time.Since(start); took > cacheTimeout+200*time.Millisecond {
			t.Fatalf("call %d took %v with the cache unreachable", i, took)
		}
	}
}
