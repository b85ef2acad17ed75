package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/stores"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The extensions.code values clients can rely on. The same cause gets the
// same code in every domain.
const (
	CodeNotFound         = "NOT_FOUND"
	CodeConflict         = "CONFLICT"
	CodeBadUserInput     = "BAD_USER_INPUT"
	CodeStoreUnavailable = "STORE_UNAVAILABLE"
	CodeUnauthenticated  = "UNAUTHENTICATED"
	CodeForbidden        = "FORBIDDEN"
	CodeInternal         = "INTERNAL_SERVER_ERROR"
	CodeRateLimited      = "RATE_LIMITED"
	CodeCursorExpired    = "CURSOR_EXPIRED"
)

// internalError marks an error a resolver returned that is none of the known
// kinds: a bug or an unexpected failure. Its text is logged, never sent.
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// known reports whether err is of a kind with a client-safe message.
func known(err error) bool {
	var gqlErr *gqlerror.Error
	return errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrForbidden) ||
		stores.PublicMessage(err) != "" || errors.As(err, &gqlErr)
}

// markInternalErrors wraps the unknown errors of resolvers, so that the
// presenter can tell them from the argument-coercion errors gqlgen raises
// before a resolver runs (those are the client's fault: BAD_USER_INPUT).
func markInternalErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil && !known(err) {
		err = &internalError{err: err}
	}
	return res, err
}

// presentError is the one place that maps errors to extensions.code.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		// The cause is read before the answer is made: for an error that
		// is already a *gqlerror.Error the default presenter returns that
		// very error, whose message is then replaced by the client's.
		cause := err.Error()
		out := graphql.DefaultErrorPresenter(ctx, err)
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		if _, coded := out.Extensions["code"]; coded {
			out.Message = clipMessage(out.Message)
			return out // parse and validation errors from gqlparser
		}
		code, message := classify(err)
		out.Message = clipMessage(message)
		out.Extensions["code"] = code
		switch code {
		case CodeInternal, CodeStoreUnavailable:
			log.ErrorContext(ctx, "resolver error", "request_id", RequestID(ctx), "code", code, "path", out.Path.String(), "error", cause)
		}
		if code == CodeInternal {
			out.Message = fmt.Sprintf("internal error (request id %s)", RequestID(ctx))
		}
		return out
	}
}

// classify returns the code and client-safe message of err.
func classify(err error) (code, message string) {
	var internal *internalError
	switch {
	case errors.As(err, &internal):
		return CodeInternal, ""
	case errors.Is(err, auth.ErrUnauthenticated):
		return CodeUnauthenticated, err.Error()
	case errors.Is(err, auth.ErrForbidden):
		return CodeForbidden, err.Error()
	case errors.Is(err, stores.ErrNotFound):
		return CodeNotFound, stores.PublicMessage(err)
	case errors.Is(err, stores.ErrConflict):
		return CodeConflict, stores.PublicMessage(err)
	case errors.Is(err, stores.ErrInvalid):
		return CodeBadUserInput, stores.PublicMessage(err)
	case errors.Is(err, stores.ErrUnavailable):
		return CodeStoreUnavailable, stores.PublicMessage(err)
	case errors.Is(err, stores.ErrExpired):
		return CodeCursorExpired, stores.PublicMessage(err)
	case isBodyTooLarge(err):
		return CodeBadUserInput, "the request body is too large"
	}
	// gqlgen's own errors about arguments and variables (a malformed UUID,
	// an unknown enum value) surface here with their message.
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) {
		return CodeBadUserInput, gqlErr.Message
	}
	// Anything else is none of the known kinds: its text may carry a driver's
	// or a server's detail, so it is logged, never sent.
	return CodeInternal, ""
}

// recoverPanic turns a resolver panic into an internal error and logs it.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "resolver panic", "request_id", RequestID(ctx), "panic", fmt.Sprint(p))
		return &internalError{err: fmt.Errorf("panic: %v", p)}
	}
}

// maxMessage bounds an error message: parser and validation messages quote
// the document, and a hostile one (a megabyte-long field name) must not be
// echoed back whole.
const maxMessage = 512

func clipMessage(m string) string {
	if len(m) <= maxMessage {
		return m
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return m[:cut] + "..."
}
