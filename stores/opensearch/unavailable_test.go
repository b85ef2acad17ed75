package opensearch

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentServer accepts connections and never answers: a hung server.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestUnreachableServer(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, c := range []struct{ name, addr string }{
		{"a dead server answers STORE_UNAVAILABLE within the timeout", closedPort(t)},
		{"a hung server answers STORE_UNAVAILABLE within the timeout", silentServer(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{URL: "http://" + c.addr, Timeout: timeout}
			start := time.Now()
			_, err := Open(context.Background(), opts)
			requireUnavailable(t, err, start, timeout)

			b, err := New(opts)
			storetest.RequireNoError(t, err)
			t.Cleanup(b.Close)
			st := b.FullText(storetest.NewTenant())
			ctx := context.Background()

			start = time.Now()
			_, err = st.Search(ctx, stores.SearchQuery{Text: "anything"}, stores.PageArgs{First: 10})
			requireUnavailable(t, err, start, timeout)
			start = time.Now()
			err = st.IndexDocuments(ctx, []stores.Document{{ID: "a", Body: "b"}})
			requireUnavailable(t, err, start, timeout)
			start = time.Now()
			_, err = st.DeleteDocuments(ctx, []string{"a"})
			requireUnavailable(t, err, start, timeout)
		})
	}
}

func TestCancelledContext(t *testing.T) {
	b, err := New(Options{URL: "http://" + silentServer(t), Timeout: time.Minute})
	storetest.RequireNoError(t, err)
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = b.FullText(storetest.NewTenant()).Search(ctx, stores.SearchQuery{Text: "x"}, stores.PageArgs{First: 1})
	requireUnavailable(t, err, start, time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled search returned %v, want it to say the context was cancelled", err)
	}
}

// requireUnavailable checks that err is STORE_UNAVAILABLE, says nothing of
// the driver to a client, and came within the timeout (plus slack for -race).
func requireUnavailable(t *testing.T, err error, start time.Time, timeout time.Duration) {
	t.Helper()
	elapsed := time.Since(start)
	storetest.RequireKind(t, err, stores.ErrUnavailable)
	if msg := stores.PublicMessage(err); msg != "opensearch is unavailable" {
		t.Fatalf("the client would read %q", msg)
	}
	if elapsed > timeout+time.Second {
		t.Fatalf("the error came after %s, the timeout is %s", elapsed, timeout)
	}
}

// proxyTo listens on addr and forwards every connection to target.
func proxyTo(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port %s was taken meanwhile: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				conn.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, conn); up.Close() }()
			go func() { _, _ = io.Copy(conn, up); conn.Close() }()
		}
	}()
}

func TestServerComingBack(t *testing.T) {
	b := openTest(t)
	target, err := url.Parse(b.opts.URL)
	storetest.RequireNoError(t, err)
	addr := closedPort(t)
	opts := b.opts
	opts.URL = "http://" + addr
	opts.Timeout = 2 * time.Second
	flaky, err := New(opts)
	storetest.RequireNoError(t, err)
	t.Cleanup(flaky.Close)
	tenant := storetest.NewTenant()
	index(t, b.FullText(tenant), stores.Document{ID: "back", Body: "the server is back"})
	st := flaky.FullText(tenant)

	_, err = st.Search(storetest.Ctx(t), stores.SearchQuery{Text: "back"}, stores.PageArgs{First: 10})
	storetest.RequireKind(t, err, stores.ErrUnavailable)

	proxyTo(t, addr, target.Host)
	t.Run("the store answers again as soon as the server is back", func(t *testing.T) {
		if got := searchIDs(t, st, "back"); len(got) != 1 || got[0] != "back" {
			t.Fatalf("after the outage the search found %v", got)
		}
	})
}
