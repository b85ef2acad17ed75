// Command sharedlimits measures what the shared rate limit costs a request:
// the latency of one Valkey GCRA script call (stores/valkey.Limits.Allow),
// side by side in one run with the in-process token bucket it replaces when
// VALKEY_URL is set. It prints p50, p99 and max of each.
//
//	go run ./bench/sharedlimits -valkey "$VALKEY_URL" -n 20000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"time"

	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

func main() {
	url := flag.String("valkey", os.Getenv("VALKEY_URL"), "Valkey URL")
	n := flag.Int("n", 20000, "calls per limiter")
	flag.Parse()
	if *url == "" {
		log.Fatal("set -valkey or VALKEY_URL (e2e/services/up, then source e2e/services/env)")
	}
	b, err := valkey.Open(context.Background(), *url, valkey.Options{Timeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = b.Close() }() // the process ends after the figures
	shared := b.Limits()
	local := rate.NewLimiter(rate.Limit(1e9), 1e9)
	ctx := context.Background()
	key := "bench:" + uuid.NewString()
	measure := func(call func()) []time.Duration {
		for range 1000 { // warm up connections and caches
			call()
		}
		d := make([]time.Duration, *n)
		for i := range d {
			start := time.Now()
			call()
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		return d
	}
	// The two run alternately in rounds, so the host's noise falls on both.
	var sharedD, localD []time.Duration
	for range 4 {
		sharedD = append(sharedD, measure(func() {
			if _, _, err := shared.Allow(ctx, key, 1e9, 1e9); err != nil {
				log.Fatal(err)
			}
		})...)
		localD = append(localD, measure(func() { local.Allow() })...)
	}
	slices.Sort(sharedD)
	slices.Sort(localD)
	q := func(d []time.Duration, p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	fmt.Printf("| limiter | calls | p50 | p99 | max |\n| --- | --- | --- | --- | --- |\n")
	fmt.Printf("| in process (x/time/rate) | %d | %v | %v | %v |\n", len(localD), q(localD, 0.5), q(localD, 0.99), localD[len(localD)-1])
	fmt.Printf("| shared (Valkey GCRA script, one round trip) | %d | %v | %v | %v |\n", len(sharedD), q(sharedD, 0.5), q(sharedD, 0.99), sharedD[len(sharedD)-1])
}
