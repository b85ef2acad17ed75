package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/guarded"
	"github.com/codingbrain/gateway/stores/neo4j"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/qdrant"
	"github.com/codingbrain/gateway/stores/valkey"
	"github.com/codingbrain/gateway/telemetry"
	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"
)

// This file is the one place that knows every concrete backend: it opens
// those whose setting is present and wires them into stores.Backends.

// opened is what one real backend serves once open.
type opened struct {
	domains stores.Backends // the domains it serves; the others are nil
	outbox  stores.Outbox   // the memory outbox, when it keeps one
	close   func()
}

// opener opens one real backend when its setting is present; with the
// setting empty it opens nothing and returns a zero opened.
type opener struct {
	name string // as errors, metrics and /readyz name the backend
	open func(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error)
}

// openers are the real backends, in the order they are opened.
func openers() []opener {
	return []opener{
		{"postgres", openPostgres},
		{"valkey", openValkey},
		{"neo4j", openNeo4j},
		{"qdrant", openQdrant},
		{"opensearch", openOpenSearch},
	}
}

// wired is what newBackends opened.
type wired struct {
	backends stores.Backends
	guards   []*guarded.Guard // one per real backend, for readiness
	outbox   stores.Outbox    // nil unless memories are on PostgreSQL
	close    func()
}

// newBackends wires a backend per domain: the embedded default, replaced by
// the real backend whose setting is present, each real one behind a guard
// (timeout, circuit breaker, metrics) named after it.
func newBackends(ctx context.Context, cfg config.Config, log *slog.Logger, observer guarded.Observer) (wired, error) {
	w := wired{backends: embedded.New(time.Now)}
	w.backends.CodeGraph = embedded.NewCodeGraphBackend(time.Now, cfg.MaxTraversalDepth)
	var closers []func()
	w.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, o := range openers() {
		got, err := o.open(ctx, cfg, log)
		if err != nil {
			w.close()
			return wired{}, err
		}
		if got.close == nil {
			continue // its setting is empty
		}
		closers = append(closers, got.close)
		if got.outbox != nil {
			w.outbox = got.outbox
		}
		g := guarded.New(o.name, guarded.Options{Timeout: cfg.StoreTimeout, Observer: observer})
		w.guards = append(w.guards, g)
		w.backends = w.backends.Override(guarded.Wrap(got.domains, g))
	}
	return w, nil
}

// readiness reports every real backend's breaker: ready while none is open.
// The embedded stores are always ready.
func readiness(guards []*guarded.Guard, outbox *outboxWatch) func(context.Context) (bool, any) {
	return func(context.Context) (bool, any) {
		ready := true
		backends := map[string]string{}
		for _, g := range guards {
			state := g.State()
			backends[g.Backend()] = state.String()
			if state == gobreaker.StateOpen {
				ready = false
			}
		}
		status := "ready"
		if !ready {
			status = "degraded"
		}
		report := map[string]any{"status": status, "backends": backends}
		if backlog, ok := outbox.last(); ok {
			// The indexer's lag is shown, not judged: a backlog does not stop
			// this replica from serving.
			report["outbox"] = map[string]any{"pending": backlog.Pending, "oldest_pending_seconds": backlog.Oldest.Seconds(), "parked": backlog.Parked}
		}
		return ready, report
	}
}

// outboxWatch keeps the indexer's latest backlog for /readyz and passes it
// on to the metrics.
type outboxWatch struct {
	metrics *telemetry.Metrics
	backlog atomic.Pointer[stores.OutboxBacklog]
}

// Outbox implements indexer.Observer.
func (w *outboxWatch) Outbox(backlog stores.OutboxBacklog) {
	w.backlog.Store(&backlog)
	w.metrics.Outbox(backlog)
}

// last returns the latest backlog, if the indexer runs in this process.
func (w *outboxWatch) last() (stores.OutboxBacklog, bool) {
	if b := w.backlog.Load(); b != nil {
		return *b, true
	}
	return stores.OutboxBacklog{}, false
}

// openPostgres serves memories, feedback, experiments and their index
// status from PostgreSQL when DATABASE_URL is set. The schema must already
// be at the version this build embeds: the gateway never migrates at start
// (the owner role does, with `gateway migrate up`), so a stale schema stops
// the start-up with a message saying so.
func openPostgres(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error) {
	if cfg.DatabaseURL == "" {
		return opened{}, nil
	}
	pg, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Timeout: cfg.StoreTimeout, MaxConns: int32(cfg.DBMaxConns), Indexes: derivedIndexes(cfg)})
	if err != nil {
		// err never holds the URL (it may hold a password).
		return opened{}, fmt.Errorf("memories, feedback and experiments store: %w", err)
	}
	have, err := pg.SchemaVersion(ctx)
	if err != nil {
		pg.Close()
		return opened{}, fmt.Errorf("reading the PostgreSQL schema version: %w", err)
	}
	switch want := migrations.Latest(); {
	case have < want:
		pg.Close()
		return opened{}, fmt.Errorf("the PostgreSQL schema is at version %d, this gateway needs version %d: "+
			"run `gateway migrate up` with DATABASE_OWNER_URL set to the owner role's URL", have, want)
	case have > want:
		pg.Close()
		return opened{}, fmt.Errorf("the PostgreSQL schema is at version %d, newer than this gateway's %d: run a matching gateway build", have, want)
	}
	log.Info("memories, feedback and experiments on postgres", "schema_version", have)
	return opened{
		domains: stores.Backends{Memories: pg, Feedback: pg, Experiments: pg, IndexStatus: pg},
		outbox:  pg.Outbox(),
		close:   pg.Close,
	}, nil
}

// derivedIndexes names the indexes the outbox indexer keeps for memories:
// full-text always, vectors when an embedder computes them.
func derivedIndexes(cfg config.Config) []stores.IndexName {
	if cfg.EmbeddingsURL != "" {
		return []stores.IndexName{stores.IndexFullText, stores.IndexVector}
	}
	return []stores.IndexName{stores.IndexFullText}
}

// openValkey puts the episodic domain on Valkey when VALKEY_URL is set: it
// parses the URL (redis:// or rediss://; its query may tune the client) and
// checks that the server answers within the backend's timeout. There is no
// schema to create: keys appear with the first item and expire with the last.
func openValkey(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error) {
	if cfg.ValkeyURL == "" {
		return opened{}, nil
	}
	valkey.LogDriverTo(log)
	episodic, err := valkey.Open(ctx, cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
	if err != nil {
		// err names the address, never the URL, which may hold a password.
		return opened{}, fmt.Errorf("episodic store: %w", err)
	}
	log.Info("episodic on valkey", "addr", episodic.Addr())
	return opened{domains: stores.Backends{Episodic: episodic}, close: func() {
		if err := episodic.Close(); err != nil {
			log.Warn("closing valkey", "err", err)
		}
	}}, nil
}

// openNeo4j puts the code-graph domain on Neo4j when NEO4J_URI is set: it
// connects with NEO4J_USER / NEO4J_PASSWORD, checks that the server answers
// within the store timeout, and creates the (org_id, id) uniqueness
// constraints and name indexes if they are missing. Traversals are capped at
// the configured maximum depth.
func openNeo4j(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error) {
	if cfg.Neo4jURI == "" {
		return opened{}, nil
	}
	graph, err := neo4j.Open(ctx, cfg.Neo4jURI, cfg.Neo4jUser, cfg.Neo4jPassword, neo4j.Options{
		MaxDepth: cfg.MaxTraversalDepth,
		Timeout:  cfg.StoreTimeout,
	})
	if err != nil {
		// err never holds the password; the URI may, so it is not logged.
		return opened{}, fmt.Errorf("code graph: %w", err)
	}
	log.Info("code graph on neo4j", "max_depth", cfg.MaxTraversalDepth)
	return opened{domains: stores.Backends{CodeGraph: graph}, close: func() {
		if err := graph.Close(context.WithoutCancel(ctx)); err != nil {
			log.Warn("closing neo4j", "err", err)
		}
	}}, nil
}

// openQdrant puts the vectors domain on Qdrant when QDRANT_URL (host:port of
// its gRPC endpoint) is set: it checks that the server answers within the
// backend's timeout; collections and their tenant index are made per model
// on first use.
func openQdrant(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error) {
	if cfg.QdrantURL == "" {
		return opened{}, nil
	}
	vectors, err := qdrant.Open(ctx, cfg.QdrantURL, qdrant.Options{})
	if err != nil {
		return opened{}, fmt.Errorf("qdrant at %s: %w", cfg.QdrantURL, err)
	}
	log.Info("vectors on qdrant", "addr", cfg.QdrantURL)
	return opened{domains: stores.Backends{Vectors: vectors}, close: func() {
		if err := vectors.Close(); err != nil {
			log.Warn("closing qdrant", "err", err)
		}
	}}, nil
}

// openOpenSearch puts the full-text domain on OpenSearch when OPENSEARCH_URL
// is set: it waits (within the backend's timeout) for the cluster to be at
// least yellow and creates the shared index when it is missing; each
// tenant's alias is made on its first write.
func openOpenSearch(ctx context.Context, cfg config.Config, log *slog.Logger) (opened, error) {
	if cfg.OpenSearchURL == "" {
		return opened{}, nil
	}
	host := redactedHost(cfg.OpenSearchURL)
	fullText, err := opensearch.Open(ctx, opensearch.Options{URL: cfg.OpenSearchURL})
	if err != nil {
		return opened{}, fmt.Errorf("opensearch at %s: %w", host, err)
	}
	log.Info("full-text on opensearch", "host", host, "index", fullText.Index())
	stopPlacement := func() {}
	if cfg.Indexer && cfg.DedicatedIndexDocs > 0 {
		// The placement policy runs beside the indexer: a tenant that has
		// grown past the threshold moves to an index of its own.
		placementCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			fullText.RunPlacement(placementCtx, opensearch.PlacementPolicy{DedicatedAbove: cfg.DedicatedIndexDocs, Interval: cfg.PlacementInterval}, log)
		}()
		stopPlacement = func() { cancel(); <-done }
	}
	return opened{domains: stores.Backends{FullText: fullText}, close: func() { stopPlacement(); fullText.Close() }}, nil
}

// redactedHost is the host of a URL without the credentials it may carry,
// for logs and error messages.
func redactedHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Host
}

// openEvents wires the change feed that subscriptions read. With every
// backend embedded an in-process hub is fed by the stores' own writes. With
// PostgreSQL, memory and feedback changes come from what committed there
// (a NOTIFY sent by the outbox and feedback triggers, ids only), and one
// LISTEN connection per gateway publishes them to its local hub, so a
// subscriber of one replica sees the writes made through another; the
// episodic writes are sent through the same channel by the gateway that
// made them. It returns how to stop what it started.
func openEvents(ctx context.Context, cfg config.Config, log *slog.Logger, b stores.Backends) (stores.Backends, func(), error) {
	hub := events.NewHub(cfg.SubscriptionBuffer)
	if cfg.DatabaseURL == "" {
		return events.Publishing(b, hub, hub, events.AllDomains), func() {}, nil
	}
	listener, err := postgres.ListenChanges(ctx, cfg.DatabaseURL, hub, log)
	if err != nil {
		return b, nil, err
	}
	b = events.Publishing(b, hub, listener, events.Domains{Episodic: true})
	return b, listener.Close, nil
}

// embeddingCacheTTL keeps a text's vector in Valkey for a month: an
// embedding of a text under one model never changes.
const embeddingCacheTTL = 30 * 24 * time.Hour

// openEmbedder connects the embedding server when EMBEDDINGS_URL is set,
// with its vectors cached in Valkey when VALKEY_URL is set (shared by every
// gateway process), else in process. It returns nil when embeddings are off.
func openEmbedder(ctx context.Context, cfg config.Config, log *slog.Logger) (*embeddings.OpenAI, func(), error) {
	if cfg.EmbeddingsURL == "" {
		return nil, nil, nil
	}
	ec := embeddings.Config{
		URL: cfg.EmbeddingsURL, Model: cfg.EmbeddingsModel, APIKey: cfg.EmbeddingsAPIKey,
		Dimension: cfg.EmbeddingsDimension, Cache: embeddings.NewLRU(10000),
	}
	closeCache := func() {}
	if cfg.ValkeyURL != "" {
		client, _, err := valkey.NewClient(cfg.ValkeyURL)
		if err != nil {
			return nil, nil, fmt.Errorf("VALKEY_URL: %w", err)
		}
		ec.Cache = embeddings.NewValkeyCache(client, embeddingCacheTTL)
		closeCache = func() { _ = client.Close() }
	}
	e, err := embeddings.NewOpenAI(ctx, ec)
	if err != nil {
		closeCache()
		return nil, nil, fmt.Errorf("embedding server: %w", err)
	}
	log.Info("embeddings on", "model", e.Model(), "dimension", e.Dimension(), "shared_cache", cfg.ValkeyURL != "")
	return e, func() { _ = e.Close(); closeCache() }, nil
}

// checkEmbeddingDimension refuses to start when the vector store already
// holds the embedding model's collection with another dimension: every
// vector the gateway would write or search would then be refused. A search
// with a zero vector of the embedder's dimension tells, for any tenant.
func checkEmbeddingDimension(ctx context.Context, b stores.Backends, model string, dim int) error {
	probe := b.Vectors.Vectors(stores.Tenant{OrgID: probeTenant, UserID: probeTenant})
	_, err := probe.SearchVectors(ctx, model, make([]float32, dim), nil, 1)
	if errors.Is(err, stores.ErrInvalid) {
		return fmt.Errorf("the embedding model %s gives %d-dimensional vectors, but the vector store's collection for it has another dimension: %s", model, dim, stores.PublicMessage(err))
	}
	return nil
}

// probeTenant owns nothing; its searches only reveal a collection's shape.
var probeTenant = uuid.MustParse("00000000-0000-4000-8000-0000000000fe")

// startIndexer runs the outbox indexer in the background when memories are
// on PostgreSQL (the embedded stores index synchronously). The returned
// function stops it and waits, within ctx, for the pass in flight.
func startIndexer(cfg config.Config, w wired, embedder indexer.Embedder, observer indexer.Observer, log *slog.Logger) func(context.Context) {
	if w.outbox == nil || !cfg.Indexer {
		return func(context.Context) {}
	}
	ix := indexer.New(w.outbox, w.backends, indexer.Options{
		Poll: 100 * time.Millisecond, MaxBackoff: cfg.IndexerMaxBackoff, Embedder: embedder, Observer: observer, Logger: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ix.Run(ctx)
	}()
	log.Info("outbox indexer running", "vectors", embedder != nil)
	return func(deadline context.Context) {
		cancel()
		select {
		case <-done:
		case <-deadline.Done():
			log.Warn("the outbox indexer did not stop in time; its entries will be claimed again after their lease")
		}
	}
}

// openSharedLimits keeps the rate limits, the live-connection caps and the
// APQ cache in Valkey when VALKEY_URL is set, so every replica enforces one
// limit and knows every registered query; without Valkey they stay in the
// process. Unlike the episodic store, an unreachable server does not stop
// the start: the limits then fail open or closed as configured.
func openSharedLimits(cfg config.Config, log *slog.Logger, h *graph.Config) (func(), error) {
	if cfg.ValkeyURL == "" {
		return func() {}, nil
	}
	b, err := valkey.Connect(cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
	if err != nil {
		return nil, fmt.Errorf("shared limits: %w", err)
	}
	limits := b.Limits()
	h.Shared, h.SharedFailClosed = limits, cfg.SharedLimitsFailClosed
	if cfg.APQCacheSize > 0 {
		h.PersistedQueries = limits.PersistedQueries()
	}
	log.Info("rate limits, live-connection caps and persisted queries shared in valkey", "addr", b.Addr(), "fail_closed", cfg.SharedLimitsFailClosed)
	return func() {
		if err := b.Close(); err != nil {
			log.Warn("closing valkey (shared limits)", "err", err)
		}
	}, nil
}
