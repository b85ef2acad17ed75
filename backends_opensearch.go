package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
)

// openOpenSearch puts the full-text domain on OpenSearch when OPENSEARCH_URL
// is set: it waits (within the backend's timeout) for the cluster to be at
// least yellow and creates the shared index when it is missing; each
// tenant's alias is made on its first write.
func openOpenSearch(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error) {
	if cfg.OpenSearchURL == "" {
		return nil, nil
	}
	host := redactedHost(cfg.OpenSearchURL)
	fullText, err := opensearch.Open(ctx, opensearch.Options{URL: cfg.OpenSearchURL})
	if err != nil {
		return nil, fmt.Errorf("opensearch at %s: %w", host, err)
	}
	b.FullText = fullText
	log.Info("full-text on opensearch", "host", host, "index", fullText.Index())
	return fullText.Close, nil
}

// redactedHost is the host of a URL without the credentials it may carry,
// for logs and error messages.
func redactedHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Host
}
