package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// backends are the stores the seed writes through (the same packages the
// gateway uses), plus the owner's pool for the bulk PostgreSQL load.
type backends struct {
	owner    *pgxpool.Pool
	pg       *postgres.Backend
	valkey   *valkey.Backend
	neo4j    *neo4j.CodeGraphBackend
	qdrant   *qdrant.Backend
	search   *opensearch.Backend
	closeAll func()
}

func openBackends(ctx context.Context, s services) (*backends, error) {
	b := &backends{}
	var closers []func()
	b.closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	fail := func(err error) (*backends, error) { b.closeAll(); return nil, err }
	var err error
	if b.owner, err = pgxpool.New(ctx, s.ownerURL); err != nil {
		return fail(err)
	}
	closers = append(closers, b.owner.Close)
	if b.pg, err = postgres.Open(ctx, postgres.Config{URL: s.appURL, Timeout: time.Minute}); err != nil {
		return fail(err)
	}
	closers = append(closers, b.pg.Close)
	if b.valkey, err = valkey.Open(ctx, s.valkey, valkey.Options{Timeout: time.Minute}); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = b.valkey.Close() })
	if b.neo4j, err = neo4j.Open(ctx, s.neo4jURI, s.neo4jUser, s.neo4jPassword, neo4j.Options{Timeout: time.Minute}); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = b.neo4j.Close(context.Background()) })
	if b.qdrant, err = qdrant.Open(ctx, s.qdrant, qdrant.Options{Timeout: time.Minute}); err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = b.qdrant.Close() })
	if b.search, err = opensearch.Open(ctx, opensearch.Options{URL: s.opensearch, Timeout: time.Minute}); err != nil {
		return fail(err)
	}
	closers = append(closers, b.search.Close)
	return b, nil
}

// seed brings every store to the data set, skipping a store whose last
// object is already there (the seed writes in order, so the last object
// present means the store is complete) unless reseed is set.
func seed(ctx context.Context, b *backends, ts []*tenant, perTenant int, reseed bool) error {
	steps := []struct {
		name string
		done func(context.Context, *backends, *tenant, int) (bool, error)
		seed func(context.Context, *backends, *tenant, int) error
	}{
		{"postgres", postgresSeeded, seedPostgres},
		{"valkey", valkeySeeded, seedValkey},
		{"neo4j", neo4jSeeded, seedNeo4j},
		{"qdrant", qdrantSeeded, seedQdrant},
		{"opensearch", opensearchSeeded, seedOpenSearch},
	}
	for _, step := range steps {
		start := time.Now()
		seeded := 0
		for _, t := range ts {
			if !reseed {
				done, err := step.done(ctx, b, t, perTenant)
				if err != nil {
					return fmt.Errorf("checking %s: %w", step.name, err)
				}
				if done {
					continue
				}
			}
			if err := step.seed(ctx, b, t, perTenant); err != nil {
				return fmt.Errorf("seeding %s for tenant %d: %w", step.name, t.n, err)
			}
			seeded++
		}
		if seeded > 0 {
			fmt.Fprintf(os.Stderr, "seeded %s for %d tenants in %s\n", step.name, seeded, time.Since(start).Round(time.Millisecond))
		}
	}
	// The running experiment is looked up whether or not it was just made.
	for _, t := range ts {
		page, err := b.pg.Experiments(t.t).ListExperiments(ctx, []stores.ExperimentStatus{stores.ExperimentRunning}, stores.PageArgs{First: 10})
		if err != nil {
			return err
		}
		for _, e := range page.Items {
			if e.Name == "fusion" {
				t.fusion = e.ID
			}
		}
	}
	return nil
}

// ownerTx runs fn in a transaction of the owner role bound to the tenant:
// the owner is subject to FORCE ROW LEVEL SECURITY like the application.
func ownerTx(ctx context.Context, b *backends, t *tenant, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, b.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)`,
			t.t.OrgID.String(), t.t.UserID.String()); err != nil {
			return err
		}
		return fn(tx)
	})
}

func postgresSeeded(ctx context.Context, b *backends, t *tenant, n int) (bool, error) {
	var exists bool
	err := ownerTx(ctx, b, t, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memories WHERE id = $1) AND EXISTS (SELECT 1 FROM feedback_events WHERE id = $2)`,
			t.memoryID(n-1), t.id("fb", feedbackPerOrg-1)).Scan(&exists)
	})
	return exists, err
}

// Bulk statements of the seed (multi-row INSERTs from arrays: COPY FROM is
// not allowed on tables with row level security).
const (
	// app.feedback_all: every user's events, as the retention purge reads them.
	seedDeleteSQL = `SELECT set_config('app.feedback_all', 'on', true); DELETE FROM feedback_events; DELETE FROM memory_outbox; DELETE FROM memory_categories;
DELETE FROM memories; DELETE FROM categories; DELETE FROM apps; DELETE FROM experiment_assignments;
DELETE FROM experiment_status_history; DELETE FROM experiment_variants; DELETE FROM experiments`
	seedAppsSQL = `INSERT INTO apps (org_id, id, name, description, created_at)
SELECT app_org_id(), u.id, u.name, 'seeded by the benchmark', $3 FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`
	seedCategoriesSQL = `INSERT INTO categories (org_id, id, name, created_at)
SELECT app_org_id(), u.id, u.name, $3 FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`
	seedMemoriesSQL = `INSERT INTO memories (org_id, id, app_id, author_id, content, metadata, created_at, updated_at)
SELECT app_org_id(), u.id, u.app_id, app_user_id(), u.content, jsonb_build_object('source', 'bench', 'n', u.n), u.at, u.at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[]) AS u(id, app_id, content, n, at)`
	seedLinksSQL = `INSERT INTO memory_categories (org_id, memory_id, category_id)
SELECT app_org_id(), u.m, u.c FROM unnest($1::uuid[], $2::uuid[]) AS u(m, c)`
	seedFeedbackSQL = `INSERT INTO feedback_events (org_id, id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key, created_at)
SELECT app_org_id(), u.id, app_user_id(), u.q, u.m, u.tool, u.qt, u.outcome, u.lat, u.exp, u.variant, u.at
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::uuid[], $9::text[], $10::timestamptz[])
  AS u(id, q, m, tool, qt, outcome, lat, exp, variant, at)`
)

// seedPostgres replaces the tenant's rows: apps, categories, memories with
// two categories each, experiments (one running with recall weights), and
// feedback events, half of them in the running experiment.
func seedPostgres(ctx context.Context, b *backends, t *tenant, n int) error {
	if err := ownerTx(ctx, b, t, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, seedDeleteSQL)
		return err
	}); err != nil {
		return err
	}
	// Experiments through the store (as the application role), like a client.
	exps := b.pg.Experiments(t.t)
	fusion, err := exps.CreateExperiment(ctx, stores.NewExperiment{Name: "fusion", Description: "recall fusion weights", Variants: []stores.NewVariant{
		{Key: "control", Weight: 1, Config: map[string]any{"recall": map[string]any{"fullTextWeight": 1.0, "vectorWeight": 1.0}}},
		{Key: "vector-heavy", Weight: 1, Config: map[string]any{"recall": map[string]any{"fullTextWeight": 1.0, "vectorWeight": 2.0}}},
	}})
	if err != nil {
		return err
	}
	if _, err := exps.TransitionExperiment(ctx, fusion.ID, stores.ExperimentRunning, "bench"); err != nil {
		return err
	}
	for _, name := range []string{"ranker-v2", "prompt-length"} {
		if _, err := exps.CreateExperiment(ctx, stores.NewExperiment{Name: name, Variants: []stores.NewVariant{{Key: "a", Weight: 1}, {Key: "b", Weight: 3}}}); err != nil {
			return err
		}
	}
	t.fusion = fusion.ID

	return ownerTx(ctx, b, t, func(tx pgx.Tx) error {
		names := make([]string, appsPerTenant)
		copy(names, appNames)
		if _, err := tx.Exec(ctx, seedAppsSQL, t.apps, names, seedEpoch.Add(-365*24*time.Hour)); err != nil {
			return err
		}
		catIDs, catNames := make([]uuid.UUID, categoriesPerOrg), make([]string, categoriesPerOrg)
		for k := range catIDs {
			catIDs[k], catNames[k] = t.id("cat", k), categoryName(k)
		}
		if _, err := tx.Exec(ctx, seedCategoriesSQL, catIDs, catNames, seedEpoch.Add(-365*24*time.Hour)); err != nil {
			return err
		}
		const chunk = 5000
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			var ids, apps, linkM, linkC []uuid.UUID
			var contents []string
			var ns []int32
			var ats []time.Time
			for i := lo; i < hi; i++ {
				id := t.memoryID(i)
				ids = append(ids, id)
				apps = append(apps, t.apps[i%appsPerTenant])
				contents = append(contents, memoryContent(t.n, i))
				ns = append(ns, int32(i))
				ats = append(ats, seedEpoch.Add(-time.Duration(n-i)*time.Minute))
				for _, c := range memoryCategories(i) {
					linkM = append(linkM, id)
					linkC = append(linkC, catIDs[c])
				}
			}
			if _, err := tx.Exec(ctx, seedMemoriesSQL, ids, apps, contents, ns, ats); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, seedLinksSQL, linkM, linkC); err != nil {
				return err
			}
		}
		var ids, mems, exps []*uuid.UUID
		var qs, tls, qts, outs []string
		var variants []*string
		var lats []int64
		var ats []time.Time
		for i := range feedbackPerOrg {
			id, mem := t.id("fb", i), t.memoryID((i*13)%n)
			ids, mems = append(ids, &id), append(mems, &mem)
			qs = append(qs, fmt.Sprintf("q-%d", i/3))
			tls = append(tls, tools[i%len(tools)])
			qts = append(qts, queryKind[i%len(queryKind)])
			outs = append(outs, string(outcomes[(i*7)%len(outcomes)]))
			lats = append(lats, int64(20+(i*37)%400))
			ats = append(ats, seedEpoch.Add(-time.Duration(feedbackPerOrg-i)*4*time.Minute))
			if i%2 == 0 {
				v := []string{"control", "vector-heavy"}[i/2%2]
				exps, variants = append(exps, &fusion.ID), append(variants, &v)
			} else {
				exps, variants = append(exps, nil), append(variants, nil)
			}
		}
		_, err := tx.Exec(ctx, seedFeedbackSQL, ids, qs, mems, tls, qts, outs, lats, exps, variants, ats)
		return err
	})
}

func valkeySeeded(ctx context.Context, b *backends, t *tenant, _ int) (bool, error) {
	items, err := b.valkey.Episodic(t.t).SessionItems(ctx, fmt.Sprintf("s%d", sessionsPerOrg-1), stores.DefaultHalfLife, itemsPerSession, false)
	return len(items) == itemsPerSession, err
}

// seedValkey puts sessionsPerOrg sessions of itemsPerSession items that
// touch memories, alive for a week.
func seedValkey(ctx context.Context, b *backends, t *tenant, n int) error {
	ep := b.valkey.Episodic(t.t)
	g := newGroup(ctx, 16)
	for s := range sessionsPerOrg {
		for i := range itemsPerSession {
			g.Go(func() error {
				mem := t.memoryID((s*itemsPerSession + i*37) % n)
				_, err := ep.PutItem(g.ctx, fmt.Sprintf("s%d", s), stores.NewEpisodicItem{
					ID: fmt.Sprintf("item-%d", i), Content: memoryContent(t.n, (s*itemsPerSession+i*37)%n)[:40],
					MemoryID: &mem, Weight: 1 + float64(i%3), TTL: 7 * 24 * time.Hour,
				})
				return err
			})
		}
	}
	return g.Wait()
}

func neo4jSeeded(ctx context.Context, b *backends, t *tenant, _ int) (bool, error) {
	page, err := b.neo4j.CodeGraph(t.t).FindSymbols(ctx, stores.SymbolQuery{Name: seedMarkerSymbol}, stores.PageArgs{First: 1})
	return len(page.Items) == 1, err
}

// seedNeo4j makes one repository of filesPerRepo files with symbolsPerFile
// symbols each, every symbol calling callsPerSymbol others.
func seedNeo4j(ctx context.Context, b *backends, t *tenant, _ int) error {
	g := b.neo4j.CodeGraph(t.t)
	repo, err := g.UpsertRepo(ctx, stores.CodeRepo{ID: "repo-main", Name: "main", URL: "https://example.com/main.git"})
	if err != nil {
		return err
	}
	var files []stores.CodeFile
	for f := range filesPerRepo {
		files = append(files, stores.CodeFile{ID: fmt.Sprintf("file-%d", f), RepoID: repo.ID, Path: fmt.Sprintf("pkg/%s/file%d.go", vocab[f%len(vocab)], f), Language: "go"})
	}
	if _, err := g.UpsertFiles(ctx, files); err != nil {
		return err
	}
	total := filesPerRepo * symbolsPerFile
	var syms []stores.CodeSymbol
	var edges []stores.Edge
	for k := range total {
		syms = append(syms, stores.CodeSymbol{ID: fmt.Sprintf("sym-%d", k), RepoID: repo.ID, FileID: fmt.Sprintf("file-%d", k/symbolsPerFile),
			Kind: stores.SymbolFunction, Name: symbolName(k), Signature: "func " + symbolName(k) + "(ctx context.Context) error", StartLine: 10 * (k % symbolsPerFile), EndLine: 10*(k%symbolsPerFile) + 8})
		for c := 1; c <= callsPerSymbol; c++ {
			edges = append(edges, stores.Edge{FromID: fmt.Sprintf("sym-%d", k), ToID: fmt.Sprintf("sym-%d", (k*31+c*97)%total), Kind: stores.EdgeCalls})
		}
	}
	for lo := 0; lo < len(syms); lo += stores.MaxCodeBatch {
		if _, err := g.UpsertSymbols(ctx, syms[lo:min(lo+stores.MaxCodeBatch, len(syms))]); err != nil {
			return err
		}
	}
	for lo := 0; lo < len(edges); lo += stores.MaxCodeBatch {
		if err := g.AddEdges(ctx, edges[lo:min(lo+stores.MaxCodeBatch, len(edges))]); err != nil {
			return err
		}
	}
	// A marker symbol goes last: its presence says the graph is complete.
	_, err = g.UpsertSymbols(ctx, []stores.CodeSymbol{{ID: "sym-marker", RepoID: repo.ID, FileID: "file-0", Kind: stores.SymbolConstant, Name: seedMarkerSymbol}})
	return err
}

// seedMarkerSymbol names the symbol written after the rest of the graph.
const seedMarkerSymbol = "zzBenchSeedComplete"

func qdrantSeeded(ctx context.Context, b *backends, t *tenant, n int) (bool, error) {
	hits, err := b.qdrant.Vectors(t.t).SearchVectors(ctx, vectorModel, memoryVector(t.n, n-1), nil, 1)
	if errors.Is(err, stores.ErrNotFound) {
		return false, nil
	}
	return err == nil && len(hits) == 1 && hits[0].ID == t.memoryID(n-1), err
}

// seedQdrant upserts one vector per memory, in batches, the last one last.
func seedQdrant(ctx context.Context, b *backends, t *tenant, n int) error {
	v := b.qdrant.Vectors(t.t)
	put := func(ctx context.Context, lo, hi int) error {
		points := make([]stores.VectorPoint, 0, hi-lo)
		for i := lo; i < hi; i++ {
			id := t.memoryID(i)
			points = append(points, stores.VectorPoint{ID: id, MemoryID: &id, Vector: memoryVector(t.n, i),
				Payload: map[string]any{"app": appNames[i%appsPerTenant]}})
		}
		return v.UpsertVectors(ctx, vectorModel, points)
	}
	if err := inBatches(ctx, n-1, stores.MaxBatchSize, 4, put); err != nil {
		return err
	}
	return put(ctx, n-1, n)
}

func opensearchSeeded(ctx context.Context, b *backends, t *tenant, n int) (bool, error) {
	page, err := b.search.FullText(t.t).Search(ctx, stores.SearchQuery{Text: fmt.Sprintf("seq%d", n-1)}, stores.PageArgs{First: 1})
	return err == nil && len(page.Items) == 1 && page.Items[0].Document.ID == t.memoryID(n-1).String(), err
}

// seedOpenSearch indexes one document per memory (its content, tagged with
// its categories), in batches written side by side (each waits for a refresh).
func seedOpenSearch(ctx context.Context, b *backends, t *tenant, n int) error {
	ft := b.search.FullText(t.t)
	put := func(ctx context.Context, lo, hi int) error {
		docs := make([]stores.Document, 0, hi-lo)
		for i := lo; i < hi; i++ {
			id := t.memoryID(i)
			cats := memoryCategories(i)
			content := memoryContent(t.n, i)
			docs = append(docs, stores.Document{ID: id.String(), MemoryID: &id, Title: content[:min(40, len(content))], Body: content,
				Tags: []string{categoryName(cats[0]), categoryName(cats[1])}, CreatedAt: seedEpoch.Add(-time.Duration(n-i) * time.Minute)})
		}
		return ft.IndexDocuments(ctx, docs)
	}
	// The first write creates the tenant's alias; the rest go side by side.
	if err := put(ctx, 0, 1); err != nil {
		return err
	}
	if err := inBatches(ctx, n-1, stores.MaxBatchSize, 16, func(ctx context.Context, lo, hi int) error { return put(ctx, max(lo, 1), hi) }); err != nil {
		return err
	}
	return put(ctx, n-1, n)
}

// inBatches calls put for [0, n) in batches of size, parallel at most wide.
func inBatches(ctx context.Context, n, size, wide int, put func(ctx context.Context, lo, hi int) error) error {
	g := newGroup(ctx, wide)
	for lo := 0; lo < n; lo += size {
		g.Go(func() error { return put(g.ctx, lo, min(lo+size, n)) })
	}
	return g.Wait()
}

// group runs functions side by side, at most limit at once, and returns the
// first error (which cancels ctx for the others).
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context, limit int) *group {
	ctx, cancel := context.WithCancel(ctx)
	return &group{ctx: ctx, cancel: cancel, sem: make(chan struct{}, limit)}
}

func (g *group) Go(fn func() error) {
	g.sem <- struct{}{}
	g.wg.Add(1)
	go func() {
		defer func() { <-g.sem; g.wg.Done() }()
		if err := fn(); err != nil {
			g.once.Do(func() { g.err = err; g.cancel() })
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}
