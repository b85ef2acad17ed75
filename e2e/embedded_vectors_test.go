package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/gatewayproc"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestEmbeddedStoreEmbedsMemories runs the gateway on the embedded stores
// with only an embedding server configured (`go run .` with EMBEDDINGS_URL):
// a memory written there gets a vector, so vector search and recall from
// text find it by meaning.
func TestEmbeddedStoreEmbedsMemories(t *testing.T) {
	s := gateway(t) // builds the binary
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := hex.EncodeToString(key)
	env := map[string]string{"GATEWAY_JWT_SECRET": secret}
	for _, k := range []string{"EMBEDDINGS_URL", "EMBEDDINGS_MODEL"} {
		env[k] = storetest.ServiceEnv(t, k)
	}
	base := gatewayproc.Start(t, s.bin, env)
	tok, err := auth.Issue([]byte(secret), auth.Principal{OrgID: uuid.New(), UserID: uuid.New(), Scopes: auth.AllScopes()}, time.Hour, time.Now())
	storetest.RequireNoError(t, err)
	gql := func(query string, vars map[string]any, out any) {
		t.Helper()
		if errs := storetest.GraphQL(t, base, tok, query, vars, out); len(errs) > 0 {
			t.Fatalf("%s: %+v", query, errs)
		}
	}
	var app struct {
		CreateApp struct{ App struct{ ID string } }
	}
	gql(`mutation { createApp(input: {name: "embedded"}) { app { id } } }`, nil, &app)
	var created struct {
		CreateMemories struct{ Memories []struct{ ID string } }
	}
	gql(`mutation($app: ID!) { createMemories(input: {memories: [
		{appId: $app, content: "The nightly backup copies the database to cold storage in another region."},
		{appId: $app, content: "Our logo uses two shades of green."}]}) { memories { id } } }`, map[string]any{"app": app.CreateApp.App.ID}, &created)
	backup := created.CreateMemories.Memories[0].ID

	storetest.Eventually(t, 30*time.Second, "the memory's vector is indexed", func() bool {
		var out struct {
			Memory struct {
				IndexStatus []struct{ Index, State string }
			}
		}
		gql(`query($id: ID!) { memory(id: $id) { indexStatus { index state } } }`, map[string]any{"id": backup}, &out)
		for _, s := range out.Memory.IndexStatus {
			if s.Index == "VECTOR" && s.State == "INDEXED" {
				return true
			}
		}
		return false
	})

	// No word in common with the memory: only its vector can find it.
	const question = "where do we keep copies of our data in case of disaster?"
	var vs struct {
		VectorSearch []struct{ Memory *struct{ ID string } }
	}
	gql(`query($t: String!) { vectorSearch(text: $t, first: 1) { memory { id } } }`, map[string]any{"t": question}, &vs)
	if len(vs.VectorSearch) != 1 || vs.VectorSearch[0].Memory == nil || vs.VectorSearch[0].Memory.ID != backup {
		t.Errorf("vectorSearch(text:) = %+v, want the backup memory first", vs.VectorSearch)
	}
	var rc struct {
		Recall struct {
			Hits []struct {
				Memory     struct{ ID string }
				VectorRank *int
			}
		}
	}
	gql(`query($t: String!) { recall(text: $t, first: 1) { hits { memory { id } vectorRank } } }`, map[string]any{"t": question}, &rc)
	if len(rc.Recall.Hits) != 1 || rc.Recall.Hits[0].Memory.ID != backup || rc.Recall.Hits[0].VectorRank == nil {
		t.Errorf("recall(text:) = %+v, want the backup memory first, found by vectors", rc.Recall.Hits)
	}
}
