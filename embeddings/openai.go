package embeddings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sony/gobreaker/v2"
)

// probeText is embedded once at start when the dimension is not configured.
const probeText = "dimension probe"

// maxResponseBytes bounds the answer read for one batch (32 vectors of 3,072
// floats as JSON take about 2 MiB).
const maxResponseBytes = 64 << 20

// OpenAI embeds texts through an OpenAI-compatible POST {URL}/embeddings
// (OpenAI, infinity-emb, text-embeddings-inference, vLLM, Ollama...). Texts
// not in the cache are coalesced across concurrent callers into batches of at
// most MaxBatch texts, sent after BatchWindow at the latest; each batch is
// retried with backoff and guarded by a circuit breaker. Safe for concurrent
// use; call Close when done.
type OpenAI struct {
	cfg      Config
	endpoint string
	dim      atomic.Int64 // 0 until configured or learned by Probe, then fixed
	// probed holds once the server has answered (Probe) or the provider
	// was made ready without asking it (NewOpenAI with a dimension);
	// until then Embed answers ErrUnavailable at once.
	probed  atomic.Bool
	breaker *gobreaker.CircuitBreaker[[][]float32]
	sem     chan struct{} // one token per request in flight

	base   context.Context // cancelled by Close; batches run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // batches being sent

	cacheRestUntil atomic.Int64 // unix nanoseconds: no cache lookups before

	mu      sync.Mutex
	pending *batch // collecting texts, not sent yet
	closed  bool

	requests, retries, batches, textsSent       atomic.Uint64
	cacheHits, cacheMisses, cacheErrors, reject atomic.Uint64
}

// batch is one request's worth of texts from any number of callers. done is
// closed once vecs (aligned with texts) or err is set.
type batch struct {
	texts, keys []string
	pos         map[string]int // cache key -> index in texts, to send a text once
	timer       *time.Timer
	done        chan struct{}
	vecs        [][]float32
	err         error
}

var _ Embedder = (*OpenAI)(nil)

// NewOpenAI returns a provider for cfg. When cfg.Dimension is 0 it embeds one
// probe text to learn the dimension, so the server must answer within ctx
// (else an error wrapping ErrUnavailable); with a configured dimension it
// makes no request.
func NewOpenAI(ctx context.Context, cfg Config) (*OpenAI, error) {
	o, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if o.Dimension() != 0 {
		o.probed.Store(true)
		return o, nil
	}
	if err := o.Probe(ctx); err != nil {
		o.cancel()
		return nil, err
	}
	return o, nil
}

// New returns a provider for cfg without contacting the server: until a
// Probe succeeds, Embed answers ErrUnavailable at once, so a gateway can
// start while the server is down and connect it in the background.
func New(cfg Config) (*OpenAI, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	o := &OpenAI{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.URL, "/") + "/embeddings",
		sem:      make(chan struct{}, cfg.MaxConcurrent),
	}
	o.dim.Store(int64(cfg.Dimension))
	o.breaker = gobreaker.NewCircuitBreaker[[][]float32](gobreaker.Settings{
		Name:        "embeddings",
		MaxRequests: 1,
		Timeout:     cfg.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(cfg.BreakerFailures)
		},
		// A refusal (4xx) comes from a server that is up.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, ErrRejected) },
		// Close cancels requests in flight: that says nothing of the server.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	o.base, o.cancel = context.WithCancel(context.Background())
	return o, nil
}

// Probe embeds one probe text, within ctx and one attempt's timeout, to
// learn the model's dimension (or check the configured one); once it
// succeeds Embed serves. It bypasses the circuit breaker: failed probes of
// a server that is still down must not hold its first calls back once it
// is up.
func (o *OpenAI) Probe(ctx context.Context) error {
	vecs, err := o.post(ctx, []string{probeText})
	if err != nil {
		return fmt.Errorf("embeddings: probing %s with model %s: %w", o.cfg.URL, o.cfg.Model, err)
	}
	o.dim.CompareAndSwap(0, int64(len(vecs[0])))
	o.probed.Store(true)
	return nil
}

// Model implements Embedder.
func (o *OpenAI) Model() string { return o.cfg.Model }

// Dimension implements Embedder; 0 while it is still to be learned.
func (o *OpenAI) Dimension() int { return int(o.dim.Load()) }

// Status names the provider's state for readiness reports: "connecting"
// until a probe succeeds, then its circuit breaker's state.
func (o *OpenAI) Status() string {
	if !o.probed.Load() {
		return "connecting"
	}
	return o.breaker.State().String()
}

// Stats returns the counters so far.
func (o *OpenAI) Stats() Stats {
	return Stats{
		Requests:    o.requests.Load(),
		Retries:     o.retries.Load(),
		Batches:     o.batches.Load(),
		TextsSent:   o.textsSent.Load(),
		CacheHits:   o.cacheHits.Load(),
		CacheMisses: o.cacheMisses.Load(),
		CacheErrors: o.cacheErrors.Load(),
		Rejected:    o.reject.Load(),
	}
}

// Close sends nothing more, cancels the requests in flight (their callers get
// ErrClosed) and waits for them to end.
func (o *OpenAI) Close() error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		o.cancel()
		if b := o.pending; b != nil {
			o.pending = nil
			b.timer.Stop()
			o.send(b)
		}
	}
	o.mu.Unlock()
	o.wg.Wait()
	return nil
}

// Embed implements Embedder. Cached texts are answered at once; the others
// join the batch being collected and the call waits for it (or for ctx). The
// vectors returned belong to the caller.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	if !o.probed.Load() {
		return nil, fmt.Errorf("%w: not connected yet", ErrUnavailable)
	}
	clipped := make([]string, len(texts))
	keys := make([]string, len(texts))
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("%w: text %d is empty", ErrInvalid, i)
		}
		clipped[i] = clip(t, o.cfg.MaxTextBytes)
		keys[i] = CacheKey(o.cfg.Model, clipped[i])
	}

	cached := o.cacheGet(ctx, keys)
	type slot struct {
		b   *batch
		pos int
	}
	var waits []slot // for out[i] with i in missing
	var missing []int
	for i := range texts {
		if cached != nil && len(cached[i]) == o.Dimension() {
			out[i] = slices.Clone(cached[i])
			continue
		}
		b, pos, err := o.enqueue(clipped[i], keys[i])
		if err != nil {
			return nil, err
		}
		waits = append(waits, slot{b, pos})
		missing = append(missing, i)
	}
	o.cacheHits.Add(uint64(len(texts) - len(missing)))
	o.cacheMisses.Add(uint64(len(missing)))

	for j, i := range missing {
		b := waits[j].b
		select {
		case <-b.done:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
			}
			return nil, ctx.Err()
		}
		if b.err != nil {
			return nil, b.err
		}
		out[i] = slices.Clone(b.vecs[waits[j].pos])
	}
	return out, nil
}

// cacheTimeout bounds a cache call: a cache is worth less than the
// embedding it saves, so a slow or unreachable one must not eat the
// caller's deadline. After a failed call the cache is skipped for
// cacheRestTime, so an outage of it costs one wait, not one per call.
const (
	cacheTimeout  = 250 * time.Millisecond
	cacheRestTime = time.Second
)

// cacheGet looks keys up in the cache; nil (all missing) when the cache
// fails or is resting after a failure.
func (o *OpenAI) cacheGet(ctx context.Context, keys []string) [][]float32 {
	if o.cacheResting() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cacheTimeout)
	defer cancel()
	cached, err := o.cfg.Cache.Get(ctx, keys)
	if err != nil {
		o.cacheFailed()
		return nil
	}
	return cached
}

// cacheSet stores a batch's vectors unless the cache is resting.
func (o *OpenAI) cacheSet(keys []string, vecs [][]float32) {
	if o.cacheResting() {
		return
	}
	ctx, cancel := context.WithTimeout(o.base, cacheTimeout)
	defer cancel()
	if err := o.cfg.Cache.Set(ctx, keys, vecs); err != nil {
		o.cacheFailed()
	}
}

func (o *OpenAI) cacheResting() bool { return time.Now().UnixNano() < o.cacheRestUntil.Load() }

func (o *OpenAI) cacheFailed() {
	o.cacheErrors.Add(1)
	o.cacheRestUntil.Store(time.Now().Add(cacheRestTime).UnixNano())
}

// enqueue adds a text to the batch being collected (starting one, with its
// timer, if none is) and sends the batch once it is full. A text already in
// that batch is not added twice.
func (o *OpenAI) enqueue(text, key string) (*batch, int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, 0, ErrClosed
	}
	b := o.pending
	if b == nil {
		b = &batch{pos: make(map[string]int), done: make(chan struct{})}
		o.pending = b
		b.timer = time.AfterFunc(o.cfg.BatchWindow, func() { o.flush(b) })
	} else if pos, ok := b.pos[key]; ok {
		return b, pos, nil
	}
	pos := len(b.texts)
	b.texts = append(b.texts, text)
	b.keys = append(b.keys, key)
	b.pos[key] = pos
	if len(b.texts) >= o.cfg.MaxBatch {
		b.timer.Stop()
		o.pending = nil
		o.send(b)
	}
	return b, pos, nil
}

// flush sends b when its window ends, unless it was sent already (full, or
// by Close).
func (o *OpenAI) flush(b *batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending == b {
		o.pending = nil
		o.send(b)
	}
}

// send embeds b in a goroutine of its own (Close waits for it): at most
// MaxConcurrent at once; fills the cache before it wakes the callers, so a
// caller that comes back for the same text finds it.
func (o *OpenAI) send(b *batch) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer close(b.done)
		select {
		case o.sem <- struct{}{}:
		case <-o.base.Done():
			b.err = ErrClosed
			return
		}
		defer func() { <-o.sem }()
		b.vecs, b.err = o.embedBatch(o.base, b.texts)
		if b.err != nil {
			return
		}
		o.cacheSet(b.keys, b.vecs)
	}()
}

// embedBatch posts texts, retrying transport errors, 429 and 5xx with
// exponential backoff and jitter (longer when the server says Retry-After),
// through the circuit breaker.
func (o *OpenAI) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	for attempt := 0; ; attempt++ {
		vecs, err := o.breaker.Execute(func() ([][]float32, error) { return o.post(ctx, texts) })
		if err == nil {
			o.batches.Add(1)
			o.textsSent.Add(uint64(len(texts)))
			return vecs, nil
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			o.reject.Add(1)
			return nil, fmt.Errorf("%w: circuit breaker open after repeated failures", ErrUnavailable)
		}
		if ctx.Err() != nil {
			if o.base.Err() != nil {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		if !errors.Is(err, ErrUnavailable) || attempt >= o.cfg.MaxRetries {
			return nil, err
		}
		wait := o.backoff(attempt)
		var se *statusError
		if errors.As(err, &se) && se.retryAfter > 0 {
			if se.retryAfter > o.cfg.MaxRetryAfter {
				return nil, fmt.Errorf("%w (Retry-After %s)", err, se.retryAfter)
			}
			wait = max(wait, se.retryAfter)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", err, ctx.Err())
		}
		o.retries.Add(1)
	}
}

// backoff is the wait before retry attempt+1: RetryBase doubled per attempt,
// capped at RetryMax, then a random point in its upper half.
func (o *OpenAI) backoff(attempt int) time.Duration {
	d := o.cfg.RetryMax
	if attempt < 30 {
		d = min(o.cfg.RetryBase<<attempt, o.cfg.RetryMax)
	}
	return d/2 + rand.N(d/2+1)
}

// embeddingRequest is the body of POST /embeddings.
type embeddingRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

// embeddingResponse is the part of the answer we read.
type embeddingResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// statusError is an answer other than 200. 429 and 5xx unwrap to
// ErrUnavailable (and are retried), other statuses to ErrRejected.
type statusError struct {
	status     int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("embeddings: server answered HTTP %d", e.status)
}

func (e *statusError) Unwrap() error {
	if e.status == http.StatusTooManyRequests || e.status >= 500 {
		return ErrUnavailable
	}
	return ErrRejected
}

// post makes one HTTP attempt and checks the answer: one vector per text,
// each of the model's dimension (or, while probing, all of one length).
func (o *OpenAI) post(ctx context.Context, texts []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingRequest{Model: o.cfg.Model, Input: texts, EncodingFormat: "float"})
	if err != nil {
		return nil, fmt.Errorf("embeddings: encoding the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	o.requests.Add(1)
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		if o.base.Err() != nil {
			return nil, context.Canceled
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body may
		// echo the input, so it is not kept.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &statusError{status: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, err)
	}
	var answer embeddingResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, fmt.Errorf("%w: decoding: %w", ErrBadResponse, err)
	}
	return o.check(answer, len(texts))
}

// check puts the answer's vectors in input order and verifies their count and
// dimension.
func (o *OpenAI) check(answer embeddingResponse, n int) ([][]float32, error) {
	if len(answer.Data) != n {
		return nil, fmt.Errorf("%w: %d vectors for %d texts", ErrBadResponse, len(answer.Data), n)
	}
	dim := o.Dimension()
	if dim == 0 {
		dim = len(answer.Data[0].Embedding)
	}
	if dim == 0 {
		return nil, fmt.Errorf("%w: empty vector", ErrBadResponse)
	}
	vecs := make([][]float32, n)
	for _, d := range answer.Data {
		switch {
		case d.Index < 0 || d.Index >= n || vecs[d.Index] != nil:
			return nil, fmt.Errorf("%w: index %d out of range or repeated", ErrBadResponse, d.Index)
		case len(d.Embedding) != dim:
			return nil, fmt.Errorf("%w: vector of dimension %d, want %d", ErrBadResponse, len(d.Embedding), dim)
		}
		vecs[d.Index] = d.Embedding
	}
	return vecs, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// clip makes t valid UTF-8 and at most n bytes, cutting at a rune boundary:
// what is sent is what is hashed for the cache.
func clip(t string, n int) string {
	t = strings.ToValidUTF8(t, "\uFFFD")
	if len(t) <= n {
		return t
	}
	for n > 0 && !utf8.RuneStart(t[n]) {
		n--
	}
	return t[:n]
}
