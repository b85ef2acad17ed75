package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/graph/gqlws"
	"github.com/codingbrain/gateway/migrations"
	"github.com/codingbrain/gateway/stores/storetest"
)

// startGatewayProcess runs the built binary as its own process on
// PostgreSQL (every other backend embedded) and returns its base URL.
func startGatewayProcess(t *testing.T, binary, dbURL string) string {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0")
	// Only PostgreSQL: none of the other services the test env may export.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + dbURL, "GATEWAY_JWT_SECRET=" + testJWTSecret}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	exited := make(chan struct{})
	var log lockedBuffer
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = log.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-exited:
		t.Fatalf("the gateway process stopped: %s", log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the gateway process did not start: %s", log.String())
	}
	return ""
}

// TestSubscriptionAcrossGatewayProcesses: a write through one gateway
// process reaches a subscriber of another, through PostgreSQL's NOTIFY of
// what committed; another tenant's subscriber of the same process sees nothing.
func TestSubscriptionAcrossGatewayProcesses(t *testing.T) {
	dbURL := storetest.ServiceEnv(t, "DATABASE_URL")
	ownerURL := storetest.ServiceEnv(t, "DATABASE_OWNER_URL")
	r, err := migrations.Open(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Up(context.Background(), io.Discard); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	r.Close()
	binary := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	a, b := startGatewayProcess(t, binary, dbURL), startGatewayProcess(t, binary, dbURL)

	alice, bob := storetest.NewTenant(), storetest.NewTenant()
	aTok, bTok := pgToken(t, alice), pgToken(t, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := gqlws.Dial(ctx, a+"/graphql", map[string]any{"Authorization": "Bearer " + aTok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	other, err := gqlws.Dial(ctx, a+"/graphql", map[string]any{"Authorization": "Bearer " + bTok}, nil)
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
	if errs := gql(t, b, aTok, `mutation { createApp(input: {name: "two-process"}) { app { id } } }`, nil, &app); len(errs) > 0 {
		t.Fatal(errs)
	}
	var mem struct {
		CreateMemory struct{ Memory struct{ ID string } }
	}
	if errs := gql(t, b, aTok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "written through B"}) { memory { id } } }`,
		map[string]any{"a": app.CreateApp.App.ID}, &mem); len(errs) > 0 {
		t.Fatal(errs)
	}
	for v := 1; v <= 5; v++ {
		if errs := gql(t, b, aTok, `mutation($id: ID!, $v: Int!) { updateMemory(input: {id: $id, expectedVersion: $v, content: "written through B"}) { memory { version } } }`,
			map[string]any{"id": mem.CreateMemory.Memory.ID, "v": v}, nil); len(errs) > 0 {
			t.Fatal(errs)
		}
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
	if errs := gql(t, b, bTok, `mutation { createApp(input: {name: "bob"}) { app { id } } }`, nil, &app); len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs := gql(t, b, bTok, `mutation($a: ID!) { createMemory(input: {appId: $a, content: "bob marker"}) { memory { id } } }`,
		map[string]any{"a": app.CreateApp.App.ID}, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	select {
	case m := <-other.Messages:
		if !strings.Contains(string(m.Payload), "bob marker") {
			t.Fatalf("the other tenant got %s %s", m.Type, m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("bob's own change never arrived")
	}
}
