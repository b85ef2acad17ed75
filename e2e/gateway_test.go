package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/google/uuid"
)

// serviceVars are the variables e2e/services/env sets that the suite needs.
var serviceVars = []string{"DATABASE_URL", "DATABASE_OWNER_URL", "VALKEY_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "QDRANT_URL", "OPENSEARCH_URL"}

// storeTimeout is the gateway's GATEWAY_STORE_TIMEOUT here: short, so an
// outage is felt within the test's time, but above OpenSearch's refresh
// interval (1s), which an indexing call with refresh=wait_for may wait out
// under load.
const storeTimeout = 3 * time.Second

// stack is the gateway binary running against the real services, each
// behind a proxy of ours.
type stack struct {
	bin     string // the gateway binary, for tests that start processes of their own
	url     string
	secret  []byte
	proxies map[string]*proxy // by backend name as /readyz and /metrics call it
	log     string            // the gateway's stderr, for failures
	stop    func()
}

var (
	theStack   *stack
	stackErr   error
	stackOnce  sync.Mutex
	missingVar string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theStack != nil {
		theStack.stop()
	}
	os.Exit(code)
}

// gateway returns the shared stack, starting it on first use: it builds the
// binary, migrates the database, starts one proxy per backend and the
// gateway pointed at them. Without the services the test skips, or fails
// when REQUIRE_SERVICES=1.
func gateway(t *testing.T) *stack {
	t.Helper()
	stackOnce.Lock()
	defer stackOnce.Unlock()
	if theStack == nil && stackErr == nil && missingVar == "" {
		for _, v := range serviceVars {
			if os.Getenv(v) == "" {
				missingVar = v
				break
			}
		}
		if missingVar == "" {
			theStack, stackErr = startStack()
		}
	}
	switch {
	case missingVar != "" && os.Getenv("REQUIRE_SERVICES") == "1":
		t.Fatalf("%s is not set and REQUIRE_SERVICES=1: run e2e/services/up and source e2e/services/env", missingVar)
	case missingVar != "":
		t.Skipf("%s is not set: run e2e/services/up and source e2e/services/env", missingVar)
	case stackErr != nil:
		t.Fatalf("starting the gateway: %v", stackErr)
	}
	return theStack
}

func startStack() (s *stack, err error) {
	dir, err := os.MkdirTemp("", "gateway-e2e-")
	if err != nil {
		return nil, err
	}
	var cleanups []func()
	s = &stack{proxies: map[string]*proxy{}, log: filepath.Join(dir, "gateway.log")}
	s.stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		_ = os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	bin := filepath.Join(dir, "gateway")
	s.bin = bin
	build := exec.Command("go", "build", "-o", bin, "github.com/codingbrain/gateway")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	migrate := exec.Command(bin, "migrate", "up")
	migrate.Env = []string{"DATABASE_OWNER_URL=" + os.Getenv("DATABASE_OWNER_URL"), "PATH=" + os.Getenv("PATH")}
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gateway migrate up: %w\n%s", err, out)
	}

	dbURL, err := url.Parse(os.Getenv("DATABASE_URL"))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	valkeyURL, err := url.Parse(os.Getenv("VALKEY_URL"))
	if err != nil {
		return nil, fmt.Errorf("VALKEY_URL: %w", err)
	}
	neo4jURL, err := url.Parse(os.Getenv("NEO4J_URI"))
	if err != nil {
		return nil, fmt.Errorf("NEO4J_URI: %w", err)
	}
	osURL, err := url.Parse(os.Getenv("OPENSEARCH_URL"))
	if err != nil {
		return nil, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	targets := map[string]string{
		"postgres": dbURL.Host, "valkey": valkeyURL.Host, "neo4j": neo4jURL.Host,
		"qdrant": os.Getenv("QDRANT_URL"), "opensearch": osURL.Host,
	}
	for name, target := range targets {
		p, err := newProxy(name, target)
		if err != nil {
			return nil, err
		}
		s.proxies[name] = p
		cleanups = append(cleanups, p.close)
	}
	via := func(u *url.URL, name string) string {
		c := *u
		c.Host = s.proxies[name].Addr()
		return c.String()
	}

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s.secret = []byte(hex.EncodeToString(secret))
	env := map[string]string{
		"GATEWAY_JWT_SECRET":    string(s.secret),
		"GATEWAY_STORE_TIMEOUT": storeTimeout.String(),
		"DATABASE_URL":          via(dbURL, "postgres"),
		"VALKEY_URL":            via(valkeyURL, "valkey"),
		"NEO4J_URI":             via(neo4jURL, "neo4j"),
		"NEO4J_USER":            os.Getenv("NEO4J_USER"),
		"NEO4J_PASSWORD":        os.Getenv("NEO4J_PASSWORD"),
		"QDRANT_URL":            s.proxies["qdrant"].Addr(),
		"OPENSEARCH_URL":        via(osURL, "opensearch"),
		"GATEWAY_VECTOR_MODELS": matrixModel + ":4",
	}
	logFile, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = logFile.Close() })
	p, err := gatewayproc.Launch(bin, env, logFile)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, p.Stop)
	s.url = p.URL
	return s, nil
}

// tenant is one organisation with a user holding every scope.
type tenant struct {
	org, user uuid.UUID
	token     string
}

func (s *stack) newTenant(t *testing.T) tenant {
	t.Helper()
	tn := tenant{org: uuid.New(), user: uuid.New()}
	tok, err := auth.Issue(s.secret, auth.Principal{OrgID: tn.org, UserID: tn.user, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tn.token = tok
	return tn
}

// exchange is one HTTP request and its answer, as the recorder saw them.
type exchange struct {
	status int
	body   []byte
}

// recorder is the genqlient client's HTTP doer: it adds the bearer token and
// keeps the raw answer, so tests compare exactly what a client receives.
type recorder struct {
	token string
	mu    sync.Mutex
	last  exchange
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = exchange{status: resp.StatusCode, body: body}
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (r *recorder) lastExchange() exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// client returns a genqlient client acting as the tenant, and its recorder.
func (s *stack) client(tn tenant) (graphql.Client, *recorder) {
	rec := &recorder{token: tn.token}
	return graphql.NewClient(s.url+"/graphql", rec), rec
}

// must returns the answer of a typed call that has to succeed. A failure
// panics, which fails the running test with the call's stack (Go cannot pass
// a two-valued call plus t to one function).
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("%T: %v", v, err))
	}
	return v
}

// raw posts a GraphQL request body as given and returns the answer and how
// long it took.
func (s *stack) raw(t *testing.T, token, contentType string, body io.Reader, contentLength int64) (exchange, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/graphql", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return exchange{status: resp.StatusCode, body: b}, took
}

// rawWithin is raw with a deadline, for requests that may hang: it returns
// the error instead of failing.
func (s *stack) rawWithin(d time.Duration, token, contentType string, body io.Reader, contentLength int64) (exchange, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/graphql", body)
	if err != nil {
		return exchange{}, 0, err
	}
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return exchange{}, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return exchange{status: resp.StatusCode, body: b}, time.Since(start), err
}

// post sends a query with variables as JSON.
func (s *stack) post(t *testing.T, token, query string, vars map[string]any) exchange {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := s.raw(t, token, "application/json", bytes.NewReader(b), int64(len(b)))
	return ex
}

// query runs an operation that must succeed and decodes its data into out
// (when not nil).
func (s *stack) query(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	a := decode(t, s.post(t, token, query, vars))
	if len(a.Errors) > 0 {
		t.Fatalf("%s: errors %+v", query, a.Errors)
	}
	if out == nil {
		return
	}
	raw, err := json.Marshal(a.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

// replica starts another gateway process of the stack's binary with exactly
// env and the stack's token secret, and returns it as a stack of its own
// (no proxies) whose tokens the stack issues.
func (s *stack) replica(t *testing.T, env map[string]string) *stack {
	t.Helper()
	env["GATEWAY_JWT_SECRET"] = string(s.secret)
	return &stack{bin: s.bin, url: gatewayproc.Start(t, s.bin, env), secret: s.secret}
}

// get fetches a path of the gateway (health, readiness, metrics).
func (s *stack) get(path string) (int, string, error) {
	resp, err := httpClient.Get(s.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// gqlAnswer is a GraphQL response with its errors decoded.
type gqlAnswer struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func decode(t *testing.T, ex exchange) gqlAnswer {
	t.Helper()
	var a gqlAnswer
	if err := json.Unmarshal(ex.body, &a); err != nil {
		t.Fatalf("answer (HTTP %d) is not JSON: %v: %.300s", ex.status, err, ex.body)
	}
	return a
}

// codes lists the extensions.code of every error.
func (a gqlAnswer) codes() []string {
	var out []string
	for _, e := range a.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// unique returns a name no other run uses.
func unique(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
}

var _ = client.Viewer // the generated client is the suite's main way in
