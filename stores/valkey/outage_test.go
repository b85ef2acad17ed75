package valkey

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.RequireNoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	storetest.RequireNoError(t, l.Close())
	return port
}

// ownServer is a redis-server this test starts and stops, so the shared
// server other tests use is never disturbed.
type ownServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func (s *ownServer) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.t.TempDir())
	storetest.RequireNoError(s.t, cmd.Start())
	s.cmd = cmd
}

func (s *ownServer) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func TestTheStoreRecoversWhenItsServerIsStoppedAndStartedAgain(t *testing.T) {
	storetest.ServiceEnv(t, "VALKEY_URL") // the same gate as every real-server test
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH: run e2e/services/up")
	}
	srv := &ownServer{t: t, port: freePort(t)}
	srv.start()
	t.Cleanup(srv.stop)
	url := "redis://127.0.0.1:" + strconv.Itoa(srv.port) + "/0"

	const timeout = 2 * time.Second
	var b *Backend
	storetest.Eventually(t, 10*time.Second, "our redis-server answering", func() bool {
		var err error
		b, err = Open(storetest.Ctx(t), url, Options{Timeout: timeout})
		return err == nil
	})
	t.Cleanup(func() { _ = b.Close() })
	st := b.Episodic(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	put(t, st, "s", "before", 1, time.Minute)

	srv.stop()
	began := time.Now()
	_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: "during", Content: "c", TTL: time.Minute})
	storetest.RequireKind(t, err, stores.ErrUnavailable)
	if took := time.Since(began); took > timeout+time.Second {
		t.Fatalf("the failing call took %s, more than its %s timeout", took, timeout)
	}
	if msg := stores.PublicMessage(err); msg != "valkey is unavailable" {
		t.Fatalf("clients would read %q", msg)
	}
	for name, call := range map[string]func() error{
		"SessionItems":   func() error { _, err := st.SessionItems(ctx, "s", time.Minute, 10, false); return err },
		"ItemsBySession": func() error { _, err := st.ItemsBySession(ctx, []string{"s", "t"}, time.Minute, 10); return err },
		"Sessions":       func() error { _, err := st.Sessions(ctx); return err },
		"ExpireItem":     func() error { return st.ExpireItem(ctx, "s", "before") },
		"ExpireSession":  func() error { _, err := st.ExpireSession(ctx, "s"); return err },
	} {
		t.Run(name+" reports the store unavailable", func(t *testing.T) {
			storetest.RequireKind(t, call(), stores.ErrUnavailable)
		})
	}

	// Same port, same store, same client: nothing is reopened. The new
	// server has an empty script cache, so the first read also shows that
	// the pipeline reloads its script.
	srv.start()
	storetest.Eventually(t, 10*time.Second, "the store answering again", func() bool {
		_, err := st.SessionItems(ctx, "s", time.Minute, 10, false)
		return err == nil
	})
	put(t, st, "s", "after", 1, time.Minute)
	by, err := st.ItemsBySession(ctx, []string{"s"}, time.Minute, 10)
	storetest.RequireNoError(t, err)
	if ids(by["s"]) != "after" {
		t.Fatalf("after the restart (no persistence) the session holds %q, want after", ids(by["s"]))
	}
	sessions, err := st.Sessions(ctx)
	storetest.RequireNoError(t, err)
	if len(sessions) != 1 || sessions[0].ItemCount != 1 {
		t.Fatalf("sessions after the restart %+v", sessions)
	}
}

func TestAServerThatNeverAnswersFailsEachCallWithinItsTimeout(t *testing.T) {
	storetest.ServiceEnv(t, "VALKEY_URL")
	// A listener that accepts connections and never answers: a hung server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.RequireNoError(t, err)
	accepted := make(chan net.Conn, 16)
	t.Cleanup(func() {
		_ = l.Close()
		for len(accepted) > 0 {
			_ = (<-accepted).Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- c:
			default:
				_ = c.Close()
			}
		}
	}()
	opts, err := redis.ParseURL("redis://" + l.Addr().String() + "/0")
	storetest.RequireNoError(t, err)
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	const timeout = 300 * time.Millisecond
	st := New(client, Options{Timeout: timeout}).Episodic(storetest.NewTenant())

	began := time.Now()
	_, err = st.SessionItems(storetest.Ctx(t), "s", time.Minute, 10, false)
	storetest.RequireKind(t, err, stores.ErrUnavailable)
	if took := time.Since(began); took > timeout+700*time.Millisecond {
		t.Fatalf("the call took %s against a %s timeout", took, timeout)
	}
}
