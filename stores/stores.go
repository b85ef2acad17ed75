// Package stores holds the gateway's domain: the types every backend speaks,
// one interface per domain, the typed errors those interfaces return, and the
// tenant binding. It imports no other package of this module: backends
// (stores/postgres, stores/valkey, ...) implement it, graph/ consumes it.
//
// Every store interface here is tenant-bound: its methods take no org or user
// argument. A Backends value (process-wide) hands out a Bundle of stores bound
// to one Tenant, so a resolver cannot reach another tenant's data even by
// mistake. Another tenant's id behaves exactly like an id that does not exist.
package stores

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Tenant identifies whose data a bundle reaches: an organisation, and the user
// acting in it. Org-wide rows (memories, apps, feedback, experiments, the code
// graph, vectors, documents) are bound by OrgID; personal rows (episodic
// sessions, experiment assignments) by both.
type Tenant struct {
	OrgID  uuid.UUID
	UserID uuid.UUID
}

// Validate reports whether t names an organisation and a user. A zero id
// would match no policy in PostgreSQL but would silently widen a key prefix in
// Valkey, so every backend refuses it up front.
func (t Tenant) Validate() error {
	if t.OrgID == uuid.Nil || t.UserID == uuid.Nil {
		return Invalid("tenant needs an org id and a user id")
	}
	return nil
}

// Backends is the process-wide set of backends, one per domain. server.go
// wires a concrete implementation into each field (stores/embedded by
// default, a real backend when its setting is present).
type Backends struct {
	Memories    MemoryBackend
	Feedback    FeedbackBackend
	Experiments ExperimentBackend
	Episodic    EpisodicBackend
	CodeGraph   CodeGraphBackend
	Vectors     VectorBackend
	FullText    FullTextBackend
	// IndexStatus is served by the memories' backend: it reports how far
	// the derived indexes of those memories are.
	IndexStatus IndexStatusBackend
	// Changes, when set, streams committed changes to subscriptions; nil
	// means the gateway serves no subscriptions (they answer STORE_UNAVAILABLE).
	Changes ChangeBackend
}

// Each backend hands out stores bound to one tenant. The method names differ
// so that one type (stores/embedded, stores/postgres) can serve several domains.
type (
	MemoryBackend      interface{ Memories(Tenant) MemoryStore }
	FeedbackBackend    interface{ Feedback(Tenant) FeedbackStore }
	ExperimentBackend  interface{ Experiments(Tenant) ExperimentStore }
	EpisodicBackend    interface{ Episodic(Tenant) EpisodicStore }
	CodeGraphBackend   interface{ CodeGraph(Tenant) CodeGraphStore }
	VectorBackend      interface{ Vectors(Tenant) VectorStore }
	FullTextBackend    interface{ FullText(Tenant) FullTextStore }
	IndexStatusBackend interface{ IndexStatus(Tenant) IndexStatusStore }
)

// Bundle is the set of stores bound to one tenant, made per request.
type Bundle struct {
	Tenant      Tenant
	Memories    MemoryStore
	Feedback    FeedbackStore
	Experiments ExperimentStore
	Episodic    EpisodicStore
	CodeGraph   CodeGraphStore
	Vectors     VectorStore
	FullText    FullTextStore
	IndexStatus IndexStatusStore
	Changes     ChangeFeed // nil when Backends.Changes is nil
}

// For binds every backend to t. It refuses an incomplete tenant: a request
// without a valid principal gets no bundle.
func (b Backends) For(t Tenant) (*Bundle, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var changes ChangeFeed
	if b.Changes != nil {
		changes = b.Changes.Changes(t)
	}
	return &Bundle{
		Tenant:      t,
		Changes:     changes,
		Memories:    b.Memories.Memories(t),
		Feedback:    b.Feedback.Feedback(t),
		Experiments: b.Experiments.Experiments(t),
		Episodic:    b.Episodic.Episodic(t),
		CodeGraph:   b.CodeGraph.CodeGraph(t),
		Vectors:     b.Vectors.Vectors(t),
		FullText:    b.FullText.FullText(t),
		IndexStatus: b.IndexStatus.IndexStatus(t),
	}, nil
}

// Override returns b with every domain that o sets replaced by o's: how a
// real backend, opened for some domains, takes them over from the defaults.
func (b Backends) Override(o Backends) Backends {
	override(&b.Memories, o.Memories)
	override(&b.Feedback, o.Feedback)
	override(&b.Experiments, o.Experiments)
	override(&b.Episodic, o.Episodic)
	override(&b.CodeGraph, o.CodeGraph)
	override(&b.Vectors, o.Vectors)
	override(&b.FullText, o.FullText)
	override(&b.IndexStatus, o.IndexStatus)
	override(&b.Changes, o.Changes)
	return b
}

func override[T comparable](to *T, from T) {
	var unset T
	if from != unset {
		*to = from
	}
}

type bundleKey struct{}

// NewContext returns ctx carrying the request's tenant-bound bundle.
func NewContext(ctx context.Context, b *Bundle) context.Context {
	return context.WithValue(ctx, bundleKey{}, b)
}

// For returns the request's bundle, or nil when the request has none (it was
// not authenticated). Resolvers reach data only through it.
func For(ctx context.Context) *Bundle {
	b, _ := ctx.Value(bundleKey{}).(*Bundle)
	return b
}

// PageArgs asks for a page of a list in its natural order. After is a cursor
// the same store returned earlier (the graph layer signs and wraps it, so a
// store sees only cursors it issued, but must still refuse a malformed one
// with ErrInvalid). First is always positive and already capped by the caller.
type PageArgs struct {
	First int
	After string
}

// Page is one page of a list: the items, one cursor per item (same length),
// and whether more items follow the last one.
type Page[T any] struct {
	Items       []T
	Cursors     []string
	HasNextPage bool
}

// Errors. Stores return errors whose kind is one of these sentinels, tested
// with errors.Is; one presenter in graph/ maps each kind to extensions.code.
var (
	// ErrNotFound: the thing does not exist, or belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a version mismatch, a duplicate key, or a state that forbids the change.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed or out of range.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: the backend could not be reached or timed out.
	ErrUnavailable = errors.New("store unavailable")
	// ErrExpired: the input was valid once but names something past its
	// retention (a change-log cursor older than the log keeps).
	ErrExpired = errors.New("expired")
)

// Error is a store error with a message that is safe to show a client. The
// cause (driver text, wrapped errors) stays internal: it is logged, never sent.
type Error struct {
	Kind    error  // one of the sentinels above
	Message string // client-safe, says what was wrong with the request
	Cause   error  // internal detail, may be nil
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap lets errors.Is match the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// NotFound returns an ErrNotFound error with a client-safe message.
func NotFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns an ErrConflict error with a client-safe message.
func Conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an ErrInvalid error with a client-safe message.
func Invalid(format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// Expired returns an ErrExpired error with a client-safe message.
func Expired(format string, args ...any) error {
	return &Error{Kind: ErrExpired, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a backend failure: the client sees only which backend is
// unavailable, the cause is kept for the log.
func Unavailable(backend string, cause error) error {
	return &Error{Kind: ErrUnavailable, Message: backend + " is unavailable", Cause: cause}
}

// PublicMessage returns the client-safe message of a store error, or "" when
// err carries none (it is then an internal error and must not be shown).
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	// A bare sentinel: its own text is safe.
	for _, kind := range []error{ErrNotFound, ErrConflict, ErrInvalid, ErrUnavailable, ErrExpired} {
		if errors.Is(err, kind) {
			return kind.Error()
		}
	}
	return ""
}
