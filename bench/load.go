package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/bench/internal/proc"
)

// client is the load generator's one HTTP client: enough idle connections
// for every worker, no compression (none of the servers compress either).
var client = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	},
}

// loadResult is what one closed-loop run measured.
type loadResult struct {
	requests  int // measured requests (after the warm-up)
	total     int // every request, warm-up included (for per-request counts)
	errors    int
	firstErr  string
	elapsed   time.Duration
	latencies []time.Duration // sorted
	rssPeakKB int64
	// cpu is the CPU time the serving process used during the measured
	// window (utime + stime of /proc/PID/stat, all its threads); cpuErr
	// says why it is unknown.
	cpu    time.Duration
	cpuErr error
}

func (r loadResult) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// cpuPerRequest is the serving process's CPU time per measured request, in
// milliseconds; 0 when unknown.
func (r loadResult) cpuPerRequest() float64 {
	if r.cpuErr != nil || r.requests == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / 1000 / float64(r.requests)
}

// merge adds another run of the same system, scenario and concurrency.
func (r loadResult) merge(o loadResult) loadResult {
	r.requests += o.requests
	r.total += o.total
	r.errors += o.errors
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
	slices.Sort(r.latencies)
	r.rssPeakKB = max(r.rssPeakKB, o.rssPeakKB)
	r.cpu += o.cpu
	r.cpuErr = errors.Join(r.cpuErr, o.cpuErr)
	return r
}

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// runLoad runs conc workers, each sending its next request as soon as the
// previous one is answered, for warmup (not measured) then duration, while
// sampling the peak RSS of pid and reading its CPU time at both ends of the
// measured window.
func runLoad(ctx context.Context, base string, pid int, conc int, warmup, duration time.Duration, ts []*tenant, req request) loadResult {
	var measuring atomic.Bool
	stop := make(chan struct{})
	type workerOut struct {
		lat           []time.Duration
		total, errors int
		firstErr      string
	}
	outs := make([]workerOut, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := &outs[w]
			out.lat = make([]time.Duration, 0, 4096)
			t := ts[w%len(ts)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path, body := req(w, i, t)
				start := time.Now()
				err := send(ctx, base+path, t.token, body)
				took := time.Since(start)
				out.total++
				if err != nil {
					out.errors++
					if out.firstErr == "" {
						out.firstErr = err.Error()
					}
				}
				if measuring.Load() {
					out.lat = append(out.lat, took)
				}
			}
		}()
	}
	var peak atomic.Int64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if measuring.Load() {
					if kb := rssKB(pid); kb > peak.Load() {
						peak.Store(kb)
					}
				}
			}
		}
	}()
	sleep(ctx, warmup)
	cpuBefore, errBefore := proc.CPUTime(pid)
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpuAfter, errAfter := proc.CPUTime(pid)
	close(stop)
	wg.Wait()
	<-samplerDone
	r := loadResult{elapsed: elapsed, rssPeakKB: peak.Load(), cpu: cpuAfter - cpuBefore, cpuErr: errors.Join(errBefore, errAfter)}
	for _, o := range outs {
		r.latencies = append(r.latencies, o.lat...)
		r.total += o.total
		r.errors += o.errors
		if r.firstErr == "" {
			r.firstErr = o.firstErr
		}
	}
	r.requests = len(r.latencies)
	slices.Sort(r.latencies)
	return r
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

var errorsKey = []byte(`"errors"`)

// send posts one request and reads the whole answer; an HTTP error or a
// GraphQL error is an error.
func send(ctx context.Context, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(data, errorsKey) {
		return fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, data)
	}
	return nil
}

// rssKB is the resident set size of pid (VmRSS), 0 when unknown.
func rssKB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
