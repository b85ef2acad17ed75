// Package valkey serves the episodic domain (short-lived session context with
// TTLs and recency-decayed ranking) from Valkey, through go-redis. Every key
// is built inside the tenant-bound store from the bound org and user, so a
// store cannot name another tenant's keys; all of a user's keys share one
// cluster hash tag.
//
// Time comes from the server (TIME, inside the scripts), not from the
// gateway: the server already enforces the TTLs (PXAT), so expiry, touch
// times and decay all read one clock, and gateway replicas with skewed
// clocks still agree on what is live and how it ranks.
package valkey

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores"
)

// DefaultTimeout bounds every store call when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// backendName is what clients see in STORE_UNAVAILABLE messages.
const backendName = "valkey"

// sweepBudget bounds how many expired items (and dead sessions in the
// user's index) one call cleans up, so cleaning never turns one request
// into a long pause however much has expired since the last one.
const sweepBudget = 64

// Options tunes a Backend.
type Options struct {
	// Timeout bounds each store call, round trips and retries included
	// (DefaultTimeout when zero). The caller's own deadline still applies.
	Timeout time.Duration
}

// Backend is the Valkey episodic backend: one client shared by every
// tenant-bound store it hands out.
type Backend struct {
	client  redis.UniversalClient
	timeout time.Duration
	addr    string // host:port or seed nodes, for logs (never the URL: it may hold a password)
}

// New wraps a client the caller configured (a single node, or a cluster
// client: every user's keys share one hash tag). The caller closes it.
func New(client redis.UniversalClient, opts Options) *Backend {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Backend{client: client, timeout: opts.Timeout}
}

// Open connects to the server or cluster a URL names (see NewClient) and
// checks that it answers within the timeout. Close releases the connections.
func Open(ctx context.Context, url string, opts Options) (*Backend, error) {
	b, err := Connect(url, opts)
	if err != nil {
		return nil, err
	}
	if err := b.Ping(ctx); err != nil {
		_ = b.client.Close()
		return nil, err
	}
	return b, nil
}

// Ping checks that the server answers within the timeout.
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("valkey: no answer from %s: %w", b.addr, err)
	}
	return nil
}

// Connect is Open without the check that the server answers: the client
// connects on first use, and reconnects by itself.
func Connect(url string, opts Options) (*Backend, error) {
	client, addr, err := NewClient(url)
	if err != nil {
		return nil, err
	}
	b := New(client, opts)
	b.addr = addr
	return b, nil
}

// NewClient makes the client a URL names, without connecting:
//   - redis://[user:password@]host:port[/db][?options] or rediss://: one
//     server (go-redis's ParseURL; options such as dial_timeout, pool_size).
//   - redis+cluster://[user:password@]host:port[?addr=host:port&addr=...]
//     or rediss+cluster://: a cluster (go-redis's ParseClusterURL). The host
//     and each addr are seed nodes; the client learns the others, and every
//     failover, from the cluster itself.
//
// Every call's context deadline bounds its socket reads and writes, so a
// hung server cannot hold a call past its timeout. addr names the server or
// the seed nodes for logs (never the URL: it may hold a password).
func NewClient(rawURL string) (client redis.UniversalClient, addr string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, "", errors.New("valkey: the URL does not parse")
	}
	switch u.Scheme {
	case clusterScheme, clusterTLSScheme:
		u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
		opts, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, "", fmt.Errorf("valkey: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		return newClusterClient(opts), strings.Join(opts.Addrs, ","), nil
	case "redis", "rediss":
		if u.Query().Has("addr") {
			return nil, "", errors.New("valkey: addr= names further cluster nodes: write a cluster's URL as redis+cluster:// or rediss+cluster://")
		}
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("valkey: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		return redis.NewClient(opts), opts.Addr, nil
	default:
		return nil, "", fmt.Errorf("valkey: the URL scheme %q is none of redis, rediss, redis+cluster, rediss+cluster", u.Scheme)
	}
}

// Addr is the server's host:port (a cluster's seed nodes, comma-separated)
// when the backend was opened from a URL, safe to log.
func (b *Backend) Addr() string { return b.addr }

// Close closes the client.
func (b *Backend) Close() error { return b.client.Close() }

// Episodic returns the episodic store bound to t.
func (b *Backend) Episodic(t stores.Tenant) stores.EpisodicStore {
	return &episodicStore{b: b, tenant: t, keys: keysFor(t)}
}

// call runs fn with the backend's timeout and maps a failure: the caller's
// own cancellation or deadline comes back as the context's error, anything
// else the server or the network did is STORE_UNAVAILABLE with the driver's
// text kept as the cause for the log.
func (b *Backend) call(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := fn(cctx)
	if err == nil {
		return nil
	}
	var se *stores.Error
	if errors.As(err, &se) {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return stores.Unavailable(backendName, err)
}

// runScript runs one script in one round trip; EVALSHA, and EVAL only when
// the server has lost its script cache (after a restart).
func (b *Backend) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	return s.Run(ctx, b.client, keys, args...).Result()
}
