package valkey

import (
	"context"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The operator's view of the episodic keys (package tenants): what an
// organisation holds, erasing it in bounded batches, and which organisations
// hold keys. Keys are found with SCAN and a MATCH on their ep:{<org>:
// prefix, on every master of a cluster: an operator's job, which walks the
// keyspace in pages of scanPage keys and never blocks the server (no KEYS).

// scanPage is the COUNT hint of each SCAN call, and the most keys one UNLINK
// pipeline carries.
const scanPage = 500

// TenantStoreName names this store in lifecycle jobs and audits.
const TenantStoreName = "valkey"

// Name names the store in lifecycle jobs.
func (b *Backend) Name() string { return TenantStoreName }

// orgPattern matches every key of an organisation; userPattern every key of
// one user. Glob metacharacters (* ? [ ] \) cannot occur in a UUID.
func orgPattern(org uuid.UUID) string { return keyPrefix + "{" + org.String() + ":*" }

func userPattern(org, user uuid.UUID) string {
	return keyPrefix + "{" + org.String() + ":" + user.String() + "}*"
}

// scan calls fn with each page of keys matching pattern, on every master;
// fn returning false stops the walk. A cluster's masters are walked side
// by side, but fn is called for one page at a time, so it may keep state
// without a lock of its own.
func (b *Backend) scan(ctx context.Context, pattern string, fn func(ctx context.Context, keys []string) (bool, error)) error {
	var mu sync.Mutex
	page := func(ctx context.Context, keys []string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return fn(ctx, keys)
	}
	walk := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, scanPage).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				more, err := page(ctx, keys)
				if err != nil || !more {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cluster, ok := b.client.(*redis.ClusterClient); ok {
		return cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return walk(ctx, node) })
	}
	return walk(ctx, b.client)
}

// Count returns the organisation's keys and the users they belong to.
func (b *Backend) Count(ctx context.Context, org uuid.UUID) (map[string]int64, error) {
	var keys int64
	users := map[string]bool{}
	err := b.scan(ctx, orgPattern(org), func(_ context.Context, page []string) (bool, error) {
		for _, k := range page {
			keys++
			if tag, ok := hashTag(k); ok {
				users[tag] = true
			}
		}
		return true, nil
	})
	return map[string]int64{"keys": keys, "users": int64(len(users))}, err
}

// EraseBatch unlinks up to about batch keys of the organisation; done when
// a walk finds none left.
func (b *Backend) EraseBatch(ctx context.Context, org uuid.UUID, batch int) (map[string]int64, bool, error) {
	return b.erase(ctx, orgPattern(org), batch)
}

// EraseUserBatch unlinks up to about batch keys of one user of the organisation.
func (b *Backend) EraseUserBatch(ctx context.Context, org, user uuid.UUID, batch int) (map[string]int64, bool, error) {
	return b.erase(ctx, userPattern(org, user), batch)
}

func (b *Backend) erase(ctx context.Context, pattern string, batch int) (map[string]int64, bool, error) {
	var removed int64
	err := b.scan(ctx, pattern, func(ctx context.Context, page []string) (bool, error) {
		// One UNLINK per key in one pipeline: in a cluster the page's keys
		// may hash to several slots, and the client routes each command.
		cmds, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range page {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		for _, c := range cmds {
			removed += c.(*redis.IntCmd).Val()
		}
		return removed < int64(batch), nil
	})
	if err != nil {
		return nil, false, err
	}
	out := map[string]int64{}
	if removed > 0 {
		out["keys"] = removed
	}
	return out, removed == 0, nil
}

// Orgs lists the organisations that hold episodic keys.
func (b *Backend) Orgs(ctx context.Context) ([]uuid.UUID, error) {
	seen := map[uuid.UUID]bool{}
	err := b.scan(ctx, keyPrefix+"{*", func(_ context.Context, page []string) (bool, error) {
		for _, k := range page {
			tag, ok := hashTag(k)
			if !ok {
				continue
			}
			orgText, _, _ := strings.Cut(tag, ":")
			if org, err := uuid.Parse(orgText); err == nil {
				seen[org] = true
			}
		}
		return true, nil
	})
	out := make([]uuid.UUID, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out, err
}

// hashTag returns the "<org>:<user>" between a key's braces.
func hashTag(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix+"{")
	if !ok {
		return "", false
	}
	tag, _, ok := strings.Cut(rest, "}")
	return tag, ok
}
