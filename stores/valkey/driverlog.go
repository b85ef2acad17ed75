package valkey

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogDriverTo sends go-redis's own messages (failed dials, pool events),
// which it otherwise prints unstructured to stderr, to log as warnings, so
// the gateway's log stays one structured line per event. The setting is
// process-wide, as go-redis's logger is. The messages name addresses and
// server replies, never the URL or its password.
func LogDriverTo(log *slog.Logger) { redis.SetLogger(driverLog{log: log}) }

type driverLog struct{ log *slog.Logger }

func (d driverLog) Printf(ctx context.Context, format string, v ...any) {
	d.log.WarnContext(ctx, "valkey driver", "detail", fmt.Sprintf(format, v...))
}
