// Package auth turns the bearer JWT on an incoming request into a Principal
// (who is calling, on behalf of which org, with which scopes) so that every
// resolver can make tenant-isolation and permission decisions from one
// verified value instead of re-reading headers.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// DevelopmentSecret is the HS256 secret used only when every backend is
// embedded and no secret is configured, so that a local gateway works out of
// the box. It is public, so tokens signed with it prove nothing.
const DevelopmentSecret = "codingbrain-development-secret-do-not-use-in-production"

// ErrUnauthenticated is wrapped by every verification failure so callers can
// map any of them to a single 401 response with errors.Is. The text of the
// wrapping error ("unauthenticated: token expired") is safe to show a client:
// it never contains the token or key material.
var ErrUnauthenticated = errors.New("unauthenticated")

// Principal is the verified identity behind a request; resolvers use OrgID to
// scope every read and write to one tenant and Scopes to authorise the call.
type Principal struct {
	// UserID is the token's "sub": who is acting.
	UserID uuid.UUID
	// OrgID is the token's "org": the only tenant whose data may be touched.
	OrgID uuid.UUID
	// Scopes are the known scopes granted by "scope"; unknown ones are dropped.
	Scopes []string
	// ExpiresAt is the token's "exp", so long-lived work can stop in time.
	ExpiresAt time.Time
}

// Has reports whether the principal was granted scope, so authorisation
// checks read as p.Has(auth.ScopeMemoriesWrite). It is an exact match:
// ScopeAdmin does not imply the domain scopes.
func (p Principal) Has(scope string) bool {
	return slices.Contains(p.Scopes, scope)
}

type contextKey struct{}

// NewContext returns a copy of ctx carrying p, so the middleware that
// verifies the token can hand the principal to resolvers.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the principal stored by NewContext; ok is false when
// the request was never authenticated, which callers must treat as a denial.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	if ctx == nil {
		return Principal{}, false
	}
	p, ok = ctx.Value(contextKey{}).(Principal)
	return p, ok
}

// authError keeps the client-safe message separate from the underlying
// cause: Error shows only the safe text, while errors.Is/As still reach the
// cause (for example jwt.ErrTokenExpired) for server-side logging.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return ErrUnauthenticated.Error() + ": " + e.msg }

func (e *authError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnauthenticated}
	}
	return []error{ErrUnauthenticated, e.cause}
}

func unauthenticated(msg string, cause error) error {
	return &authError{msg: msg, cause: cause}
}

// ErrForbidden is wrapped by Require when the caller is authenticated but
// lacks a scope; the message names the missing scope.
var ErrForbidden = errors.New("forbidden")

// Require checks that the request carries a principal holding scope. It
// returns an ErrUnauthenticated error when there is no principal and an
// ErrForbidden error naming the scope when the principal lacks it.
func Require(ctx context.Context, scope string) error {
	p, ok := FromContext(ctx)
	if !ok {
		return &authError{msg: "missing bearer token"}
	}
	if !p.Has(scope) {
		return fmt.Errorf("%w: this needs the %s scope", ErrForbidden, scope)
	}
	return nil
}
