// Command bench measures the gateway against the real services, side by side
// with its baselines and a peer, and prints one table: throughput, p50, p99
// and the serving process's RSS for each scenario and concurrency, backend
// round trips per request, and the ratios the issue sets targets for.
//
//	bench [flags]          seed (once), start the processes, run every scenario
//	bench direct [flags]   serve the direct path (started by bench itself)
//	bench profile [flags]  CPU-profile the GraphQL handler in process under load
//	bench indexing [flags] time how long new memories take to be searchable by vector
//
// What runs (each a process of its own, on a free loopback port):
//   - the gateway binary, every backend real, access logs and rate limit off;
//   - the direct path: this binary's `direct` subcommand, the same stores
//     called from a plain HTTP handler (same JWT check, same RLS transaction,
//     same statements, same JSON), so the difference is GraphQL;
//   - the peer: PostGraphile v5 (bench/peer) on the same database, schema and
//     policies, its pgSettings taken from the same JWT.
//
// The data live in a database of their own (codingbrain_bench, created and
// migrated on the first run) and in five fixed tenants of the other stores,
// so pg_stat_statements counts the benchmark's statements only and the test
// database stays small. `make bench` runs it; docs/BENCHMARKS.md explains it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// settings are the flags of a benchmark run.
type settings struct {
	gatewayBin   string
	peerDir      string
	duration     time.Duration
	warmup       time.Duration
	concurrency  []int
	rounds       int
	scenarios    map[string]bool
	loaderWait   string
	reseed       bool
	seedOnly     bool
	doc          string
	chart        string
	benchDB      string
	memPerTenant int
	keep         bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "profile" {
		if err := profileGateway(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench profile:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "indexing" {
		if err := measureIndexing(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench indexing:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "direct" {
		if err := serveDirect(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench direct:", err)
			os.Exit(1)
		}
		return
	}
	s, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, s)
	stop() // not deferred: os.Exit would skip it
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&s.gatewayBin, "gateway", "bin/gateway", "the gateway binary to run (make bench builds it)")
	fs.StringVar(&s.peerDir, "peer", "bench/peer", "directory of the PostGraphile peer (npm ci there first); empty skips the peer")
	fs.DurationVar(&s.duration, "duration", 8*time.Second, "measured time of each run")
	fs.DurationVar(&s.warmup, "warmup", time.Second, "unmeasured time before each run")
	conc := fs.String("concurrency", "1,16,64,256", "closed-loop clients of each run, comma-separated")
	fs.IntVar(&s.rounds, "rounds", 1, "runs of each system per concurrency, the systems taking turns; the figures are over all rounds")
	scen := fs.String("scenarios", "all", "comma-separated scenarios: memories20, memories100, fanout, recall, writes (all: every one)")
	fs.StringVar(&s.loaderWait, "loader-wait", "", "GATEWAY_LOADER_WAIT of the gateway (empty: its default)")
	fs.BoolVar(&s.reseed, "reseed", false, "seed every store again even when the data set is there")
	fs.BoolVar(&s.seedOnly, "seed-only", false, "seed and exit")
	fs.StringVar(&s.doc, "doc", "docs/BENCHMARKS.md", "markdown file whose generated section gets the table (empty: print only)")
	fs.StringVar(&s.chart, "chart", "docs/benchmarks-latency.svg", "SVG chart of latency against concurrency (empty: none)")
	fs.StringVar(&s.benchDB, "db", "codingbrain_bench", "PostgreSQL database of the benchmark (created and migrated when missing)")
	fs.IntVar(&s.memPerTenant, "memories", 20000, "memories per tenant (5 tenants)")
	fs.BoolVar(&s.keep, "keep", false, "leave the servers running after the run (prints their addresses)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if s.rounds < 1 {
		return s, fmt.Errorf("-rounds: %d is not a positive number", s.rounds)
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return s, fmt.Errorf("-concurrency: %q is not a positive number", f)
		}
		s.concurrency = append(s.concurrency, n)
	}
	s.scenarios = map[string]bool{}
	for _, name := range strings.Split(*scen, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			for _, n := range scenarioNames {
				s.scenarios[n] = true
			}
			continue
		}
		if !contains(scenarioNames, name) {
			return s, fmt.Errorf("-scenarios: unknown scenario %q (want %s)", name, strings.Join(scenarioNames, ", "))
		}
		s.scenarios[name] = true
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
