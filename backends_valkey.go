package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/valkey"
)

// openValkey puts the episodic domain on Valkey when VALKEY_URL is set: it
// parses the URL (redis:// or rediss://, or redis+cluster:// or
// rediss+cluster:// for a cluster; its query may tune the client) and checks
// that the server answers within the backend's timeout. There is no
// schema to create: keys appear with the first item and expire with the last.
func openValkey(ctx context.Context, cfg config.Config, log *slog.Logger, b *stores.Backends) (func(), error) {
	if cfg.ValkeyURL == "" {
		return nil, nil
	}
	valkey.LogDriverTo(log)
	episodic, err := valkey.Open(ctx, cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
	if err != nil {
		// err names the address, never the URL, which may hold a password.
		return nil, fmt.Errorf("episodic store: %w", err)
	}
	b.Episodic = episodic
	log.Info("episodic on valkey", "addr", episodic.Addr())
	return func() {
		if err := episodic.Close(); err != nil {
			log.Warn("closing valkey", "err", err)
		}
	}, nil
}

// openSharedLimits keeps the rate limits, the live-connection caps and the
// APQ cache in Valkey when VALKEY_URL is set, so every replica enforces one
// limit and knows every registered query; without Valkey they stay in the
// process. Unlike the episodic store, an unreachable server does not stop
// the start: the limits then fail open or closed as configured.
func openSharedLimits(cfg config.Config, log *slog.Logger, h *graph.Config) (func(), error) {
	if cfg.ValkeyURL == "" {
		return func() {}, nil
	}
	b, err := valkey.Connect(cfg.ValkeyURL, valkey.Options{Timeout: cfg.StoreTimeout})
	if err != nil {
		return nil, fmt.Errorf("shared limits: %w", err)
	}
	limits := b.Limits()
	h.Shared, h.SharedFailClosed = limits, cfg.SharedLimitsFailClosed
	if cfg.APQCacheSize > 0 {
		h.PersistedQueries = limits.PersistedQueries()
	}
	log.Info("rate limits, live-connection caps and persisted queries shared in valkey", "addr", b.Addr(), "fail_closed", cfg.SharedLimitsFailClosed)
	return func() {
		if err := b.Close(); err != nil {
			log.Warn("closing valkey (shared limits)", "err", err)
		}
	}, nil
}
