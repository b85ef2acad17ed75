// Command hostile measures how much server CPU the gateway spends refusing
// hostile GraphQL documents: depth, alias, fragment and directive bombs,
// oversized bodies and variables, bad UTF-8. Each is sent n times in a row,
// with a valid token and without one, next to a small valid query, and the
// table shows what the gateway answered and the CPU time its process used per
// request, against a target of 50 ms per refusal.
//
//	go run ./bench/hostile [-gateway bin/gateway] [-n 20] [-cases regexp]
//
// `make bench-hostile` builds the gateway and runs it; docs/BENCHMARKS.md
// explains the figures.
//
// How it measures, so that the figures are honest:
//   - the gateway is its own process (the binary, `serve` on the embedded
//     stores in development mode, on a free loopback port, default limits), so
//     the CPU counted is the server's, never this client's;
//   - the CPU of one request is the growth of the process's CPU time from
//     just before the request to the moment the process is idle again after
//     the response, so work the request leaves behind (a concurrent garbage
//     collection, the access log) is counted with it. The per-request figure
//     comes from the scheduler's run time of every thread
//     (/proc/PID/task/*/schedstat, in ns); the total over the n requests is
//     also read from /proc/PID/stat (utime + stime, in 10 ms clock ticks), the
//     kernel's own accounting, as a cross-check;
//   - every request's document differs from the others (a trailing comment
//     carries the run number), as an attacker's would, so the gateway's cache
//     of parsed documents saves no work;
//   - each case is sent once before the measured runs (warm-up), and the
//     baseline is run first so the process is warm;
//   - garbage left by one request may be collected during a later one: the
//     median of n runs carries a case's share, and the table shows the
//     collections (from the gateway's /metrics) and the bytes allocated per
//     request, read outside the measured windows.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/codingbrain/gateway/bench/internal/proc"
	"github.com/vektah/gqlparser/v2/parser"
)

func main() {
	gatewayBin := flag.String("gateway", "bin/gateway", "the gateway binary (built with `go build -o PATH .` when missing)")
	n := flag.Int("n", 20, "measured requests per case and token")
	target := flag.Duration("target", 50*time.Millisecond, "server CPU allowed per refusal")
	only := flag.String("cases", "", "run only the cases whose name matches this regular expression (the baseline always runs)")
	timeout := flag.Duration("timeout", time.Minute, "give up on a request after this long (the case's other runs are skipped)")
	flag.Parse()
	filter, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile: -cases:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	b := bench{n: *n, target: *target, client: &http.Client{Timeout: *timeout}}
	err = b.run(ctx, *gatewayBin, filter)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

// request is one HTTP request to /graphql.
type request struct {
	method  string // POST unless GET
	query   string // URL query (GET)
	body    []byte
	chunked bool // send the body without a Content-Length
}

// hostileCase is one document (or body) the gateway must refuse.
type hostileCase struct {
	name  string
	build func(nonce string) request
}

// bench holds a run's settings and the gateway under measure.
type bench struct {
	n      int
	target time.Duration
	client *http.Client
	bin    string
	gw     *proc.Server
	token  string
}

// gatewayEnv is the gateway's environment: ours without any backend URL or
// token key, so every store is embedded and it runs in development mode,
// and without GATEWAY_* so every limit is the default.
func gatewayEnv() []string {
	return proc.Environ([]string{"GATEWAY_*", "DATABASE_URL", "DATABASE_OWNER_URL", "VALKEY_URL", "NEO4J_*", "QDRANT_URL",
		"OPENSEARCH_URL", "EMBEDDINGS_*", "OTEL_*"})
}

func (b *bench) run(ctx context.Context, bin string, filter *regexp.Regexp) error {
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "building %s\n", bin)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the gateway: %w", err)
		}
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	b.bin = abs
	out, err := exec.CommandContext(ctx, b.bin, "token", "--ttl", "24h").Output()
	if err != nil {
		return fmt.Errorf("gateway token: %w", err)
	}
	b.token = strings.TrimSpace(string(out))
	if err := b.startGateway(ctx); err != nil {
		return err
	}
	defer func() { b.gw.Stop() }()

	idle, err := b.idleRate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gateway %s (pid %d) up; idle it uses %.2f ms of CPU per second\n", b.gw.Base, b.gw.PID(), ms(idle))

	baseline := hostileCase{"baseline: memories(first: 5)", func(nonce string) request {
		return postQuery("{ memories(first: 5) { nodes { id } } }" + nonce)
	}}
	var rows []row
	for _, c := range append([]hostileCase{baseline}, cases()...) {
		if c.name != baseline.name && !filter.MatchString(c.name) {
			continue
		}
		tokens := []bool{true, false}
		if c.name == baseline.name {
			tokens = []bool{true}
		}
		for _, withToken := range tokens {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := b.measure(ctx, c, withToken)
			r.baseline = c.name == baseline.name
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			fmt.Fprintln(os.Stderr, r.progress())
			rows = append(rows, r)
		}
	}
	b.print(rows, idle)
	return nil
}

func (b *bench) startGateway(ctx context.Context) error {
	gw, err := proc.Start(ctx, "gateway-hostile", "", gatewayEnv(), func(base string) bool {
		return proc.HTTPOK(base, http.MethodGet, "/healthz", "", "")
	}, b.bin, "serve", "--addr", "{addr}")
	b.gw = gw
	return err
}

// idleRate is the CPU time the gateway uses per second when nobody calls it
// (its background work: the noise under every figure).
func (b *bench) idleRate(ctx context.Context) (time.Duration, error) {
	if _, err := b.settle(ctx, settleLimit); err != nil {
		return 0, err
	}
	before, err := proc.CPUTimePrecise(b.gw.PID())
	if err != nil {
		return 0, err
	}
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	after, err := proc.CPUTimePrecise(b.gw.PID())
	return (after - before) / 2, err
}

// settle waits until the gateway is idle: until it has used less than 0.5 ms
// of CPU in the last 10 ms (its idle rate is far below that), or limit has
// passed. It reports whether the gateway went idle.
func (b *bench) settle(ctx context.Context, limit time.Duration) (bool, error) {
	const window, quiet = 10 * time.Millisecond, 500 * time.Microsecond
	last, err := proc.CPUTimePrecise(b.gw.PID())
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-time.After(window):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		now, err := proc.CPUTimePrecise(b.gw.PID())
		if err != nil {
			return false, err
		}
		if now-last < quiet {
			return true, nil
		}
		last = now
	}
	return false, nil
}

// row is the outcome of one case sent n times with or without a token.
type row struct {
	name      string
	token     bool
	size      int // bytes sent: body, or URL query for GET
	statuses  []string
	codes     []string
	message   string          // the first error's message of the first answer
	cpu       []time.Duration // per request, scheduler run time
	wall      []time.Duration
	ticksCPU  time.Duration // total over the runs, from /proc/PID/stat
	gcs       float64       // garbage collections during the runs
	allocated float64       // bytes the gateway allocated during the runs
	failure   string        // why the runs stopped early, if they did
	baseline  bool
}

// settleLimit bounds the wait for the gateway to go idle after a request.
const settleLimit = 10 * time.Second

// measure sends c once to warm up, then n times, each time measuring the
// gateway's CPU from just before the request until it is idle again. A
// request that fails (a timeout, a dropped connection) ends the case: its
// figure is the only one.
func (b *bench) measure(ctx context.Context, c hostileCase, withToken bool) (row, error) {
	r := row{name: c.name, token: withToken}
	nonce := func(run string) string { return "\n# " + c.name + " token=" + r.tokenText() + " run " + run }
	if ok, err := b.sendMeasured(ctx, &r, c.build(nonce("warm-up")), withToken); err != nil || !ok {
		r.failure = "warm-up: " + r.failure
		return r, err
	}
	r.cpu, r.wall, r.statuses, r.codes = nil, nil, nil, nil
	before, err := b.runtimeCounters()
	if err != nil {
		return r, err
	}
	ticksBefore, err := proc.CPUTime(b.gw.PID())
	if err != nil {
		return r, err
	}
	for i := range b.n {
		if ok, err := b.sendMeasured(ctx, &r, c.build(nonce(strconv.Itoa(i))), withToken); err != nil || !ok {
			return r, err
		}
	}
	ticksAfter, err := proc.CPUTime(b.gw.PID())
	if err != nil {
		return r, err
	}
	r.ticksCPU = ticksAfter - ticksBefore
	after, err := b.runtimeCounters()
	if err != nil {
		return r, err
	}
	r.gcs = after.gcs - before.gcs
	r.allocated = after.allocated - before.allocated
	return r, nil
}

// sendMeasured sends req and adds its figures to r. It reports false when
// the request failed; then the gateway is running and idle again (restarted
// if the request killed it or left it busy for minutes).
func (b *bench) sendMeasured(ctx context.Context, r *row, req request, withToken bool) (bool, error) {
	r.size = len(req.body) + len(req.query)
	pid := b.gw.PID()
	cpuBefore, err := proc.CPUTimePrecise(pid)
	if err != nil {
		return false, err
	}
	start := time.Now()
	status, code, message, sendErr := b.send(ctx, req, withToken)
	wall := time.Since(start)
	if sendErr != nil {
		// A gateway that crashed has dropped the connection: its exit
		// follows within moments.
		select {
		case <-b.gw.Exited():
			r.failure = fmt.Sprintf("the gateway died (%v)", sendErr)
			r.statuses = append(r.statuses, "died")
			fmt.Fprintf(os.Stderr, "%s: the gateway died; its log: %s\n%s\nrestarting it\n", r.name, b.gw.Log, proc.Tail(b.gw.Log))
			return false, b.startGateway(ctx)
		case <-time.After(time.Second):
		}
	}
	limit := settleLimit
	if sendErr != nil {
		limit = 5 * time.Minute // it may still be working on what we gave up on
	}
	idle, err := b.settle(ctx, limit)
	if err != nil {
		return false, err
	}
	cpuAfter, err := proc.CPUTimePrecise(pid)
	if err != nil {
		return false, err
	}
	r.cpu = append(r.cpu, cpuAfter-cpuBefore)
	r.wall = append(r.wall, wall)
	if sendErr == nil {
		r.statuses = append(r.statuses, strconv.Itoa(status))
		r.codes = append(r.codes, code)
		if r.message == "" {
			r.message = message
		}
		return true, nil
	}
	r.failure = sendErr.Error()
	r.statuses = append(r.statuses, "error")
	if !idle {
		r.failure += fmt.Sprintf("; still busy after %s, restarted", limit)
		b.gw.Stop()
		return false, b.startGateway(ctx)
	}
	return false, nil
}

// send makes one request and reads the whole answer: its HTTP status, and
// the extensions.code ("-" when there is none) and message of its first error.
func (b *bench) send(ctx context.Context, r request, withToken bool) (status int, code, message string, err error) {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
		}
	}
	target := b.gw.Base + "/graphql"
	if r.query != "" {
		target += "?" + r.query
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, "", "", err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	if withToken {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", "", err
	}
	code, message = firstError(data)
	return resp.StatusCode, code, message, nil
}

// firstError is the extensions.code and message of a GraphQL response's
// first error.
func firstError(data []byte) (code, message string) {
	var answer struct {
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return "(not JSON)", fmt.Sprintf("%.100q", data)
	}
	switch {
	case len(answer.Errors) == 0:
		return "-", ""
	case answer.Errors[0].Extensions.Code == "":
		return "(no code)", answer.Errors[0].Message
	}
	return answer.Errors[0].Extensions.Code, answer.Errors[0].Message
}

// runtimeCounters are the Go runtime's cumulative figures the gateway
// exports at /metrics.
type runtimeCounters struct{ gcs, allocated float64 }

func (b *bench) runtimeCounters() (runtimeCounters, error) {
	resp, err := b.client.Get(b.gw.Base + "/metrics")
	if err != nil {
		return runtimeCounters{}, err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	var c runtimeCounters
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "go_gc_duration_seconds_count":
			c.gcs = v
		case "go_memstats_alloc_bytes_total":
			c.allocated = v
		}
	}
	return c, sc.Err()
}

func postQuery(query string) request {
	body, _ := json.Marshal(map[string]string{"query": query})
	return request{body: body}
}

// cases are the hostile documents, in the order of the table.
func cases() []hostileCase {
	return []hostileCase{
		{"depth bomb: {a{a{…}}} 10,000 deep, unknown field", depthBombUnknown},
		{fmt.Sprintf("depth bomb: codeSymbol dependencies{symbol{…}} %d deep", parser.MaxNestingDepth), depthBombValid},
		{"alias bomb: 20,000 × __typename", aliasBombTypename},
		{"alias bomb: 20,000 × __typename, GET", aliasBombTypenameGET},
		{"alias bomb: 20,000 × memories{nodes{id}}", aliasBombMemories},
		{"alias bomb at the token limit: 3,300 × __typename", aliasBombUnderTokenLimit},
		{"field repetition at the token limit: 9,900 × __typename", fieldRepetition},
		{"fragment fan-out: 70 fragments, each spreading every earlier one", fragmentFanOut},
		{"fragment cycle: A→B→A", fragmentCycle2},
		{"fragment cycle: 1,000 fragments", fragmentCycle1000},
		{"billion laughs: 30 fragments, each spreads the previous twice", billionLaughs},
		{"directive flood: 50,000 × @include(if: true)", directiveFloodInclude},
		{"directive flood: 50,000 × unknown @x", directiveFloodUnknown},
		{"directive flood at the token limit: 1,600 × @include(if: true)", directiveFloodUnderTokenLimit},
		{"10 MB body", body10MB},
		{"10 MB body, chunked (no Content-Length)", body10MBChunked},
		{"5 MB variables object", variables5MB},
		{"variables nested 100,000 deep [[[…]]]", variablesDeep},
		{"bad UTF-8 in the query string", badUTF8Query},
		{"bad UTF-8 in the JSON body", badUTF8Body},
	}
}

// depthBombUnknown nests an undefined field 10,000 deep, ten times what the
// parser accepts, so the parser must give up early without recursing
// 10,000 times.
func depthBombUnknown(nonce string) request {
	const depth = 10_000
	return postQuery(strings.Repeat("{a", depth) + strings.Repeat("}", depth) + nonce)
}

// depthBombValid nests a valid selection through the code graph's recursive
// CodeSymbol.dependencies.symbol as deep as the parser allows (it stops at
// parser.MaxNestingDepth selection sets), so the document reaches
// validation and only the gateway's depth limit refuses it.
func depthBombValid(nonce string) request {
	pairs := (parser.MaxNestingDepth - 2) / 2 // each pair opens two selection sets
	return postQuery(`{ codeSymbol(id: "x") ` + strings.Repeat("{ dependencies { symbol ", pairs) + "{ id }" +
		strings.Repeat(" } }", pairs) + " }" + nonce)
}

// aliases is a selection set of n aliased copies of field.
func aliases(n int, field string) string {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range n {
		fmt.Fprintf(&sb, " a%d: %s", i, field)
	}
	sb.WriteString(" }")
	return sb.String()
}

// aliasBombTypename asks for __typename 20,000 times under aliases: valid,
// cheap per field, and allowed without a token (introspection only).
func aliasBombTypename(nonce string) request {
	return postQuery(aliases(20_000, "__typename") + nonce)
}

// aliasBombTypenameGET is the same document in the URL of a GET, where only
// the server's limit on the request line and headers bounds it.
func aliasBombTypenameGET(nonce string) request {
	return request{method: http.MethodGet, query: url.Values{"query": {aliases(20_000, "__typename") + nonce}}.Encode()}
}

// aliasBombUnderTokenLimit is the largest alias bomb the default token
// limit (10,000) lets through to the parser and validator: 3 tokens an alias.
func aliasBombUnderTokenLimit(nonce string) request {
	return postQuery(aliases(3_300, "__typename") + nonce)
}

// fieldRepetition repeats one field without aliases up to the token limit:
// every copy has the same response name, which the validator's
// overlapping-fields rule compares pairwise.
func fieldRepetition(nonce string) request {
	return postQuery("{" + strings.Repeat(" __typename", 9_900) + " }" + nonce)
}

// fragmentFanOut has each of 70 fragments spread every earlier one: no
// cycle and few tokens per spread, but 2,415 spreads whose fields the
// validator must compare.
func fragmentFanOut(nonce string) request {
	const n = 70
	var sb strings.Builder
	fmt.Fprintf(&sb, "{ ...F%d } fragment F0 on Query { __typename }", n-1)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, " fragment F%d on Query {", i)
		for j := range i {
			fmt.Fprintf(&sb, " ...F%d", j)
		}
		sb.WriteString(" }")
	}
	return postQuery(sb.String() + nonce)
}

// aliasBombMemories asks for a store-backed connection 20,000 times.
func aliasBombMemories(nonce string) request {
	return postQuery(aliases(20_000, "memories { nodes { id } }") + nonce)
}

// fragmentCycle is a query spreading the first of n fragments, each
// spreading the next and the last spreading the first: invalid, as no
// fragment may spread itself.
func fragmentCycle(n int, nonce string) request {
	var sb strings.Builder
	sb.WriteString("{ ...F0 }")
	for i := range n {
		fmt.Fprintf(&sb, " fragment F%d on Query { ...F%d }", i, (i+1)%n)
	}
	return postQuery(sb.String() + nonce)
}

// fragmentCycle2 is the smallest cycle: A spreads B, B spreads A.
func fragmentCycle2(nonce string) request { return fragmentCycle(2, nonce) }

// fragmentCycle1000 is a cycle through 1,000 fragments, for the cost of
// finding it.
func fragmentCycle1000(nonce string) request { return fragmentCycle(1000, nonce) }

// billionLaughs chains 30 fragments, each spreading the previous one twice:
// a valid document of 2 KB that expands to 2^30 store-backed fields if
// anything walks it naively (the copies merge into one field when it runs).
func billionLaughs(nonce string) request {
	const levels = 30
	var sb strings.Builder
	fmt.Fprintf(&sb, "{ ...F%d } fragment F0 on Query { memories(first: 1) { nodes { id } } }", levels)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&sb, " fragment F%d on Query { ...F%d ...F%d }", i, i-1, i-1)
	}
	return postQuery(sb.String() + nonce)
}

// directiveFloodInclude puts 50,000 @include directives on one field: each
// is valid alone, and the repetition of a non-repeatable directive is what
// validation must find.
func directiveFloodInclude(nonce string) request {
	return postQuery("{ __typename" + strings.Repeat(" @include(if: true)", 50_000) + " }" + nonce)
}

// directiveFloodUnderTokenLimit is the largest @include flood the default
// token limit lets through: 6 tokens a directive.
func directiveFloodUnderTokenLimit(nonce string) request {
	return postQuery("{ __typename" + strings.Repeat(" @include(if: true)", 1_600) + " }" + nonce)
}

// directiveFloodUnknown puts 50,000 undefined directives on one field.
func directiveFloodUnknown(nonce string) request {
	return postQuery("{ __typename" + strings.Repeat(" @x", 50_000) + " }" + nonce)
}

// tenMegabyteQuery is a 10 MB document of repeated fields: work for the
// parser if it ever got that far.
func tenMegabyteQuery(nonce string) string {
	const field = " __typename"
	return "{" + strings.Repeat(field, 10<<20/len(field)) + " }" + nonce
}

// body10MB sends a 10 MB query with its Content-Length.
func body10MB(nonce string) request { return postQuery(tenMegabyteQuery(nonce)) }

// body10MBChunked sends the same body chunked, so the server learns its
// size only by reading it.
func body10MBChunked(nonce string) request {
	r := postQuery(tenMegabyteQuery(nonce))
	r.chunked = true
	return r
}

// variables5MB sends a small query with a 5 MB variables object (100,000
// variables of 50 bytes).
func variables5MB(nonce string) request {
	vars := make(map[string]string, 100_000)
	for i := range 100_000 {
		vars["v"+strconv.Itoa(i)] = strings.Repeat("x", 50)
	}
	body, _ := json.Marshal(map[string]any{"query": "{ __typename }" + nonce, "variables": vars})
	return request{body: body}
}

// variablesDeep sends one variable nested 100,000 arrays deep (200 KB):
// the JSON decoder, not GraphQL, meets it first.
func variablesDeep(nonce string) request {
	const depth = 100_000
	q, _ := json.Marshal("{ __typename }" + nonce)
	body := `{"query":` + string(q) + `,"variables":{"v":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}}"
	return request{body: []byte(body)}
}

// badUTF8Query puts bytes that are not UTF-8 inside the query string of an
// otherwise well-formed JSON body.
func badUTF8Query(nonce string) request {
	q, _ := json.Marshal("{ memories(first: 5) { nodes { id } } }" + nonce)
	// json.Marshal would have replaced bad bytes, so they go in by hand,
	// after the opening brace of the document.
	body := `{"query":"{` + "\xff\xfe\xc3\x28" + string(q[2:]) + "}"
	return request{body: []byte(body)}
}

// badUTF8Body starts the JSON body itself with bytes that are not UTF-8.
func badUTF8Body(nonce string) request {
	r := postQuery("{ memories(first: 5) { nodes { id } } }" + nonce)
	r.body = append([]byte("\xff\xfe"), r.body...)
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func longest(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// distinct joins the distinct values in order of first appearance.
func distinct(vs []string) string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

func (r row) tokenText() string {
	if r.token {
		return "yes"
	}
	return "no"
}

func (r row) progress() string {
	message := r.message
	if len(message) > 120 {
		message = message[:120] + "…"
	}
	return fmt.Sprintf("%-62s token %-3s HTTP %-8s %-25s CPU median %8.1f ms, max %8.1f ms %s %q",
		r.name, r.tokenText(), distinct(r.statuses), distinct(r.codes), ms(median(r.cpu)), ms(longest(r.cpu)), r.failure, message)
}

// verdict compares the median CPU per request with the target; an answer
// without an error is no refusal at all.
func (b *bench) verdict(r row) string {
	switch {
	case r.baseline:
		return "baseline"
	case r.failure != "":
		reason := r.failure // in full on stderr
		if len(reason) > 60 {
			reason = reason[:60] + "…"
		}
		return "FAIL: " + reason
	case slices.Contains(r.codes, "-"):
		return "FAIL: not refused"
	case median(r.cpu) > b.target:
		return fmt.Sprintf("FAIL: %.0f× target", float64(median(r.cpu))/float64(b.target))
	}
	return "ok"
}

// print writes the table (Markdown, so it can go into docs/BENCHMARKS.md).
func (b *bench) print(rows []row, idle time.Duration) {
	header := []string{"case", "token", "sent", "HTTP", "code", "CPU ms/req median", "CPU ms/req max", "CPU ms/req mean (stat)", "wall ms median", "GC/req", "alloc MB/req", "verdict"}
	table := [][]string{header}
	for _, r := range rows {
		// The totals are read only when every run succeeded.
		stat, gcs, allocated := "-", "-", "-"
		if n := float64(len(r.cpu)); r.failure == "" && n > 0 {
			stat = fmt.Sprintf("%.1f", ms(r.ticksCPU)/n)
			gcs = fmt.Sprintf("%.2f", r.gcs/n)
			allocated = fmt.Sprintf("%.1f", r.allocated/n/(1<<20))
		}
		table = append(table, []string{
			r.name, r.tokenText(), size(r.size), distinct(r.statuses), distinct(r.codes),
			fmt.Sprintf("%.2f", ms(median(r.cpu))), fmt.Sprintf("%.2f", ms(longest(r.cpu))),
			stat, fmt.Sprintf("%.1f", ms(median(r.wall))), gcs, allocated, b.verdict(r),
		})
	}
	widths := make([]int, len(header))
	for _, line := range table {
		for i, cell := range line {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	fmt.Printf("Server CPU per request, %d requests per row, target %.0f ms per refusal; the gateway idles at %.2f ms CPU/s.\n\n",
		b.n, ms(b.target), ms(idle))
	for i, line := range table {
		fmt.Println(markdownRow(line, widths))
		if i == 0 {
			rule := make([]string, len(widths))
			for j, w := range widths {
				rule[j] = strings.Repeat("-", w)
			}
			fmt.Println(markdownRow(rule, widths))
		}
	}
	fmt.Println(`
CPU ms/req: growth of the gateway's CPU time (user + system, every thread) from
just before the request until the process is idle again, per request; mean
(stat) is the total over the runs read from /proc/PID/stat (10 ms ticks),
divided by the runs. GC/req and alloc MB/req come from the gateway's /metrics
around the runs.`)
}

func markdownRow(cells []string, widths []int) string {
	var sb strings.Builder
	sb.WriteString("|")
	for i, c := range cells {
		sb.WriteString(" " + c + strings.Repeat(" ", widths[i]-len([]rune(c))) + " |")
	}
	return sb.String()
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
