package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	"github.com/codingbrain/gateway/tenants"
	"github.com/sony/gobreaker/v2"
)

// This file is the one place that knows every concrete backend: it opens
// those whose setting is present and wires them into stores.Backends.

// opened is what one real backend serves once open.
type opened struct {
	domains stores.Backends // the domains it serves; the others are nil
	outbox  stores.Outbox   // the memory outbox, when it keeps one
	// connect reaches the backend and ensures its collections, indexes and
	// constraints; nil when opening did already (PostgreSQL).
	connect func(context.Context) error
	// lifecycle is the backend seen whole by the organisation lifecycle
	// jobs (erase, audit, orphans), when it holds tenant data.
	lifecycle tenants.Store
	close     func()
}

// opener makes one real backend's client when its setting is present
// (without reaching it, except PostgreSQL, which every start needs); with
// the setting empty it opens nothing and returns a zero opened.
type opener struct {
	name string // as errors, metrics and /readyz name the backend
	open func(ctx context.Context, cfg config.Config, log *slog.Logger, models func() map[string]int) (opened, error)
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
	// lifecycle are the real backends other than PostgreSQL, for the
	// lifecycle jobs.
	lifecycle []tenants.Store
	close     func()
}

// newBackends wires a backend per domain: the embedded default, replaced by
// the real backend whose setting is present, each real one behind a guard
// (timeout, circuit breaker, metrics) named after it. A backend that cannot
// be reached fails the start only when it is required; otherwise its guard
// starts connecting (its fields unavailable) and it is connected in the
// background. models are the declared vector models.
func newBackends(ctx context.Context, cfg config.Config, log *slog.Logger, observer guarded.Observer, models func() map[string]int) (wired, error) {
	w := wired{backends: embedded.New(time.Now)}
	w.backends.CodeGraph = embedded.NewCodeGraphBackend(time.Now, cfg.MaxTraversalDepth)
	var closers []func()
	w.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, o := range openers() {
		got, err := o.open(ctx, cfg, log, models)
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
		if got.lifecycle != nil {
			w.lifecycle = append(w.lifecycle, got.lifecycle)
		}
		g := guarded.New(o.name, guarded.Options{Timeout: cfg.StoreTimeout, Observer: observer})
		w.guards = append(w.guards, g)
		w.backends = w.backends.Override(guarded.Wrap(got.domains, g))
		if got.connect == nil {
			continue
		}
		if err := got.connect(ctx); err != nil {
			switch {
			case errors.Is(err, stores.ErrInvalid):
				// The backend answered: its content disagrees with the
				// settings (a collection of another dimension), which
				// waiting will not fix.
				w.close()
				return wired{}, fmt.Errorf("%s: %w", o.name, err)
			case cfg.Required(o.name):
				w.close()
				return wired{}, fmt.Errorf("%s is required at start (GATEWAY_REQUIRED_BACKENDS) but could not be reached: %w", o.name, err)
			}
			g.Connecting()
			stop := connectInBackground(o.name, got.connect, g.Connected, err, log)
			closers = append(closers, stop) // before the backend's own close runs
		}
	}
	return w, nil
}

// Reconnect backoff of a backend that was down at start: short enough that
// it serves within about a second of coming back, however long it was down.
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = time.Second
)

// connectInBackground retries connect, with capped exponential backoff,
// until it succeeds (then calls connected) or the returned stop is called;
// stop waits for the attempt in flight. first is the error of the attempt
// made at start.
func connectInBackground(name string, connect func(context.Context) error, connected func(), first error, log *slog.Logger) (stop func()) {
	log.Warn("backend unreachable at start: its fields answer STORE_UNAVAILABLE while it is connected in the background", "backend", name, "err", first)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start, wait := time.Now(), reconnectFirst
		for attempt := 2; ; attempt++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			err := connect(ctx)
			if err == nil {
				connected()
				log.Info("backend connected", "backend", name, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond).String())
				return
			}
			if ctx.Err() != nil {
				return
			}
			// Logged on the first retries, then about once a minute.
			if attempt <= 3 || attempt%60 == 0 {
				log.Warn("backend still unreachable", "backend", name, "attempts", attempt, "err", err)
			}
			wait = min(2*wait, reconnectMax)
		}
	}()
	return func() { cancel(); <-done }
}

// readinessCheck is one line of /readyz: a name and its current state,
// "closed" when it serves.
type readinessCheck struct {
	name   string
	status func() string
}

// guardChecks are the readiness lines of the backends' guards.
func guardChecks(guards []*guarded.Guard) []readinessCheck {
	checks := make([]readinessCheck, 0, len(guards))
	for _, g := range guards {
		checks = append(checks, readinessCheck{g.Backend(), g.Status})
	}
	return checks
}

// readiness reports every real backend's state (its breaker's, or
// "connecting"): ready while none is open or connecting. The embedded
// stores are always ready.
func readiness(checks []readinessCheck, outbox *outboxWatch) func(context.Context) (bool, any) {
	return func(context.Context) (bool, any) {
		ready := true
		backends := map[string]string{}
		for _, c := range checks {
			state := c.status()
			backends[c.name] = state
			if state == gobreaker.StateOpen.String() || state == "connecting" {
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

// last returns the latest backlog, if the indexer runs in this process
// (w is nil where no indexer is watched).
func (w *outboxWatch) last() (stores.OutboxBacklog, bool) {
	if w == nil {
		return stores.OutboxBacklog{}, false
	}
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
func openPostgres(ctx context.Context, cfg config.Config, log *slog.Logger, _ func() map[string]int) (opened, error) {
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
	return stores.DerivedIndexes(cfg.EmbeddingsURL != "")
}

// openValkey puts the episodic domain on Valkey when VALKEY_URL is set: it
// parses the URL (redis:// or rediss://; its query may tune the client);
// connecting checks that the server answers within the backend's timeout.
// There is no schema to create: keys appear with the first item and expire
// with the last.
func openValkey(_ context.Context, cfg config.Config, log *slog.Logger, _ func() map[string]int) (opened, error) {
	if cfg.ValkeyURL == "" {
		return opened{}, nil
	}
	valkey.LogDriverTo(log)
	episodic, err := valkey.Connect(cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
	if err != nil {
		// err names the address, never the URL, which may hold a password.
		return opened{}, fmt.Errorf("episodic store: %w", err)
	}
	log.Info("episodic on valkey", "addr", episodic.Addr())
	return opened{domains: stores.Backends{Episodic: episodic}, lifecycle: episodic, connect: episodic.Ping, close: func() {
		if err := episodic.Close(); err != nil {
			log.Warn("closing valkey", "err", err)
		}
	}}, nil
}

// openNeo4j puts the code-graph domain on Neo4j when NEO4J_URI is set, as
// NEO4J_USER / NEO4J_PASSWORD; connecting checks that the server answers
// within the store timeout and creates the (org_id, id) uniqueness
// constraints and name indexes if they are missing. Traversals are capped at
// the configured maximum depth.
func openNeo4j(ctx context.Context, cfg config.Config, log *slog.Logger, _ func() map[string]int) (opened, error) {
	if cfg.Neo4jURI == "" {
		return opened{}, nil
	}
	opts := neo4j.Options{MaxDepth: cfg.MaxTraversalDepth, Timeout: cfg.StoreTimeout}
	driver, err := neo4j.NewDriver(cfg.Neo4jURI, cfg.Neo4jUser, cfg.Neo4jPassword, opts)
	if err != nil {
		// err never holds the password; the URI may, so it is not logged.
		return opened{}, fmt.Errorf("code graph: %w", err)
	}
	graph := neo4j.NewCodeGraphBackend(driver, opts)
	log.Info("code graph on neo4j", "max_depth", cfg.MaxTraversalDepth)
	return opened{domains: stores.Backends{CodeGraph: graph}, lifecycle: graph, connect: graph.Connect, close: func() {
		if err := graph.Close(context.WithoutCancel(ctx)); err != nil {
			log.Warn("closing neo4j", "err", err)
		}
	}}, nil
}

// openQdrant puts the vectors domain on Qdrant when QDRANT_URL (host:port of
// its gRPC endpoint) is set, for the declared models only; connecting checks
// that the server answers within the backend's timeout and makes the
// declared models' collections (with their tenant index) when missing.
func openQdrant(_ context.Context, cfg config.Config, log *slog.Logger, models func() map[string]int) (opened, error) {
	if cfg.QdrantURL == "" {
		return opened{}, nil
	}
	vectors, err := qdrant.New(cfg.QdrantURL, qdrant.Options{Timeout: cfg.StoreTimeout, Models: models})
	if err != nil {
		return opened{}, fmt.Errorf("qdrant at %s: %w", cfg.QdrantURL, err)
	}
	log.Info("vectors on qdrant", "addr", cfg.QdrantURL)
	connect := func(ctx context.Context) error {
		if err := vectors.Ping(ctx); err != nil {
			return fmt.Errorf("qdrant at %s: %w", cfg.QdrantURL, err)
		}
		return vectors.EnsureCollections(ctx)
	}
	return opened{domains: stores.Backends{Vectors: vectors}, lifecycle: vectors, connect: connect, close: func() {
		if err := vectors.Close(); err != nil {
			log.Warn("closing qdrant", "err", err)
		}
	}}, nil
}

// openOpenSearch puts the full-text domain on OpenSearch when OPENSEARCH_URL
// is set; connecting waits (within the backend's timeout) for the cluster to
// be at least yellow and creates the shared index when it is missing; each
// tenant's alias is made on its first write.
func openOpenSearch(ctx context.Context, cfg config.Config, log *slog.Logger, _ func() map[string]int) (opened, error) {
	if cfg.OpenSearchURL == "" {
		return opened{}, nil
	}
	host := redactedHost(cfg.OpenSearchURL)
	fullText, err := opensearch.New(opensearch.Options{URL: cfg.OpenSearchURL})
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
	connect := func(ctx context.Context) error {
		if err := fullText.Connect(ctx); err != nil {
			return fmt.Errorf("opensearch at %s: %w", host, err)
		}
		return nil
	}
	return opened{domains: stores.Backends{FullText: fullText}, lifecycle: fullText, connect: connect, close: func() { stopPlacement(); fullText.Close() }}, nil
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
// (a NOTIFY sent by the change-log and feedback triggers, ids only), and one
// LISTEN connection per gateway publishes them to its local hub, so a
// subscriber of one replica sees the writes made through another; the
// change log lets memoryChanged resume after a cursor and the listener
// replay what it missed while reconnecting. The episodic writes are sent
// through the same channel by the gateway that made them, from a bounded
// queue behind a breaker, so a write never waits on it. It returns how to
// stop what it started.
func openEvents(ctx context.Context, cfg config.Config, log *slog.Logger, b stores.Backends, metrics *telemetry.Metrics) (stores.Backends, func(), error) {
	hub := events.NewHub(cfg.SubscriptionBuffer)
	if cfg.DatabaseURL == "" {
		return events.Publishing(b, hub, hub, events.AllDomains), func() {}, nil
	}
	listener, err := postgres.ListenChanges(ctx, postgres.ListenConfig{
		URL: cfg.DatabaseURL, Timeout: cfg.StoreTimeout, Retention: cfg.ChangeLogRetention,
	}, hub, log)
	if err != nil {
		return b, nil, err
	}
	hub.UseLog(listener)
	guard := guarded.New("postgres-notify", guarded.Options{Timeout: cfg.StoreTimeout, Observer: metrics})
	queue := events.NewPublishQueue(listener, events.DefaultQueueSize, guard, metrics, log)
	b = events.Publishing(b, hub, queue, events.Domains{Episodic: true})
	return b, func() {
		queue.Close()
		listener.Close()
	}, nil
}

// embeddingCacheTTL keeps a text's vector in Valkey for a month: an
// embedding of a text under one model never changes.
const embeddingCacheTTL = 30 * 24 * time.Hour

// openEmbedder connects the embedding server when EMBEDDINGS_URL is set,
// with its vectors cached in Valkey when VALKEY_URL is set (shared by every
// gateway process), else in process. It returns nil when embeddings are off.
// A server that does not answer at start fails it only when required;
// otherwise embedding answers unavailable while the server is probed in the
// background (which also learns the dimension, unless declared).
func openEmbedder(ctx context.Context, cfg config.Config, log *slog.Logger) (*embeddings.OpenAI, func(), error) {
	if cfg.EmbeddingsURL == "" {
		return nil, nil, nil
	}
	dim := cfg.EmbeddingsDimension
	declared, err := cfg.DeclaredVectorModels()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := declared[cfg.EmbeddingsModel]; ok {
		dim = d
	}
	ec := embeddings.Config{
		URL: cfg.EmbeddingsURL, Model: cfg.EmbeddingsModel, APIKey: cfg.EmbeddingsAPIKey,
		Dimension: dim, Cache: embeddings.NewLRU(10000),
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
	e, err := embeddings.New(ec)
	if err != nil {
		closeCache()
		return nil, nil, fmt.Errorf("embedding server: %w", err)
	}
	probe := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, cfg.StoreTimeout)
		defer cancel()
		return e.Probe(ctx)
	}
	stopConnecting := func() {}
	if err := probe(ctx); err != nil {
		switch {
		case errors.Is(err, embeddings.ErrRejected), errors.Is(err, embeddings.ErrBadResponse):
			// The server answered: a wrong key, an unknown model or another
			// dimension than the declared one, which waiting will not fix.
			_ = e.Close()
			closeCache()
			return nil, nil, err
		case cfg.Required("embeddings"):
			_ = e.Close()
			closeCache()
			return nil, nil, fmt.Errorf("embeddings is required at start (GATEWAY_REQUIRED_BACKENDS) but could not be reached: %w", err)
		}
		stopConnecting = connectInBackground("embeddings", probe, func() {}, err, log)
	}
	log.Info("embeddings on", "model", e.Model(), "dimension", e.Dimension(), "shared_cache", cfg.ValkeyURL != "")
	return e, func() { stopConnecting(); _ = e.Close(); closeCache() }, nil
}

// vectorModels returns the declared vector models: GATEWAY_VECTOR_MODELS,
// and the embedding model with its dimension once known (configured, or
// learned from the server, perhaps after the start).
func vectorModels(cfg config.Config, embedder *embeddings.OpenAI) (func() map[string]int, error) {
	declared, err := cfg.DeclaredVectorModels()
	if err != nil {
		return nil, err
	}
	return func() map[string]int {
		if embedder == nil || embedder.Dimension() == 0 {
			return declared
		}
		models := maps.Clone(declared)
		models[embedder.Model()] = embedder.Dimension()
		return models
	}, nil
}

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
