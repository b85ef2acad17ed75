package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/codingbrain/gateway/telemetry"
	"github.com/google/uuid"
)

// TestOutboxCommand runs `gateway outbox status`, `retry` and `reindex`
// against PostgreSQL: a parked entry is listed with its reason and
// re-queued, and a reindex queues the org's memories.
func TestOutboxCommand(t *testing.T) {
	dbURL := storetest.ServiceEnv(t, "DATABASE_URL")
	owner := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	ctx := storetest.Ctx(t)
	r, err := migrations.Open(owner)
	storetest.RequireNoError(t, err)
	storetest.RequireNoError(t, r.Up(ctx, io.Discard))
	_ = r.Close()
	// Vector entries: a gateway of another test without an embedder, draining
	// the same outbox, leaves them alone.
	pg, err := postgres.Open(ctx, postgres.Config{URL: dbURL, Indexes: []stores.IndexName{stores.IndexVector}})
	storetest.RequireNoError(t, err)
	t.Cleanup(pg.Close)
	outbox := pg.Outbox()

	tenant := storetest.NewTenant()
	mem := pg.Memories(tenant)
	app, err := mem.CreateApp(ctx, "outbox-command", "")
	storetest.RequireNoError(t, err)
	m, err := mem.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "parked note"})
	storetest.RequireNoError(t, err)
	// Take the entry as an indexer would, and park it.
	claimed, err := outbox.Claim(ctx, stores.IndexVector, 10, time.Minute, []uuid.UUID{tenant.OrgID})
	storetest.RequireNoError(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %+v", claimed)
	}
	storetest.RequireNoError(t, outbox.Fail(ctx, []stores.OutboxFailure{{ID: claimed[0].ID, Reason: "document rejected", RetryAt: time.Now(), Park: true}}))

	gateway := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		env := func(name string) string {
			if name == "DATABASE_URL" {
				return dbURL
			}
			return ""
		}
		storetest.RequireNoError(t, run(ctx, append([]string{"outbox"}, args...), process{getenv: env, stdout: &out, stderr: io.Discard}))
		return out.String()
	}
	lineOf := func(out string) string {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, tenant.OrgID.String()) {
				return strings.Join(strings.Fields(line), " ")
			}
		}
		return ""
	}
	status := gateway("status")
	if got, want := lineOf(status), fmt.Sprintf("%s VECTOR 0 0s 1 document rejected", tenant.OrgID); got != want {
		t.Fatalf("status line %q, want %q in\n%s", got, want, status)
	}
	if out := gateway("retry", "--org", tenant.OrgID.String()); out != "re-queued 1 parked entries\n" {
		t.Fatalf("retry printed %q", out)
	}
	if got := lineOf(gateway("status")); !strings.HasPrefix(got, tenant.OrgID.String()+" VECTOR ") || !strings.HasSuffix(got, " 0") {
		t.Fatalf("status line after retry %q, want nothing parked", got)
	}
	pending, err := outbox.Pending(ctx, tenant.OrgID, []uuid.UUID{m.ID})
	storetest.RequireNoError(t, err)
	for _, e := range pending[m.ID] {
		if e.ParkedAt != nil {
			t.Fatalf("re-queued entry %+v", e)
		}
	}

	if out := gateway("reindex", "--org", tenant.OrgID.String(), "--index", "vector", "--wait=false"); out != fmt.Sprintf("queued 1/1 memories of org %s\n", tenant.OrgID) {
		t.Fatalf("reindex printed %q", out)
	}
	pending, err = outbox.Pending(ctx, tenant.OrgID, []uuid.UUID{m.ID})
	storetest.RequireNoError(t, err)
	var ids []int64
	for _, e := range pending[m.ID] {
		ids = append(ids, e.ID)
	}
	if len(ids) == 0 {
		t.Fatal("reindex queued nothing")
	}
	storetest.RequireNoError(t, outbox.Complete(ctx, ids))
}

// TestReadinessShowsTheOutboxBacklog: /readyz's report carries the
// indexer's latest backlog once the indexer has reported one, and a backlog
// does not make the replica unready.
func TestReadinessShowsTheOutboxBacklog(t *testing.T) {
	watch := &outboxWatch{metrics: telemetry.New()}
	ready, report := readiness(nil, watch)(t.Context())
	if _, shown := report.(map[string]any)["outbox"]; !ready || shown {
		t.Fatalf("before any backlog: ready %v, report %v", ready, report)
	}
	watch.Outbox(stores.OutboxBacklog{Pending: 7, Oldest: 90 * time.Second, Parked: 2})
	ready, report = readiness(nil, watch)(t.Context())
	got := report.(map[string]any)["outbox"]
	want := map[string]any{"pending": 7, "oldest_pending_seconds": 90.0, "parked": 2}
	if !ready || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ready %v, outbox %v, want ready and %v", ready, got, want)
	}
}
