// Package qdrant implements stores.VectorBackend on Qdrant over gRPC (the
// official go-client). Every embedding model gets one collection, emb_<model>,
// shared by all organisations and laid out as Qdrant documents multitenancy:
// org_id is in every point's payload, a keyword payload index with is_tenant
// set lies on it, and every read, count and delete carries a must-filter on
// the bound organisation. Point ids are unique per organisation, so the Qdrant
// id of a point is derived from (org, id) and the caller's id travels in the
// payload.
package qdrant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codingbrain/gateway/stores"
)

// DefaultTimeout bounds one store call (all its round trips) when Options
// leaves Timeout unset: long enough for a 100-point upsert of large vectors,
// short enough that a hung server fails the request instead of holding it.
const DefaultTimeout = 5 * time.Second

// backendName is what a client sees in a STORE_UNAVAILABLE message.
const backendName = "qdrant"

// Options tunes the backend; the zero value is usable.
type Options struct {
	// Timeout bounds each store call; DefaultTimeout when zero.
	Timeout time.Duration
	// Models returns the declared models and their dimensions: a model
	// not among them is refused (ErrInvalid) and never gets a collection,
	// so a tenant cannot create collections by naming models. nil accepts
	// every model, each collection's dimension fixed by its first upsert.
	Models func() map[string]int
}

// Backend is the process-wide Qdrant vector backend. It hands out stores
// bound to one tenant and caches each model's dimension (fixed once its
// collection exists) so that a mismatch is refused without a round trip.
type Backend struct {
	client  *qc.Client
	timeout time.Duration
	models  func() map[string]int

	mu   sync.RWMutex
	dims map[string]int // model -> dimension of its collection
}

// New returns a backend for the gRPC endpoint addr (host:port) without
// contacting it: connections are made on first use. Open also checks that
// the server answers.
func New(addr string, opts Options) (*Backend, error) { return newBackend(addr, opts) }

// newBackend is New with extra gRPC dial options (tests count round trips).
func newBackend(addr string, opts Options, dial ...grpc.DialOption) (*Backend, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("qdrant address %q must be host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("qdrant address %q has no valid port", addr)
	}
	// gRPC's default reconnect backoff grows to 2 minutes: after a long
	// outage the client would wait up to that long to notice the server is
	// back. Capped at a second, a restarted Qdrant is served within seconds.
	dial = append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 2 * time.Second,
	})}, dial...)
	client, err := qc.NewClient(&qc.Config{Host: host, Port: port, SkipCompatibilityCheck: true, GrpcOptions: dial})
	if err != nil {
		return nil, fmt.Errorf("qdrant client: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Backend{client: client, timeout: opts.Timeout, models: opts.Models, dims: map[string]int{}}, nil
}

// Open returns a backend for addr after a health check bounded by the
// backend's timeout, so that a wrong address fails at start, not on the
// first request. The error is stores.ErrUnavailable when the server does not
// answer.
func Open(ctx context.Context, addr string, opts Options) (*Backend, error) {
	b, err := New(addr, opts)
	if err != nil {
		return nil, err
	}
	if err := b.Ping(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// Ping calls Qdrant's health check within the backend's timeout, and
// refuses a server too old to order versioned writes.
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	reply, err := b.client.HealthCheck(ctx)
	if err != nil {
		return b.fail(ctx, err)
	}
	return checkServerVersion(reply.GetVersion())
}

// checkServerVersion refuses a Qdrant older than 1.16: it ignores the
// update filter of an upsert (an unknown field to it) and would let a late
// write replace a newer version (vectorStore.UpsertVectors).
func checkServerVersion(version string) error {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return fmt.Errorf("qdrant: unreadable server version %q: %w", version, err)
	}
	if major < 1 || major == 1 && minor < 16 {
		return fmt.Errorf("qdrant: server %s is older than 1.16, which the gateway needs to order versioned writes", version)
	}
	return nil
}

// Close releases the client's connections.
func (b *Backend) Close() error { return b.client.Close() }

// Vectors returns the store bound to t's organisation.
func (b *Backend) Vectors(t stores.Tenant) stores.VectorStore {
	return &vectorStore{b: b, tenant: t}
}

// fail maps a driver error to a store error. A call that ran out of time or
// could not reach the server is ErrUnavailable (the context's error stays in
// the cause, so errors.Is(err, context.Canceled) still holds); a request the
// server refused as malformed is ErrInvalid. Driver text stays in the cause.
func (b *Backend) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return stores.Unavailable(backendName, errors.Join(ctxErr, err))
	}
	if code(err) == codes.InvalidArgument {
		return &stores.Error{Kind: stores.ErrInvalid, Message: "the vector store refused the input", Cause: err}
	}
	return stores.Unavailable(backendName, err)
}

// code returns the gRPC status code of err, looking through the client's
// wrapping; codes.Unknown when err carries none.
func code(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}
