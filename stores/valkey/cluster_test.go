package valkey

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestNewClientChoosesAClusterByTheScheme(t *testing.T) {
	for _, tc := range []struct {
		url, addr string
		cluster   bool
	}{
		{"redis://127.0.0.1:6379/0", "127.0.0.1:6379", false},
		{"rediss://:secret@cache.example:6380", "cache.example:6380", false},
		{"redis+cluster://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", true},
		{"rediss+cluster://user:secret@config.example:6379?dial_timeout=2s", "config.example:6379", true},
	} {
		client, addr, err := NewClient(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		_, isCluster := client.(*redis.ClusterClient)
		if isCluster != tc.cluster || addr != tc.addr {
			t.Errorf("%s: cluster %v at %q, want cluster %v at %q", tc.url, isCluster, addr, tc.cluster, tc.addr)
		}
		_ = client.Close()
	}
	for _, tc := range []struct{ url, want string }{
		{"redis://:secret@127.0.0.1:7001?addr=127.0.0.1:7002", "redis+cluster://"},
		{"memcached://:secret@127.0.0.1:11211", `scheme "memcached"`},
		{"redis+cluster://:secret@127.0.0.1:7001?pool=3", "unexpected option: pool"},
		{"redis://:secret@127.0.0.1:6379/x", "invalid database number"},
		{"redis://:secret@127.0.0.1:6379/%zz", "does not parse"},
	} {
		_, _, err := NewClient(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: err = %v, want one that says %q and never shows the password", tc.url, err, tc.want)
		}
	}
}

// TestEpisodicContractOnACluster runs the episodic contract suite on a real
// cluster of three masters: every script's keys must hash to one slot, or
// the cluster refuses it (CROSSSLOT, or a key of a slot another node serves).
func TestEpisodicContractOnACluster(t *testing.T) {
	b := openEnv(t, "VALKEY_CLUSTER_URL")
	storetest.RunEpisodic(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{Episodic: &cleaned{t: t, b: b}}}
	})
}

// TestEveryKeyOfAUserLivesInOneSlotOfTheCluster writes, reads, expires and
// lists through every script for tenants spread over the three masters,
// then looks at every master: each user's keys sit on one node, in one slot.
func TestEveryKeyOfAUserLivesInOneSlotOfTheCluster(t *testing.T) {
	b := openEnv(t, "VALKEY_CLUSTER_URL")
	cluster := b.client.(*redis.ClusterClient)
	ctx := storetest.Ctx(t)
	masters := map[string]bool{}
	for i := 0; i < 12; i++ {
		tenant, st := bound(t, b)
		for s := 0; s < 3; s++ {
			session := fmt.Sprintf("s-%d", s)
			put(t, st, session, "a", 1, time.Minute)
			put(t, st, session, "b", 2, time.Minute)
		}
		storetest.RequireNoError(t, st.ExpireItem(ctx, "s-0", "a"))
		_, err := st.ExpireSession(ctx, "s-1")
		storetest.RequireNoError(t, err)
		_, err = st.SessionItems(ctx, "s-2", time.Minute, 10, true)
		storetest.RequireNoError(t, err)
		by, err := st.ItemsBySession(ctx, []string{"s-0", "s-1", "s-2"}, time.Minute, 10)
		storetest.RequireNoError(t, err)
		sessions, err := st.Sessions(ctx)
		storetest.RequireNoError(t, err)
		if ids(by["s-0"]) != "b" || len(by["s-1"]) != 0 || ids(by["s-2"]) != "b,a" || len(sessions) != 2 {
			t.Fatalf("tenant %d read %v and sessions %+v", i, by, sessions)
		}

		keys := map[string][]string{} // master address -> keys of the tenant found there
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			found, err := node.Keys(ctx, keysFor(tenant).user+"*").Result()
			if len(found) > 0 {
				keys[node.Options().Addr] = found
			}
			return err
		})
		storetest.RequireNoError(t, err)
		if len(keys) != 1 {
			t.Fatalf("tenant %d's keys are on %d masters: %v", i, len(keys), keys)
		}
		for addr, found := range keys {
			masters[addr] = true
			slot, err := cluster.ClusterKeySlot(ctx, keysFor(tenant).user).Result()
			storetest.RequireNoError(t, err)
			for _, k := range found {
				if s, err := cluster.ClusterKeySlot(ctx, k).Result(); err != nil || s != slot {
					t.Fatalf("key %q is in slot %d, the tenant's is %d (%v)", k, s, slot, err)
				}
			}
		}
	}
	// Twelve random tenants on three masters: all on one would be chance
	// of 3 x (1/3)^12, so the test did exercise more than one node.
	if len(masters) < 2 {
		t.Fatalf("every tenant landed on one master %v", masters)
	}
}
