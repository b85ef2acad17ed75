package neo4j

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// cypherDeleteOrg removes everything a test tenant wrote. Test-only: the
// store itself never deletes an org's graph.
const cypherDeleteOrg = `MATCH (n:CODE_REPO|CODE_FILE|CODE_SYMBOL {org_id: $org_id}) DETACH DELETE n`

var shared struct {
	once    sync.Once
	backend *CodeGraphBackend
	err     error
}

// testBackend returns a backend on the real server, opened once per test
// binary (with the default depth cap), or skips the test without NEO4J_URI.
func testBackend(t *testing.T) *CodeGraphBackend {
	t.Helper()
	uri := storetest.ServiceEnv(t, "NEO4J_URI")
	shared.once.Do(func() {
		shared.backend, shared.err = Open(context.Background(), uri, os.Getenv("NEO4J_USER"), os.Getenv("NEO4J_PASSWORD"), Options{})
	})
	if shared.err != nil {
		t.Fatalf("open neo4j: %v", shared.err)
	}
	return shared.backend
}

// cleaningBackend hands out the shared backend's stores and deletes each
// tenant's graph when the test ends.
type cleaningBackend struct {
	*CodeGraphBackend
	t *testing.T
}

func (c cleaningBackend) CodeGraph(tenant stores.Tenant) stores.CodeGraphStore {
	c.t.Cleanup(func() { deleteOrg(c.t, c.CodeGraphBackend, tenant) })
	return c.CodeGraphBackend.CodeGraph(tenant)
}

func deleteOrg(t *testing.T, b *CodeGraphBackend, tenant stores.Tenant) {
	t.Helper()
	if err := rawWrite(t, b, cypherDeleteOrg, map[string]any{"org_id": tenant.OrgID.String()}); err != nil {
		t.Errorf("clean up org %s: %v", tenant.OrgID, err)
	}
}

// rawWrite runs a statement straight through the driver, bypassing the
// store: how tests plant what the store would never write.
func rawWrite(t *testing.T, b *CodeGraphBackend, cypher string, params map[string]any) error {
	t.Helper()
	_, err := neo4j.ExecuteQuery(context.Background(), b.driver, cypher, params, neo4j.EagerResultTransformer)
	return err
}

func TestCodeGraphContract(t *testing.T) {
	storetest.RunCodeGraph(t, func(t *testing.T) storetest.Harness {
		return storetest.Harness{Backends: stores.Backends{CodeGraph: cleaningBackend{testBackend(t), t}}}
	})
}
