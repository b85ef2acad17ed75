package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// The data set: five tenants, each with the same shape. Every id is derived
// from the tenant and an ordinal (UUIDv5), so each store can be seeded on its
// own and still refer to the same memories.
const (
	tenantCount      = 5
	appsPerTenant    = 5
	categoriesPerOrg = 40
	feedbackPerOrg   = 10000
	sessionsPerOrg   = 20
	itemsPerSession  = 50
	filesPerRepo     = 50
	symbolsPerFile   = 20
	callsPerSymbol   = 3
	vectorDim        = 384
	// vectorModel names the benchmark's own Qdrant collection (emb_bench384).
	vectorModel = "bench384"
	// benchSecret signs the benchmark's tokens; the gateway, the direct path
	// and the peer verify them with it.
	benchSecret = "codingbrain-bench-secret-0123456789abcdef"
)

var (
	benchNamespace = uuid.MustParse("6d0e2a57-6a2b-4c58-9a57-0b3d1c6f4e21")
	// seedEpoch is when the seeded history ends; memories are a minute apart before it.
	seedEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	appNames  = []string{"vscode", "cli", "jetbrains", "web", "slack-bot"}
	tools     = []string{"vscode", "cli", "jetbrains", "web"}
	queryKind = []string{"recall", "search", "completion"}
	outcomes  = []stores.Outcome{stores.OutcomeAccepted, stores.OutcomeAccepted, stores.OutcomeRejected, stores.OutcomeIgnored, stores.OutcomeEdited}
	verbs     = []string{"handle", "parse", "retry", "index", "load", "render", "encode", "decode", "validate", "resolve"}
	nouns     = []string{"Webhook", "Request", "Memory", "Session", "Cursor", "Token", "Batch", "Config", "Symbol", "Document"}
	vocab     = strings.Fields(`retry backoff webhook timeout deadline cancel context goroutine channel mutex
pool connection transaction rollback commit isolation index btree vacuum analyze planner
cursor pagination relay connection edge node schema resolver loader batch cache
eviction ttl expiry session token refresh oauth scope tenant policy security row level
embedding vector cosine similarity rank fusion reciprocal bm25 analyzer stemming highlight
alias routing shard replica cluster health snapshot restore migration rollback goose
graph traversal dependency import inherits calls symbol function method interface module
repository file path language parser tokenizer ast lint format test benchmark profile
latency throughput percentile histogram counter gauge metric trace span log structured
error wrap sentinel retryable circuit breaker half open closed outage degrade fallback
queue outbox indexer idempotent drain skip locked notify listen subscription websocket
react component hook state effect render prop typescript compile bundle chunk lazy
docker compose image container volume network port loopback proxy gateway upstream
http header status body json encode decode stream chunked gzip compress deflate
kotlin swift rust python golang java scala haskell elixir erlang ruby perl
deploy rollout canary feature flag experiment variant weight assignment control treatment`)
)

// tenant is one of the benchmark's organisations with its user and token.
type tenant struct {
	n     int
	t     stores.Tenant
	token string
	apps  []uuid.UUID
	// fusion is the running experiment whose variants configure recall (set by the PostgreSQL seed, or looked up).
	fusion uuid.UUID
}

func tenants() ([]*tenant, error) {
	out := make([]*tenant, tenantCount)
	for i := range out {
		org := uuid.NewSHA1(benchNamespace, []byte(fmt.Sprintf("org-%d", i)))
		user := uuid.NewSHA1(benchNamespace, []byte(fmt.Sprintf("user-%d", i)))
		tok, err := auth.Issue([]byte(benchSecret), auth.Principal{OrgID: org, UserID: user, Scopes: auth.AllScopes()}, 24*time.Hour, time.Now())
		if err != nil {
			return nil, err
		}
		tn := &tenant{n: i, t: stores.Tenant{OrgID: org, UserID: user}, token: tok}
		for a := range appsPerTenant {
			tn.apps = append(tn.apps, tn.id("app", a))
		}
		out[i] = tn
	}
	return out, nil
}

// id is the tenant's UUID of the kind's n-th object.
func (t *tenant) id(kind string, n int) uuid.UUID {
	return uuid.NewSHA1(t.t.OrgID, []byte(fmt.Sprintf("%s-%d", kind, n)))
}

func (t *tenant) memoryID(n int) uuid.UUID { return t.id("mem", n) }

// memoryCategories are the two categories of memory n.
func memoryCategories(n int) [2]int {
	return [2]int{n % categoriesPerOrg, (7*n + 3) % categoriesPerOrg}
}

func categoryName(k int) string {
	return fmt.Sprintf("%s-%s", vocab[(k*11)%len(vocab)], vocab[(k*17+5)%len(vocab)])
}

// memoryContent is memory n's text: 20 to 40 words of the vocabulary around
// its categories' topics, and a word only it has (seqN), so a search can find
// exactly it.
func memoryContent(org int, n int) string {
	r := rand.New(rand.NewPCG(uint64(org), uint64(n)))
	words := 20 + r.IntN(21)
	var b strings.Builder
	cats := memoryCategories(n)
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch i % 5 {
		case 0:
			b.WriteString(strings.SplitN(categoryName(cats[i/5%2]), "-", 2)[0])
		default:
			b.WriteString(vocab[r.IntN(len(vocab))])
		}
	}
	fmt.Fprintf(&b, " seq%d", n)
	return b.String()
}

// memoryVector is memory n's embedding: its first category's direction plus
// noise, normalised, so nearest neighbours share topics as real ones do.
func memoryVector(org, n int) []float32 {
	v := centroid(memoryCategories(n)[0])
	r := rand.New(rand.NewPCG(uint64(org)+1000, uint64(n)))
	for i := range v {
		v[i] += float32(r.NormFloat64() * 0.6)
	}
	return normalise(v)
}

func centroid(k int) []float32 {
	r := rand.New(rand.NewPCG(4242, uint64(k)))
	v := make([]float32, vectorDim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return normalise(v)
}

func normalise(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	norm := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= norm
	}
	return v
}

// queryText is the q-th search text: two words of the vocabulary.
func queryText(q int) string {
	return vocab[(q*7)%len(vocab)] + " " + vocab[(q*13+1)%len(vocab)]
}

// queryVector is the q-th query embedding.
func queryVector(q int) []float32 { return memoryVector(99, q) }

func symbolName(k int) string {
	return fmt.Sprintf("%s%s%04d", verbs[k%len(verbs)], nouns[(k/len(verbs))%len(nouns)], k)
}
