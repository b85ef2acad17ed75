package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"

	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/codingbrain/gateway/stores/storetest"
)

// everyDomain reads one field of every domain: memories, feedback and
// experiments (PostgreSQL), an episodic session (Valkey), code repositories
// (Neo4j), a vector search by vector (Qdrant), a full-text search
// (OpenSearch) and a vector search by text (the embedding server, then
// Qdrant), a text no cache holds.
const everyDomain = `query EveryDomain($memory: ID!, $session: String!, $model: String!, $vector: [Float!]!, $word: String!, $text: String!) {
  memory(id: $memory) { id }
  feedbackEvents(first: 1) { nodes { id } }
  experiments(first: 1) { nodes { id } }
  episodicSession(id: $session) { id itemCount }
  codeRepos(first: 5) { nodes { id } }
  vectorSearch(model: $model, vector: $vector, first: 3) { pointId }
  search(text: $word, first: 3) { nodes { score } }
  textSearch: vectorSearch(text: $text, first: 3) { pointId }
}`

// everyDomainVars are everyDomain's variables for fixture f, with a new
// text to embed.
func everyDomainVars(f fixture) map[string]any {
	return map[string]any{
		"memory": f.memory, "session": f.session, "model": matrixModel, "vector": f.vector, "word": f.word,
		"text": unique("where do the webhook retries back off"),
	}
}

// servedBy is the fields of everyDomain each backend's outage takes away.
var servedBy = map[string][]string{
	"postgres":   {"memory", "feedbackEvents", "experiments"},
	"valkey":     {"episodicSession"},
	"neo4j":      {"codeRepos"},
	"qdrant":     {"vectorSearch", "textSearch"},
	"opensearch": {"search"},
	"embeddings": {"textSearch"},
}

// degradeEnv is a gateway's environment on the real services, every
// backend reached directly, the embedding server included. Its indexer is
// off: the stack's own indexer drains the outbox.
func degradeEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{
		"GATEWAY_STORE_TIMEOUT": storeTimeout.String(),
		"GATEWAY_VECTOR_MODELS": matrixModel + ":4",
		"GATEWAY_INDEXER":       "false",
	}
	for _, v := range append([]string{"EMBEDDINGS_URL", "EMBEDDINGS_MODEL"}, serviceVars...) {
		if v != "DATABASE_OWNER_URL" {
			env[v] = storetest.ServiceEnv(t, v)
		}
	}
	return env
}

// backendAddress reads and rewrites the host:port of one backend in env.
func backendAddress(t *testing.T, env map[string]string, backend string) (get string, set func(string)) {
	t.Helper()
	variable := map[string]string{
		"valkey": "VALKEY_URL", "neo4j": "NEO4J_URI", "opensearch": "OPENSEARCH_URL",
		"qdrant": "QDRANT_URL", "embeddings": "EMBEDDINGS_URL",
	}[backend]
	if backend == "qdrant" {
		return env[variable], func(addr string) { env[variable] = addr }
	}
	u, err := url.Parse(env[variable])
	if err != nil {
		t.Fatalf("%s: %v", variable, err)
	}
	return u.Host, func(addr string) {
		c := *u
		c.Host = addr
		env[variable] = c.String()
	}
}

// TestAGatewayStartsWithAnyBackendButPostgresDown starts a gateway with one
// backend unreachable (a proxy that is not listening), for each backend in
// turn: it starts, the other backends' fields answer with data, the missing
// one's are null with STORE_UNAVAILABLE and /readyz names it connecting;
// then the backend comes up and its fields answer within 5 s, without a
// restart.
func TestAGatewayStartsWithAnyBackendButPostgresDown(t *testing.T) {
	s := gateway(t)
	f := seed(t, s, s.newTenant(t))
	var figures []string
	for _, backend := range []string{"valkey", "neo4j", "opensearch", "qdrant", "embeddings"} {
		t.Run(backend, func(t *testing.T) {
			env := degradeEnv(t)
			target, setAddr := backendAddress(t, env, backend)
			p, err := newProxy(backend, target)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.close)
			p.cut()
			setAddr(p.Addr())

			began := time.Now()
			r := s.replica(t, env)
			startedIn := time.Since(began)

			ctx := context.Background()
			m := r.sample(ctx, f.tenant.token, everyDomain, everyDomainVars(f))
			if m.err != nil {
				t.Fatalf("query with %s down: %v", backend, m.err)
			}
			down := map[string]bool{}
			for _, field := range servedBy[backend] {
				down[field] = true
				if m.fields[field] || m.codes[field] != "STORE_UNAVAILABLE" {
					t.Errorf("%s with %s down: non-null %v, code %q; want null with STORE_UNAVAILABLE", field, backend, m.fields[field], m.codes[field])
				}
			}
			for _, fields := range servedBy {
				for _, field := range fields {
					if !down[field] && (!m.fields[field] || m.codes[field] != "") {
						t.Errorf("%s failed while only %s was down: code %q", field, backend, m.codes[field])
					}
				}
			}
			// The fields that answer hold the fixture's data (a text search
			// of a fresh text may rightly find nothing).
			data := decode(t, r.post(t, f.tenant.token, everyDomain, everyDomainVars(f))).Data
			for field, raw := range data {
				if !down[field] && field != "textSearch" && (string(raw) == "null" || strings.Contains(string(raw), "[]")) {
					t.Errorf("%s answered without the fixture's data while only %s was down: %s", field, backend, raw)
				}
			}
			if backend == "embeddings" {
				// Blank text is the caller's mistake, even with the server down.
				blank := r.sample(ctx, f.tenant.token, `{ vectorSearch(text: "  ") { pointId } }`, nil)
				if blank.codes["vectorSearch"] != "BAD_USER_INPUT" {
					t.Errorf("blank text with the embedding server down: code %q, want BAD_USER_INPUT", blank.codes["vectorSearch"])
				}
			}
			code, body, err := r.get("/readyz")
			if err != nil || code != 503 || !strings.Contains(body, `"`+backend+`":"connecting"`) {
				t.Errorf("/readyz with %s down: %d %s %v; want 503 naming it connecting", backend, code, body, err)
			}

			restoredAt := time.Now()
			if err := p.restore(); err != nil {
				t.Fatal(err)
			}
			back, ok := recovery(r, f, restoredAt, backend)[backend]
			if !ok {
				t.Fatalf("%s's fields still failed 30 s after it came up", backend)
			}
			if back > 5*time.Second {
				t.Errorf("%s's fields answered %v after it came up, want within 5 s", backend, back)
			}
			waitFor(t, 10*time.Second, "/readyz to answer 200", func() bool {
				code, _, err := r.get("/readyz")
				return err == nil && code == 200
			})
			fig := fmt.Sprintf("%s: started in %v while down; fields answered %v and /readyz 200 by %v after it came up", backend,
				startedIn.Round(time.Millisecond), back.Round(time.Millisecond), time.Since(restoredAt).Round(time.Millisecond))
			figures = append(figures, fig)
			t.Log(fig)
		})
	}
	for _, fig := range figures {
		t.Log(fig)
	}
}

// longOutage is how long TestEveryBackendServesWithinSecondsOfALongOutage
// keeps the backends away: the outage after which the issue measured Qdrant
// failing for 51-57 s more. With gRPC's default reconnect backoff this test
// measured 59 s for Qdrant after it (and 2.3 s after a 30 s outage, which
// is why a shorter outage would not catch the regression).
const longOutage = 130 * time.Second

// TestEveryBackendServesWithinSecondsOfALongOutage takes every backend but
// PostgreSQL away from a running gateway at once for longOutage, under
// queries, then gives them back: each one's fields answer again within 5 s,
// however long it was gone.
func TestEveryBackendServesWithinSecondsOfALongOutage(t *testing.T) {
	s := gateway(t)
	f := seed(t, s, s.newTenant(t))
	env := degradeEnv(t)
	backends := []string{"valkey", "neo4j", "opensearch", "qdrant", "embeddings"}
	proxies := map[string]*proxy{}
	for _, backend := range backends {
		target, setAddr := backendAddress(t, env, backend)
		p, err := newProxy(backend, target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
		setAddr(p.Addr())
		proxies[backend] = p
	}
	r := s.replica(t, env)
	ctx := context.Background()
	waitFor(t, 30*time.Second, "every field to answer", func() bool {
		m := r.sample(ctx, f.tenant.token, everyDomain, everyDomainVars(f))
		return answers(m, "postgres") && answers(m, "valkey") && answers(m, "neo4j") && answers(m, "opensearch") && answers(m, "qdrant") && answers(m, "embeddings")
	})

	for _, p := range proxies {
		p.cut()
	}
	for end := time.Now().Add(longOutage); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		m := r.sample(ctx, f.tenant.token, everyDomain, everyDomainVars(f))
		if !answers(m, "postgres") {
			t.Fatalf("PostgreSQL's fields failed while the other backends were down: %+v", m)
		}
	}
	for _, p := range proxies {
		if err := p.restore(); err != nil {
			t.Fatal(err)
		}
	}
	back := recovery(r, f, time.Now(), backends...)
	for _, backend := range backends {
		took, ok := back[backend]
		switch {
		case !ok:
			t.Errorf("%s's fields still failed 30 s after a %v outage", backend, longOutage)
		case took > 5*time.Second:
			t.Errorf("%s's fields answered %v after a %v outage, want within 5 s", backend, took.Round(time.Millisecond), longOutage)
		default:
			t.Logf("%s: fields answered %v after a %v outage", backend, took.Round(time.Millisecond), longOutage)
		}
	}
}

// answers reports whether every field of everyDomain that backend serves
// answered in m.
func answers(m mixedSample, backend string) bool {
	for _, field := range servedBy[backend] {
		if m.err != nil || !m.fields[field] || m.codes[field] != "" {
			return false
		}
	}
	return true
}

// recovery queries every domain of r until each backend's fields answer
// (30 s at most) and returns, per backend, how long after restoredAt the
// first query they answered was sent: the gateway's time to serve the
// backend again, without the query's own run time (which a loaded machine
// stretches).
func recovery(r *stack, f fixture, restoredAt time.Time, backends ...string) map[string]time.Duration {
	back := map[string]time.Duration{}
	for time.Since(restoredAt) < 30*time.Second && len(back) < len(backends) {
		sent := time.Now()
		m := r.sample(context.Background(), f.tenant.token, everyDomain, everyDomainVars(f))
		for _, backend := range backends {
			if _, done := back[backend]; !done && answers(m, backend) {
				back[backend] = sent.Sub(restoredAt)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return back
}

// A backend listed in GATEWAY_REQUIRED_BACKENDS that cannot be reached
// stops the start at once, with a message naming it.
func TestARequiredBackendDownStopsTheStart(t *testing.T) {
	s := gateway(t)
	env := degradeEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	_, setAddr := backendAddress(t, env, "valkey")
	setAddr(closed)
	env["GATEWAY_REQUIRED_BACKENDS"] = "postgres,valkey"
	env["GATEWAY_JWT_SECRET"] = string(s.secret)
	began := time.Now()
	p, err := gatewayproc.Launch(s.bin, env, nil)
	if err == nil {
		p.Stop()
		t.Fatal("the gateway started with a required backend down")
	}
	if !strings.Contains(err.Error(), "valkey is required at start (GATEWAY_REQUIRED_BACKENDS) but could not be reached") {
		t.Fatalf("the gateway stopped without saying why: %v", err)
	}
	if took := time.Since(began); took > 2*storeTimeout {
		t.Fatalf("the start took %v to fail", took)
	}
}

// A tenant naming a model the operator did not declare gets BAD_USER_INPUT,
// and Qdrant gets no collection for it.
func TestAnUndeclaredVectorModelIsRefusedAndGetsNoCollection(t *testing.T) {
	s := gateway(t)
	tn := s.newTenant(t)
	model := unique("undeclared")
	ex := s.post(t, tn.token, `mutation($model: String!) { upsertVectors(input: {model: $model, points: [{vector: [1, 0, 0, 0]}]}) { pointIds } }`, map[string]any{"model": model})
	if codes := decode(t, ex).codes(); len(codes) != 1 || codes[0] != "BAD_USER_INPUT" {
		t.Fatalf("codes %v, want BAD_USER_INPUT", codes)
	}
	host, portText, err := net.SplitHostPort(os.Getenv("QDRANT_URL"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	q, err := qc.NewClient(&qc.Config{Host: host, Port: port, SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	exists, err := q.CollectionExists(context.Background(), "emb_"+model)
	if err != nil || exists {
		t.Fatalf("collection emb_%s exists %v (%v), want none", model, exists, err)
	}
}
