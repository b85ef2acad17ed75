package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/jackc/pgx/v5/pgxpool"
)

// result is one system under one scenario at one concurrency.
type result struct {
	scenario, system string
	conc             int
	load             loadResult
	// perRequest are counts divided by the requests sent (warm-up included):
	// calls:<backend> store calls, batches:<loader> loader batches,
	// pg:data / pg:plumbing statements from pg_stat_statements.
	perRequest counters
	// roundCPU is the server CPU per request of each round (-rounds), in
	// the order the rounds ran.
	roundCPU []float64
}

// cpuRatio is the median over the rounds of r's server CPU per request
// over other's in the same round: the systems of a round ran one after the
// other, so a round's ratio is the least disturbed by the rest of the host.
func (r result) cpuRatio(other result) float64 {
	var ratios []float64
	for i := range min(len(r.roundCPU), len(other.roundCPU)) {
		if other.roundCPU[i] > 0 {
			ratios = append(ratios, r.roundCPU[i]/other.roundCPU[i])
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	slices.Sort(ratios)
	if n := len(ratios); n%2 == 0 {
		return (ratios[n/2-1] + ratios[n/2]) / 2
	}
	return ratios[len(ratios)/2]
}

// merge adds another round of the same system, scenario and concurrency;
// the per-request counts are weighted by the requests of each round.
func (r result) merge(o result) result {
	per := counters{}
	for k := range r.perRequest {
		per[k] += r.perRequest[k] * float64(r.load.total)
	}
	for k := range o.perRequest {
		per[k] += o.perRequest[k] * float64(o.load.total)
	}
	r.load = r.load.merge(o.load)
	for k := range per {
		if r.load.total > 0 {
			per[k] /= float64(r.load.total)
		}
	}
	r.perRequest = per
	r.roundCPU = append(r.roundCPU, o.roundCPU...)
	return r
}

func (r result) ms(p float64) float64 { return float64(r.load.percentile(p).Microseconds()) / 1000 }

// system is one server under load for a scenario.
type system struct {
	name   string
	srv    *proc.Server
	req    request
	counts func() (counters, error)
}

func run(ctx context.Context, s settings) error {
	svc, err := servicesFromEnv(s.benchDB)
	if err != nil {
		return err
	}
	if err := prepareDatabase(ctx, svc); err != nil {
		return fmt.Errorf("preparing the benchmark database: %w", err)
	}
	ts, err := tenants()
	if err != nil {
		return err
	}
	memoryCount = s.memPerTenant
	b, err := openBackends(ctx, svc)
	if err != nil {
		return err
	}
	err = seed(ctx, b, ts, s.memPerTenant, s.reseed)
	b.closeAll()
	if err != nil || s.seedOnly {
		return err
	}

	monitor, err := pgxpool.New(ctx, svc.appURL)
	if err != nil {
		return err
	}
	defer monitor.Close()

	gw, err := startGateway(ctx, s.gatewayBin, svc, s.loaderWait, ts[0].token)
	if err != nil {
		return err
	}
	defer gw.Stop()
	direct, err := startDirect(ctx, svc, ts[0].token)
	if err != nil {
		return err
	}
	defer direct.Stop()
	var peer *proc.Server
	if s.peerDir != "" {
		if peer, err = startPeer(ctx, s.peerDir, svc, ts[0].token); err != nil {
			return err
		}
		defer peer.Stop()
	}
	if s.keep {
		fmt.Fprintf(os.Stderr, "gateway %s (pid %d), direct %s, peer %v; token of tenant 0:\n%s\n", gw.Base, gw.PID(), direct.Base, peer, ts[0].token)
	}
	fmt.Fprintf(os.Stderr, "servers up: gateway %s (pid %d), direct %s (pid %d)", gw.Base, gw.PID(), direct.Base, direct.PID())
	if peer != nil {
		fmt.Fprintf(os.Stderr, ", peer %s (pid %d)", peer.Base, peer.PID())
	}
	fmt.Fprintln(os.Stderr)

	withPG := func(counts func() (counters, error)) func() (counters, error) {
		return func() (counters, error) {
			c, err := counts()
			if err != nil {
				return nil, err
			}
			pg, err := pgCounters(ctx, monitor)
			for k, v := range pg {
				c[k] = v
			}
			return c, err
		}
	}
	gwCounts := withPG(func() (counters, error) { return gatewayCounters(gw.Base) })
	directCounts := withPG(func() (counters, error) { return directCounters(direct.Base) })
	peerCounts := withPG(func() (counters, error) { return counters{}, nil })

	measure := func(scen string, sys system, conc int, duration time.Duration) (result, error) {
		writeRun = time.Now().UnixNano()
		before, err := sys.counts()
		if err != nil {
			return result{}, err
		}
		load := runLoad(ctx, sys.srv.Base, sys.srv.PID(), conc, s.warmup, duration, ts, sys.req)
		after, err := sys.counts()
		if err != nil {
			return result{}, err
		}
		per := counters{}
		for k, v := range after.sub(before) {
			if load.total > 0 {
				per[k] = v / float64(load.total)
			}
		}
		r := result{scenario: scen, system: sys.name, conc: conc, load: load, perRequest: per, roundCPU: []float64{load.cpuPerRequest()}}
		fmt.Fprintf(os.Stderr, "%-12s %-24s c=%-4d %8.0f req/s  p50 %8.2f ms  p99 %8.2f ms  CPU %6.2f ms/req  RSS %4d MB  errors %d %s\n",
			scen, sys.name, conc, load.throughput(), r.ms(0.5), r.ms(0.99), load.cpuPerRequest(), load.rssPeakKB/1024, load.errors, load.firstErr)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		time.Sleep(300 * time.Millisecond)
		return r, nil
	}

	var results []result
	for _, sc := range scenarios() {
		if !s.scenarios[sc.name] {
			continue
		}
		systems := []system{{"gateway", gw, sc.gateway, gwCounts}}
		if sc.direct != nil {
			systems = append(systems, system{"direct", direct, sc.direct, directCounts})
		}
		if sc.peer != nil && peer != nil {
			systems = append(systems, system{"postgraphile", peer, sc.peer, peerCounts})
		}
		if len(sc.singles) > 0 {
			// The slowest store alone: each root field alone, one client, then
			// the slowest of them at every concurrency.
			var slowest single
			var worst time.Duration
			for _, one := range sc.singles {
				r, err := measure(sc.name, system{"only " + one.store, gw, one.req, gwCounts}, 1, s.duration/2)
				if err != nil {
					return err
				}
				results = append(results, r)
				if p := r.load.percentile(0.5); p > worst {
					worst, slowest = p, one
				}
			}
			systems = append(systems, system{"slowest alone: " + slowest.store, gw, slowest.req, gwCounts})
		}
		for _, conc := range s.concurrency {
			// The systems take turns, round after round, so that a burst
			// of load from the rest of the host falls on all of them.
			merged := make([]result, len(systems))
			for round := range s.rounds {
				for i, sys := range systems {
					r, err := measure(sc.name, sys, conc, s.duration)
					if err != nil {
						return err
					}
					if round == 0 {
						merged[i] = r
					} else {
						merged[i] = merged[i].merge(r)
					}
				}
			}
			results = append(results, merged...)
		}
	}
	sort.SliceStable(results, func(i, j int) bool {
		return scenarioIndex(results[i].scenario) < scenarioIndex(results[j].scenario)
	})
	return report(s, results)
}

func scenarioIndex(name string) int {
	for i, n := range scenarioNames {
		if n == name {
			return i
		}
	}
	return len(scenarioNames)
}
