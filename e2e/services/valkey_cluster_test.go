package services_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/stores/valkey"
)

// TestValkeyClusterSmoke checks the cluster's state and spreads keys over
// its three masters through the cluster client the gateway uses.
func TestValkeyClusterSmoke(t *testing.T) {
	client, _, err := valkey.NewClient(storetest.ServiceEnv(t, "VALKEY_CLUSTER_URL"))
	if err != nil {
		t.Fatalf("VALKEY_CLUSTER_URL: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	cluster, ok := client.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("VALKEY_CLUSTER_URL makes a %T, want a cluster client", client)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	info, err := cluster.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_size:3") {
		t.Fatalf("CLUSTER INFO: %v\n%s", err, info)
	}
	masters := map[string]bool{}
	prefix := "smoke:" + rand.Text() + ":"
	for i := range 12 {
		key := prefix + string(rune('a'+i))
		t.Cleanup(func() { cluster.Del(context.Background(), key) })
		if err := cluster.Set(ctx, key, i, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		if got, err := cluster.Get(ctx, key).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v", key, got, err)
		}
		master, err := cluster.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		masters[master.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Errorf("12 keys all on one master %v", masters)
	}
}
