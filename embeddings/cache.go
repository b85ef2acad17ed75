package embeddings

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cache stores vectors by key. Keys come from CacheKey. Implementations are
// safe for concurrent use.
type Cache interface {
	// Get returns one entry per key, nil where the key is not cached. An
	// error means the cache could not be read at all; the caller then
	// embeds every text.
	Get(ctx context.Context, keys []string) ([][]float32, error)
	// Set stores vecs[i] under keys[i]. An error loses only the caching.
	Set(ctx context.Context, keys []string, vecs [][]float32) error
}

// CacheKey is the cache key of text embedded by model:
// "emb:" + model + ":" + hex(sha256(text)). The text itself is never stored.
func CacheKey(model, text string) string {
	sum := sha256.Sum256([]byte(text))
	return "emb:" + model + ":" + hex.EncodeToString(sum[:])
}

// LRU is an in-process cache bounded by a number of vectors, evicting the
// least recently used.
type LRU struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *lruEntry
	byKey map[string]*list.Element
}

type lruEntry struct {
	key string
	vec []float32
}

// NewLRU returns an LRU holding at most size vectors (at least 1). A 384-d
// vector takes 1.5 KiB, so 10,000 of them take about 15 MiB.
func NewLRU(size int) *LRU {
	return &LRU{max: max(size, 1), order: list.New(), byKey: make(map[string]*list.Element)}
}

// Get implements Cache; it never fails. The vectors returned are shared:
// callers must not modify them.
func (c *LRU) Get(_ context.Context, keys []string) ([][]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]float32, len(keys))
	for i, k := range keys {
		if el, ok := c.byKey[k]; ok {
			c.order.MoveToFront(el)
			out[i] = el.Value.(*lruEntry).vec
		}
	}
	return out, nil
}

// Set implements Cache; it never fails.
func (c *LRU) Set(_ context.Context, keys []string, vecs [][]float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		if el, ok := c.byKey[k]; ok {
			el.Value.(*lruEntry).vec = vecs[i]
			c.order.MoveToFront(el)
			continue
		}
		c.byKey[k] = c.order.PushFront(&lruEntry{key: k, vec: vecs[i]})
		for c.order.Len() > c.max {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.byKey, oldest.Value.(*lruEntry).key)
		}
	}
	return nil
}

// Len returns the number of vectors held.
func (c *LRU) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// ValkeyCache keeps vectors in Valkey (or Redis), shared by every gateway
// process: each under its CacheKey as float32 little-endian bytes, expiring
// after a TTL.
type ValkeyCache struct {
	client redis.UniversalClient
	ttl    time.Duration
}

// NewValkeyCache returns a cache over client whose entries expire after ttl
// (30 days when ttl <= 0: a model's vector of a text never changes, the TTL
// only lets unused entries go).
func NewValkeyCache(client redis.UniversalClient, ttl time.Duration) *ValkeyCache {
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	return &ValkeyCache{client: client, ttl: ttl}
}

// Get implements Cache with one pipeline of GETs: one round trip to a
// single server; on a cluster, one to each master holding some of the keys
// (an MGET of keys in several slots is refused with CROSSSLOT). An entry
// whose length is not a whole number of float32s counts as missing.
func (c *ValkeyCache) Get(ctx context.Context, keys []string) ([][]float32, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := c.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	// A missing key is redis.Nil in its own command, and in Exec's error.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("embeddings cache: get: %w", err)
	}
	out := make([][]float32, len(keys))
	for i, cmd := range cmds {
		if b, err := cmd.Bytes(); err == nil {
			out[i] = decodeVector(b)
		}
	}
	return out, nil
}

// Set implements Cache with one pipeline of SET ... EX (split by master on
// a cluster, like Get).
func (c *ValkeyCache) Set(ctx context.Context, keys []string, vecs [][]float32) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := c.client.Pipeline()
	for i, k := range keys {
		pipe.Set(ctx, k, encodeVector(vecs[i]), c.ttl)
	}
	// Exec returns the first failed command's error.
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("embeddings cache: set: %w", err)
	}
	return nil
}

// encodeVector gives v as float32 little-endian bytes.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeVector reads encodeVector's bytes; nil when b is empty or not a
// whole number of float32s.
func decodeVector(b []byte) []float32 {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
