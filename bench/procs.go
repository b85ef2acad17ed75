package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/jackc/pgx/v5/pgxpool"
)

func startGateway(ctx context.Context, bin string, svc services, loaderWait string, token string) (*proc.Server, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	env := proc.Environ([]string{"GATEWAY_*", "EMBEDDINGS_*", "DATABASE_URL", "DATABASE_OWNER_URL"},
		"DATABASE_URL="+svc.appURL, "DATABASE_OWNER_URL="+svc.ownerURL,
		"GATEWAY_JWT_SECRET="+benchSecret, "GATEWAY_LOG_LEVEL=warn", "GATEWAY_RATE_LIMIT=0", "GATEWAY_ADDR={addr}")
	if loaderWait != "" {
		env = append(env, "GATEWAY_LOADER_WAIT="+loaderWait)
	}
	return proc.Start(ctx, "gateway", "", env, func(base string) bool {
		return proc.HTTPOK(base, http.MethodGet, "/readyz", "", "") && proc.HTTPOK(base, http.MethodPost, "/graphql", token, `{"query":"{ viewer { orgId } }"}`)
	}, abs, "serve")
}

func startDirect(ctx context.Context, svc services, token string) (*proc.Server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	env := proc.Environ([]string{"DATABASE_URL", "DATABASE_OWNER_URL"}, "DATABASE_URL="+svc.appURL, "DATABASE_OWNER_URL="+svc.ownerURL, "BENCH_DB="+svc.db)
	return proc.Start(ctx, "direct", "", env, func(base string) bool { return proc.HTTPOK(base, http.MethodGet, "/counts", "", "") }, self, "direct", "--addr", "{addr}")
}

func startPeer(ctx context.Context, dir string, svc services, token string) (*proc.Server, error) {
	node := filepath.Join(dir, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		return nil, fmt.Errorf("the peer is not installed: run `npm ci` in %s (%w)", dir, err)
	}
	node, _ = filepath.Abs(node)
	env := proc.Environ([]string{"DATABASE_URL"}, "DATABASE_URL="+svc.appURL, "PEER_JWT_SECRET="+benchSecret, "PEER_PORT={port}", "NODE_ENV=production")
	return proc.Start(ctx, "peer", dir, env, func(base string) bool {
		return proc.HTTPOK(base, http.MethodPost, "/graphql", token, `{"query":"{ __typename }"}`)
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
	defer func() { _ = resp.Body.Close() }() // read whole below
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
	defer func() { _ = resp.Body.Close() }() // read whole below
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
