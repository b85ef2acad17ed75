package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/resolvers"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// WebSocket close codes the gateway uses besides the protocol's own. A
// client can tell from the code whether reconnecting can help.
const (
	// CloseUnauthorized: no valid token in connection_init, or it expired
	// while the connection was open (graphql-transport-ws's 4401).
	CloseUnauthorized = 4401
	// CloseTooManyConnections: the organisation already holds its share of
	// live connections.
	CloseTooManyConnections = 4429
	// CloseSlowConsumer: the client did not read fast enough; its queue filled.
	CloseSlowConsumer = int(websocket.StatusPolicyViolation) // 1008
	// CloseGoingAway: the gateway is shutting down; reconnect to another replica.
	CloseGoingAway = int(websocket.StatusGoingAway) // 1001
)

// StreamLimits bound the live connections (WebSocket and SSE) of one gateway.
type StreamLimits struct {
	// MaxConnectionsPerTenant is how many live connections one organisation
	// may hold at once (0: unlimited).
	MaxConnectionsPerTenant int
	// MaxSubscriptionsPerConnection is how many subscriptions one WebSocket
	// may run at once (0: unlimited). An SSE stream carries one.
	MaxSubscriptionsPerConnection int
	// QueueSize is how many messages may wait to be written to one
	// connection; a client that lets it fill is cut off as a slow consumer.
	QueueSize int
	// KeepAlive is the interval of keep-alive pings (0: none).
	KeepAlive time.Duration
	// WriteTimeout bounds the write of one message to a client.
	WriteTimeout time.Duration
	// InitTimeout bounds the wait for connection_init on a new WebSocket.
	InitTimeout time.Duration
}

// DefaultStreamLimits are the limits used when none are configured.
var DefaultStreamLimits = StreamLimits{
	MaxConnectionsPerTenant:       100,
	MaxSubscriptionsPerConnection: 20,
	QueueSize:                     64,
	KeepAlive:                     15 * time.Second,
	WriteTimeout:                  10 * time.Second,
	InitTimeout:                   10 * time.Second,
}

// Streams tracks the gateway's live connections: it enforces the per-tenant
// and per-connection limits, and ends every open stream on shutdown.
type Streams struct {
	limits StreamLimits

	mu       sync.Mutex
	byTenant map[uuid.UUID]int
	open     map[*liveConn]struct{}
	closing  bool
	idle     chan struct{} // closed when closing and open is empty

	cutOff atomic.Int64
	// shared, when set, counts connections across replicas too (bound by
	// NewHandler before the first request).
	shared *sharedGuard
}

// connectionLease is how long a live connection counts in the shared limits
// without being renewed (a replica that dies stops renewing), and
// connectionRenewal how often an open one is renewed.
const (
	connectionLease   = time.Minute
	connectionRenewal = connectionLease / 3
)

// CutOff reports how many connections were cut off as slow consumers.
func (s *Streams) CutOff() int64 { return s.cutOff.Load() }

// NewStreams returns an empty registry with the given limits (zero fields
// take DefaultStreamLimits' values, except the two maxima, where 0 is unlimited).
func NewStreams(l StreamLimits) *Streams {
	if l.QueueSize < 1 {
		l.QueueSize = DefaultStreamLimits.QueueSize
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultStreamLimits.WriteTimeout
	}
	if l.InitTimeout <= 0 {
		l.InitTimeout = DefaultStreamLimits.InitTimeout
	}
	return &Streams{limits: l, byTenant: map[uuid.UUID]int{}, open: map[*liveConn]struct{}{}, idle: make(chan struct{})}
}

// Open reports how many live connections the gateway holds.
func (s *Streams) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// Shutdown ends every open stream: each running subscription is completed
// (WebSocket `complete`, SSE `complete` event), then each WebSocket is
// closed with 1001 (going away), so clients reconnect to another replica.
// New connections are refused from now on. It returns when every
// connection is gone or ctx ends.
func (s *Streams) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*liveConn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	if len(s.open) == 0 {
		s.closeIdleLocked()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	select {
	case <-s.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Streams) closeIdleLocked() {
	select {
	case <-s.idle:
	default:
		close(s.idle)
	}
}

// register adds a connection; false when the gateway is shutting down.
func (s *Streams) register(c *liveConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Streams) unregister(c *liveConn) {
	s.uncount(c)
	if c.leased {
		// The request's context is done by now; the release gets its own.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.shared.limits.ReleaseConnection(ctx, c.org.String(), c.id); err != nil {
			s.shared.unavailable(ctx, "live connections", err) // the lease expires by itself
		}
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
	if s.closing && len(s.open) == 0 {
		s.closeIdleLocked()
	}
}

// admit counts the connection against its organisation's limit: in this
// process, and across replicas when the limits are shared.
func (s *Streams) admit(ctx context.Context, c *liveConn, org uuid.UUID) error {
	limit := s.limits.MaxConnectionsPerTenant
	full := fmt.Errorf("too many live connections for this organisation (the limit is %d)", limit)
	s.mu.Lock()
	if c.counted {
		s.mu.Unlock()
		return nil
	}
	if limit > 0 && s.byTenant[org] >= limit {
		s.mu.Unlock()
		return full
	}
	s.byTenant[org]++
	c.org, c.counted = org, true
	s.mu.Unlock()
	if s.shared == nil || limit <= 0 {
		return nil
	}
	ok, err := s.shared.limits.AcquireConnection(ctx, org.String(), c.id, limit, connectionLease)
	switch {
	case err != nil && !s.shared.unavailable(ctx, "live connections", err):
		s.uncount(c)
		return errors.New("the live connection limits cannot be checked now; retry later")
	case err == nil && !ok:
		s.uncount(c)
		return full
	case err == nil:
		c.leased = true
		go c.renewLease(ctx, s.shared, limit)
	}
	return nil
}

// uncount gives back the connection's place in its organisation's count.
func (s *Streams) uncount(c *liveConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.counted {
		if s.byTenant[c.org]--; s.byTenant[c.org] <= 0 {
			delete(s.byTenant, c.org)
		}
		c.counted = false
	}
}

// renewLease keeps the connection counted across replicas while it lives.
func (c *liveConn) renewLease(ctx context.Context, shared *sharedGuard, limit int) {
	t := time.NewTicker(connectionRenewal)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := shared.limits.AcquireConnection(ctx, c.org.String(), c.id, 0, connectionLease); err != nil {
				shared.unavailable(ctx, "live connections", err)
			}
		}
	}
}

// liveConn is one WebSocket connection or SSE stream.
type liveConn struct {
	streams *Streams
	cancel  context.CancelFunc // ends the connection's context
	id      string             // names the connection in the shared limits
	leased  bool               // counted in the shared limits (set by admit before the connection serves)

	mu            sync.Mutex
	org           uuid.UUID // guarded by streams.mu
	counted       bool      // guarded by streams.mu
	subscriptions map[*subscriptionSlot]struct{}
	closeCode     int
	closeReason   string
	expiry        *time.Timer
	ws            *queuedConn // nil for SSE
}

type subscriptionSlot struct{ cancel context.CancelFunc }

// condemn ends the connection with a close code and reason (the first
// reason wins).
func (c *liveConn) condemn(code int, reason string) {
	c.mu.Lock()
	first := c.closeCode == 0
	if first {
		c.closeCode, c.closeReason = code, reason
	}
	c.mu.Unlock()
	if first && code == CloseSlowConsumer {
		c.streams.cutOff.Add(1)
	}
	c.cancel()
}

func (c *liveConn) closeWith() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeReason
}

// shutdown completes every subscription, then closes the connection.
func (c *liveConn) shutdown() {
	c.mu.Lock()
	slots := make([]*subscriptionSlot, 0, len(c.subscriptions))
	for s := range c.subscriptions {
		slots = append(slots, s)
	}
	c.mu.Unlock()
	for _, s := range slots {
		s.cancel() // the resolver closes its channel: the transport sends complete
	}
	if c.ws != nil && len(slots) > 0 {
		// Close once the transport has written each subscription's complete.
		c.ws.afterCompletes(len(slots), func() { c.condemn(CloseGoingAway, "the gateway is shutting down") })
		return
	}
	c.condemn(CloseGoingAway, "the gateway is shutting down")
}

// watchExpiry condemns the connection when the token expires.
func (c *liveConn) watchExpiry(p auth.Principal, now func() time.Time) {
	if p.ExpiresAt.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.expiry = time.AfterFunc(p.ExpiresAt.Sub(now()), func() {
		c.condemn(CloseUnauthorized, "unauthenticated: token expired")
	})
}

func (c *liveConn) stop() {
	c.mu.Lock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Unlock()
}

type liveConnKey struct{}

func liveConnFrom(ctx context.Context) *liveConn {
	c, _ := ctx.Value(liveConnKey{}).(*liveConn)
	return c
}

// isSSE reports whether r was negotiated as a graphql-sse stream (distinct
// connections mode): a POST whose client prefers text/event-stream.
func isSSE(r *http.Request) bool {
	streaming, _ := r.Context().Value(streamingKey{}).(bool)
	return streaming
}

// isWebsocket reports whether r asks to upgrade to a WebSocket.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// addStreamTransports adds WebSocket (graphql-transport-ws, and the older
// graphql-ws) and SSE to srv, with authentication from connection_init.
func addStreamTransports(srv *handler.Server, cfg Config, streams *Streams) {
	l := streams.limits
	srv.AddTransport(transport.Websocket{
		Implementation:        queuedWebsocket{limits: l},
		InitFunc:              websocketInit(cfg, streams),
		InitTimeout:           l.InitTimeout,
		KeepAlivePingInterval: l.KeepAlive,
		PingPongInterval:      l.KeepAlive,
		MissingPongOk:         true,
		ErrorFunc: func(ctx context.Context, err error) {
			if !errors.Is(err, errSlowConsumer) && !errors.Is(err, net.ErrClosed) {
				cfg.Logger.DebugContext(ctx, "websocket error", "error", err.Error())
			}
		},
	})
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: l.KeepAlive})
	srv.AroundOperations(limitSubscriptions(l.MaxSubscriptionsPerConnection))
}

// serveStreams wraps the GraphQL handler: a WebSocket upgrade or an SSE
// request becomes a tracked live connection. It runs after authenticate, so
// an SSE request already carries its principal (from the Authorization
// header); a WebSocket authenticates in connection_init.
func serveStreams(cfg Config, streams *Streams, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, sse := isWebsocket(r), isSSE(r)
		if !ws && !sse {
			next.ServeHTTP(w, r)
			return
		}
		// The server's read timeout is meant for requests, not for streams
		// that live for hours: lift it for this connection.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		c := &liveConn{streams: streams, cancel: cancel, id: uuid.NewString(), subscriptions: map[*subscriptionSlot]struct{}{}}
		if !streams.register(c) {
			writeError(w, r, http.StatusServiceUnavailable, "the gateway is shutting down", CodeStoreUnavailable)
			return
		}
		defer streams.unregister(c)
		defer c.stop()
		ctx = context.WithValue(ctx, liveConnKey{}, c)
		ctx = resolvers.WithDisconnect(ctx, func(reason string) { c.condemn(CloseSlowConsumer, reason) })
		if ws {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if p, ok := auth.FromContext(ctx); ok {
			if err := streams.admit(ctx, c, p.OrgID); err != nil {
				writeError(w, r, http.StatusTooManyRequests, err.Error(), CodeRateLimited)
				return
			}
			c.watchExpiry(p, cfg.now)
		}
		sw := &sseWriter{ResponseWriter: w, conn: c}
		// A condemned stream (expired token, slow consumer, shutdown) stops
		// writing: a blocked write fails at once instead of holding the goroutine.
		stopWrites := context.AfterFunc(ctx, func() {
			if code, _ := c.closeWith(); code == CloseSlowConsumer {
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now())
			}
		})
		defer stopWrites()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// sseWriter tells an SSE client why its stream ended: before the final
// `complete` event of a condemned stream it sends a `next` event with the
// reason as a GraphQL error (graphql-sse has no close reason of its own).
type sseWriter struct {
	http.ResponseWriter
	conn *liveConn
}

var sseComplete = []byte("event: complete\n")

func (w *sseWriter) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, sseComplete) {
		if code, reason := w.conn.closeWith(); code != 0 && code != CloseGoingAway {
			errCode := CodeUnauthenticated
			if code == CloseSlowConsumer {
				errCode = CodeRateLimited
			}
			body, _ := json.Marshal(graphql.Response{Errors: gqlerror.List{{Message: reason, Extensions: map[string]any{"code": errCode}}}})
			_, _ = fmt.Fprintf(w.ResponseWriter, "event: next\ndata: %s\n\n", body)
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w *sseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// websocketInit authenticates a WebSocket from its connection_init payload
// ({"Authorization": "Bearer <jwt>"}; a token given on the upgrade request
// itself also counts), with the same rules as HTTP, and binds the tenant's
// stores and loaders into the connection's context.
func websocketInit(cfg Config, streams *Streams) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		c := liveConnFrom(ctx)
		if c == nil {
			return ctx, nil, errors.New("internal error: untracked connection")
		}
		fail := func(code int, err error) (context.Context, *transport.InitPayload, error) {
			c.mu.Lock()
			c.closeCode, c.closeReason = code, err.Error()
			c.mu.Unlock()
			return transport.WithWebsocketCloseCode(ctx, code), nil, err
		}
		p, ok := auth.FromContext(ctx)
		if h := payload.Authorization(); h != "" {
			scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
			if !strings.EqualFold(scheme, "Bearer") {
				return fail(CloseUnauthorized, errors.New("unauthenticated: authorization scheme must be Bearer"))
			}
			var err error
			if p, err = cfg.Verifier.Verify(strings.TrimSpace(token)); err != nil {
				return fail(CloseUnauthorized, err)
			}
			if p, err = cfg.admit(ctx, p); err != nil {
				return fail(CloseUnauthorized, err)
			}
			ok = true
		}
		if !ok {
			return fail(CloseUnauthorized, errors.New("unauthenticated: connection_init needs an Authorization payload (\"Bearer <token>\")"))
		}
		bundle, err := cfg.Backends.For(stores.Tenant{OrgID: p.OrgID, UserID: p.UserID})
		if err != nil {
			return fail(CloseUnauthorized, errors.New("unauthenticated: token names no tenant"))
		}
		if err := streams.admit(ctx, c, p.OrgID); err != nil {
			return fail(CloseTooManyConnections, err)
		}
		c.watchExpiry(p, cfg.now)
		ctx = auth.NewContext(ctx, p)
		ctx = stores.NewContext(ctx, bundle)
		ctx = loaders.NewContext(ctx, newLoaders(cfg, bundle))
		return ctx, nil, nil
	}
}

// limitSubscriptions refuses a subscription beyond the connection's limit
// and registers the others, so that shutdown can complete them.
func limitSubscriptions(max int) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		c := liveConnFrom(ctx)
		oc := graphql.GetOperationContext(ctx)
		if c == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
			return next(ctx)
		}
		ctx, cancel := context.WithCancel(ctx)
		slot := &subscriptionSlot{cancel: cancel}
		c.mu.Lock()
		if max > 0 && len(c.subscriptions) >= max {
			c.mu.Unlock()
			cancel()
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
				Message:    fmt.Sprintf("too many subscriptions on this connection (the limit is %d)", max),
				Extensions: map[string]any{"code": CodeRateLimited},
			}}})
		}
		c.subscriptions[slot] = struct{}{}
		c.mu.Unlock()
		context.AfterFunc(ctx, func() {
			c.mu.Lock()
			delete(c.subscriptions, slot)
			c.mu.Unlock()
		})
		return next(ctx)
	}
}

// errSlowConsumer is what a write to a full connection queue returns.
var errSlowConsumer = errors.New("slow consumer")

// queuedWebsocket accepts WebSockets whose writes never block the
// executor: messages go through a bounded queue to one writer goroutine; a
// client that lets the queue fill is cut off with CloseSlowConsumer.
type queuedWebsocket struct{ limits StreamLimits }

func (q queuedWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for k, vs := range opts.ResponseHeader {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: opts.Subprotocols})
	if err != nil {
		return nil, err
	}
	live := liveConnFrom(r.Context())
	qc := &queuedConn{
		conn:    conn,
		live:    live,
		timeout: q.limits.WriteTimeout,
		queue:   make(chan []byte, q.limits.QueueSize),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if live != nil {
		live.ws = qc
	}
	go qc.writeLoop()
	return qc, nil
}

// queuedConn is a WebSocket with a bounded outgoing queue.
type queuedConn struct {
	conn    *websocket.Conn
	live    *liveConn
	timeout time.Duration
	queue   chan []byte

	mu              sync.Mutex
	closeOnce       sync.Once
	closing         chan struct{} // closed by WriteClose
	code            int
	reason          string
	done            chan struct{} // closed when the writer is finished
	completes       int
	completesWanted int
	afterComplete   func()
}

func (c *queuedConn) writeLoop() {
	defer close(c.done)
	for {
		select {
		case msg := <-c.queue:
			if !c.write(msg) {
				return
			}
			c.written(msg)
		case <-c.closing:
			c.mu.Lock()
			code, reason := c.code, c.reason
			c.mu.Unlock()
			if code != CloseSlowConsumer {
				// Deliver what is queued (the completes of a shutdown) first.
				for drained := false; !drained; {
					select {
					case msg := <-c.queue:
						if !c.write(msg) {
							return
						}
					default:
						drained = true
					}
				}
			}
			_ = c.conn.Close(websocket.StatusCode(code), reason)
			return
		}
	}
}

func (c *queuedConn) write(msg []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		if c.live != nil {
			c.live.condemn(CloseSlowConsumer, resolvers.ReasonSlowConsumer)
		}
		_ = c.conn.CloseNow()
		return false
	}
	return true
}

// completeGrace bounds the wait for the completes of a shutdown.
const completeGrace = 5 * time.Second

// afterCompletes runs f once n more `complete` messages have been written
// (or after completeGrace, whichever comes first).
func (c *queuedConn) afterCompletes(n int, f func()) {
	var once sync.Once
	run := func() { once.Do(f) }
	c.mu.Lock()
	c.completesWanted = c.completes + n
	c.afterComplete = run
	c.mu.Unlock()
	time.AfterFunc(completeGrace, run)
}

var completeType = []byte(`"type":"complete"`)

// written notes a message written; it runs the shutdown callback when the
// awaited completes are out.
func (c *queuedConn) written(msg []byte) {
	if !bytes.Contains(msg, completeType) {
		return
	}
	c.mu.Lock()
	c.completes++
	var f func()
	if c.afterComplete != nil && c.completes >= c.completesWanted {
		f, c.afterComplete = c.afterComplete, nil
	}
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *queuedConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd, websocket.StatusGoingAway:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

func (c *queuedConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	select {
	case <-c.closing:
		return net.ErrClosed
	default:
	}
	select {
	case c.queue <- data:
		return nil
	default:
		if c.live != nil {
			c.live.condemn(CloseSlowConsumer, resolvers.ReasonSlowConsumer)
		}
		return errSlowConsumer
	}
}

// WriteClose closes with the connection's own code and reason when it was
// condemned (expired token, slow consumer, shutdown), else with the
// transport's; the writer goroutine sends it after what is queued.
func (c *queuedConn) WriteClose(code int, reason string) error {
	if c.live != nil {
		if own, why := c.live.closeWith(); own != 0 {
			code, reason = own, why
		}
	}
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.code, c.reason = code, truncateReason(reason)
		c.mu.Unlock()
		close(c.closing)
	})
	return nil
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// Close lets the writer finish the close handshake it was asked for, or
// closes at once.
func (c *queuedConn) Close() error {
	select {
	case <-c.closing:
		return nil
	default:
	}
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.code = int(websocket.StatusNormalClosure)
		c.mu.Unlock()
		close(c.closing)
	})
	return c.conn.CloseNow()
}

func (c *queuedConn) Subprotocol() string  { return c.conn.Subprotocol() }
func (c *queuedConn) SetReadLimit(n int64) { c.conn.SetReadLimit(n) }

// newLoaders builds the loaders of a request or a WebSocket connection.
func newLoaders(cfg Config, b *stores.Bundle) *loaders.Loaders {
	var observe loaders.BatchObserver
	if cfg.Metrics != nil {
		observe = cfg.Metrics.LoaderBatch
	}
	return loaders.New(b, cfg.LoaderWait, observe)
}

// now is the handler's clock (token expiry of live connections).
func (cfg Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}
