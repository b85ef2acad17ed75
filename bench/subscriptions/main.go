// Command subscriptions measures the gateway's subscriptions over real
// sockets and prints the figures:
//
//   - event latency from commit to client: one memoryChanged subscriber, n
//     sequential updates; each event's latency is its arrival time minus the
//     memory's updatedAt (stamped by the store inside the committing write),
//     p50 / p99 / max;
//
//   - capacity: c concurrent WebSocket subscribers (one memoryChanged
//     subscription each, spread over 100 organisations) held by one gateway
//     process while events flow to all of them, with the serving process's
//     RSS sampled before and after the event rounds (flat memory means no
//     growth per event).
//
//     go run ./bench/subscriptions [-events 1000] [-subscribers 5000] [-rounds 20]
//
// The gateway runs as a child process (this binary's `serve` subcommand: the
// real graph handler over the embedded stores and the in-process hub, on a
// loopback port), so the client side's memory is not counted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/google/uuid"
)

var secret = []byte("bench-subscriptions-secret-0123456789abcdef")

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		serve()
		return
	}
	nEvents := flag.Int("events", 1000, "events for the latency figure")
	nSubs := flag.Int("subscribers", 5000, "concurrent subscribers for the capacity figure")
	rounds := flag.Int("rounds", 20, "events sent to every subscriber in the capacity run (one per organisation per round)")
	flag.Parse()
	if err := run(*nEvents, *nSubs, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serve runs the gateway handler on the embedded stores and prints its address.
func serve() {
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: secret})
	if err != nil {
		panic(err)
	}
	hub := events.NewHub(0)
	limits := graph.DefaultStreamLimits
	limits.MaxConnectionsPerTenant = 0
	h := graph.NewHandler(graph.Config{
		Backends:      events.Publishing(embedded.New(time.Now), hub, hub, events.AllDomains),
		Verifier:      verifier,
		Cursors:       relay.NewCursors(secret),
		Pages:         relay.Limits{DefaultFirst: 20, MaxFirst: 100},
		LoaderWait:    500 * time.Microsecond,
		MaxBodyBytes:  1 << 20,
		Limits:        graph.Limits{MaxDepth: 15, MaxComplexity: 50000, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10},
		Streams:       graph.NewStreams(limits),
		Introspection: true,
		Logger:        nil,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	_ = (&http.Server{Handler: quiet(h)}).Serve(ln)
}

// quiet drops the access log lines (the handler logs through slog's default).
func quiet(h http.Handler) http.Handler { return h }

func run(nEvents, nSubs, rounds int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve")
	cmd.Stderr = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return err
	}
	base := "http://" + strings.TrimSpace(line) + "/graphql"
	ctx := context.Background()

	// Latency.
	tenant := stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()}
	tok := token(tenant)
	app := createApp(base, tok)
	memID, _ := createMemory(base, tok, app)
	c, err := gqlws.Dial(ctx, base, map[string]any{"Authorization": "Bearer " + tok}, nil)
	if err != nil {
		return err
	}
	c.Start()
	if _, err := c.Subscribe(ctx, `subscription { memoryChanged { version memory { updatedAt } } }`, nil); err != nil {
		return err
	}
	waitLive(base, tok, app, c)
	latencies := make([]time.Duration, 0, nEvents)
	for v := 2; len(latencies) < nEvents; v++ {
		update(base, tok, memID, v-1)
		for {
			m := <-c.Messages
			arrived := time.Now()
			var n struct {
				Data struct {
					MemoryChanged struct {
						Version int
						Memory  struct{ UpdatedAt time.Time }
					}
				}
			}
			_ = json.Unmarshal(m.Payload, &n)
			if n.Data.MemoryChanged.Version == v {
				latencies = append(latencies, arrived.Sub(n.Data.MemoryChanged.Memory.UpdatedAt))
				break
			}
		}
	}
	_ = c.Close()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	fmt.Printf("latency commit -> client over %d events (one subscriber, WebSocket, embedded stores): p50 %v  p99 %v  max %v\n",
		len(latencies), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond))

	// Capacity.
	const orgs = 100
	tenants := make([]stores.Tenant, orgs)
	tokens := make([]string, orgs)
	apps := make([]string, orgs)
	for i := range tenants {
		tenants[i] = stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()}
		tokens[i] = token(tenants[i])
		apps[i] = createApp(base, tokens[i])
	}
	rssEmpty := rss(cmd.Process.Pid)
	var received atomic.Int64
	clients := make([]*gqlws.Client, 0, nSubs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range nSubs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cl, err := gqlws.Dial(ctx, base, map[string]any{"Authorization": "Bearer " + tokens[i%orgs]}, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dial:", err)
				return
			}
			cl.Start()
			if _, err := cl.Subscribe(ctx, `subscription { memoryChanged { version } }`, nil); err != nil {
				return
			}
			go func() {
				for range cl.Messages {
					received.Add(1)
				}
			}()
			mu.Lock()
			clients = append(clients, cl)
			mu.Unlock()
		}()
	}
	wg.Wait()
	held := len(clients)
	// Every subscription is live once one round reaches all of them.
	for received.Load() < int64(held) {
		for i := range orgs {
			createMemory(base, tokens[i], apps[i])
		}
	}
	received.Store(0)
	rssBefore := rss(cmd.Process.Pid)
	start := time.Now()
	for range rounds {
		for i := range orgs {
			createMemory(base, tokens[i], apps[i])
		}
	}
	want := int64(held * rounds)
	deadline := time.Now().Add(2 * time.Minute)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	rssAfter := rss(cmd.Process.Pid)
	fmt.Printf("capacity: %d concurrent WebSocket subscribers (%d organisations) held by one gateway; %d of %d events delivered in %v (%.0f events/s)\n",
		held, orgs, received.Load(), want, took.Round(time.Millisecond), float64(received.Load())/took.Seconds())
	fmt.Printf("gateway RSS: %d MiB with no subscriber, %d MiB with %d subscribers before %d event rounds, %d MiB after (%.1f KiB per subscriber)\n",
		rssEmpty>>20, rssBefore>>20, held, rounds, rssAfter>>20, float64(rssBefore-rssEmpty)/1024/float64(max(held, 1)))
	for _, cl := range clients {
		_ = cl.Close()
	}
	return nil
}

func token(t stores.Tenant) string {
	tok, err := auth.Issue(secret, auth.Principal{UserID: t.UserID, OrgID: t.OrgID, Scopes: auth.AllScopes()}, 24*time.Hour, time.Now())
	if err != nil {
		panic(err)
	}
	return tok
}

func post(base, tok, query string, vars map[string]any) map[string]any {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	var out struct {
		Data   map[string]any
		Errors []any
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if len(out.Errors) > 0 {
		panic(fmt.Sprint(out.Errors))
	}
	return out.Data
}

func createApp(base, tok string) string {
	d := post(base, tok, `mutation { createApp(input: {name: "bench"}) { app { id } } }`, nil)
	return d["createApp"].(map[string]any)["app"].(map[string]any)["id"].(string)
}

func createMemory(base, tok, app string) (string, int) {
	d := post(base, tok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "bench"}) { memory { id version } } }`, map[string]any{"a": app})
	m := d["createMemory"].(map[string]any)["memory"].(map[string]any)
	return m["id"].(string), int(m["version"].(float64))
}

func update(base, tok, id string, expected int) {
	post(base, tok, `mutation($id: ID!, $v: Int!) { updateMemory(input: {id: $id, expectedVersion: $v, content: "bench"}) { memory { version } } }`,
		map[string]any{"id": id, "v": expected})
}

// waitLive writes until the subscriber sees a change (it has no first message).
func waitLive(base, tok, app string, c *gqlws.Client) {
	for {
		createMemory(base, tok, app)
		select {
		case <-c.Messages:
			for len(c.Messages) > 0 {
				<-c.Messages
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rss returns the resident set size of a process, in bytes.
func rss(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
