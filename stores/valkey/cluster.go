package valkey

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Cluster URL schemes. A Redis/Valkey cluster is named by its scheme, not
// guessed from the number of addresses: a single seed address (a managed
// service's configuration endpoint) is a cluster too, and a single-server
// client pointed at a cluster node would fail with MOVED on most keys.
const (
	clusterScheme    = "redis+cluster"
	clusterTLSScheme = "rediss+cluster"
)

// newClusterClient makes a cluster client that learns of a failover within
// a call. go-redis reloads the slot map on MOVED and ASK, and otherwise only
// every minute: a master that died (connection refused, timeouts) would
// keep its slots in the client's map, and every call for them would fail,
// for up to a minute after its replica took over. So any failure other
// than a missing key asks for a reload in the background (one CLUSTER SLOTS,
// coalesced: at most one every 200 ms however many calls fail).
func newClusterClient(opts *redis.ClusterOptions) *redis.ClusterClient {
	c := redis.NewClusterClient(opts)
	c.AddHook(reloadOnFailure{c})
	return c
}

type reloadOnFailure struct{ c *redis.ClusterClient }

func (h reloadOnFailure) failed(ctx context.Context, err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		h.c.ReloadState(ctx)
	}
}

func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.failed(ctx, err)
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.failed(ctx, err)
		return err
	}
}
