package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/graph/gqlws"
)

// TestSubscriptionAcrossGatewayProcesses: a write through one gateway
// process reaches a subscriber of another, through PostgreSQL's NOTIFY of
// what committed; another tenant's subscriber of the same process sees nothing.
func TestSubscriptionAcrossGatewayProcesses(t *testing.T) {
	s := gateway(t) // builds the binary and migrates the database
	// Only PostgreSQL: every other backend embedded in each process.
	onPostgres := func() *stack { return s.replica(t, map[string]string{"DATABASE_URL": os.Getenv("DATABASE_URL")}) }
	a, b := onPostgres(), onPostgres()
	aTok, bTok := s.newTenant(t).token, s.newTenant(t).token
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := gqlws.Dial(ctx, a.url+"/graphql", map[string]any{"Authorization": "Bearer " + aTok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	other, err := gqlws.Dial(ctx, a.url+"/graphql", map[string]any{"Authorization": "Bearer " + bTok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sub.Start()
	other.Start()
	const q = `subscription { memoryChanged { kind version memory { content state } } }`
	if _, err := sub.Subscribe(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Subscribe(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	// The subscription has no first message: write until one arrives (the
	// subscribe message may still be in flight when the first write commits).
	var app struct {
		CreateApp struct{ App struct{ ID string } }
	}
	b.query(t, aTok, `mutation { createApp(input: {name: "two-process"}) { app { id } } }`, nil, &app)
	var mem struct {
		CreateMemory struct{ Memory struct{ ID string } }
	}
	b.query(t, aTok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "written through B"}) { memory { id } } }`,
		map[string]any{"a": app.CreateApp.App.ID}, &mem)
	for v := 1; v <= 5; v++ {
		b.query(t, aTok, `mutation($id: ID!, $v: Int!) { updateMemory(input: {id: $id, expectedVersion: $v, content: "written through B"}) { memory { version } } }`,
			map[string]any{"id": mem.CreateMemory.Memory.ID, "v": v}, nil)
	}
	last := 0
	for last < 6 {
		select {
		case m, ok := <-sub.Messages:
			if !ok {
				t.Fatalf("closed: %v", <-sub.Closed)
			}
			var n gqlws.Next
			_ = json.Unmarshal(m.Payload, &n)
			var ev struct {
				MemoryChanged struct {
					Kind    string
					Version int
					Memory  struct{ Content string }
				}
			}
			if m.Type != "next" || json.Unmarshal(n.Data, &ev) != nil {
				t.Fatalf("got %s %s", m.Type, m.Payload)
			}
			if ev.MemoryChanged.Version <= last || ev.MemoryChanged.Memory.Content != "written through B" {
				t.Fatalf("after version %d got %+v", last, ev.MemoryChanged)
			}
			last = ev.MemoryChanged.Version
		case <-ctx.Done():
			t.Fatalf("no event through the other gateway after version %d", last)
		}
	}
	// Bob's marker, written after Alice's changes, must be the first thing
	// Bob's subscriber sees: notifications arrive in commit order, so Alice's
	// changes went past it without reaching it.
	b.query(t, bTok, `mutation { createApp(input: {name: "bob"}) { app { id } } }`, nil, &app)
	b.query(t, bTok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "bob marker"}) { memory { id } } }`,
		map[string]any{"a": app.CreateApp.App.ID}, nil)
	select {
	case m := <-other.Messages:
		if !strings.Contains(string(m.Payload), "bob marker") {
			t.Fatalf("the other tenant got %s %s", m.Type, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("bob's own change never arrived")
	}
}
