// Package opensearch serves the full-text domain from OpenSearch through
// opensearch-go v4.
//
// Every tenant's documents live in one shared index with a strict mapping.
// Each organisation gets a filtered alias (a term filter on org_id, routing on
// org_id) named from its UUID only, and the store names that alias and nothing
// else: the server itself keeps one tenant's searches and writes away from
// another's. A large tenant can be moved to a dedicated index by re-pointing
// its alias (MoveTenant), without the store noticing.
//
// Writes wait for a refresh (refresh=wait_for), so a document is searchable
// as soon as IndexDocuments or DeleteDocuments returns.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	opensearchgo "github.com/opensearch-project/opensearch-go/v4"
)

// backendName is how errors name this backend to clients ("opensearch is unavailable").
const backendName = "opensearch"

// Defaults for Options; one place so the README and the code agree.
const (
	DefaultIndex       = "codingbrain-docs-v2"
	DefaultAliasPrefix = "cb-docs-"
	DefaultShards      = 3
	DefaultTimeout     = 5 * time.Second
)

// Options configure a Backend. The zero value of every field means its default.
type Options struct {
	// URL of the cluster, e.g. http://127.0.0.1:9200 (user:password@ in it
	// is used for basic auth).
	URL string
	// Index is the shared index every tenant's alias points to until the
	// tenant is moved.
	Index string
	// AliasPrefix is prepended to the org UUID to name a tenant's alias.
	AliasPrefix string
	// Shards is the number of primary shards of the shared index; routing
	// keeps each tenant on one of them.
	Shards int
	// Timeout bounds every call to the server.
	Timeout time.Duration
}

var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,199}$`)

func (o Options) withDefaults() (Options, error) {
	if o.Index == "" {
		o.Index = DefaultIndex
	}
	if o.AliasPrefix == "" {
		o.AliasPrefix = DefaultAliasPrefix
	}
	if o.Shards == 0 {
		o.Shards = DefaultShards
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.URL == "":
		return o, errors.New("opensearch: no URL")
	case !indexName.MatchString(o.Index):
		return o, fmt.Errorf("opensearch: index name %q must be lowercase letters, digits, '.', '_' or '-'", o.Index)
	case !indexName.MatchString(o.AliasPrefix):
		return o, fmt.Errorf("opensearch: alias prefix %q must be lowercase letters, digits, '.', '_' or '-'", o.AliasPrefix)
	case o.Shards < 1 || o.Shards > 64:
		return o, errors.New("opensearch: shards must be between 1 and 64")
	case o.Timeout < 0:
		return o, errors.New("opensearch: timeout must be positive")
	}
	return o, nil
}

// Backend is the full-text backend over one OpenSearch cluster. It is safe
// for concurrent use.
type Backend struct {
	client *opensearchgo.Client
	opts   Options

	mu      sync.Mutex
	aliases map[uuid.UUID]bool // tenants whose alias is known to exist
}

// New returns a backend over the cluster at opts.URL without contacting it:
// a dead server shows up as stores.ErrUnavailable on the first call. Open
// is what the gateway uses; New lets tests reach an unreachable server.
func New(opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("opensearch: the URL must look like http://host:9200")
	}
	discover := false
	client, err := opensearchgo.NewClient(opensearchgo.Config{
		Addresses:            []string{opts.URL},
		DiscoverNodesOnStart: &discover,
		// The store bounds every call with its own deadline; retrying a
		// refused connection inside it only delays the answer.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch: %w", err)
	}
	return &Backend{client: client, opts: opts, aliases: map[uuid.UUID]bool{}}, nil
}

// Open connects to the cluster, waits (within the timeout) for it to be
// healthy, and creates the shared index when it is missing. It is
// idempotent: every gateway replica calls it at start.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	b, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := b.Connect(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Connect waits (within the timeout) for the cluster to be healthy and
// creates the shared index when it is missing: what Open does after New,
// for a backend made while the cluster was down.
func (b *Backend) Connect(ctx context.Context) error {
	if err := b.Ping(ctx); err != nil {
		return err
	}
	return b.ensureIndex(ctx, b.opts.Index)
}

// Close releases the client's connections and background work.
func (b *Backend) Close() { _ = b.client.Close() }

// Index returns the name of the shared index.
func (b *Backend) Index() string { return b.opts.Index }

// Ping checks that the cluster answers and is at least yellow.
func (b *Backend) Ping(ctx context.Context) error {
	q := url.Values{"wait_for_status": {"yellow"}, "timeout": {timeoutParam(b.opts.Timeout)}}
	var health struct {
		Status   string `json:"status"`
		TimedOut bool   `json:"timed_out"`
	}
	if err := b.call(ctx, http.MethodGet, "/_cluster/health", q, nil, &health); err != nil {
		return err
	}
	if health.TimedOut || health.Status == "red" {
		return stores.Unavailable(backendName, fmt.Errorf("cluster health is %s", health.Status))
	}
	return nil
}

// FullText returns the store bound to t's organisation.
func (b *Backend) FullText(t stores.Tenant) stores.FullTextStore {
	return &fullTextStore{b: b, tenant: t}
}

// timeoutParam renders d as an OpenSearch time value in milliseconds.
func timeoutParam(d time.Duration) string {
	return fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
}

// serverError is an answer of the server with an error status.
type serverError struct {
	Status int
	Type   string // e.g. index_not_found_exception
	Reason string
	Causes []string // types of the root and caused_by chain, for matching
}

func (e *serverError) Error() string {
	return fmt.Sprintf("opensearch answered %d %s: %s", e.Status, e.Type, e.Reason)
}

// has reports whether the error or one of its causes has the given type.
func (e *serverError) has(typ string) bool {
	if e.Type == typ {
		return true
	}
	for _, c := range e.Causes {
		if c == typ {
			return true
		}
	}
	return false
}

func statusOf(err error) int {
	var se *serverError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// call sends one request bounded by the backend's timeout and decodes a
// successful JSON answer into out (when not nil). A transport failure, a
// timeout, 429 and 5xx answers are stores.ErrUnavailable; other error
// answers come back as *serverError for the caller to interpret. Paths are
// built from validated index and alias names only, never from input.
func (b *Backend) call(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	return b.callWithin(ctx, b.opts.Timeout, method, path, query, body, out)
}

// callWithin is call with an explicit deadline (0: only the caller's), for
// operations such as a reindex that legitimately take longer.
func (b *Backend) callWithin(ctx context.Context, timeout time.Duration, method, path string, query url.Values, body any, out any) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var reader io.Reader
	contentType := "application/json"
	switch v := body.(type) {
	case nil:
	case ndjson:
		reader = bytes.NewReader(v)
		contentType = "application/x-ndjson"
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("opensearch: encoding a request: %w", err)
		}
		reader = bytes.NewReader(raw)
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return fmt.Errorf("opensearch: building a request: %w", err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", contentType)
	}
	// Stream, not the deprecated Perform (which only buffers the body first):
	// the body is read whole below either way.
	resp, err := b.client.Stream(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close() // the request error is the one to report
		}
		return stores.Unavailable(backendName, err)
	}
	defer func() { _ = resp.Body.Close() }() // read only: a close error loses nothing
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return stores.Unavailable(backendName, err)
	}
	if resp.StatusCode >= 300 {
		se := decodeServerError(resp.StatusCode, raw)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return stores.Unavailable(backendName, se)
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("opensearch: decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// ndjson is a request body sent as is (the bulk API's newline-delimited JSON).
type ndjson []byte

func decodeServerError(status int, raw []byte) *serverError {
	type cause struct {
		Type     string          `json:"type"`
		Reason   string          `json:"reason"`
		CausedBy json.RawMessage `json:"caused_by"`
	}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	se := &serverError{Status: status}
	if json.Unmarshal(raw, &body) != nil || len(body.Error) == 0 {
		se.Reason = strings.TrimSpace(string(raw))
		return se
	}
	var top struct {
		cause
		RootCause []cause `json:"root_cause"`
	}
	if json.Unmarshal(body.Error, &top) != nil {
		// Some answers carry a plain string in "error".
		_ = json.Unmarshal(body.Error, &se.Reason)
		return se
	}
	se.Type, se.Reason = top.Type, top.Reason
	for _, rc := range top.RootCause {
		se.Causes = append(se.Causes, rc.Type)
	}
	next := top.CausedBy
	for depth := 0; len(next) > 0 && depth < 8; depth++ {
		var c cause
		if json.Unmarshal(next, &c) != nil {
			break
		}
		se.Causes = append(se.Causes, c.Type)
		next = c.CausedBy
	}
	return se
}
