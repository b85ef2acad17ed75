package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/google/uuid"
)

// fleetRate is the per-organisation rate limit of the fleet's replicas:
// small enough that a test can exceed it many times over, big enough that
// its bucket is measured over hundreds of requests.
const fleetRate = 20

// fleetConnections is the live-connection cap per organisation of the
// fleet's replicas: low, so that a test can exceed it across replicas.
const fleetConnections = 2

// fleet is three gateway replicas on the real services behind HAProxy.
type fleet struct {
	lb       string   // the load balancer's base URL
	replicas []string // each replica's base URL
	procs    []*os.Process
	secret   []byte
}

// startFleet starts three replicas sharing the real services (their limits
// and persisted queries in Valkey) and HAProxy in front of them, round
// robin, health-checked every 200 ms, retrying a request that found a dead
// replica on another one.
func startFleet(t *testing.T) *fleet {
	t.Helper()
	s := gateway(t) // builds the binary and migrates the database
	haproxy := os.Getenv("HAPROXY_BIN")
	if haproxy == "" {
		var err error
		if haproxy, err = exec.LookPath("haproxy"); err != nil {
			if os.Getenv("REQUIRE_SERVICES") == "1" {
				t.Fatal("haproxy is not installed and REQUIRE_SERVICES=1: run e2e/services/up")
			}
			t.Skip("haproxy is not installed: run e2e/services/up")
		}
	}
	dir := t.TempDir()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	f := &fleet{secret: []byte(hex.EncodeToString(secret))}
	env := map[string]string{
		"GATEWAY_JWT_SECRET":                 string(f.secret),
		"GATEWAY_RATE_LIMIT":                 fmt.Sprint(fleetRate),
		"GATEWAY_RATE_BURST":                 fmt.Sprint(fleetRate),
		"GATEWAY_MAX_CONNECTIONS_PER_TENANT": fmt.Sprint(fleetConnections),
	}
	for _, v := range serviceVars {
		if v != "DATABASE_OWNER_URL" {
			env[v] = os.Getenv(v)
		}
	}
	for range 3 {
		p := gatewayproc.StartProcess(t, s.bin, env)
		f.replicas = append(f.replicas, p.URL)
		f.procs = append(f.procs, p.OS)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lbAddr := ln.Addr().String()
	_ = ln.Close()
	var servers strings.Builder
	for i, r := range f.replicas {
		fmt.Fprintf(&servers, "    server r%d %s check inter 200ms fall 1 rise 2\n", i, strings.TrimPrefix(r, "http://"))
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(`global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend gateway
    bind `+lbAddr+`
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
`+servers.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := exec.Command(haproxy, "-db", "-f", cfg)
	out, _ := os.Create(filepath.Join(dir, "haproxy.log"))
	lb.Stdout, lb.Stderr = out, out
	if err := lb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Process.Kill(); _ = lb.Wait(); _ = out.Close() })
	f.lb = "http://" + lbAddr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(f.lb + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "haproxy.log"))
			t.Fatalf("haproxy did not answer: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond) // polling a process we started for readiness
	}
	return f
}

func (f *fleet) token(t *testing.T, org uuid.UUID) string {
	t.Helper()
	tok, err := auth.Issue(f.secret, auth.Principal{OrgID: org, UserID: uuid.New(), Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// post sends one GraphQL request and returns the status and body.
func post(base, token string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func TestFleet(t *testing.T) {
	f := startFleet(t)

	t.Run("the rate limit holds across replicas within 10 percent", func(t *testing.T) {
		tok := f.token(t, uuid.New())
		var allowed, limited atomic.Int64
		start := time.Now()
		stop := start.Add(3 * time.Second)
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					status, body, err := post(f.lb, tok, map[string]any{"query": "{ viewer { orgId } }"})
					switch {
					case err != nil:
						t.Errorf("request failed: %v", err)
						return
					case status == 200:
						allowed.Add(1)
					case status == http.StatusTooManyRequests:
						limited.Add(1)
					default:
						t.Errorf("HTTP %d %s", status, body)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		want := float64(fleetRate) + fleetRate*elapsed // the burst, then the rate
		got := float64(allowed.Load())
		t.Logf("rate limit across 3 replicas: %d allowed, %d refused in %.2f s; %.0f allowed by a limit of %d/s with burst %d (%.1f%% off)",
			allowed.Load(), limited.Load(), elapsed, want, fleetRate, fleetRate, 100*(got-want)/want)
		if limited.Load() == 0 || got > want*1.1 || got < want*0.9 {
			t.Fatalf("%v requests allowed, want %.0f ± 10%%", got, want)
		}
	})

	t.Run("a persisted query registered through one replica works through every other", func(t *testing.T) {
		tok := f.token(t, uuid.New())
		query := "query FleetAPQ { viewer { orgId } } # " + uuid.NewString()
		sum := sha256.Sum256([]byte(query))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		if status, body, err := post(f.replicas[0], tok, map[string]any{"query": query, "extensions": ext}); err != nil || status != 200 || bytes.Contains(body, []byte("errors")) {
			t.Fatalf("registering: %d %s %v", status, body, err)
		}
		for i, r := range f.replicas {
			status, body, err := post(r, tok, map[string]any{"extensions": ext})
			if err != nil || status != 200 || !bytes.Contains(body, []byte("orgId")) {
				t.Fatalf("replica %d by hash: %d %s %v", i, status, body, err)
			}
		}
	})

	t.Run("a subscriber of one replica receives what is written through another", func(t *testing.T) {
		tok := f.token(t, uuid.New())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ws, err := gqlws.Dial(ctx, f.replicas[0]+"/graphql", map[string]any{"Authorization": "Bearer " + tok}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.Start()
		if _, err := ws.Subscribe(ctx, "subscription { memoryChanged { kind memory { content } } }", nil); err != nil {
			t.Fatal(err)
		}
		app := createFleetApp(t, f.replicas[1], tok)
		content := "written through replica 2 " + uuid.NewString()
		// The subscription is live once the server has it; a write before
		// that is not promised, so write until one arrives.
		for {
			if status, body, err := post(f.replicas[1], tok, map[string]any{"query": `mutation($a: ID!, $c: String!) { createMemory(input: {appId: $a, content: $c}) { memory { id } } }`,
				"variables": map[string]any{"a": app, "c": content}}); err != nil || status != 200 {
				t.Fatalf("createMemory: %d %s %v", status, body, err)
			}
			select {
			case m := <-ws.Messages:
				if m.Type != "next" || !strings.Contains(string(m.Payload), content) {
					t.Fatalf("got %s %s", m.Type, m.Payload)
				}
				return
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				t.Fatal("no event through replica 1 of a write through replica 2")
			}
		}
	})

	t.Run("the live-connection cap counts the connections of every replica", func(t *testing.T) {
		tok := f.token(t, uuid.New())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range fleetConnections {
			ws, err := gqlws.Dial(ctx, f.replicas[i]+"/graphql", map[string]any{"Authorization": "Bearer " + tok}, nil)
			if err != nil {
				t.Fatalf("connection %d through replica %d: %v", i+1, i+1, err)
			}
			t.Cleanup(func() { _ = ws.Close() })
		}
		_, err := gqlws.Dial(ctx, f.replicas[fleetConnections]+"/graphql", map[string]any{"Authorization": "Bearer " + tok}, nil)
		var closed gqlws.CloseError
		if !errors.As(err, &closed) || closed.Code != graph.CloseTooManyConnections {
			t.Fatalf("a third connection through a third replica: %v, want close %d", err, graph.CloseTooManyConnections)
		}
		// Another organisation is not counted with this one.
		other, err := gqlws.Dial(ctx, f.replicas[fleetConnections]+"/graphql", map[string]any{"Authorization": "Bearer " + f.token(t, uuid.New())}, nil)
		if err != nil {
			t.Fatalf("another organisation: %v", err)
		}
		_ = other.Close()
	})

	t.Run("killing a replica under load loses no acknowledged write", func(t *testing.T) {
		tok := f.token(t, uuid.New())
		app := createFleetApp(t, f.lb, tok)
		var mu sync.Mutex
		var acknowledged []string
		var retried atomic.Int64
		acks := make(chan struct{}, 1<<16)
		done := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					content := fmt.Sprintf("writer %d write %d", w, i)
					for attempt := 0; ; {
						status, body, err := post(f.lb, tok, map[string]any{"query": `mutation($a: ID!, $c: String!) { createMemory(input: {appId: $a, content: $c}) { memory { id } } }`,
							"variables": map[string]any{"a": app, "c": content}})
						var out struct {
							Data struct {
								CreateMemory struct{ Memory struct{ ID string } }
							}
						}
						if err == nil && status == 200 && json.Unmarshal(body, &out) == nil && out.Data.CreateMemory.Memory.ID != "" {
							mu.Lock()
							acknowledged = append(acknowledged, out.Data.CreateMemory.Memory.ID)
							mu.Unlock()
							acks <- struct{}{}
							break
						}
						if status == http.StatusTooManyRequests {
							// The organisation's rate limit (20/s for the
							// four writers): wait as told, like a client.
							time.Sleep(time.Second)
							continue
						}
						if attempt++; attempt == 10 {
							t.Errorf("a write failed 10 times: %d %s %v", status, body, err)
							return
						}
						retried.Add(1) // the client's retry goes to another replica
					}
				}
			})
		}
		waitAcks := func(n int) {
			t.Helper()
			for range n {
				select {
				case <-acks:
				case <-time.After(30 * time.Second):
					close(done)
					t.Fatalf("the writers stopped being acknowledged")
				}
			}
		}
		waitAcks(20) // the load runs
		if err := f.procs[2].Kill(); err != nil {
			t.Fatal(err)
		}
		waitAcks(40) // and goes on through the two survivors
		close(done)
		wg.Wait()
		total := len(acknowledged)
		for len(acknowledged) > 0 {
			batch := acknowledged[:min(len(acknowledged), 100)]
			acknowledged = acknowledged[len(batch):]
			var status int
			var body []byte
			var err error
			for status = http.StatusTooManyRequests; status == http.StatusTooManyRequests; {
				status, body, err = post(f.lb, tok, map[string]any{"query": `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, "variables": map[string]any{"ids": batch}})
				if status == http.StatusTooManyRequests {
					time.Sleep(time.Second) // the rate limit's Retry-After
				}
			}
			for _, id := range batch {
				if err != nil || status != 200 || !bytes.Contains(body, []byte(`"id":"`+id+`"`)) {
					t.Fatalf("acknowledged memory %s is missing: %d %.300s %v", id, status, body, err)
				}
			}
		}
		t.Logf("killing one of 3 replicas under 4 writers: %d writes acknowledged, every one found afterwards; %d client retries", total, retried.Load())
	})
}

func createFleetApp(t *testing.T, base, tok string) string {
	t.Helper()
	status, body, err := post(base, tok, map[string]any{"query": `mutation { createApp(input: {name: "fleet"}) { app { id } } }`})
	var out struct {
		Data struct {
			CreateApp struct{ App struct{ ID string } }
		}
	}
	if err != nil || status != 200 || json.Unmarshal(body, &out) != nil || out.Data.CreateApp.App.ID == "" {
		t.Fatalf("createApp: %d %s %v", status, body, err)
	}
	return out.Data.CreateApp.App.ID
}
