package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// An error of no known kind that reaches the presenter outside a resolver
// (so not marked internal by markInternalErrors) is an internal error: the
// client gets the request id, the log gets the cause, and the raw text (a
// driver's or a server's detail) is never sent.
func TestUnknownErrorIsInternalWithTheRequestID(t *testing.T) {
	var logged bytes.Buffer
	present := presentError(slog.New(slog.NewJSONHandler(&logged, nil)))
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-4711")

	out := present(ctx, errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user app"))
	if code := out.Extensions["code"]; code != CodeInternal {
		t.Errorf("code %v, want %s", code, CodeInternal)
	}
	if !strings.Contains(out.Message, "req-4711") || strings.Contains(out.Message, "password") {
		t.Errorf("message %q: want the request id, not the cause", out.Message)
	}
	if log := logged.String(); !strings.Contains(log, "req-4711") || !strings.Contains(log, "password authentication failed") {
		t.Errorf("the log does not hold the request id and the cause: %s", log)
	}
}

// An internal error that reaches the presenter already wrapped with its
// path (as gqlgen hands over errors of fields) is logged with its cause: the
// presenter answers with that very *gqlerror.Error, so blanking its message
// first would lose the cause.
func TestAWrappedInternalErrorIsLoggedWithItsCause(t *testing.T) {
	var logged bytes.Buffer
	present := presentError(slog.New(slog.NewJSONHandler(&logged, nil)))
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-4713")
	err := gqlerror.WrapPath(ast.Path{ast.PathName("search")}, &internalError{err: errors.New("opensearch: 429 es_rejected_execution_exception")})

	out := present(ctx, err)
	if out.Extensions["code"] != CodeInternal || strings.Contains(out.Message, "es_rejected") {
		t.Fatalf("answer %q %v", out.Message, out.Extensions["code"])
	}
	if log := logged.String(); !strings.Contains(log, "req-4713") || !strings.Contains(log, "es_rejected_execution_exception") {
		t.Errorf("the log does not hold the request id and the cause: %s", log)
	}
}

// gqlgen's own argument and variable coercion errors are the client's fault.
func TestCoercionErrorStaysBadUserInput(t *testing.T) {
	present := presentError(slog.New(slog.DiscardHandler))
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-4712")
	err := gqlerror.WrapPath(ast.Path{ast.PathName("memory"), ast.PathName("id")}, fmt.Errorf("%q is not a valid ID", "x"))

	out := present(ctx, err)
	if code := out.Extensions["code"]; code != CodeBadUserInput {
		t.Errorf("code %v, want %s", code, CodeBadUserInput)
	}
	if out.Message != `"x" is not a valid ID` {
		t.Errorf("message %q", out.Message)
	}
}
