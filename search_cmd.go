package main

import (
	"context"
	"errors"
	"io"
)

// searchCommand is replaced by the OpenSearch operations when stores/opensearch lands.
func searchCommand(_ context.Context, _ []string, _ func(string) string, _ io.Writer) error {
	return errors.New("this build has no OpenSearch backend yet")
}
