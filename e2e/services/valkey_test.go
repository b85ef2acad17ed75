package services_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestValkeySmoke sets a key with a millisecond expiry (SET ... PX), reads it
// back and checks its remaining time to live (PTTL, in milliseconds).
func TestValkeySmoke(t *testing.T) {
	url := storetest.ServiceEnv(t, "VALKEY_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse VALKEY_URL: %v", err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	key := "smoke:" + rand.Text()
	t.Cleanup(func() { client.Del(context.Background(), key) })
	// Not a whole number of seconds, so go-redis sends PX rather than EX.
	const ttl = 30500 * time.Millisecond
	if err := client.Set(ctx, key, "hello", ttl).Err(); err != nil {
		t.Fatalf("SET PX: %v", err)
	}
	got, err := client.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got != "hello" {
		t.Errorf("GET = %q, want hello", got)
	}
	left, err := client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if left <= 0 || left > ttl {
		t.Errorf("PTTL = %v, want within (0, %v]", left, ttl)
	}
	if _, err := client.Get(ctx, key+":missing").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET of a missing key: err = %v, want redis.Nil", err)
	}
}
