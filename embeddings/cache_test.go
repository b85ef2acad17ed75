package embeddings

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/stores/valkey"
)

func TestLRU(t *testing.T) {
	ctx := context.Background()
	c := NewLRU(2)
	_ = c.Set(ctx, []string{"a", "b"}, [][]float32{{1}, {2}})
	_, _ = c.Get(ctx, []string{"a"}) // a is now the most recently used
	_ = c.Set(ctx, []string{"c"}, [][]float32{{3}})
	got, _ := c.Get(ctx, []string{"a", "b", "c"})
	if got[0] == nil || got[1] != nil || got[2] == nil || c.Len() != 2 {
		t.Errorf("after evicting: %v (len %d), want a and c kept, b evicted", got, c.Len())
	}
}

func TestCacheKey(t *testing.T) {
	k := CacheKey("all-MiniLM-L6-v2", "hello")
	want := "emb:all-MiniLM-L6-v2:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if k != want {
		t.Errorf("CacheKey = %q, want %q", k, want)
	}
}

func TestVectorEncoding(t *testing.T) {
	v := []float32{1, -0.5, 3.25e-7, 0}
	b := encodeVector(v)
	if len(b) != 16 || b[0] != 0 || b[3] != 0x3f || b[2] != 0x80 { // 1.0 = 0x3f800000, little-endian
		t.Errorf("encodeVector(%v) = % x", v, b)
	}
	if got := decodeVector(b); !slices.Equal(got, v) {
		t.Errorf("round trip gave %v", got)
	}
	if decodeVector(b[:5]) != nil || decodeVector(nil) != nil {
		t.Error("a length that is not a whole number of float32s must decode to nil")
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"héllo", 2, "h"}, // é is two bytes: never cut inside it
		{"héllo", 3, "hé"},
		{"a\xffb", 10, "a\uFFFDb"},
	} {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestValkeyCache runs against the real Valkey-protocol server.
func TestValkeyCache(t *testing.T) { testValkeyCache(t, "VALKEY_URL") }

// TestValkeyCacheOnACluster runs against the real cluster: the keys of one
// Get or Set hash to different slots on different masters, so both
// pipelines must be split by node (one MGET would be refused: CROSSSLOT).
func TestValkeyCacheOnACluster(t *testing.T) { testValkeyCache(t, "VALKEY_CLUSTER_URL") }

func testValkeyCache(t *testing.T, variable string) {
	client, _, err := valkey.NewClient(storetest.ServiceEnv(t, variable))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	ctx := storetest.Ctx(t)
	c := NewValkeyCache(client, time.Minute)
	// Twenty texts: on a cluster, their keys all but surely span the three
	// masters' slot ranges.
	keys := make([]string, 20)
	vecs := make([][]float32, len(keys))
	for i := range keys {
		keys[i] = CacheKey("test-model", fmt.Sprint("valkey cache test ", i, " ", time.Now().UnixNano()))
		vecs[i] = []float32{0.25, float32(-i)}
	}
	t.Cleanup(func() {
		for _, k := range keys {
			client.Del(context.Background(), k)
		}
	})

	// Every other key is cached; the rest stay missing.
	var cached []string
	var cachedVecs [][]float32
	for i := 0; i < len(keys); i += 2 {
		cached = append(cached, keys[i])
		cachedVecs = append(cachedVecs, vecs[i])
	}
	if err := c.Set(ctx, cached, cachedVecs); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := c.Get(ctx, keys)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for i := range keys {
		want := vecs[i]
		if i%2 == 1 {
			want = nil
		}
		if !slices.Equal(got[i], want) {
			t.Fatalf("Get: key %d = %v, want %v", i, got[i], want)
		}
	}
	raw, _ := client.Get(ctx, keys[0]).Bytes()
	ttl, _ := client.TTL(ctx, keys[0]).Result()
	if len(raw) != 8 || ttl <= 0 || ttl > time.Minute {
		t.Errorf("stored %d bytes with TTL %s, want 8 bytes (2 float32) and a TTL <= 1m", len(raw), ttl)
	}
}
