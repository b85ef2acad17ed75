package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// testJWTSecret signs the tokens of the gateways these tests start.
const testJWTSecret = "backends-postgres-test-secret-0123456789"

// statementCounter is a pgx tracer that counts what the gateway sends:
// statements (split into data statements and transaction plumbing) and
// network round trips (a query, or a whole pipelined batch).
type statementCounter struct {
	data, plumbing, roundTrips atomic.Int64
}

func (c *statementCounter) count(sql string) {
	switch s := strings.TrimSpace(sql); {
	case s == "BEGIN", s == "COMMIT", s == "ROLLBACK", strings.HasPrefix(s, "SELECT set_config("):
		c.plumbing.Add(1)
	default:
		c.data.Add(1)
	}
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.count(d.SQL)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}
func (c *statementCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.count(d.SQL)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// snapshot returns the counts so far.
func (c *statementCounter) snapshot() [3]int64 {
	return [3]int64{c.data.Load(), c.plumbing.Load(), c.roundTrips.Load()}
}

var (
	pgGatewayOnce    sync.Once
	pgGatewayCounter = &statementCounter{}
)

// startPostgresGateway migrates the database (once per test binary) and runs
// `gateway serve` with DATABASE_URL set, every other backend embedded. It
// returns the base URL.
func startPostgresGateway(t *testing.T) string {
	t.Helper()
	dbURL := storetest.ServiceEnv(t, "DATABASE_URL")
	ownerURL := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	pgGatewayOnce.Do(func() {
		postgresTracer = pgGatewayCounter
		r, err := migrations.Open(ownerURL)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Up(context.Background(), io.Discard); err != nil {
			t.Fatalf("migrate up: %v", err)
		}
	})
	// The default loader wait: the memories resolver prefetches a page's apps
	// and categories in one batch each, so the count does not depend on the
	// scheduler. The indexer is off: its outbox statements would go through
	// the same traced pool and be counted as the requests'.
	return startGatewayWith(t, map[string]string{"DATABASE_URL": dbURL, "GATEWAY_JWT_SECRET": testJWTSecret, "GATEWAY_INDEXER": "false"})
}

// startGatewayWith runs `gateway serve` with exactly the given environment
// on a free loopback port until the test ends, and returns its base URL.
func startGatewayWith(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
				return "http://" + line.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pgToken issues a token for a tenant with every scope.
func pgToken(t *testing.T, tenant stores.Tenant) string {
	t.Helper()
	tok, err := auth.Issue([]byte(testJWTSecret), auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type gqlError struct {
	Message    string
	Extensions struct{ Code string }
}

// gql posts one operation and decodes its data into out (when not nil).
func gql(t *testing.T, base, token, query string, vars map[string]any, out any) []gqlError {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if out != nil && len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatal(err)
		}
	}
	return r.Errors
}

// mustGQL is gql for operations that must succeed.
func mustGQL(t *testing.T, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	if errs := gql(t, base, token, query, vars, out); len(errs) > 0 {
		t.Fatalf("%s: errors %+v", query, errs)
	}
}

func createPGApp(t *testing.T, base, token, name string) string {
	t.Helper()
	var out struct {
		CreateApp struct{ App struct{ ID string } }
	}
	mustGQL(t, base, token, `mutation($n: String!) { createApp(input: {name: $n}) { app { id } } }`, map[string]any{"n": name}, &out)
	return out.CreateApp.App.ID
}

func TestPostgresThroughGraphQL(t *testing.T) {
	base := startPostgresGateway(t)

	t.Run("another tenant's memory id answers exactly like a missing id", func(t *testing.T) {
		alice, bob := storetest.NewTenant(), storetest.NewTenant()
		aliceTok, bobTok := pgToken(t, alice), pgToken(t, bob)
		app := createPGApp(t, base, aliceTok, "alice's editor")
		var created struct {
			CreateMemory struct{ Memory struct{ ID string } }
		}
		mustGQL(t, base, aliceTok, `mutation($app: ID!) { createMemory(input: {appId: $app, content: "alice's secret"}) { memory { id } } }`,
			map[string]any{"app": app}, &created)
		theirs := created.CreateMemory.Memory.ID
		missing := relay.UUIDID(relay.KindMemory, uuid.New())

		for name, id := range map[string]string{"another tenant's id": theirs, "a missing id": missing} {
			t.Run(name, func(t *testing.T) {
				var q struct{ Memory *struct{ ID string } }
				if errs := gql(t, base, bobTok, `query($id: ID!) { memory(id: $id) { id content } }`, map[string]any{"id": id}, &q); len(errs) != 0 || q.Memory != nil {
					t.Fatalf("memory(id) = %+v with errors %+v, want null and no error", q.Memory, errs)
				}
				var n struct{ Node *struct{ ID string } }
				if errs := gql(t, base, bobTok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}, &n); len(errs) != 0 || n.Node != nil {
					t.Fatalf("node(id) = %+v with errors %+v, want null and no error", n.Node, errs)
				}
				for _, m := range []string{
					`mutation($id: ID!) { updateMemory(input: {id: $id, expectedVersion: 1, content: "stolen"}) { memory { id } } }`,
					`mutation($id: ID!) { setMemoryState(input: {id: $id, state: ARCHIVED}) { memory { id } } }`,
					`mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { id } } }`,
				} {
					errs := gql(t, base, bobTok, m, map[string]any{"id": id}, nil)
					if len(errs) != 1 || errs[0].Extensions.Code != "NOT_FOUND" || errs[0].Message != "memory not found" {
						t.Fatalf("%s: errors %+v, want one NOT_FOUND \"memory not found\"", m, errs)
					}
				}
			})
		}
		var still struct{ Memory struct{ Content string } }
		mustGQL(t, base, aliceTok, `query($id: ID!) { memory(id: $id) { content } }`, map[string]any{"id": theirs}, &still)
		if still.Memory.Content != "alice's secret" {
			t.Fatalf("alice's memory changed: %+v", still.Memory)
		}
	})

	t.Run("a page of memories with their app and categories costs the same three statements whatever its size", func(t *testing.T) {
		tenant := storetest.NewTenant()
		tok := pgToken(t, tenant)
		apps := []string{createPGApp(t, base, tok, "vscode"), createPGApp(t, base, tok, "cli"), createPGApp(t, base, tok, "jetbrains")}
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = map[string]any{"appId": apps[i%len(apps)], "content": fmt.Sprintf("memory %d", i),
				"categories": []string{fmt.Sprintf("topic-%d", i%7), fmt.Sprintf("team-%d", i%3)}}
		}
		mustGQL(t, base, tok, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`,
			map[string]any{"in": map[string]any{"memories": batch}}, nil)

		for _, first := range []int{1, 10, 100} {
			before := pgGatewayCounter.snapshot()
			var out struct {
				Memories struct {
					Nodes []struct {
						App        struct{ Name string }
						Categories []struct{ Name string }
					}
				}
			}
			mustGQL(t, base, tok, `query($first: Int!) { memories(first: $first) { nodes { app { name } categories { name } } } }`,
				map[string]any{"first": first}, &out)
			after := pgGatewayCounter.snapshot()
			data, plumbing, trips := after[0]-before[0], after[1]-before[1], after[2]-before[2]
			t.Logf("memories(first: %d) { app { name } categories { name } }: %d data statements, %d transaction statements (BEGIN, set_config, COMMIT), %d round trips",
				first, data, plumbing, trips)
			if len(out.Memories.Nodes) != first || out.Memories.Nodes[0].App.Name == "" || len(out.Memories.Nodes[0].Categories) != 2 {
				t.Fatalf("page of %d: %+v", first, out.Memories.Nodes)
			}
			if data > 3 {
				t.Fatalf("memories(first: %d) ran %d data statements, want at most 3", first, data)
			}
			if trips > 3 {
				t.Fatalf("memories(first: %d) took %d round trips, want at most 3", first, trips)
			}
		}
	})
}
