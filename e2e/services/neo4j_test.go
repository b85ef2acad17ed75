package services_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/codingbrain/gateway/stores/storetest"
)

// neo4jRandomHex returns a short random hex string for names unique to this run.
func neo4jRandomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random suffix: %v", err)
	}
	return hex.EncodeToString(b)
}

// TestNeo4j writes a node through the gateway's driver, reads it back and
// deletes it, against the server from e2e/services/up.
func TestNeo4j(t *testing.T) {
	uri := storetest.ServiceEnv(t, "NEO4J_URI")
	user := storetest.ServiceEnv(t, "NEO4J_USER")
	password := storetest.ServiceEnv(t, "NEO4J_PASSWORD")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	driver, err := neo4j.NewDriverWithContext(uri, neo4j.BasicAuth(user, password, ""))
	if err != nil {
		t.Fatalf("neo4j driver: %v", err)
	}
	t.Cleanup(func() { _ = driver.Close(context.Background()) })

	// VerifyConnectivity has no deadline of its own: give it one.
	verifyCtx, verifyCancel := context.WithTimeout(ctx, 20*time.Second)
	defer verifyCancel()
	if err := driver.VerifyConnectivity(verifyCtx); err != nil {
		t.Fatalf("neo4j verify connectivity at %s: %v", uri, err)
	}

	// A label unique to this run keeps parallel runs apart; labels cannot be
	// query parameters, and this one is hex only.
	label := "SmokeTest_" + neo4jRandomHex(t)
	id := neo4jRandomHex(t)
	t.Cleanup(func() {
		_, err := neo4j.ExecuteQuery(context.Background(), driver,
			"MATCH (n:"+label+") DETACH DELETE n", nil, neo4j.EagerResultTransformer)
		if err != nil {
			t.Errorf("neo4j cleanup: %v", err)
		}
	})

	if _, err := neo4j.ExecuteQuery(ctx, driver,
		"CREATE (n:"+label+" {id: $id, name: $name})",
		map[string]any{"id": id, "name": "smoke"}, neo4j.EagerResultTransformer); err != nil {
		t.Fatalf("neo4j create: %v", err)
	}

	res, err := neo4j.ExecuteQuery(ctx, driver,
		"MATCH (n:"+label+" {id: $id}) RETURN n.name AS name",
		map[string]any{"id": id}, neo4j.EagerResultTransformer,
		neo4j.ExecuteQueryWithReadersRouting())
	if err != nil {
		t.Fatalf("neo4j read: %v", err)
	}
	if len(res.Records) != 1 {
		t.Fatalf("neo4j read: got %d records, want 1", len(res.Records))
	}
	if name, _ := res.Records[0].Get("name"); name != "smoke" {
		t.Fatalf("neo4j read: name = %v, want smoke", name)
	}

	del, err := neo4j.ExecuteQuery(ctx, driver,
		"MATCH (n:"+label+" {id: $id}) DELETE n",
		map[string]any{"id": id}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("neo4j delete: %v", err)
	}
	if n := del.Summary.Counters().NodesDeleted(); n != 1 {
		t.Fatalf("neo4j delete: deleted %d nodes, want 1", n)
	}
}
