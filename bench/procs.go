package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// server is a process the benchmark started and measures.
type server struct {
	name   string
	base   string
	proc   *os.Process
	exited chan struct{}
	log    string
}

func (s *server) pid() int { return s.proc.Pid }

// stop ends the process the benchmark started: SIGTERM, then SIGKILL after 10 s.
func (s *server) stop() {
	if s == nil {
		return
	}
	_ = s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.proc.Kill()
		<-s.exited
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }() // only probed for a free port
	return ln.Addr().String(), nil
}

// start runs name's command with env, its output in a log file, and waits
// until ready answers true.
func start(ctx context.Context, name, dir string, env []string, ready func() bool, argv ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	for i := range argv {
		argv[i] = strings.ReplaceAll(argv[i], "{addr}", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	for i := range env {
		env[i] = strings.ReplaceAll(strings.ReplaceAll(env[i], "{addr}", addr), "{port}", port)
	}
	logDir := filepath.Join(os.TempDir(), "codingbrain-bench")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Start()
	// The child writes through its own descriptor; ours is not written to.
	_ = logFile.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	exited := make(chan struct{})
	s := &server{name: name, base: "http://" + addr, proc: cmd.Process, exited: exited, log: logPath}
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if readyAt(s, ready) {
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start; its log: %s\n%s", name, logPath, tail(logPath))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("%s did not become ready in 90 s; its log: %s\n%s", name, logPath, tail(logPath))
		}
	}
}

func readyAt(s *server, ready func() bool) bool {
	readyBase = s.base
	return ready()
}

// readyBase is the base URL the ready functions probe (set by start).
var readyBase string

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

func httpOK(method, path, token string, body string) bool {
	req, err := http.NewRequest(method, readyBase+path, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	return resp.StatusCode == http.StatusOK
}

// environ is the environment of a child: ours without the given variables,
// plus extra.
func environ(drop []string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			prefix, wild := strings.CutSuffix(d, "*")
			if name == d || wild && strings.HasPrefix(name, prefix) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func startGateway(ctx context.Context, bin string, svc services, loaderWait string, token string) (*server, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	env := environ([]string{"GATEWAY_*", "EMBEDDINGS_*", "DATABASE_URL", "DATABASE_OWNER_URL"},
		"DATABASE_URL="+svc.appURL, "DATABASE_OWNER_URL="+svc.ownerURL,
		"GATEWAY_JWT_SECRET="+benchSecret, "GATEWAY_LOG_LEVEL=warn", "GATEWAY_RATE_LIMIT=0", "GATEWAY_ADDR={addr}")
	if loaderWait != "" {
		env = append(env, "GATEWAY_LOADER_WAIT="+loaderWait)
	}
	return start(ctx, "gateway", "", env, func() bool {
		return httpOK(http.MethodGet, "/readyz", "", "") && httpOK(http.MethodPost, "/graphql", token, `{"query":"{ viewer { orgId } }"}`)
	}, abs, "serve")
}

func startDirect(ctx context.Context, svc services, token string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	env := environ([]string{"DATABASE_URL", "DATABASE_OWNER_URL"}, "DATABASE_URL="+svc.appURL, "DATABASE_OWNER_URL="+svc.ownerURL, "BENCH_DB="+svc.db)
	return start(ctx, "direct", "", env, func() bool { return httpOK(http.MethodGet, "/counts", "", "") }, self, "direct", "--addr", "{addr}")
}

func startPeer(ctx context.Context, dir string, svc services, token string) (*server, error) {
	node := filepath.Join(dir, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		return nil, fmt.Errorf("the peer is not installed: run `npm ci` in %s (%w)", dir, err)
	}
	node, _ = filepath.Abs(node)
	env := environ([]string{"DATABASE_URL"}, "DATABASE_URL="+svc.appURL, "PEER_JWT_SECRET="+benchSecret, "PEER_PORT={port}", "NODE_ENV=production")
	return start(ctx, "peer", dir, env, func() bool {
		return httpOK(http.MethodPost, "/graphql", token, `{"query":"{ __typename }"}`)
	}, node, "server.mjs")
}

// counters are cumulative counts read before and after a run.
type counters map[string]float64

func (c counters) sub(before counters) counters {
	out := counters{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

// gatewayCounters reads the gateway's store calls per backend and loader
// batches per loader from /metrics.
func gatewayCounters(base string) (counters, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	out := counters{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var key string
		switch {
		case strings.HasPrefix(line, "gateway_store_calls_total{"):
			key = "calls:" + label(line, "backend")
		case strings.HasPrefix(line, "gateway_loader_batch_size_count{"):
			key = "batches:" + label(line, "loader")
		default:
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[key] += v
	}
	return out, sc.Err()
}

func label(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// directCounters reads the direct path's store calls per backend.
func directCounters(base string) (counters, error) {
	resp, err := client.Get(base + "/counts")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	var m map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	out := counters{}
	for k, v := range m {
		out["calls:"+k] = v
	}
	return out, nil
}

// pgCounters reads pg_stat_statements of the benchmark database: data
// statements and transaction plumbing (BEGIN, set_config, COMMIT) executed.
func pgCounters(ctx context.Context, pool *pgxpool.Pool) (counters, error) {
	rows, err := pool.Query(ctx, `SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := counters{}
	for rows.Next() {
		var q string
		var calls int64
		if err := rows.Scan(&q, &calls); err != nil {
			return nil, err
		}
		l := strings.ToLower(strings.TrimSpace(q))
		switch {
		case strings.Contains(l, "pg_stat_statements"):
		case l == "begin" || l == "commit" || l == "rollback" || strings.Contains(l, "set_config("):
			out["pg:plumbing"] += float64(calls)
		default:
			out["pg:data"] += float64(calls)
		}
	}
	return out, rows.Err()
}
