package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/e2e/client"
)

// fieldOf is the root field of the Mixed operation each backend serves alone.
var fieldOf = map[string]string{
	"postgres": "memories", "valkey": "episodicSession", "neo4j": "codeRepos",
	"qdrant": "vectorSearch", "opensearch": "search",
}

// outageBackends is the order backends are cut in; PostgreSQL last, since
// its outage also stops the writes whose survival is checked.
var outageBackends = []string{"opensearch", "qdrant", "neo4j", "valkey", "postgres"}

// mixedSample is one answer of the Mixed operation under load.
type mixedSample struct {
	at     time.Time
	fields map[string]bool   // root field -> non-null
	codes  map[string]string // root field -> extensions.code of its error
	err    error             // transport failure
}

// load runs the Mixed operation and createMemory writes until stopped.
type load struct {
	mu      sync.Mutex
	samples []mixedSample
	acked   []string // ids of memories whose createMemory answered without error
	failed  atomic.Int64
	errs    []string // the distinct errors of refused writes
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, s *stack, f fixture, readers int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	query := mixedQuery
	vars := map[string]any{"sessionId": f.session, "model": matrixModel, "vector": f.vector, "text": f.word}
	for range readers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				l.record(s.sample(ctx, f.tenant.token, query, vars))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		c, _ := s.client(f.tenant)
		for i := 0; ctx.Err() == nil; i++ {
			r, err := client.CreateMemory(ctx, c, client.CreateMemoryInput{AppId: f.app, Content: fmt.Sprintf("written under load %d", i)})
			if err == nil {
				l.mu.Lock()
				l.acked = append(l.acked, r.CreateMemory.Memory.Id)
				l.mu.Unlock()
			} else {
				l.failed.Add(1)
				l.mu.Lock()
				if msg := err.Error(); !slices.Contains(l.errs, msg) && len(l.errs) < 3 {
					l.errs = append(l.errs, msg)
				}
				l.mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) record(m mixedSample) {
	l.mu.Lock()
	l.samples = append(l.samples, m)
	l.mu.Unlock()
}

func (l *load) halt() {
	l.stop()
	l.wg.Wait()
}

// since returns the samples taken at or after t.
func (l *load) since(t time.Time) []mixedSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []mixedSample
	for _, m := range l.samples {
		if !m.at.Before(t) {
			out = append(out, m)
		}
	}
	return out
}

var mixedQuery = client.Mixed_Operation

// sample posts the Mixed operation once and tells which fields resolved.
func (s *stack) sample(ctx context.Context, token, query string, vars map[string]any) mixedSample {
	m := mixedSample{fields: map[string]bool{}, codes: map[string]string{}}
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ex, _, err := s.rawWithin(10*time.Second, token, "application/json", strings.NewReader(string(b)), int64(len(b)))
	m.at = time.Now()
	if err != nil {
		if ctx.Err() == nil {
			m.err = err
		}
		return m
	}
	var a gqlAnswer
	if err := json.Unmarshal(ex.body, &a); err != nil {
		m.err = fmt.Errorf("HTTP %d: %.200s", ex.status, ex.body)
		return m
	}
	for k, v := range a.Data {
		m.fields[k] = string(v) != "null"
	}
	for _, e := range a.Errors {
		if len(e.Path) > 0 {
			code, _ := e.Extensions["code"].(string)
			m.codes[fmt.Sprint(e.Path[0])] = code
		}
	}
	return m
}

var breakerRE = regexp.MustCompile(`gateway_breaker_state\{backend="([a-z0-9]+)"\} ([0-9.]+)`)

// breakerStates reads every backend's breaker state from /metrics.
func (s *stack) breakerStates(t *testing.T) map[string]string {
	t.Helper()
	_, body, err := s.get("/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := map[string]string{}
	for _, m := range breakerRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = map[string]string{"0": "closed", "1": "half-open", "2": "open"}[m[2]]
	}
	return out
}

// TestFaultInjection cuts each backend in turn (through its proxy) while a
// mixed load runs, and checks that the other backends' fields keep
// resolving, that the cut backend's field is null with STORE_UNAVAILABLE,
// that its breaker opens and closes again when the backend returns, and
// that no acknowledged write is lost.
func TestFaultInjection(t *testing.T) {
	s := gateway(t)
	f := seed(t, s, s.newTenant(t))
	ctx := context.Background()
	var figures []string
	for _, backend := range outageBackends {
		t.Run(backend+" down and back", func(t *testing.T) {
			field := fieldOf[backend]
			l := startLoad(t, s, f, 4)
			t.Cleanup(l.halt)
			waitFor(t, 10*time.Second, "load before the outage", func() bool { return len(l.since(time.Time{})) >= 8 })

			cutAt := time.Now()
			s.proxies[backend].cut()
			t.Cleanup(func() { _ = s.proxies[backend].restore() })
			opened := waitFor(t, 30*time.Second, backend+"'s breaker to open", func() bool {
				code, _, err := s.get("/readyz")
				return err == nil && code == 503 && s.breakerStates(t)[backend] == "open"
			})
			// Let the load run against the open breaker for a while.
			time.Sleep(2 * time.Second)
			restoredAt := time.Now()
			if err := s.proxies[backend].restore(); err != nil {
				t.Fatal(err)
			}
			during := l.since(cutAt)
			var served int
			recovered := waitFor(t, 60*time.Second, backend+"'s field to resolve again", func() bool {
				for _, m := range l.since(restoredAt) {
					if m.err == nil && m.fields[field] && m.codes[field] == "" {
						served++
						return true
					}
				}
				return false
			})
			ready := waitFor(t, 60*time.Second, "/readyz to answer 200", func() bool {
				code, _, err := s.get("/readyz")
				return err == nil && code == 200
			})
			time.Sleep(500 * time.Millisecond)
			l.halt()

			// During the outage: the cut backend's field is null with
			// STORE_UNAVAILABLE, every other field resolves.
			var unavailable, others, brokenOthers, wrongCode int
			for _, m := range during {
				if m.at.After(restoredAt) {
					break
				}
				if m.err != nil {
					brokenOthers++
					t.Errorf("a request failed during the outage: %v", m.err)
					continue
				}
				if !m.fields[field] {
					if m.codes[field] == "STORE_UNAVAILABLE" {
						unavailable++
					} else {
						wrongCode++
						t.Errorf("%s was null with code %q, want STORE_UNAVAILABLE", field, m.codes[field])
					}
				}
				for b, other := range fieldOf {
					if b == backend {
						continue
					}
					others++
					if !m.fields[other] || m.codes[other] != "" {
						brokenOthers++
						t.Errorf("%s failed while only %s was down: code %q", other, backend, m.codes[other])
					}
				}
			}
			if unavailable == 0 {
				t.Errorf("no answer during the outage had %s null with STORE_UNAVAILABLE", field)
			}
			// Acknowledged writes: every createMemory that answered is there.
			c, _ := s.client(f.tenant)
			l.mu.Lock()
			acked := append([]string(nil), l.acked...)
			l.mu.Unlock()
			lost := 0
			for _, id := range acked {
				r, err := client.Memory(ctx, c, id)
				if err != nil || r.Memory == nil {
					lost++
					t.Errorf("acknowledged memory %s is missing after the outage: %v", id, err)
				}
			}
			fig := fmt.Sprintf("%s: breaker open %v after the cut; %d answers during the outage (%d with %s null + STORE_UNAVAILABLE, %d other fields all resolved: %d failures); "+
				"field back %v and /readyz 200 %v after the backend returned; %d acknowledged writes, %d lost (%d refused while down)",
				backend, opened.Round(time.Millisecond), len(during), unavailable, field, others, brokenOthers,
				recovered.Round(time.Millisecond), ready.Round(time.Millisecond), len(acked), lost, l.failed.Load())
			if len(l.errs) > 0 {
				fig += fmt.Sprintf(" (refusals: %q)", l.errs)
			}
			figures = append(figures, fig)
			t.Log(fig)
		})
	}
	for _, fig := range figures {
		t.Log(fig)
	}
}
