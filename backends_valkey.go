package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/codingbrain/gateway/config"
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
