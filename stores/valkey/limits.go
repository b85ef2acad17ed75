package valkey

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits keeps what gateway replicas must agree on in Valkey: per-key rate
// limits, the live connections each organisation holds, and the automatic
// persisted queries. Every operation is one round trip (a script or a
// single command) on one key, so it works on a cluster too. Clocks are the
// server's, so replicas with skewed clocks still share one limit.
type Limits struct {
	client  redis.UniversalClient
	timeout time.Duration
}

// Limits returns the backend's shared limits, on the same client.
func (b *Backend) Limits() *Limits { return &Limits{client: b.client, timeout: b.timeout} }

// gcra is the generic cell rate algorithm: the key holds the theoretical
// arrival time (ms) of the next request; a request may go when that time is
// no further ahead of now than the burst allows. ARGV: emission interval
// (ms per request), burst tolerance (ms). Returns {allowed, wait ms}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
local wait = next - tolerance - now
if wait > 0 then return {0, math.ceil(wait)} end
redis.call('SET', KEYS[1], next, 'PX', math.ceil(next - now) + 1)
return {1, 0}
`)

// Allow takes one request from key's bucket: perSecond on average, bursts
// of up to burst. It returns false and the wait until a request may go when
// the bucket is empty.
func (l *Limits) Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	interval := 1000 / perSecond
	tolerance := interval * float64(max(burst, 1))
	res, err := gcra.Run(ctx, l.client, []string{"gw:rate:{" + key + "}"}, interval, tolerance).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, errors.New("valkey: unexpected rate limit answer")
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// admitConnection adds (or renews) a connection in its organisation's set
// of leases, after dropping the expired ones, unless the set is full.
// ARGV: connection id, lease (ms), limit (0: none). Returns 1 or 0.
var admitConnection = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[3])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`)

func connectionsKey(org string) string { return "gw:conns:{" + org + "}" }

// AcquireConnection counts connection id against org's limit across every
// replica, for lease (a replica that dies stops renewing, and its
// connections stop counting); false when org already holds limit live
// connections. Calling it again for the same id renews its lease and never
// refuses it; limit 0 renews without a check.
func (l *Limits) AcquireConnection(ctx context.Context, org, id string, limit int, lease time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	ok, err := admitConnection.Run(ctx, l.client, []string{connectionsKey(org)}, id, lease.Milliseconds(), limit).Int()
	return ok == 1, err
}

// ReleaseConnection stops counting connection id.
func (l *Limits) ReleaseConnection(ctx context.Context, org, id string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	return l.client.ZRem(ctx, connectionsKey(org), id).Err()
}

// persistedQueryTTL is how long a registered persisted query is kept after
// its last registration; a client whose hash expired re-sends the text, as
// the protocol provides.
const persistedQueryTTL = 24 * time.Hour

// PersistedQueries is the automatic persisted query cache in Valkey (hash ->
// document), shared by every replica. It has the methods of gqlgen's
// graphql.Cache[string].
type PersistedQueries struct{ l *Limits }

// PersistedQueries returns the APQ cache on the same client.
func (l *Limits) PersistedQueries() PersistedQueries { return PersistedQueries{l: l} }

func persistedQueryKey(hash string) string { return "gw:apq:" + hash }

// Get returns the document registered under hash. An unreachable server
// reads as a miss: the client then sends the text again.
func (p PersistedQueries) Get(ctx context.Context, hash string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, p.l.timeout)
	defer cancel()
	doc, err := p.l.client.Get(ctx, persistedQueryKey(hash)).Result()
	return doc, err == nil
}

// Add registers a document under its hash (the caller checked the hash).
func (p PersistedQueries) Add(ctx context.Context, hash, doc string) {
	ctx, cancel := context.WithTimeout(ctx, p.l.timeout)
	defer cancel()
	_ = p.l.client.Set(ctx, persistedQueryKey(hash), doc, persistedQueryTTL).Err() // a lost registration only costs a resend
}
