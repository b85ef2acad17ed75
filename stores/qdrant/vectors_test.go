package qdrant

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// testBackend opens a backend on the server of e2e/services/up and deletes,
// when the test ends, every collection of a test model it created.
func testBackend(t *testing.T, dial ...grpc.DialOption) *Backend {
	t.Helper()
	return testBackendWith(t, Options{}, dial...)
}

// testBackendWith is testBackend with options.
func testBackendWith(t *testing.T, opts Options, dial ...grpc.DialOption) *Backend {
	t.Helper()
	addr := storetest.ServiceEnv(t, "QDRANT_URL")
	b, err := newBackend(addr, opts, dial...)
	if err != nil {
		t.Fatal(err)
	}
	storetest.RequireNoError(t, b.Ping(storetest.Ctx(t)))
	before := testCollections(t, b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for name := range testCollections(t, b) {
			if !before[name] {
				if err := b.client.DeleteCollection(ctx, name); err != nil {
					t.Errorf("delete collection %s: %v", name, err)
				}
			}
		}
		_ = b.Close()
	})
	return b
}

// testCollections lists the collections of the models tests make (test-...).
func testCollections(t *testing.T, b *Backend) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names, err := b.client.ListCollections(ctx)
	if err != nil {
		t.Fatalf("list collections: %v", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		if strings.HasPrefix(n, collectionPrefix+"test-") {
			out[n] = true
		}
	}
	return out
}

// testModel returns a model name no other test uses.
func testModel() string {
	return "test-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
}

func TestVectorsContract(t *testing.T) {
	b := testBackend(t)
	storetest.RunVectors(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{Vectors: b}}
	})
}

func TestTheNearestPointOfAnotherOrgIsNeverReturned(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	model := testModel()
	me, them := storetest.NewTenant(), storetest.NewTenant()
	mine, theirs := b.Vectors(me), b.Vectors(them)
	query := []float32{1, 0, 0}

	var myPoints []stores.VectorPoint
	for i := range 20 {
		myPoints = append(myPoints, stores.VectorPoint{ID: uuid.New(), Vector: []float32{0, 1, float32(i)}, Payload: map[string]any{"lang": "go"}})
	}
	storetest.RequireNoError(t, mine.UpsertVectors(ctx, model, myPoints))
	theirID := uuid.New()
	storetest.RequireNoError(t, theirs.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: theirID, Vector: query, Payload: map[string]any{"lang": "go"}}}))

	// Without the org filter their point is the nearest of the collection.
	raw, err := b.client.Query(ctx, &qc.QueryPoints{
		CollectionName: collectionName(model),
		Query:          qc.NewQueryDense(query),
		Limit:          qc.PtrOf(uint64(1)),
		WithPayload:    qc.NewWithPayload(true),
	})
	storetest.RequireNoError(t, err)
	if len(raw) != 1 || raw[0].GetPayload()[pointKey].GetStringValue() != theirID.String() {
		t.Fatalf("the unfiltered nearest point is %+v, want theirs", raw)
	}

	for _, filter := range []map[string]any{nil, {"lang": "go"}} {
		for _, limit := range []int{1, stores.MaxVectorLimit} {
			hits, err := mine.SearchVectors(ctx, model, query, filter, limit)
			storetest.RequireNoError(t, err)
			if len(hits) != min(limit, len(myPoints)) {
				t.Fatalf("filter %v limit %d: %d hits, want %d", filter, limit, len(hits), min(limit, len(myPoints)))
			}
			for _, h := range hits {
				if h.ID == theirID {
					t.Fatalf("filter %v limit %d returned their point", filter, limit)
				}
			}
		}
	}
}

func TestACollectionGetsTheTenantIndexAndEveryPointCarriesItsOrg(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	model := testModel()
	tenant := storetest.NewTenant()
	id, mem := uuid.New(), uuid.New()
	storetest.RequireNoError(t, b.Vectors(tenant).UpsertVectors(ctx, model, []stores.VectorPoint{{ID: id, Vector: []float32{1, 2}, MemoryID: &mem}}))

	info, err := b.client.GetCollectionInfo(ctx, "emb_"+model)
	storetest.RequireNoError(t, err)
	schema := info.GetPayloadSchema()["org_id"]
	if schema.GetDataType() != qc.PayloadSchemaType_Keyword || !schema.GetParams().GetKeywordIndexParams().GetIsTenant() {
		t.Fatalf("org_id payload schema %v, want a keyword index with is_tenant", schema)
	}
	params := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	if params.GetSize() != 2 || params.GetDistance() != qc.Distance_Cosine {
		t.Fatalf("vectors config %v, want size 2 cosine", params)
	}

	points, err := b.client.Scroll(ctx, &qc.ScrollPoints{CollectionName: "emb_" + model, WithPayload: qc.NewWithPayload(true)})
	storetest.RequireNoError(t, err)
	if len(points) != 1 {
		t.Fatalf("stored %d points, want 1", len(points))
	}
	p := points[0].GetPayload()
	if p["org_id"].GetStringValue() != tenant.OrgID.String() || p["point_id"].GetStringValue() != id.String() || p["memory_id"].GetStringValue() != mem.String() {
		t.Fatalf("stored payload %v lacks the org, point or memory id", p)
	}
	if _, err := uuid.Parse(points[0].GetId().GetUuid()); err != nil {
		t.Fatalf("point id %v is not a UUID", points[0].GetId())
	}
}

func TestAModelsDimensionIsFixedAcrossOrgsAndProcesses(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	model := testModel()
	storetest.RequireNoError(t, b.Vectors(storetest.NewTenant()).UpsertVectors(ctx, model, []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 2, 3}}}))

	// Another org, through a backend whose cache has never seen the model.
	fresh := testBackend(t)
	other := fresh.Vectors(storetest.NewTenant())
	err := other.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 2}}})
	storetest.RequireKind(t, err, stores.ErrInvalid)
	if msg := stores.PublicMessage(err); !strings.Contains(msg, "dimension 3") {
		t.Fatalf("message %q does not name the model's dimension", msg)
	}
	_, err = other.SearchVectors(ctx, model, []float32{1, 2, 3, 4}, nil, 5)
	storetest.RequireKind(t, err, stores.ErrInvalid)
	hits, err := other.SearchVectors(ctx, model, []float32{1, 2, 3}, nil, 5)
	storetest.RequireNoError(t, err)
	if len(hits) != 0 {
		t.Fatalf("another org found %d points", len(hits))
	}
}

func TestConcurrentFirstUpsertsOfAModelAllSucceed(t *testing.T) {
	ctx := storetest.Ctx(t)
	model := testModel()
	backends := []*Backend{testBackend(t), testBackend(t)}
	errs := make(chan error, 8)
	for i := range cap(errs) {
		st := backends[i%len(backends)].Vectors(storetest.NewTenant())
		go func() {
			errs <- st.UpsertVectors(ctx, model, []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, float32(i)}}})
		}()
	}
	for range cap(errs) {
		storetest.RequireNoError(t, <-errs)
	}
	info, err := backends[0].client.GetCollectionInfo(ctx, collectionName(model))
	storetest.RequireNoError(t, err)
	if info.GetPointsCount() != uint64(cap(errs)) || !hasTenantIndex(info) {
		t.Fatalf("after racing creates: %d points, tenant index %v", info.GetPointsCount(), hasTenantIndex(info))
	}
}

func TestABatchOf100PointsIsOneUpsertCall(t *testing.T) {
	var upserts atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/qdrant.Points/Upsert" {
			upserts.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	b := testBackend(t, count)
	ctx := storetest.Ctx(t)
	model := testModel()
	st := b.Vectors(storetest.NewTenant())
	batch := make([]stores.VectorPoint, stores.MaxBatchSize)
	for i := range batch {
		vec := make([]float32, 384)
		vec[i] = 1
		batch[i] = stores.VectorPoint{ID: uuid.New(), Vector: vec, Payload: map[string]any{"i": i}}
	}
	storetest.RequireNoError(t, st.UpsertVectors(ctx, model, batch))
	if n := upserts.Load(); n != 1 {
		t.Fatalf("%d Upsert calls for one batch, want 1", n)
	}
	hits, err := st.SearchVectors(ctx, model, batch[42].Vector, map[string]any{"i": 42}, stores.MaxVectorLimit)
	storetest.RequireNoError(t, err)
	if len(hits) != 1 || hits[0].ID != batch[42].ID || math.Abs(hits[0].Score-1) > 1e-3 {
		t.Fatalf("point 42: %+v", hits)
	}
	all, err := st.SearchVectors(ctx, model, batch[0].Vector, nil, stores.MaxVectorLimit)
	storetest.RequireNoError(t, err)
	if len(all) != stores.MaxBatchSize {
		t.Fatalf("%d points stored, want %d", len(all), stores.MaxBatchSize)
	}
}

func TestFiltersReachKeysWithDotsAndSpacesAndCompareNumbersByValue(t *testing.T) {
	b := testBackend(t)
	ctx := storetest.Ctx(t)
	model := testModel()
	st := b.Vectors(storetest.NewTenant())
	p := []uuid.UUID{uuid.New(), uuid.New()}
	storetest.RequireNoError(t, st.UpsertVectors(ctx, model, []stores.VectorPoint{
		{ID: p[0], Vector: []float32{1, 0}, Payload: map[string]any{"a.b": "x", "with space": 2, "[0]": 0.5, "tags": []string{"go", "db"}, "point_id": "mine"}},
		{ID: p[1], Vector: []float32{1, 1}, Payload: map[string]any{"a": "x", "b": "x", "with space": 2.5, "tags": []any{"py"}}},
	}))
	cases := []struct {
		filter map[string]any
		want   []uuid.UUID
	}{
		{map[string]any{"a.b": "x"}, p[:1]},
		{map[string]any{"with space": 2.0}, p[:1]},
		{map[string]any{"with space": int64(2)}, p[:1]},
		{map[string]any{"with space": 2.5}, p[1:]},
		{map[string]any{"[0]": float32(0.5)}, p[:1]},
		{map[string]any{"tags": "db"}, p[:1]},
		{map[string]any{"tags": "py"}, p[1:]},
		{map[string]any{"point_id": "mine"}, p[:1]},
		{map[string]any{"": "x"}, nil},
	}
	for _, c := range cases {
		hits, err := st.SearchVectors(ctx, model, []float32{1, 0}, c.filter, 10)
		storetest.RequireNoError(t, err)
		if len(hits) != len(c.want) || (len(hits) == 1 && hits[0].ID != c.want[0]) {
			t.Fatalf("filter %v: %+v, want %v", c.filter, hits, c.want)
		}
	}
	hits, err := st.SearchVectors(ctx, model, []float32{1, 0}, map[string]any{"a.b": "x"}, 1)
	storetest.RequireNoError(t, err)
	if got := hits[0].Payload; got["point_id"] != "mine" || got["[0]"] != 0.5 || got["with space"] != int64(2) || len(got["tags"].([]string)) != 2 {
		t.Fatalf("payload came back as %#v", got)
	}
	_, err = st.SearchVectors(ctx, model, []float32{1, 0}, map[string]any{`say "hi"`: "x"}, 1)
	storetest.RequireKind(t, err, stores.ErrInvalid)
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// silentAddr returns a loopback address that accepts connections and never
// answers: a hung server.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// everyCall runs each store method once against st and returns their errors.
func everyCall(ctx context.Context, st stores.VectorStore) map[string]error {
	_, searchErr := st.SearchVectors(ctx, "m", []float32{1, 0}, nil, 1)
	_, deleteErr := st.DeleteVectors(ctx, "m", []uuid.UUID{uuid.New()})
	return map[string]error{
		"upsert": st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0}}}),
		"search": searchErr,
		"delete": deleteErr,
	}
}

func TestADeadServerIsStoreUnavailable(t *testing.T) {
	addr := closedAddr(t)
	const timeout = 2 * time.Second
	started := time.Now()
	_, err := Open(context.Background(), addr, Options{Timeout: timeout})
	storetest.RequireKind(t, err, stores.ErrUnavailable)

	b, err := New(addr, Options{Timeout: timeout})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	for call, err := range everyCall(context.Background(), b.Vectors(storetest.NewTenant())) {
		storetest.RequireKind(t, err, stores.ErrUnavailable)
		if msg := stores.PublicMessage(err); msg != "qdrant is unavailable" {
			t.Fatalf("%s: client message %q leaks more than the backend's name", call, msg)
		}
	}
	if elapsed := time.Since(started); elapsed > 4*timeout {
		t.Fatalf("a dead server took %s to report", elapsed)
	}
}

func TestTimeoutsAreHonoured(t *testing.T) {
	const timeout = 300 * time.Millisecond
	b, err := New(silentAddr(t), Options{Timeout: timeout})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	st := b.Vectors(storetest.NewTenant())

	t.Run("a hung server fails each call after the backend's timeout", func(t *testing.T) {
		for call, err := range timed(t, 3*(timeout+time.Second), func() map[string]error { return everyCall(context.Background(), st) }) {
			storetest.RequireKind(t, err, stores.ErrUnavailable)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v, want a deadline", call, err)
			}
		}
	})
	t.Run("the caller's cancellation ends a call early", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		errs := timed(t, timeout, func() map[string]error {
			return map[string]error{"upsert": st.UpsertVectors(ctx, "m", []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1}}})}
		})
		if !errors.Is(errs["upsert"], context.Canceled) {
			t.Fatalf("cancelled upsert: %v", errs["upsert"])
		}
	})
	t.Run("the backend's timeout is measured against the real server too", func(t *testing.T) {
		live, err := New(storetest.ServiceEnv(t, "QDRANT_URL"), Options{Timeout: time.Nanosecond})
		storetest.RequireNoError(t, err)
		t.Cleanup(func() { _ = live.Close() })
		_, err = live.Vectors(storetest.NewTenant()).SearchVectors(context.Background(), testModel(), []float32{1}, nil, 1)
		storetest.RequireKind(t, err, stores.ErrUnavailable)
	})
}

// timed runs f and fails the test when it takes longer than within.
func timed(t *testing.T, within time.Duration, f func() map[string]error) map[string]error {
	t.Helper()
	started := time.Now()
	errs := f()
	if elapsed := time.Since(started); elapsed > within {
		t.Fatalf("took %s, want at most %s", elapsed, within)
	}
	return errs
}

// With declared models, a model not declared is refused before any round
// trip and never gets a collection; a declared one gets its collection when
// the backend connects, with the declared dimension.
func TestOnlyDeclaredModelsGetCollections(t *testing.T) {
	declared, undeclared := testModel(), testModel()
	b := testBackendWith(t, Options{Models: func() map[string]int { return map[string]int{declared: 3} }})
	ctx := storetest.Ctx(t)
	st := b.Vectors(stores.Tenant{OrgID: uuid.New(), UserID: uuid.New()})
	point := []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0, 0}}}

	err := st.UpsertVectors(ctx, undeclared, point)
	if !errors.Is(err, stores.ErrInvalid) {
		t.Fatalf("upsert to an undeclared model: %v, want ErrInvalid", err)
	}
	if _, err := st.SearchVectors(ctx, undeclared, []float32{1, 0, 0}, nil, 1); !errors.Is(err, stores.ErrInvalid) {
		t.Fatalf("search of an undeclared model: %v, want ErrInvalid", err)
	}
	if err := st.UpsertVectors(ctx, declared, []stores.VectorPoint{{ID: uuid.New(), Vector: []float32{1, 0}}}); !errors.Is(err, stores.ErrInvalid) {
		t.Fatalf("upsert of a 2-d vector to a 3-d model: %v, want ErrInvalid", err)
	}
	if have := testCollections(t, b); have[collectionName(undeclared)] || have[collectionName(declared)] {
		t.Fatalf("collections after refused writes: %v", have)
	}
	storetest.RequireNoError(t, b.EnsureCollections(ctx))
	if !testCollections(t, b)[collectionName(declared)] {
		t.Fatal("EnsureCollections did not make the declared model's collection")
	}
	storetest.RequireNoError(t, st.UpsertVectors(ctx, declared, point))
}

func TestServersTooOldToOrderWritesAreRefused(t *testing.T) {
	for version, ok := range map[string]bool{"1.17.1": true, "1.16.0": true, "2.0.0": true, "1.15.5": false, "0.11.0": false, "dev": false} {
		if err := checkServerVersion(version); (err == nil) != ok {
			t.Errorf("server %s: %v, want accepted %v", version, err, ok)
		}
	}
}
