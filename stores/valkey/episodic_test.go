package valkey

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// openTest opens the backend on the shared test server (VALKEY_URL).
func openTest(t *testing.T) *Backend { return openEnv(t, "VALKEY_URL") }

// openEnv opens the backend on the server or cluster the variable names.
func openEnv(t *testing.T, variable string) *Backend {
	t.Helper()
	b, err := Open(storetest.Ctx(t), storetest.ServiceEnv(t, variable), Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// cleaned hands out stores like b and deletes every key of every tenant it
// bound when the test ends: the suite's TTLs reach 30 days.
type cleaned struct {
	t testing.TB
	b *Backend
}

func (c *cleaned) Episodic(tenant stores.Tenant) stores.EpisodicStore {
	c.t.Cleanup(func() { deleteTenantKeys(c.t, c.b, tenant) })
	return c.b.Episodic(tenant)
}

// tenantKeys lists a tenant's keys (SCAN: test inspection only). A cluster
// client's SCAN reads one node, so on a cluster every master is scanned:
// a key outside the tenant's slot would be found too.
func tenantKeys(t testing.TB, b *Backend, tenant stores.Tenant) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, keysFor(tenant).user+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cluster, ok := b.client.(*redis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(ctx, b.client)
	}
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return keys
}

func deleteTenantKeys(t testing.TB, b *Backend, tenant stores.Tenant) {
	t.Helper()
	if keys := tenantKeys(t, b, tenant); len(keys) > 0 {
		if err := b.client.Del(context.Background(), keys...).Err(); err != nil {
			t.Errorf("clean up: %v", err)
		}
	}
}

func TestEpisodicContract(t *testing.T) {
	b := openTest(t)
	storetest.RunEpisodic(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{Episodic: &cleaned{t: t, b: b}}}
	})
}

// bound returns the store of a fresh tenant whose keys go when the test ends.
func bound(t *testing.T, b *Backend) (stores.Tenant, stores.EpisodicStore) {
	t.Helper()
	tenant := storetest.NewTenant()
	return tenant, (&cleaned{t: t, b: b}).Episodic(tenant)
}

func put(t *testing.T, st stores.EpisodicStore, session, id string, weight float64, ttl time.Duration) {
	t.Helper()
	_, err := st.PutItem(storetest.Ctx(t), session, stores.NewEpisodicItem{ID: id, Content: "content of " + id, Weight: weight, TTL: ttl})
	storetest.RequireNoError(t, err)
}

func ids(items []stores.EpisodicItem) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return strings.Join(out, ",")
}

func TestExpiredItemsLeaveNoTraceOnTheServer(t *testing.T) {
	b := openTest(t)
	tenant, st := bound(t, b)
	ctx := storetest.Ctx(t)
	put(t, st, "s", "short", 1, stores.MinEpisodicTTL)
	put(t, st, "s", "long", 1, time.Minute)
	sk := keysFor(tenant).session("s")

	storetest.Eventually(t, 3*time.Second, "the short item's key expiring on the server", func() bool {
		n, err := b.client.Exists(ctx, sk.item("short")).Result()
		storetest.RequireNoError(t, err)
		return n == 0
	})
	items, err := st.SessionItems(ctx, "s", time.Minute, 10, false)
	storetest.RequireNoError(t, err)
	if ids(items) != "long" {
		t.Fatalf("live items %q, want long", ids(items))
	}
	// The read swept the expired item out of the session's sets as well.
	for _, key := range []string{sk.touch, sk.expiry} {
		members, err := b.client.ZRange(ctx, key, 0, -1).Result()
		storetest.RequireNoError(t, err)
		if strings.Join(members, ",") != "long" {
			t.Fatalf("%s holds %v after the read, want only long", key, members)
		}
	}
	if ok, err := b.client.HExists(ctx, sk.meta, "short").Result(); err != nil || ok {
		t.Fatalf("the expired item's meta is still there (%v)", err)
	}
}

func TestAnAbandonedSessionDisappearsFromTheServerByItself(t *testing.T) {
	b := openTest(t)
	tenant, st := bound(t, b)
	put(t, st, "gone", "a", 1, stores.MinEpisodicTTL)
	put(t, st, "gone", "b", 1, stores.MinEpisodicTTL)
	// Nobody reads or writes again: the server's own expiry removes every
	// key, the session's sets and the user's index included.
	storetest.Eventually(t, 3*time.Second, "every key of the user expiring", func() bool {
		return len(tenantKeys(t, b, tenant)) == 0
	})
}

func TestAShortHalfLifeRanksTheRecentItemFirstAndALongOneTheHeavyOne(t *testing.T) {
	b := openTest(t)
	_, st := bound(t, b)
	ctx := storetest.Ctx(t)
	put(t, st, "s", "heavy", 3, time.Minute)
	start := time.Now()
	storetest.Eventually(t, 5*time.Second, "a second passing", func() bool { return time.Since(start) > time.Second })
	put(t, st, "s", "recent", 1, time.Minute)

	// 3 x 2^(-1s/100ms) is about 0.003 against the recent item's 1.
	short, err := st.SessionItems(ctx, "s", 100*time.Millisecond, 10, false)
	storetest.RequireNoError(t, err)
	if ids(short) != "recent,heavy" || short[1].Score > 0.01 {
		t.Fatalf("with a 100ms half-life: %q scored %v, %v; want recent first, heavy near 0", ids(short), short[0].Score, short[1].Score)
	}
	long, err := st.SessionItems(ctx, "s", time.Hour, 10, false)
	storetest.RequireNoError(t, err)
	if ids(long) != "heavy,recent" || long[0].Score < 2.99 {
		t.Fatalf("with a one-hour half-life: %q scored %v; want heavy first near 3", ids(long), long[0].Score)
	}
	for _, it := range long {
		want := it.Weight * stores.Decay(time.Since(it.TouchedAt), time.Hour)
		if d := it.Score - want; d > 0.01 || d < -0.01 {
			t.Fatalf("%s scored %v, want weight x decay = %v", it.ID, it.Score, want)
		}
	}
}

func TestTwoTenantsWithTheSameSessionAndItemIDsKeepSeparateItems(t *testing.T) {
	b := openTest(t)
	alice, aliceStore := bound(t, b)
	bob, bobStore := bound(t, b)
	ctx := storetest.Ctx(t)
	for _, c := range []struct {
		st      stores.EpisodicStore
		content string
	}{{aliceStore, "alice's"}, {bobStore, "bob's"}} {
		_, err := c.st.PutItem(ctx, "same-session", stores.NewEpisodicItem{ID: "same-item", Content: c.content, TTL: time.Minute})
		storetest.RequireNoError(t, err)
	}
	storetest.RequireNoError(t, aliceStore.ExpireItem(ctx, "same-session", "same-item"))
	aliceItems, err := aliceStore.SessionItems(ctx, "same-session", time.Minute, 10, true)
	storetest.RequireNoError(t, err)
	bobItems, err := bobStore.SessionItems(ctx, "same-session", time.Minute, 10, true)
	storetest.RequireNoError(t, err)
	if len(aliceItems) != 0 || len(bobItems) != 1 || bobItems[0].Content != "bob's" {
		t.Fatalf("after alice expired her item: alice %+v, bob %+v", aliceItems, bobItems)
	}
	// Each user's keys carry that user's own hash tag, and no other.
	for _, tenant := range []stores.Tenant{alice, bob} {
		tag := fmt.Sprintf("{%s:%s}", tenant.OrgID, tenant.UserID)
		for _, key := range tenantKeys(t, b, tenant) {
			if strings.Count(key, "{") != 1 || !strings.Contains(key, tag) {
				t.Fatalf("key %q does not carry exactly the hash tag %s", key, tag)
			}
		}
	}
}

// roundTrips counts the requests a client sends: each command on its own,
// each pipeline as one.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

func TestReadingSessionsTakesOneRoundTripWhateverTheirNumber(t *testing.T) {
	opts, err := redis.ParseURL(storetest.ServiceEnv(t, "VALKEY_URL"))
	storetest.RequireNoError(t, err)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	counter := &roundTrips{}
	client.AddHook(counter)
	b := New(client, Options{})
	_, st := bound(t, b)
	ctx := storetest.Ctx(t)

	sessions := make([]string, 50)
	for i := range sessions {
		sessions[i] = fmt.Sprintf("s-%d", i)
		put(t, st, sessions[i], "a", 1, time.Minute)
		put(t, st, sessions[i], "b", 2, time.Minute)
	}
	// Every script was used once, so the server knows them all.
	_, err = st.SessionItems(ctx, "s-0", time.Minute, 10, false)
	storetest.RequireNoError(t, err)

	measure := func(what string, want int64, call func() error) {
		t.Helper()
		counter.n.Store(0)
		storetest.RequireNoError(t, call())
		if got := counter.n.Load(); got != want {
			t.Fatalf("%s took %d round trips, want %d", what, got, want)
		}
		t.Logf("%s: %d round trip(s)", what, want)
	}
	measure("PutItem", 1, func() error { put(t, st, "s-0", "c", 1, time.Minute); return nil })
	measure("SessionItems", 1, func() error { _, err := st.SessionItems(ctx, "s-1", time.Minute, 10, false); return err })
	measure("SessionItems with touch", 1, func() error { _, err := st.SessionItems(ctx, "s-1", time.Minute, 10, true); return err })
	measure("ItemsBySession of 1 session", 1, func() error { _, err := st.ItemsBySession(ctx, sessions[:1], time.Minute, 10); return err })
	measure("ItemsBySession of 50 sessions", 1, func() error {
		by, err := st.ItemsBySession(ctx, sessions, time.Minute, 10)
		if err == nil && (len(by) != 50 || ids(by["s-49"]) != "b,a") {
			t.Fatalf("items by session: %d sessions, s-49 %q", len(by), ids(by["s-49"]))
		}
		return err
	})
	measure("Sessions", 1, func() error { _, err := st.Sessions(ctx); return err })
	measure("ExpireItem", 1, func() error { return st.ExpireItem(ctx, "s-2", "a") })
	measure("ExpireSession", 1, func() error { _, err := st.ExpireSession(ctx, "s-3"); return err })
}

func TestAZeroTenantIsRefusedBeforeAnyKeyIsBuilt(t *testing.T) {
	b := openTest(t)
	st := b.Episodic(stores.Tenant{OrgID: storetest.NewTenant().OrgID})
	_, err := st.PutItem(storetest.Ctx(t), "s", stores.NewEpisodicItem{Content: "c", TTL: time.Minute})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	_, err = st.Sessions(storetest.Ctx(t))
	storetest.RequireKind(t, err, stores.ErrInvalid)
}
