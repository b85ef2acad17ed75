package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/embedded"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// These tests serve GraphQL over this backend as the gateway does (the
// graph handler, its loaders, every other domain embedded) and check what
// a client and the database see: tenant isolation through every memory
// operation, and how many statements a page of memories costs.

// testJWTSecret signs the tokens of the handler these tests start.
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

// startGraphQL serves GraphQL over a backend of its own, whose statements a
// counter sees, and returns the base URL and the counter.
func startGraphQL(t *testing.T) (string, *statementCounter) {
	t.Helper()
	migrateOnce(t)
	counter := &statementCounter{}
	pg, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL"), Tracer: counter})
	storetest.RequireNoError(t, err)
	t.Cleanup(pg.Close)
	verifier, err := auth.NewVerifier(auth.Config{HMACSecret: []byte(testJWTSecret)})
	storetest.RequireNoError(t, err)
	backends := embedded.New(time.Now).Override(stores.Backends{Memories: pg, Feedback: pg, Experiments: pg, IndexStatus: pg})
	// The gateway's default loader wait: the memories resolver prefetches a
	// page's apps and categories in one batch each, so the count does not
	// depend on the scheduler.
	srv := httptest.NewServer(graph.NewHandler(graph.Config{
		Backends:          backends,
		Verifier:          verifier,
		Cursors:           relay.NewCursors([]byte("cursor-test-key-of-32-bytes-long")),
		Pages:             relay.Limits{DefaultFirst: 20, MaxFirst: 100},
		MaxTraversalDepth: stores.MaxTraversalDepth,
		LoaderWait:        500 * time.Microsecond,
		MaxBodyBytes:      1 << 20,
		Limits:            graph.Limits{MaxDepth: 15, MaxComplexity: 50000, MaxAliases: 30, MaxRootFields: 20, DefaultListSize: 10},
		Logger:            slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)
	return srv.URL, counter
}

// token issues a token for a tenant with every scope.
func token(t *testing.T, tenant stores.Tenant) string {
	t.Helper()
	tok, err := auth.Issue([]byte(testJWTSecret), auth.Principal{UserID: tenant.UserID, OrgID: tenant.OrgID, Scopes: auth.AllScopes()}, time.Hour, time.Now())
	storetest.RequireNoError(t, err)
	return tok
}

func createApp(t *testing.T, base, token, name string) string {
	t.Helper()
	var out struct {
		CreateApp struct{ App struct{ ID string } }
	}
	storetest.MustGraphQL(t, base, token, `mutation($n: String!) { createApp(input: {name: $n}) { app { id } } }`, map[string]any{"n": name}, &out)
	return out.CreateApp.App.ID
}

func TestPostgresThroughGraphQL(t *testing.T) {
	base, counter := startGraphQL(t)

	t.Run("another tenant's memory id answers exactly like a missing id", func(t *testing.T) {
		alice, bob := storetest.NewTenant(), storetest.NewTenant()
		aliceTok, bobTok := token(t, alice), token(t, bob)
		app := createApp(t, base, aliceTok, "alice's editor")
		var created struct {
			CreateMemory struct{ Memory struct{ ID string } }
		}
		storetest.MustGraphQL(t, base, aliceTok, `mutation($app: ID!) { createMemory(input: {appId: $app, content: "alice's secret"}) { memory { id } } }`,
			map[string]any{"app": app}, &created)
		theirs := created.CreateMemory.Memory.ID
		missing := relay.UUIDID(relay.KindMemory, uuid.New())

		for name, id := range map[string]string{"another tenant's id": theirs, "a missing id": missing} {
			t.Run(name, func(t *testing.T) {
				var q struct{ Memory *struct{ ID string } }
				if errs := storetest.GraphQL(t, base, bobTok, `query($id: ID!) { memory(id: $id) { id content } }`, map[string]any{"id": id}, &q); len(errs) != 0 || q.Memory != nil {
					t.Fatalf("memory(id) = %+v with errors %+v, want null and no error", q.Memory, errs)
				}
				var n struct{ Node *struct{ ID string } }
				if errs := storetest.GraphQL(t, base, bobTok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}, &n); len(errs) != 0 || n.Node != nil {
					t.Fatalf("node(id) = %+v with errors %+v, want null and no error", n.Node, errs)
				}
				for _, m := range []string{
					`mutation($id: ID!) { updateMemory(input: {id: $id, expectedVersion: 1, content: "stolen"}) { memory { id } } }`,
					`mutation($id: ID!) { setMemoryState(input: {id: $id, state: ARCHIVED}) { memory { id } } }`,
					`mutation($id: ID!) { deleteMemory(input: {id: $id}) { memory { id } } }`,
				} {
					errs := storetest.GraphQL(t, base, bobTok, m, map[string]any{"id": id}, nil)
					if len(errs) != 1 || errs[0].Extensions.Code != "NOT_FOUND" || errs[0].Message != "memory not found" {
						t.Fatalf("%s: errors %+v, want one NOT_FOUND \"memory not found\"", m, errs)
					}
				}
			})
		}
		var still struct{ Memory struct{ Content string } }
		storetest.MustGraphQL(t, base, aliceTok, `query($id: ID!) { memory(id: $id) { content } }`, map[string]any{"id": theirs}, &still)
		if still.Memory.Content != "alice's secret" {
			t.Fatalf("alice's memory changed: %+v", still.Memory)
		}
	})

	t.Run("a page of memories with their app and categories costs the same three statements whatever its size", func(t *testing.T) {
		tenant := storetest.NewTenant()
		tok := token(t, tenant)
		apps := []string{createApp(t, base, tok, "vscode"), createApp(t, base, tok, "cli"), createApp(t, base, tok, "jetbrains")}
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = map[string]any{"appId": apps[i%len(apps)], "content": fmt.Sprintf("memory %d", i),
				"categories": []string{fmt.Sprintf("topic-%d", i%7), fmt.Sprintf("team-%d", i%3)}}
		}
		storetest.MustGraphQL(t, base, tok, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`,
			map[string]any{"in": map[string]any{"memories": batch}}, nil)

		for _, first := range []int{1, 10, 100} {
			before := counter.snapshot()
			var out struct {
				Memories struct {
					Nodes []struct {
						App        struct{ Name string }
						Categories []struct{ Name string }
					}
				}
			}
			storetest.MustGraphQL(t, base, tok, `query($first: Int!) { memories(first: $first) { nodes { app { name } categories { name } } } }`,
				map[string]any{"first": first}, &out)
			after := counter.snapshot()
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

	t.Run("a page of memories with their index status costs one status statement whatever its size", func(t *testing.T) {
		tenant := storetest.NewTenant()
		tok := token(t, tenant)
		app := createApp(t, base, tok, "status")
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = map[string]any{"appId": app, "content": fmt.Sprintf("memory %d", i)}
		}
		storetest.MustGraphQL(t, base, tok, `mutation($in: CreateMemoriesInput!) { createMemories(input: $in) { memories { id } } }`,
			map[string]any{"in": map[string]any{"memories": batch}}, nil)
		for _, first := range []int{1, 20, 100} {
			before := counter.snapshot()
			var out struct {
				Memories struct {
					Nodes []struct {
						IndexStatus []struct {
							Index, State string
							Version      int
						}
					}
				}
			}
			storetest.MustGraphQL(t, base, tok, `query($first: Int!) { memories(first: $first) { nodes { indexStatus { index state version } } } }`,
				map[string]any{"first": first}, &out)
			after := counter.snapshot()
			data, trips := after[0]-before[0], after[2]-before[2]
			t.Logf("memories(first: %d) { indexStatus }: %d data statements, %d round trips", first, data, trips)
			if len(out.Memories.Nodes) != first {
				t.Fatalf("page of %d: %+v", first, out.Memories.Nodes)
			}
			for _, n := range out.Memories.Nodes {
				// Nobody drains this backend's outbox here: full text waits for version 1.
				if len(n.IndexStatus) != 1 || n.IndexStatus[0].Index != "FULL_TEXT" || n.IndexStatus[0].State != "PENDING" || n.IndexStatus[0].Version != 0 {
					t.Fatalf("index status %+v", n.IndexStatus)
				}
			}
			// The page, then its status: one statement each.
			if data > 2 || trips > 2 {
				t.Fatalf("memories(first: %d) { indexStatus } ran %d data statements in %d round trips, want at most 2 and 2", first, data, trips)
			}
		}
	})
}
