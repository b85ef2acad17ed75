package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// The direct path: the backend work of each scenario without GraphQL. It
// verifies the same JWT, binds the same tenant, calls the same store methods
// the resolvers and loaders call (so PostgreSQL sees the same RLS
// transactions and statements), runs the calls the gateway runs side by side
// side by side here too, and writes JSON of the same shape. What it lacks is
// parsing, validation, the executor, resolvers and dataloaders.

// directRequest is the body of every direct request.
type directRequest struct {
	First   int       `json:"first"`
	Text    string    `json:"text"`
	Vector  []float32 `json:"vector"`
	Session string    `json:"session"`
	Symbol  string    `json:"symbol"`
	Op      string    `json:"op"`
	AppID   uuid.UUID `json:"appId"`
	Memory  uuid.UUID `json:"memory"`
	Content string    `json:"content"`
	Seq     int       `json:"seq"`
}

// directCounts are the store calls the direct path made, per backend.
type directCounts struct{ postgres, valkey, neo4j, qdrant, opensearch atomic.Int64 }

func serveDirect(args []string) error {
	fs := flag.NewFlagSet("bench direct", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db := os.Getenv("BENCH_DB")
	if db == "" {
		db = "codingbrain_bench"
	}
	svc, err := servicesFromEnv(db)
	if err != nil {
		return err
	}
	ctx := context.Background()
	b, err := openBackends(ctx, svc)
	if err != nil {
		return err
	}
	defer b.closeAll()
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: []byte(benchSecret), Leeway: 30 * time.Second})
	if err != nil {
		return err
	}
	var counts directCounts
	mux := http.NewServeMux()
	handle := func(path string, fn func(ctx context.Context, t stores.Tenant, req directRequest) (any, error)) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			p, err := verifier.FromRequest(r)
			if err != nil {
				http.Error(w, `{"errors":[{"message":"unauthenticated"}]}`, http.StatusUnauthorized)
				return
			}
			var req directRequest
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
				http.Error(w, `{"errors":[{"message":"bad request"}]}`, http.StatusBadRequest)
				return
			}
			data, err := fn(r.Context(), stores.Tenant{OrgID: p.OrgID, UserID: p.UserID}, req)
			w.Header().Set("Content-Type", "application/json")
			if err != nil {
				w.WriteHeader(http.StatusOK)
				_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": stores.PublicMessage(err)}}})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
		})
	}
	handle("/memories", func(ctx context.Context, t stores.Tenant, req directRequest) (any, error) {
		return directMemories(ctx, b, &counts, t, req.First)
	})
	handle("/fanout", func(ctx context.Context, t stores.Tenant, req directRequest) (any, error) {
		return directFanout(ctx, b, &counts, t, req)
	})
	handle("/write", func(ctx context.Context, t stores.Tenant, req directRequest) (any, error) {
		return directWrite(ctx, b, &counts, t, req)
	})
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"postgres": counts.postgres.Load(), "valkey": counts.valkey.Load(), "neo4j": counts.neo4j.Load(),
			"qdrant": counts.qdrant.Load(), "opensearch": counts.opensearch.Load(),
		})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("READY http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return srv.Serve(ln)
}

// memoryJSON is a memory as the benchmark's queries select it.
type memoryJSON struct {
	ID         string     `json:"id"`
	Content    string     `json:"content"`
	State      string     `json:"state"`
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"createdAt"`
	App        *nameJSON  `json:"app"`
	Categories []nameJSON `json:"categories"`
}

type nameJSON struct {
	Name string `json:"name"`
}

// directMemories is memories(first: N) { nodes { id content state version
// createdAt app { name } categories { name } } }: the page, then its apps and
// its categories side by side, as the two loaders do.
func directMemories(ctx context.Context, b *backends, c *directCounts, t stores.Tenant, first int) (any, error) {
	ms := b.pg.Memories(t)
	c.postgres.Add(1)
	page, err := ms.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: first})
	if err != nil {
		return nil, err
	}
	appIDs := make([]uuid.UUID, 0, len(page.Items))
	seen := map[uuid.UUID]bool{}
	memIDs := make([]uuid.UUID, len(page.Items))
	for i, m := range page.Items {
		memIDs[i] = m.ID
		if !seen[m.AppID] {
			seen[m.AppID] = true
			appIDs = append(appIDs, m.AppID)
		}
	}
	var apps map[uuid.UUID]stores.App
	var cats map[uuid.UUID][]stores.Category
	var appErr, catErr error
	var wg sync.WaitGroup
	wg.Add(2)
	c.postgres.Add(2)
	go func() { defer wg.Done(); apps, appErr = ms.AppsByID(ctx, appIDs) }()
	go func() { defer wg.Done(); cats, catErr = ms.CategoriesByMemory(ctx, memIDs) }()
	wg.Wait()
	if err := errors.Join(appErr, catErr); err != nil {
		return nil, err
	}
	nodes := make([]memoryJSON, len(page.Items))
	for i, m := range page.Items {
		n := memoryJSON{ID: relay.UUIDID(relay.KindMemory, m.ID), Content: m.Content, State: string(m.State), Version: m.Version, CreatedAt: m.CreatedAt}
		if a, ok := apps[m.AppID]; ok {
			n.App = &nameJSON{a.Name}
		}
		n.Categories = make([]nameJSON, len(cats[m.ID]))
		for j, cat := range cats[m.ID] {
			n.Categories[j] = nameJSON{cat.Name}
		}
		nodes[i] = n
	}
	return map[string]any{"memories": map[string]any{"nodes": nodes}}, nil
}

// directFanout is the fan-out query's work: the five stores side by side.
func directFanout(ctx context.Context, b *backends, c *directCounts, t stores.Tenant, req directRequest) (any, error) {
	out := map[string]any{}
	var mu sync.Mutex
	set := func(k string, v any) { mu.Lock(); out[k] = v; mu.Unlock() }
	var wg sync.WaitGroup
	errs := make([]error, 5)
	run := func(i int, fn func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn() }()
	}
	run(0, func() error {
		m, err := directMemories(ctx, b, c, t, 20)
		set("memories", m)
		return err
	})
	run(1, func() error {
		ep := b.valkey.Episodic(t)
		c.valkey.Add(2)
		sessions, err := ep.Sessions(ctx)
		if err != nil {
			return err
		}
		for _, s := range sessions {
			if s.ID == req.Session {
				items, err := ep.ItemsBySession(ctx, []string{s.ID}, 900*time.Second, 100)
				set("episodicSession", map[string]any{"id": s.ID, "items": items[s.ID]})
				return err
			}
		}
		return nil
	})
	run(2, func() error {
		g := b.neo4j.CodeGraph(t)
		c.neo4j.Add(2)
		page, err := g.FindSymbols(ctx, stores.SymbolQuery{Name: req.Symbol}, stores.PageArgs{First: 10})
		if err != nil {
			return err
		}
		ids := make([]string, len(page.Items))
		for i, s := range page.Items {
			ids[i] = s.ID
		}
		deps, err := g.Traverse(ctx, ids, stores.Dependencies, nil, 2)
		nodes := make([]map[string]any, len(page.Items))
		for i, s := range page.Items {
			var ds []map[string]any
			for _, d := range deps[s.ID] {
				ds = append(ds, map[string]any{"depth": d.Depth, "symbol": nameJSON{d.Symbol.Name}})
			}
			nodes[i] = map[string]any{"name": s.Name, "dependencies": ds}
		}
		set("codeSymbols", map[string]any{"nodes": nodes})
		return err
	})
	run(3, func() error {
		c.qdrant.Add(1)
		hits, err := b.qdrant.Vectors(t).SearchVectors(ctx, vectorModel, req.Vector, nil, 10)
		set("vectorSearch", hits)
		return err
	})
	run(4, func() error {
		c.opensearch.Add(1)
		page, err := b.search.FullText(t).Search(ctx, stores.SearchQuery{Text: req.Text}, stores.PageArgs{First: 10})
		set("search", page.Items)
		return err
	})
	wg.Wait()
	return out, errors.Join(errs...)
}

// directWrite is one mutation of the write mix.
func directWrite(ctx context.Context, b *backends, c *directCounts, t stores.Tenant, req directRequest) (any, error) {
	switch req.Op {
	case "memory":
		c.postgres.Add(1)
		m, err := b.pg.Memories(t).CreateMemory(ctx, stores.NewMemory{AppID: req.AppID, Content: req.Content, Categories: writeCategories(req.Seq)})
		return map[string]any{"createMemory": map[string]any{"memory": map[string]any{"id": relay.UUIDID(relay.KindMemory, m.ID), "version": m.Version}}}, err
	case "feedback":
		c.postgres.Add(1)
		e, err := b.pg.Feedback(t).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: fmt.Sprintf("bench-%d", req.Seq), MemoryID: &req.Memory,
			Tool: tools[req.Seq%len(tools)], QueryType: "recall", Outcome: outcomes[req.Seq%len(outcomes)]})
		return map[string]any{"recordFeedback": map[string]any{"event": map[string]any{"id": relay.UUIDID(relay.KindFeedbackEvent, e.ID)}}}, err
	case "episode":
		// putEpisodicItem checks that the memory it names exists, then puts.
		c.postgres.Add(1)
		found, err := b.pg.Memories(t).MemoriesByID(ctx, []uuid.UUID{req.Memory})
		if err != nil {
			return nil, err
		}
		if _, ok := found[req.Memory]; !ok {
			return nil, stores.NotFound("memory not found")
		}
		c.valkey.Add(1)
		it, err := b.valkey.Episodic(t).PutItem(ctx, req.Session, stores.NewEpisodicItem{Content: req.Content, MemoryID: &req.Memory, TTL: 10 * time.Minute})
		return map[string]any{"putEpisodicItem": map[string]any{"item": map[string]any{"id": it.ID}}}, err
	}
	return nil, stores.Invalid("unknown op %q", req.Op)
}

// writeCategories are the two categories a written memory gets.
func writeCategories(seq int) []string {
	cats := memoryCategories(seq)
	return []string{categoryName(cats[0]), categoryName(cats[1])}
}
