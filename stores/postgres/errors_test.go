package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// proxy forwards TCP connections to the real server until it is cut: a
// database outage the test controls.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.RequireNoError(t, err)
	p := &proxy{ln: ln}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			// A copy ends when either side closes: that is how the proxy cuts a connection.
			go func() { _, _ = io.Copy(server, client); _ = server.Close() }()
			go func() { _, _ = io.Copy(client, server); _ = client.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

// cut stops accepting and breaks every open connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// viaProxy returns DATABASE_URL pointed at the proxy.
func viaProxy(t *testing.T) (string, *proxy) {
	t.Helper()
	cfg, err := pgx.ParseConfig(storetest.ServiceEnv(t, "DATABASE_URL"))
	storetest.RequireNoError(t, err)
	p := startProxy(t, net.JoinHostPort(cfg.Host, "5432"))
	url := strings.Replace(storetest.ServiceEnv(t, "DATABASE_URL"), "127.0.0.1:5432", p.ln.Addr().String(), 1)
	return url, p
}

func requireUnavailable(t *testing.T, err error) {
	t.Helper()
	storetest.RequireKind(t, err, stores.ErrUnavailable)
	if msg := stores.PublicMessage(err); msg != "postgres is unavailable" {
		t.Fatalf("client message %q, want only that postgres is unavailable", msg)
	}
}

func TestFailures(t *testing.T) {
	backend(t) // the schema is migrated

	t.Run("a server that cannot be reached is unavailable, and the message carries no driver text", func(t *testing.T) {
		_, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: "postgres://nobody:secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", Timeout: 2 * time.Second})
		requireUnavailable(t, err)
		if strings.Contains(stores.PublicMessage(err), "secret") {
			t.Fatal("the message leaks the password")
		}
	})

	t.Run("a database outage during calls is unavailable for every domain", func(t *testing.T) {
		url, p := viaProxy(t)
		b, err := postgres.Open(storetest.Ctx(t), postgres.Config{URL: url, Timeout: 2 * time.Second})
		storetest.RequireNoError(t, err)
		t.Cleanup(b.Close)
		tenant := storetest.NewTenant()
		ctx := storetest.Ctx(t)
		_, err = b.Memories(tenant).ListApps(ctx, stores.PageArgs{First: 1})
		storetest.RequireNoError(t, err)
		p.cut()
		_, err = b.Memories(tenant).Memory(ctx, uuid.New())
		requireUnavailable(t, err)
		_, err = b.Feedback(tenant).FeedbackAggregates(ctx, stores.FeedbackFilter{})
		requireUnavailable(t, err)
		_, err = b.Experiments(tenant).CreateExperiment(ctx, stores.NewExperiment{Name: "x", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
		requireUnavailable(t, err)
	})

	t.Run("a call blocked past its timeout is unavailable and the pool keeps working", func(t *testing.T) {
		ctx := storetest.Ctx(t)
		b, err := postgres.Open(ctx, postgres.Config{URL: storetest.ServiceEnv(t, "DATABASE_URL"), Timeout: 300 * time.Millisecond, MaxConns: 2})
		storetest.RequireNoError(t, err)
		t.Cleanup(b.Close)
		tenant, m := seed(t, b)
		// Another session holds the memory's row lock.
		holder := bindTenant(t, connect(t, "DATABASE_URL"), tenant)
		_, err = holder.Exec(ctx, "SELECT 1 FROM memories WHERE id = $1 FOR UPDATE", m.ID)
		storetest.RequireNoError(t, err)
		started := time.Now()
		_, err = b.Memories(tenant).UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("blocked")})
		requireUnavailable(t, err)
		if waited := time.Since(started); waited > 3*time.Second {
			t.Fatalf("the call returned after %s, not at its timeout", waited)
		}
		storetest.RequireNoError(t, holder.Rollback(ctx))
		got, err := b.Memories(tenant).UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: new("unblocked")})
		storetest.RequireNoError(t, err)
		if got.Version != 2 {
			t.Fatalf("after the lock: %+v", got)
		}
	})

	t.Run("a caller that gives up gets its own context error", func(t *testing.T) {
		b := backend(t)
		ctx, cancel := context.WithCancel(storetest.Ctx(t))
		cancel()
		_, err := b.Memories(storetest.NewTenant()).ListApps(ctx, stores.PageArgs{First: 1})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})

	t.Run("content PostgreSQL cannot store is refused before it is sent", func(t *testing.T) {
		b := backend(t)
		ctx := storetest.Ctx(t)
		ms := b.Memories(storetest.NewTenant())
		app, err := ms.CreateApp(ctx, "nul", "")
		storetest.RequireNoError(t, err)
		for _, in := range []stores.NewMemory{
			{AppID: app.ID, Content: "a\x00b"},
			{AppID: app.ID, Content: "ok", Metadata: map[string]any{"k": "a\x00b"}},
		} {
			_, err := ms.CreateMemory(ctx, in)
			storetest.RequireKind(t, err, stores.ErrInvalid)
		}
	})
}
