package postgres

import (
	"context"
	"errors"

	"github.com/codingbrain/gateway/stores"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes the stores act on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeNotNullViolation    = "23502"
	codeInvalidText         = "22P02"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
)

// notFoundByConstraint names what is missing when a foreign key refuses a
// row: the reference points at nothing in the tenant's organisation.
var notFoundByConstraint = map[string]string{
	"memories_app_fkey":                   "app not found",
	"feedback_events_memory_fkey":         "memory not found",
	"feedback_events_experiment_fkey":     "experiment not found",
	"feedback_events_variant_fkey":        "the experiment has no such variant",
	"memory_categories_memory_fkey":       "memory not found",
	"experiment_assignments_variant_fkey": "variant not found",
}

// mapError turns a driver error into a stores error with a client-safe
// message; the driver's text stays in the cause, for the log. ctx is the
// caller's context: when the caller gave up, its own error is returned.
func (b *Backend) mapError(ctx context.Context, err error) error {
	var se *stores.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(ctxErr, context.Canceled) {
		return ctxErr
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// No SQLSTATE: the server was not reached, the connection broke, or
		// the call ran out of time.
		return stores.Unavailable("postgres", err)
	}
	var out *stores.Error
	switch code := pgErr.Code; {
	case code == codeUniqueViolation:
		out = &stores.Error{Kind: stores.ErrConflict, Message: "a record with the same name or key already exists"}
	case code == codeForeignKeyViolation:
		msg, ok := notFoundByConstraint[pgErr.ConstraintName]
		if !ok {
			msg = "a referenced record was not found"
		}
		out = &stores.Error{Kind: stores.ErrNotFound, Message: msg}
	case code == codeCheckViolation, code == codeNotNullViolation, code == codeInvalidText,
		code[:2] == "22": // data exceptions: malformed or out-of-range values
		out = &stores.Error{Kind: stores.ErrInvalid, Message: "a value is malformed or out of range"}
	case code == codeSerialization, code == codeDeadlock:
		out = &stores.Error{Kind: stores.ErrConflict, Message: "the change collided with a concurrent one; retry it"}
	case code[:2] == "08", code[:2] == "53", code[:2] == "57", code[:2] == "58":
		// Connection exceptions, insufficient resources, operator
		// intervention (shutdown, statement timeout), system errors.
		return stores.Unavailable("postgres", err)
	default:
		// Anything else (a privilege or policy refusal, a syntax error) is a
		// bug of ours: an internal error, never shown to the client.
		return errorf("%w", err)
	}
	out.Cause = err
	return out
}

// isUniqueViolation reports whether err is a duplicate key of the named constraint.
func isUniqueViolation(err error, constraint string) bool {
	return isViolation(err, codeUniqueViolation, constraint)
}

// isForeignKeyViolation reports whether err is a dangling reference of the named constraint.
func isForeignKeyViolation(err error, constraint string) bool {
	return isViolation(err, codeForeignKeyViolation, constraint)
}

func isViolation(err error, code, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code && pgErr.ConstraintName == constraint
}
