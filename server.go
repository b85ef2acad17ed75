// Command gateway is the codingbrain GraphQL gateway: one endpoint over the
// multi-tenant data plane of a coding-memory platform.
//
//	gateway [serve] [flags]   serve GraphQL (the default)
//	gateway token [flags]     print a signed development/test token
//	gateway schema            print the GraphQL SDL
//	gateway migrate up|down|status   run the PostgreSQL migrations (DATABASE_OWNER_URL)
//	gateway search move-tenant ORG   move a tenant to a dedicated OpenSearch index
//
// This file is the one place that knows every concrete backend and wires it
// into stores.Backends.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
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
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/guarded"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/telemetry"
	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run dispatches the subcommand; tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "token":
		return token(args, getenv, stdout)
	case "migrate":
		return migrate(ctx, args, getenv, stdout)
	case "search":
		return searchCommand(ctx, args, getenv, stdout)
	case "schema":
		_, err := io.WriteString(stdout, graph.SDL())
		return err
	}
	return fmt.Errorf("unknown command %q (want serve, token, schema, migrate or search)", cmd)
}

// serve runs the HTTP server until ctx ends or the process gets SIGINT/SIGTERM.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := config.Load("gateway serve", args, getenv)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	log := newLogger(stderr, cfg.LogLevel)
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
	w, err := newBackends(ctx, cfg, log, metrics)
	if err != nil {
		return err
	}
	defer w.close()
	backends, guards := w.backends, w.guards
	backends, closeEvents, err := openEvents(ctx, cfg, log, backends)
	if err != nil {
		return err
	}
	defer closeEvents()
	streams := graph.NewStreams(streamLimits(cfg))
	embedder, closeEmbedder, err := openEmbedder(ctx, cfg, log)
	if err != nil {
		return err
	}
	if embedder != nil {
		defer closeEmbedder()
		if err := checkEmbeddingDimension(ctx, backends, embedder.Model(), embedder.Dimension()); err != nil {
			return err
		}
	}
	var indexEmbedder indexer.Embedder
	if embedder != nil {
		indexEmbedder = embedder
	}
	stopIndexer := startIndexer(cfg, w, indexEmbedder, metrics, log)

	handlerCfg := graph.Config{
		Backends:          backends,
		Verifier:          verifier,
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
		Readiness:          readiness(guards),
		Embedder:           embedderOrNil(embedder),
		Streams:            streams,
		Logger:             log,
		// Until the tenant registry holds it per organisation.
		DefaultMemoryVisibility: stores.Visibility(cfg.DefaultMemoryVisibility),
	}
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
		fmt.Fprintf(stdout, "codingbrain gateway (every backend embedded, development mode)\n"+
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

// wired is what newBackends opened.
type wired struct {
	backends stores.Backends
	guards   []*guarded.Guard // one per real backend, for readiness
	outbox   *postgres.Outbox // nil unless memories are on PostgreSQL
	close    func()
}

// newBackends wires a backend per domain: the embedded default, replaced by
// the real backend whose setting is present, each real one behind a guard
// (timeout, circuit breaker, metrics).
func newBackends(ctx context.Context, cfg config.Config, log *slog.Logger, metrics *telemetry.Metrics) (wired, error) {
	b := embedded.New(time.Now)
	b.CodeGraph = embedded.NewCodeGraphBackend(time.Now, cfg.MaxTraversalDepth)
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var (
		guards []*guarded.Guard
		outbox *postgres.Outbox
	)
	for _, backend := range []struct {
		name string
		open backendOpener
	}{
		{"postgres", openPostgres}, {"valkey", openValkey}, {"neo4j", openNeo4j}, {"qdrant", openQdrant}, {"opensearch", openOpenSearch},
	} {
		before := b
		closer, err := backend.open(ctx, cfg, log, &b)
		if err != nil {
			closeAll()
			return wired{}, err
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		if pg, ok := b.Memories.(*postgres.Backend); ok && outbox == nil {
			outbox = pg.Outbox()
		}
		if replaced := replacedDomains(before, b); len(replaced) > 0 {
			g := guarded.New(backend.name, guarded.Options{Timeout: cfg.StoreTimeout, Observer: metrics})
			guards = append(guards, g)
			wrap := map[string]*guarded.Guard{}
			for _, domain := range replaced {
				wrap[domain] = g
			}
			b = guarded.Wrap(b, wrap)
		}
	}
	return wired{backends: b, guards: guards, outbox: outbox, close: closeAll}, nil
}

// replacedDomains names the Backends fields an opener changed.
func replacedDomains(before, after stores.Backends) []string {
	var out []string
	for name, changed := range map[string]bool{
		"Memories":    before.Memories != after.Memories,
		"Feedback":    before.Feedback != after.Feedback,
		"Experiments": before.Experiments != after.Experiments,
		"Episodic":    before.Episodic != after.Episodic,
		"CodeGraph":   before.CodeGraph != after.CodeGraph,
		"Vectors":     before.Vectors != after.Vectors,
		"FullText":    before.FullText != after.FullText,
	} {
		if changed {
			out = append(out, name)
		}
	}
	return out
}

// readiness reports every real backend's breaker: ready while none is open.
// The embedded stores are always ready.
func readiness(guards []*guarded.Guard) func(context.Context) (bool, any) {
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
		return ready, map[string]any{"status": status, "backends": backends}
	}
}

// backendOpener replaces the domains of one real backend in b when its
// setting is present, and returns how to close it (nil when nothing opened).
// Each lives in a backends_<name>.go file of its own.
type backendOpener func(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error)

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

// token prints a signed HS256 token: `gateway token --org ORG --user UUID`.
func token(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway token", flag.ContinueOnError)
	org := fs.String("org", demoOrg.String(), "organisation id (UUID)")
	user := fs.String("user", demoUser.String(), "user id (UUID)")
	scopes := fs.String("scopes", strings.Join(auth.AllScopes(), ","), "comma-separated scopes")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	secret := fs.String("jwt-secret", getenv("GATEWAY_JWT_SECRET"), "HS256 secret (env GATEWAY_JWT_SECRET); the development secret when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	orgID, err := uuid.Parse(*org)
	if err != nil {
		return fmt.Errorf("--org %q is not a UUID", *org)
	}
	userID, err := uuid.Parse(*user)
	if err != nil {
		return fmt.Errorf("--user %q is not a UUID", *user)
	}
	key := *secret
	if key == "" {
		key = auth.DevelopmentSecret
	}
	var list []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	tok, err := auth.Issue([]byte(key), auth.Principal{UserID: userID, OrgID: orgID, Scopes: list}, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
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
