package services_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestQdrant checks multitenant vector search through the gateway's client
// against the server from e2e/services/up (Qdrant's engine behind our test
// front, or the real server): a tenant filter must hide another org's nearer
// point, and bad requests must fail with the status codes real Qdrant uses.
func TestQdrant(t *testing.T) {
	addr := storetest.ServiceEnv(t, "QDRANT_URL")
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("QDRANT_URL %q is not host:port: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("QDRANT_URL %q: bad port: %v", addr, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatalf("qdrant client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })

	collection := "smoke_" + uuid.NewString()[:8]
	if err := client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: collection,
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{
			Size:     4,
			Distance: qdrant.Distance_Cosine,
		}),
	}); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	t.Cleanup(func() {
		if err := client.DeleteCollection(context.Background(), collection); err != nil {
			t.Errorf("delete collection: %v", err)
		}
	})

	// Multitenancy as Qdrant documents it: a keyword index on the tenant field.
	if _, err := client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{
		CollectionName: collection,
		Wait:           qdrant.PtrOf(true),
		FieldName:      "org_id",
		FieldType:      qdrant.FieldType_FieldTypeKeyword.Enum(),
		FieldIndexParams: qdrant.NewPayloadIndexParamsKeyword(&qdrant.KeywordIndexParams{
			IsTenant: qdrant.PtrOf(true),
		}),
	}); err != nil {
		t.Fatalf("create field index: %v", err)
	}

	orgA, orgB := uuid.NewString(), uuid.NewString()
	nearA, farA, otherB := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{
		CollectionName: collection,
		Wait:           qdrant.PtrOf(true),
		Points: []*qdrant.PointStruct{
			{Id: qdrant.NewID(nearA), Vectors: qdrant.NewVectors(0.8, 0.6, 0, 0),
				Payload: qdrant.NewValueMap(map[string]any{"org_id": orgA, "name": "near"})},
			{Id: qdrant.NewID(farA), Vectors: qdrant.NewVectors(0, 0, 1, 0),
				Payload: qdrant.NewValueMap(map[string]any{"org_id": orgA, "name": "far"})},
			// The other org's point is the nearest to the query vector.
			{Id: qdrant.NewID(otherB), Vectors: qdrant.NewVectors(1, 0, 0, 0),
				Payload: qdrant.NewValueMap(map[string]any{"org_id": orgB, "name": "other"})},
		},
	}); err != nil {
		t.Fatalf("upsert: %v", err)
	}

	query := func(filter *qdrant.Filter) []*qdrant.ScoredPoint {
		t.Helper()
		res, err := client.Query(ctx, &qdrant.QueryPoints{
			CollectionName: collection,
			Query:          qdrant.NewQuery(1, 0, 0, 0),
			Filter:         filter,
			Limit:          qdrant.PtrOf(uint64(10)),
			WithPayload:    qdrant.NewWithPayload(true),
		})
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		return res
	}

	if all := query(nil); len(all) != 3 || all[0].GetId().GetUuid() != otherB {
		t.Fatalf("unfiltered query: got %v, want 3 points led by the other org's %s", ids(all), otherB)
	}

	hits := query(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("org_id", orgA)}})
	if len(hits) != 2 {
		t.Fatalf("filtered query: got %v, want the 2 points of org A", ids(hits))
	}
	if got := hits[0].GetId().GetUuid(); got != nearA {
		t.Fatalf("filtered query: top hit %s, want %s", got, nearA)
	}
	if name := hits[0].GetPayload()["name"].GetStringValue(); name != "near" {
		t.Fatalf("filtered query: top hit payload name %q, want near", name)
	}
	for _, h := range hits {
		if h.GetId().GetUuid() == otherB || h.GetPayload()["org_id"].GetStringValue() != orgA {
			t.Fatalf("filtered query leaked another org's point: %v", h)
		}
	}

	n, err := client.Count(ctx, &qdrant.CountPoints{
		CollectionName: collection,
		Filter:         &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("org_id", orgB)}},
		Exact:          qdrant.PtrOf(true),
	})
	if err != nil || n != 1 {
		t.Fatalf("count org B: got %d, %v; want 1", n, err)
	}

	// What real Qdrant refuses, the front must refuse with the same codes.
	wantCode := func(what string, err error, want codes.Code) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: succeeded, want %s", what, want)
		}
		var qerr *qdrant.QdrantError
		if !errors.As(err, &qerr) && status.Code(err) == codes.Unknown {
			t.Fatalf("%s: not a gRPC error: %v", what, err)
		}
		if got := status.Code(err); got != want {
			t.Fatalf("%s: code %s (%v), want %s", what, got, err, want)
		}
	}
	_, err = client.Upsert(ctx, &qdrant.UpsertPoints{
		CollectionName: collection,
		Wait:           qdrant.PtrOf(true),
		Points:         []*qdrant.PointStruct{{Id: qdrant.NewIDNum(7), Vectors: qdrant.NewVectors(1, 0)}},
	})
	wantCode("upsert with a wrong dimension", err, codes.InvalidArgument)

	_, err = client.Upsert(ctx, &qdrant.UpsertPoints{
		CollectionName: collection,
		Wait:           qdrant.PtrOf(true),
		Points:         []*qdrant.PointStruct{{Id: qdrant.NewID("not-a-uuid"), Vectors: qdrant.NewVectors(1, 0, 0, 0)}},
	})
	wantCode("upsert with a non-UUID string id", err, codes.InvalidArgument)

	_, err = client.Query(ctx, &qdrant.QueryPoints{
		CollectionName: collection + "_missing",
		Query:          qdrant.NewQuery(1, 0, 0, 0),
	})
	wantCode("query of a missing collection", err, codes.NotFound)

	err = client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: collection,
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Cosine}),
	})
	wantCode("create of an existing collection", err, codes.AlreadyExists)

	// Delete by id, then the tenant's count drops.
	if _, err := client.Delete(ctx, &qdrant.DeletePoints{
		CollectionName: collection,
		Wait:           qdrant.PtrOf(true),
		Points:         qdrant.NewPointsSelector(qdrant.NewID(farA)),
	}); err != nil {
		t.Fatalf("delete point: %v", err)
	}
	if hits := query(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("org_id", orgA)}}); len(hits) != 1 {
		t.Fatalf("after delete: got %v, want 1 point of org A", ids(hits))
	}
}

func ids(points []*qdrant.ScoredPoint) []string {
	out := make([]string, len(points))
	for i, p := range points {
		out[i] = p.GetId().String()
	}
	return out
}
