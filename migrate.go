package main

import (
	"context"
	"errors"
	"io"
)

// migrate is replaced by the goose migrations command when stores/postgres lands.
func migrate(_ context.Context, _ []string, _ func(string) string, _ io.Writer) error {
	return errors.New("this build has no PostgreSQL migrations yet")
}
