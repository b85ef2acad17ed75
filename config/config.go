// Package config is the gateway's one typed configuration: every setting
// with its default, its environment variable and its flag, in one table, so
// that flags mirror env and the README table can be checked against it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codingbrain/gateway/stores"
)

// Config is every setting of the gateway.
type Config struct {
	Addr string

	JWTSecret        string
	JWTPublicKeyFile string
	JWKSFile         string
	JWTIssuer        string
	JWTAudience      string
	CursorSecret     string

	Introspection          bool
	DefaultPageSize        int
	MaxPageSize            int
	MaxTraversalDepth      int
	LoaderWait             time.Duration
	StoreTimeout           time.Duration
	MaxBodyBytes           int64
	MaxDepth               int
	MaxComplexity          int
	MaxAliases             int
	MaxRootFields          int
	MaxTokens              int
	APQCacheSize           int
	TrustedDocuments       string
	MaxInFlight            int
	RateLimit              float64
	RateBurst              int
	AnonymousRateLimit     float64
	SharedLimitsFailClosed bool
	DedicatedIndexDocs     int
	PlacementInterval      time.Duration
	SeedDemo               bool
	Indexer                bool
	IndexerMaxBackoff      time.Duration
	LogLevel               string
	OTLPEndpoint           string

	// DefaultMemoryVisibility is the visibility of a new memory whose
	// creator names none: "ORG" or "PRIVATE". A server setting until the
	// tenant registry holds it per organisation.
	DefaultMemoryVisibility string

	MaxConnectionsPerTenant       int
	MaxSubscriptionsPerConnection int
	StreamQueueSize               int
	SubscriptionBuffer            int
	KeepAlive                     time.Duration
	ChangeLogRetention            time.Duration

	// The organisation lifecycle (package tenants).
	UnknownOrgs            string
	OrgRefresh             time.Duration
	DeletedMemoryRetention time.Duration
	FeedbackRetention      time.Duration
	RetentionInterval      time.Duration

	DatabaseURL      string
	DBMaxConns       int
	DatabaseOwnerURL string
	ValkeyURL        string
	Neo4jURI         string
	Neo4jUser        string
	Neo4jPassword    string
	QdrantURL        string
	OpenSearchURL    string

	EmbeddingsURL       string
	EmbeddingsModel     string
	EmbeddingsAPIKey    string
	EmbeddingsDimension int

	// RequiredBackends (comma-separated names) must answer at start; any
	// other configured backend that cannot be reached then starts
	// unavailable and is connected in the background.
	RequiredBackends string
	// VectorModels declares the vector models tenants may use, as
	// model:dimension pairs, comma-separated (see DeclaredVectorModels).
	VectorModels string
}

// Backends is every backend name RequiredBackends may list, as /readyz
// names them.
var Backends = []string{"postgres", "valkey", "neo4j", "qdrant", "opensearch", "embeddings"}

// Setting describes one setting: its flag, its environment variable, its
// default (as text) and what it does.
type Setting struct {
	Flag, Env, Default, Usage string
	set                       func(*Config, string) error
}

// Settings lists every setting, in the order the README documents them.
func Settings() []Setting {
	return []Setting{
		str("addr", "GATEWAY_ADDR", ":8080", "address the HTTP server listens on", func(c *Config) *string { return &c.Addr }),
		str("jwt-secret", "GATEWAY_JWT_SECRET", "", "HS256 secret (at least 32 bytes) that verifies bearer tokens and signs `gateway token`", func(c *Config) *string { return &c.JWTSecret }),
		str("jwt-public-key-file", "GATEWAY_JWT_PUBLIC_KEY_FILE", "", "PEM file with an RSA or P-256 public key (RS256 / ES256 tokens)", func(c *Config) *string { return &c.JWTPublicKeyFile }),
		str("jwks-file", "GATEWAY_JWKS_FILE", "", "JWKS file with RSA / P-256 keys selected by kid", func(c *Config) *string { return &c.JWKSFile }),
		str("jwt-issuer", "GATEWAY_JWT_ISSUER", "", "when set, tokens must carry this iss", func(c *Config) *string { return &c.JWTIssuer }),
		str("jwt-audience", "GATEWAY_JWT_AUDIENCE", "", "when set, tokens must carry this aud", func(c *Config) *string { return &c.JWTAudience }),
		str("cursor-secret", "GATEWAY_CURSOR_SECRET", "", "key that seals pagination cursors; defaults to one derived from the JWT secret, else random per process", func(c *Config) *string { return &c.CursorSecret }),
		boolean("introspection", "GATEWAY_INTROSPECTION", true, "answer introspection queries (turn off in production if the schema is private)", func(c *Config) *bool { return &c.Introspection }),
		integer("default-page-size", "GATEWAY_DEFAULT_PAGE_SIZE", 20, "connection page size when first is omitted", func(c *Config) *int { return &c.DefaultPageSize }),
		integer("max-page-size", "GATEWAY_MAX_PAGE_SIZE", 100, "largest first a connection accepts", func(c *Config) *int { return &c.MaxPageSize }),
		integer("max-traversal-depth", "GATEWAY_MAX_TRAVERSAL_DEPTH", 5, "largest depth of code-graph traversals", func(c *Config) *int { return &c.MaxTraversalDepth }),
		str("default-memory-visibility", "GATEWAY_DEFAULT_MEMORY_VISIBILITY", "ORG", "visibility of a new memory whose creator names none: ORG (the whole organisation) or PRIVATE (its author only)", func(c *Config) *string { return &c.DefaultMemoryVisibility }),
		duration("loader-wait", "GATEWAY_LOADER_WAIT", 500*time.Microsecond, "how long a dataloader gathers keys before one batched store call", func(c *Config) *time.Duration { return &c.LoaderWait }),
		duration("store-timeout", "GATEWAY_STORE_TIMEOUT", 5*time.Second, "deadline of every call to a real backend (then STORE_UNAVAILABLE)", func(c *Config) *time.Duration { return &c.StoreTimeout }),
		integer64("max-body-bytes", "GATEWAY_MAX_BODY_BYTES", 1<<20, "largest request body accepted", func(c *Config) *int64 { return &c.MaxBodyBytes }),
		integer("max-depth", "GATEWAY_MAX_DEPTH", 15, "deepest field nesting an operation may have (introspection not counted)", func(c *Config) *int { return &c.MaxDepth }),
		integer("max-complexity", "GATEWAY_MAX_COMPLEXITY", 50000, "largest estimated cost of an operation: each field 1 (a connection's totalCount 10), times first (or 10) for lists", func(c *Config) *int { return &c.MaxComplexity }),
		integer("max-aliases", "GATEWAY_MAX_ALIASES", 30, "most aliased fields in one operation", func(c *Config) *int { return &c.MaxAliases }),
		integer("max-root-fields", "GATEWAY_MAX_ROOT_FIELDS", 20, "most top-level fields in one operation", func(c *Config) *int { return &c.MaxRootFields }),
		integer("max-tokens", "GATEWAY_MAX_TOKENS", 10000, "most lexical tokens a GraphQL document may have; the parser stops there, before validation (0: no limit)", func(c *Config) *int { return &c.MaxTokens }),
		integer("apq-cache-size", "GATEWAY_APQ_CACHE_SIZE", 1000, "operations kept for Automatic Persisted Queries (0 turns APQ off)", func(c *Config) *int { return &c.APQCacheSize }),
		str("trusted-documents", "GATEWAY_TRUSTED_DOCUMENTS", "", "JSON manifest (sha256 -> operation); when set, only these operations are served", func(c *Config) *string { return &c.TrustedDocuments }),
		integer("max-in-flight", "GATEWAY_MAX_IN_FLIGHT", 32, "GraphQL operations executing at once; the rest wait their turn (0: unbounded)", func(c *Config) *int { return &c.MaxInFlight }),
		float("rate-limit", "GATEWAY_RATE_LIMIT", 0, "requests per second allowed per organisation (token bucket; 0 is off)", func(c *Config) *float64 { return &c.RateLimit }),
		integer("rate-burst", "GATEWAY_RATE_BURST", 0, "burst size of the per-organisation bucket (0: twice the rate)", func(c *Config) *int { return &c.RateBurst }),
		float("anonymous-rate-limit", "GATEWAY_ANONYMOUS_RATE_LIMIT", 10, "requests per second allowed per client address without a token (they may only introspect; burst twice the rate; 0 is off)", func(c *Config) *float64 { return &c.AnonymousRateLimit }),
		boolean("shared-limits-fail-closed", "GATEWAY_SHARED_LIMITS_FAIL_CLOSED", false, "with VALKEY_URL, rate limits and live-connection caps are shared by every replica in Valkey; while it cannot be reached, refuse requests (true) or let them through, logged (false)", func(c *Config) *bool { return &c.SharedLimitsFailClosed }),
		integer("dedicated-index-docs", "GATEWAY_DEDICATED_INDEX_DOCS", 1_000_000, "documents above which an organisation moves from the shared OpenSearch index to its own (checked by replicas running the indexer; 0: never)", func(c *Config) *int { return &c.DedicatedIndexDocs }),
		duration("placement-interval", "GATEWAY_PLACEMENT_INTERVAL", 10*time.Minute, "how often the dedicated-index policy checks the tenants' sizes", func(c *Config) *time.Duration { return &c.PlacementInterval }),
		boolean("indexer", "GATEWAY_INDEXER", true, "drain the PostgreSQL outbox into the search indexes in this process (turn off on replicas that only serve the API)", func(c *Config) *bool { return &c.Indexer }),
		duration("indexer-max-backoff", "GATEWAY_INDEXER_MAX_BACKOFF", time.Minute, "cap of the delay between the indexer's retries while a search index or the embedding server is unavailable (retried forever; the delay doubles from 100ms up to this)", func(c *Config) *time.Duration { return &c.IndexerMaxBackoff }),
		boolean("seed-demo", "GATEWAY_SEED_DEMO", true, "seed a demo tenant at start when every backend is embedded", func(c *Config) *bool { return &c.SeedDemo }),
		str("otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP collector (e.g. http://collector:4318); when set, requests, resolvers and store calls are traced", func(c *Config) *string { return &c.OTLPEndpoint }),
		str("log-level", "GATEWAY_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
		integer("max-connections-per-tenant", "GATEWAY_MAX_CONNECTIONS_PER_TENANT", 100, "live connections (WebSocket and SSE) one organisation may hold at once (0: unlimited)", func(c *Config) *int { return &c.MaxConnectionsPerTenant }),
		integer("max-subscriptions-per-connection", "GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION", 20, "subscriptions one WebSocket may run at once (0: unlimited)", func(c *Config) *int { return &c.MaxSubscriptionsPerConnection }),
		integer("stream-queue-size", "GATEWAY_STREAM_QUEUE_SIZE", 64, "messages that may wait to be written to one live connection; a client that lets it fill is cut off as a slow consumer", func(c *Config) *int { return &c.StreamQueueSize }),
		integer("subscription-buffer", "GATEWAY_SUBSCRIPTION_BUFFER", 64, "changes one subscription may have pending before it is cut off as a slow consumer", func(c *Config) *int { return &c.SubscriptionBuffer }),
		duration("keep-alive", "GATEWAY_KEEP_ALIVE", 15*time.Second, "interval of keep-alive pings on live connections (0: none)", func(c *Config) *time.Duration { return &c.KeepAlive }),
		duration("change-log-retention", "GATEWAY_CHANGE_LOG_RETENTION", 24*time.Hour, "how long the PostgreSQL change log keeps memory changes for memoryChanged(after:) to replay; older ones are pruned in batches and their cursors answer CURSOR_EXPIRED", func(c *Config) *time.Duration { return &c.ChangeLogRetention }),
		str("unknown-orgs", "GATEWAY_UNKNOWN_ORGS", "register", "with DATABASE_URL, a token of an organisation the registry does not hold: register it on first use (register) or refuse it (refuse)", func(c *Config) *string { return &c.UnknownOrgs }),
		duration("org-refresh", "GATEWAY_ORG_REFRESH", 2*time.Second, "how often each gateway reloads the organisation registry (a suspended or erasing organisation's tokens are refused within this)", func(c *Config) *time.Duration { return &c.OrgRefresh }),
		duration("deleted-memory-retention", "GATEWAY_DELETED_MEMORY_RETENTION", 30*24*time.Hour, "how long a soft-deleted memory is kept before it is purged for good (0: forever); applied with DATABASE_OWNER_URL", func(c *Config) *time.Duration { return &c.DeletedMemoryRetention }),
		duration("feedback-retention", "GATEWAY_FEEDBACK_RETENTION", 30*24*time.Hour, "how long feedback events are kept (0: forever); applied with DATABASE_OWNER_URL", func(c *Config) *time.Duration { return &c.FeedbackRetention }),
		duration("retention-interval", "GATEWAY_RETENTION_INTERVAL", time.Hour, "how often the retention purge runs, and lifecycle jobs are looked for, with DATABASE_OWNER_URL", func(c *Config) *time.Duration { return &c.RetentionInterval }),
		str("database-url", "DATABASE_URL", "", "PostgreSQL URL of the application role (memories, feedback, experiments)", func(c *Config) *string { return &c.DatabaseURL }),
		integer("db-max-conns", "GATEWAY_DB_MAX_CONNS", 16, "connections in the PostgreSQL pool, unless DATABASE_URL sets pool_max_conns", func(c *Config) *int { return &c.DBMaxConns }),
		str("database-owner-url", "DATABASE_OWNER_URL", "", "PostgreSQL URL of the owner role, used by `gateway migrate` and `gateway tenant`; in `gateway serve`, it runs the lifecycle jobs (erasures) and the retention purge", func(c *Config) *string { return &c.DatabaseOwnerURL }),
		str("valkey-url", "VALKEY_URL", "", "Valkey URL (episodic sessions, embedding cache): redis:// or rediss:// for one server, redis+cluster:// or rediss+cluster:// for a cluster", func(c *Config) *string { return &c.ValkeyURL }),
		str("neo4j-uri", "NEO4J_URI", "", "Neo4j Bolt URI (code graph)", func(c *Config) *string { return &c.Neo4jURI }),
		str("neo4j-user", "NEO4J_USER", "neo4j", "Neo4j user", func(c *Config) *string { return &c.Neo4jUser }),
		str("neo4j-password", "NEO4J_PASSWORD", "", "Neo4j password", func(c *Config) *string { return &c.Neo4jPassword }),
		str("qdrant-url", "QDRANT_URL", "", "Qdrant gRPC address host:port (vectors)", func(c *Config) *string { return &c.QdrantURL }),
		str("opensearch-url", "OPENSEARCH_URL", "", "OpenSearch URL (full-text)", func(c *Config) *string { return &c.OpenSearchURL }),
		str("embeddings-url", "EMBEDDINGS_URL", "", "base URL of an OpenAI-compatible embedding API (e.g. http://127.0.0.1:7997/v1); when set, memories are embedded on write and recall/vectorSearch accept text alone", func(c *Config) *string { return &c.EmbeddingsURL }),
		str("embeddings-model", "EMBEDDINGS_MODEL", "", "embedding model sent with every request; also the vector collection's model name", func(c *Config) *string { return &c.EmbeddingsModel }),
		str("embeddings-api-key", "EMBEDDINGS_API_KEY", "", "sent as Authorization: Bearer to the embedding API", func(c *Config) *string { return &c.EmbeddingsAPIKey }),
		integer("embeddings-dimension", "EMBEDDINGS_DIMENSION", 0, "the model's vector size; 0 learns it from the server at start", func(c *Config) *int { return &c.EmbeddingsDimension }),
		str("required-backends", "GATEWAY_REQUIRED_BACKENDS", "postgres", "configured backends that must answer at start, comma-separated (postgres, valkey, neo4j, qdrant, opensearch, embeddings); any other one that cannot be reached starts unavailable and is connected in the background (PostgreSQL is always required)", func(c *Config) *string { return &c.RequiredBackends }),
		str("vector-models", "GATEWAY_VECTOR_MODELS", "", "vector models tenants may use, as model:dimension pairs, comma-separated (e.g. all-MiniLM-L6-v2:384); EMBEDDINGS_MODEL is declared with its dimension by itself; a model not declared is BAD_USER_INPUT and never gets a collection", func(c *Config) *string { return &c.VectorModels }),
	}
}

// Load reads the settings: defaults, then the environment, then flags.
// It returns the arguments left after the flags.
func Load(name string, args []string, getenv func(string) string) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, s := range Settings() {
		value := s.Default
		if v := getenv(s.Env); v != "" {
			value = v
		}
		if err := s.set(&c, value); err != nil {
			return c, nil, fmt.Errorf("%s: %w", s.Env, err)
		}
		fs.Func(s.Flag, s.Usage+" (env "+s.Env+")", func(v string) error { return s.set(&c, v) })
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.Validate()
}

// Validate checks settings that depend on each other.
func (c Config) Validate() error {
	var errs []error
	if c.DefaultPageSize < 1 || c.DefaultPageSize > c.MaxPageSize {
		errs = append(errs, fmt.Errorf("default page size must be between 1 and the max page size (%d)", c.MaxPageSize))
	}
	if c.MaxTraversalDepth < 1 || c.MaxTraversalDepth > 20 {
		errs = append(errs, errors.New("max traversal depth must be between 1 and 20"))
	}
	if c.DefaultMemoryVisibility != "ORG" && c.DefaultMemoryVisibility != "PRIVATE" {
		errs = append(errs, errors.New("the default memory visibility must be ORG or PRIVATE"))
	}
	if c.ChangeLogRetention < time.Minute {
		errs = append(errs, errors.New("the change log retention must be at least 1m"))
	}
	if c.UnknownOrgs != "register" && c.UnknownOrgs != "refuse" {
		errs = append(errs, errors.New("unknown orgs must be register or refuse"))
	}
	if c.OrgRefresh <= 0 || c.RetentionInterval <= 0 {
		errs = append(errs, errors.New("the org refresh and retention intervals must be positive"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("max body bytes must be at least 1024"))
	}
	if (c.EmbeddingsURL == "") != (c.EmbeddingsModel == "") {
		errs = append(errs, errors.New("EMBEDDINGS_URL and EMBEDDINGS_MODEL go together"))
	}
	for _, name := range splitList(c.RequiredBackends) {
		if !slices.Contains(Backends, name) {
			errs = append(errs, fmt.Errorf("GATEWAY_REQUIRED_BACKENDS: %q is none of %s", name, strings.Join(Backends, ", ")))
		}
	}
	models, err := c.DeclaredVectorModels()
	if err != nil {
		errs = append(errs, err)
	}
	if dim, ok := models[c.EmbeddingsModel]; ok && c.EmbeddingsDimension != 0 && c.EmbeddingsDimension != dim {
		errs = append(errs, fmt.Errorf("GATEWAY_VECTOR_MODELS declares %s with dimension %d, EMBEDDINGS_DIMENSION says %d", c.EmbeddingsModel, dim, c.EmbeddingsDimension))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("the JWT secret must be at least 32 bytes"))
	}
	return errors.Join(errs...)
}

// Required reports whether a backend must answer at start: PostgreSQL
// always (it holds the schema version and the outbox), the others when
// GATEWAY_REQUIRED_BACKENDS lists them.
func (c Config) Required(backend string) bool {
	return backend == "postgres" || slices.Contains(splitList(c.RequiredBackends), backend)
}

// DeclaredVectorModels returns the dimension of every model
// GATEWAY_VECTOR_MODELS declares. EMBEDDINGS_MODEL is not added here: its
// dimension may only be learned from the server.
func (c Config) DeclaredVectorModels() (map[string]int, error) {
	models := map[string]int{}
	for _, pair := range splitList(c.VectorModels) {
		name, dimText, ok := strings.Cut(pair, ":")
		dim, err := strconv.Atoi(dimText)
		if !ok || err != nil || dim < 1 || dim > stores.MaxVectorDimension || !stores.ValidModelName(name) {
			return nil, fmt.Errorf("GATEWAY_VECTOR_MODELS: %q is not model:dimension (a model name of letters, digits, '.', '_' or '-', a dimension from 1 to %d)", pair, stores.MaxVectorDimension)
		}
		if _, dup := models[name]; dup {
			return nil, fmt.Errorf("GATEWAY_VECTOR_MODELS: %s is declared twice", name)
		}
		models[name] = dim
	}
	return models, nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Embedded reports whether every backend is the in-process default.
func (c Config) Embedded() bool {
	return c.DatabaseURL == "" && c.ValkeyURL == "" && c.Neo4jURI == "" && c.QdrantURL == "" && c.OpenSearchURL == ""
}

// HasVerificationKey reports whether any token verification key is configured.
func (c Config) HasVerificationKey() bool {
	return c.JWTSecret != "" || c.JWTPublicKeyFile != "" || c.JWKSFile != ""
}

func str(flagName, env, def, usage string, field func(*Config) *string) Setting {
	return Setting{flagName, env, def, usage, func(c *Config, v string) error { *field(c) = v; return nil }}
}

func boolean(flagName, env string, def bool, usage string, field func(*Config) *bool) Setting {
	return Setting{flagName, env, strconv.FormatBool(def), usage, func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}}
}

func integer(flagName, env string, def int, usage string, field func(*Config) *int) Setting {
	return Setting{flagName, env, strconv.Itoa(def), usage, func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}}
}

func integer64(flagName, env string, def int64, usage string, field func(*Config) *int64) Setting {
	return Setting{flagName, env, strconv.FormatInt(def, 10), usage, func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}}
}

func float(flagName, env string, def float64, usage string, field func(*Config) *float64) Setting {
	return Setting{flagName, env, strconv.FormatFloat(def, 'g', -1, 64), usage, func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a non-negative number", v)
		}
		*field(c) = f
		return nil
	}}
}

func duration(flagName, env string, def time.Duration, usage string, field func(*Config) *time.Duration) Setting {
	return Setting{flagName, env, def.String(), usage, func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration such as 500us or 2s", v)
		}
		*field(c) = d
		return nil
	}}
}
