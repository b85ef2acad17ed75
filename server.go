// Command gateway is the codingbrain GraphQL gateway: one endpoint over the
// multi-tenant data plane of a coding-memory platform.
//
//	gateway [serve] [flags]   serve GraphQL (the default)
//	gateway token [flags]     print a signed development/test token
//	gateway schema            print the GraphQL SDL
//	gateway migrate up|down|status   run the PostgreSQL migrations (DATABASE_OWNER_URL)
//	gateway search move-tenant ORG   move a tenant to a dedicated OpenSearch index
//	gateway tenant erase|audit|orphans|...   the organisation lifecycle (DATABASE_OWNER_URL)
//
// The root package is the composition root and nothing else: server.go
// serves, backends.go opens the configured backends, commands.go holds the
// operator subcommands, seed.go the demo tenant of development mode.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/embeddings"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/graph/resolvers"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/telemetry"
	"github.com/codingbrain/gateway/tenants"
)

func main() {
	p := process{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if err := run(context.Background(), os.Args[1:], p); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// process is what a run gets from outside: the environment and the two
// output streams. main passes the real ones; tests pass their own, so
// nothing a test needs lives in a package variable.
type process struct {
	getenv         func(string) string
	stdin          io.Reader // nil in tests that feed no input
	stdout, stderr io.Writer
}

// run dispatches the subcommand; tests call it directly.
func run(ctx context.Context, args []string, p process) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, p)
	case "token":
		return token(args, p)
	case "migrate":
		return migrate(ctx, args, p)
	case "search":
		return searchCommand(ctx, args, p)
	case "tenant":
		return tenantCommand(ctx, args, p)
	case "outbox":
		return outboxCommand(ctx, args, p)
	case "schema":
		return schema(p)
	}
	return fmt.Errorf("unknown command %q (want serve, token, schema, migrate, search, tenant or outbox)", cmd)
}

// serve runs the HTTP server until ctx ends or the process gets SIGINT/SIGTERM.
func serve(ctx context.Context, args []string, p process) error {
	cfg, rest, err := config.Load("gateway serve", args, p.getenv)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	log := newLogger(p.stderr, cfg.LogLevel)
	dev, err := developmentMode(&cfg)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(cfg)
	if err != nil {
		return err
	}
	if cfg.OTLPEndpoint != "" {
		stopTracing, err := telemetry.StartTracing(ctx, cfg.OTLPEndpoint, "codingbrain-gateway")
		if err != nil {
			return err
		}
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = stopTracing(flushCtx)
		}()
	}
	metrics := telemetry.New()
	// The embedder first: its model, once its dimension is known, is one
	// of the vector models whose collections Qdrant ensures.
	embedder, closeEmbedder, err := openEmbedder(ctx, cfg, log)
	if err != nil {
		return err
	}
	if embedder != nil {
		defer closeEmbedder()
	}
	models, err := vectorModels(cfg, embedder)
	if err != nil {
		return err
	}
	w, err := newBackends(ctx, cfg, log, metrics, models)
	if err != nil {
		return err
	}
	defer w.close()
	backends, checks := w.backends, guardChecks(w.guards)
	backends, closeEvents, err := openEvents(ctx, cfg, log, backends, metrics)
	if err != nil {
		return err
	}
	defer closeEvents()
	streams := graph.NewStreams(streamLimits(cfg))
	var indexEmbedder indexer.Embedder
	if embedder != nil {
		indexEmbedder = embedder
		checks = append(checks, readinessCheck{"embeddings", embedder.Status})
		// Memories on the embedded store have no outbox: the store embeds
		// them itself, so vector search and recall work from text there too.
		if mb, ok := w.backends.Memories.(*embedded.MemoryBackend); ok {
			mb.IndexVectors(ctx, w.backends.Vectors, embedder)
		}
	}
	outbox := &outboxWatch{metrics: metrics}
	stopIndexer := startIndexer(cfg, w, indexEmbedder, outbox, log)
	life, err := openLifecycle(ctx, cfg, w.lifecycle, log)
	if err != nil {
		return err
	}
	defer life.stop()

	handlerCfg := graph.Config{
		Backends:          backends,
		Verifier:          verifier,
		Organizations:     orgGate(life.registry),
		Lifecycle:         lifecycleOrNil(life.registry),
		Cursors:           relay.NewCursors(cursorKey(cfg)),
		Pages:             relay.Limits{DefaultFirst: cfg.DefaultPageSize, MaxFirst: cfg.MaxPageSize},
		MaxTraversalDepth: cfg.MaxTraversalDepth,
		Introspection:     cfg.Introspection,
		LoaderWait:        cfg.LoaderWait,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		Limits: graph.Limits{
			MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity, MaxAliases: cfg.MaxAliases,
			MaxRootFields: cfg.MaxRootFields, DefaultListSize: 10, MaxTokens: cfg.MaxTokens,
		},
		APQCacheSize:       cfg.APQCacheSize,
		MaxInFlight:        cfg.MaxInFlight,
		TraceResolvers:     cfg.OTLPEndpoint != "",
		RateLimit:          graph.RateLimit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst},
		AnonymousRateLimit: graph.RateLimit{PerSecond: cfg.AnonymousRateLimit, Burst: max(1, int(2*cfg.AnonymousRateLimit))},
		Metrics:            metrics,
		Readiness:          readiness(checks, outbox),
		Embedder:           requestEmbedder(embedder, cfg.StoreTimeout),
		Streams:            streams,
		Logger:             log,
		// Until the tenant registry holds it per organisation.
		DefaultMemoryVisibility: stores.Visibility(cfg.DefaultMemoryVisibility),
	}
	closeShared, err := openSharedLimits(cfg, log, &handlerCfg)
	if err != nil {
		return err
	}
	defer closeShared()
	if handlerCfg.RateLimit.Burst == 0 {
		handlerCfg.RateLimit.Burst = int(2 * cfg.RateLimit)
	}
	if cfg.TrustedDocuments != "" {
		if handlerCfg.TrustedDocuments, err = graph.LoadTrustedDocuments(cfg.TrustedDocuments); err != nil {
			return err
		}
	}
	var devToken string
	if dev {
		if cfg.SeedDemo {
			if err := seedDemo(ctx, backends); err != nil {
				return fmt.Errorf("seeding the demo tenant: %w", err)
			}
		}
		devToken, err = auth.Issue([]byte(cfg.JWTSecret), demoPrincipal(), 30*24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		handlerCfg.GraphiQLHeaders = fmt.Sprintf(`{"Authorization": "Bearer %s"}`, devToken)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           graph.NewHandler(handlerCfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	url := "http://" + displayAddr(ln.Addr())
	log.Info("gateway listening", "addr", ln.Addr().String(), "embedded", cfg.Embedded())
	if dev {
		_, _ = fmt.Fprintf(p.stdout, "codingbrain gateway (every backend embedded, development mode)\n"+
			"  GraphiQL:  %s/graphql\n"+
			"  SDL:       %s/graphql/schema.graphql\n"+
			"  token for the demo tenant (org %s, user %s, all scopes):\n\n%s\n\n",
			url, url, demoOrg, demoUser, devToken)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Live streams first: every subscription gets its complete, then each
	// WebSocket a 1001 close, before the listener stops.
	if err := streams.Shutdown(shutdownCtx); err != nil {
		log.Warn("live streams did not all end in time", "open", streams.Open())
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	stopIndexer(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// developmentMode decides whether the process may use the public
// development secret: only when every backend is embedded (nothing real can
// leak) and no key is configured. With a real backend and no key it refuses.
func developmentMode(cfg *config.Config) (bool, error) {
	if cfg.HasVerificationKey() {
		return false, nil
	}
	if !cfg.Embedded() {
		return false, errors.New("a real backend is configured but no token key is: set GATEWAY_JWT_SECRET, GATEWAY_JWT_PUBLIC_KEY_FILE or GATEWAY_JWKS_FILE")
	}
	cfg.JWTSecret = auth.DevelopmentSecret
	return true, nil
}

func newVerifier(cfg config.Config) (*auth.Verifier, error) {
	return auth.NewVerifier(auth.Config{
		HMACSecret:    []byte(cfg.JWTSecret),
		PublicKeyFile: cfg.JWTPublicKeyFile,
		JWKSFile:      cfg.JWKSFile,
		Issuer:        cfg.JWTIssuer,
		Audience:      cfg.JWTAudience,
		Leeway:        30 * time.Second,
	})
}

// cursorKey is the key that seals cursors: configured, derived from the JWT
// secret (so replicas sharing a secret accept each other's cursors), or random.
func cursorKey(cfg config.Config) []byte {
	if cfg.CursorSecret != "" {
		return []byte(cfg.CursorSecret)
	}
	if cfg.JWTSecret != "" {
		m := hmac.New(sha256.New, []byte(cfg.JWTSecret))
		m.Write([]byte("codingbrain cursor key"))
		return m.Sum(nil)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return fmt.Sprintf("localhost:%d", tcp.Port)
}

// streamLimits are the limits of live connections from the settings.
func streamLimits(cfg config.Config) graph.StreamLimits {
	l := graph.DefaultStreamLimits
	l.MaxConnectionsPerTenant = cfg.MaxConnectionsPerTenant
	l.MaxSubscriptionsPerConnection = cfg.MaxSubscriptionsPerConnection
	l.QueueSize = cfg.StreamQueueSize
	l.KeepAlive = cfg.KeepAlive
	return l
}

// orgGate keeps a nil *Registry from becoming a non-nil interface.
func orgGate(r *tenants.Registry) graph.OrgGate {
	if r == nil {
		return nil
	}
	return r
}

// lifecycleOrNil keeps a nil *Registry from becoming a non-nil interface.
func lifecycleOrNil(r *tenants.Registry) resolvers.Lifecycle {
	if r == nil {
		return nil
	}
	return r
}

// requestEmbedder is the embedder requests use: each embedding bounded by
// the store timeout, as every store call is (the indexer's batches are
// not). A nil *OpenAI stays a nil interface.
func requestEmbedder(e *embeddings.OpenAI, timeout time.Duration) resolvers.Embedder {
	if e == nil {
		return nil
	}
	return timedEmbedder{e, timeout}
}

type timedEmbedder struct {
	*embeddings.OpenAI
	timeout time.Duration
}

func (e timedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	return e.OpenAI.Embed(ctx, texts)
}
