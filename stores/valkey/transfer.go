package valkey

import (
	"context"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// scanBatch is the COUNT hint of each SCAN step of OrgUsers.
const scanBatch = 1000

// OrgUsers returns the users of org that hold episodic data, found by a SCAN
// of every primary for the users' index keys (ep:{org:user}/index/touch).
// Only tenant export and erase use it: the serving path never scans. The
// answer holds one id a user, not a key a session or item.
func (b *Backend) OrgUsers(ctx context.Context, org uuid.UUID) ([]uuid.UUID, error) {
	prefix := keyPrefix + "{" + org.String() + ":"
	pattern := prefix + "*}" + indexTouchSuffix
	seen := map[uuid.UUID]bool{}
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, scanBatch).Iterator()
		for iter.Next(ctx) {
			key := strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix), "}"+indexTouchSuffix)
			if user, err := uuid.Parse(key); err == nil {
				// ForEachMaster scans the primaries concurrently.
				mu.Lock()
				seen[user] = true
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	err := b.call(ctx, func(ctx context.Context) error {
		if cluster, ok := b.client.(*redis.ClusterClient); ok {
			return cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
		}
		return scan(ctx, b.client)
	})
	if err != nil {
		return nil, err
	}
	users := make([]uuid.UUID, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	return users, nil
}
