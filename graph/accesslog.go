package graph

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// logEntry collects what the access log says of a request; handlers deeper
// in the chain fill in the tenant once the token is verified.
type logEntry struct {
	status int
	org    string
}

type logEntryKey struct{}

// setLogTenant records the request's organisation for the access log.
func setLogTenant(ctx context.Context, org string) {
	if e, ok := ctx.Value(logEntryKey{}).(*logEntry); ok {
		e.org = org
	}
}

type statusWriter struct {
	http.ResponseWriter
	entry *logEntry
}

func (w statusWriter) WriteHeader(code int) {
	w.entry.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (server-sent events) streaming.
func (w statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection to a WebSocket upgrade.
func (w statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.entry.status = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection (WebSocket upgrades).
func (w statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one JSON line per request: request id, tenant, method,
// path, status and duration. Never a token, a query or content.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		entry := &logEntry{status: http.StatusOK}
		ctx := context.WithValue(r.Context(), logEntryKey{}, entry)
		next.ServeHTTP(statusWriter{ResponseWriter: w, entry: entry}, r.WithContext(ctx))
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", RequestID(ctx)),
			slog.String("org_id", entry.org),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", entry.status),
			slog.Duration("duration", time.Since(start)))
	})
}
