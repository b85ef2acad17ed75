package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/postgres"
)

// profileGateway serves the gateway's GraphQL handler in this process, over
// the PostgreSQL backend of the benchmark database (the other domains
// embedded), puts a closed-loop load of one memories scenario on it, and
// writes a CPU profile: the gateway binary has no pprof endpoint.
//
//	bench profile [-first 100] [-concurrency 16] [-duration 10s] [-out cpu.pprof]
func profileGateway(args []string) error {
	fs := flag.NewFlagSet("bench profile", flag.ContinueOnError)
	first := fs.Int("first", 100, "page size of the memories query")
	conc := fs.Int("concurrency", 16, "closed-loop clients")
	duration := fs.Duration("duration", 10*time.Second, "profiled time")
	wait := fs.Duration("loader-wait", 500*time.Microsecond, "loader wait")
	out := fs.String("out", "cpu.pprof", "CPU profile file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc, err := servicesFromEnv("codingbrain_bench")
	if err != nil {
		return err
	}
	ctx := context.Background()
	pg, err := postgres.Open(ctx, postgres.Config{URL: svc.appURL})
	if err != nil {
		return err
	}
	defer pg.Close()
	b := embedded.New(time.Now)
	b.Memories, b.Feedback, b.Experiments = pg, pg, pg
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: []byte(benchSecret)})
	if err != nil {
		return err
	}
	h := graph.NewHandler(graph.Config{
		Backends: b, Verifier: verifier, Cursors: relay.NewCursors([]byte(benchSecret)),
		Pages: relay.Limits{DefaultFirst: 20, MaxFirst: 100}, MaxTraversalDepth: 5, LoaderWait: *wait, MaxBodyBytes: 1 << 20,
		Limits: graph.Limits{MaxDepth: 15, MaxComplexity: 50000, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, h) }()
	ts, err := tenants()
	if err != nil {
		return err
	}
	req := func(_, _ int, _ *tenant) (string, []byte) {
		return "/graphql", gqlBody(memoriesQuery, map[string]any{"first": *first})
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // on the success path it is closed and checked below
	runLoad(ctx, "http://"+ln.Addr().String(), os.Getpid(), *conc, time.Second, time.Second, ts, req)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	r := runLoad(ctx, "http://"+ln.Addr().String(), os.Getpid(), *conc, 0, *duration, ts, req)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("in-process gateway, memories(first: %d), %d clients: %.0f req/s, p50 %v, p99 %v, errors %d %s; profile in %s\n",
		*first, *conc, r.throughput(), r.percentile(0.5), r.percentile(0.99), r.errors, r.firstErr, *out)
	return nil
}
