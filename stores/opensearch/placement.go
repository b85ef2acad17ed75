package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TenantPlacement is where one organisation's documents live and how many
// there are.
type TenantPlacement struct {
	Org       uuid.UUID
	Index     string // the index its alias points to
	Dedicated bool   // the index is the tenant's own (moved), not the shared one
	Documents int
}

// Tenants lists every organisation on this backend's shared index or a
// dedicated one of its own, where it lives and its document count there,
// largest first: one call for the aliases, one aggregation for every count.
func (b *Backend) Tenants(ctx context.Context) ([]TenantPlacement, error) {
	var aliases map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	if err := b.call(ctx, http.MethodGet, "/_alias/"+url.PathEscape(b.opts.AliasPrefix+"*"), nil, nil, &aliases); err != nil && statusOf(err) != http.StatusNotFound {
		return nil, err
	}
	var out []TenantPlacement
	for index, a := range aliases {
		for alias := range a.Aliases {
			org, err := uuid.Parse(strings.TrimPrefix(alias, b.opts.AliasPrefix))
			if err != nil || (index != b.opts.Index && index != b.DedicatedIndex(org)) {
				continue // not a tenant alias of this backend's indices
			}
			out = append(out, TenantPlacement{Org: org, Index: index, Dedicated: index == b.DedicatedIndex(org)})
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	counts, err := b.countByTenantAndIndex(ctx, len(out))
	if err != nil {
		return nil, err
	}
	for i, t := range out {
		out[i].Documents = counts[t.Org.String()][t.Index]
	}
	slices.SortFunc(out, func(x, y TenantPlacement) int {
		if x.Documents != y.Documents {
			return y.Documents - x.Documents
		}
		return strings.Compare(x.Org.String(), y.Org.String())
	})
	return out, nil
}

// countByTenantAndIndex counts the documents of every tenant in each of
// this backend's indices (the shared one and the dedicated ones, which share
// its name as a prefix) in one aggregation; tenants bounds the buckets.
func (b *Backend) countByTenantAndIndex(ctx context.Context, tenants int) (map[string]map[string]int, error) {
	type bucket struct {
		Key      string `json:"key"`
		DocCount int    `json:"doc_count"`
	}
	var resp struct {
		Aggregations struct {
			Orgs struct {
				Buckets []struct {
					bucket
					Indices struct {
						Buckets []bucket `json:"buckets"`
					} `json:"indices"`
				} `json:"buckets"`
			} `json:"orgs"`
		} `json:"aggregations"`
	}
	// Tombstones of deleted documents are left out: the threshold is about
	// what a tenant keeps.
	notDeleted := map[string]any{"bool": map[string]any{"must_not": []any{newBoolTermQuery("deleted", true)}}}
	body := map[string]any{"size": 0, "query": notDeleted, "aggs": map[string]any{"orgs": map[string]any{
		"terms": map[string]any{"field": "org_id", "size": tenants},
		"aggs":  map[string]any{"indices": map[string]any{"terms": map[string]any{"field": "_index"}}},
	}}}
	if err := b.call(ctx, http.MethodPost, "/"+url.PathEscape(b.opts.Index+"*")+"/_search", nil, body, &resp); err != nil {
		return nil, fmt.Errorf("counting the tenants' documents: %w", err)
	}
	counts := map[string]map[string]int{}
	for _, o := range resp.Aggregations.Orgs.Buckets {
		counts[o.Key] = map[string]int{}
		for _, i := range o.Indices.Buckets {
			counts[o.Key][i.Key] = i.DocCount
		}
	}
	return counts, nil
}

// PlacementPolicy moves an organisation to a dedicated index once it holds
// DedicatedAbove documents (0: never), checking every Interval.
type PlacementPolicy struct {
	DedicatedAbove int
	Interval       time.Duration
}

// PlaceLargeTenants moves every tenant of the shared index that holds at
// least threshold documents to a dedicated index (MoveTenant: searches and
// writes keep answering throughout), one at a time, and returns the moves
// made. Replicas that run it at once cannot move one tenant twice at once:
// a move first takes a lock document (create-only) that it deletes after.
func (b *Backend) PlaceLargeTenants(ctx context.Context, threshold int, log *slog.Logger) ([]MoveResult, error) {
	tenants, err := b.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var moved []MoveResult
	for _, t := range tenants {
		if t.Dedicated || t.Index != b.opts.Index || t.Documents < threshold {
			continue
		}
		unlock, ok, err := b.lockMove(ctx, t.Org)
		if err != nil {
			return moved, err
		}
		if !ok {
			continue // another replica is moving it
		}
		log.InfoContext(ctx, "moving a large tenant to a dedicated index", "org_id", t.Org.String(), "documents", t.Documents, "threshold", threshold)
		res, err := b.MoveTenant(ctx, t.Org)
		unlock()
		if err != nil {
			return moved, fmt.Errorf("moving org %s: %w", t.Org, err)
		}
		log.InfoContext(ctx, "tenant moved", "org_id", t.Org.String(), "index", res.To, "copied", res.Copied, "removed", res.Removed)
		moved = append(moved, res)
	}
	return moved, nil
}

// RunPlacement applies the policy until ctx ends; a failed round is logged
// and retried at the next interval.
func (b *Backend) RunPlacement(ctx context.Context, p PlacementPolicy, log *slog.Logger) {
	if p.DedicatedAbove <= 0 {
		return
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := b.PlaceLargeTenants(ctx, p.DedicatedAbove, log); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "tenant placement", "error", err.Error())
			}
		}
	}
}

// moveLockTTL bounds how long a move lock holds when its replica died
// before releasing it.
const moveLockTTL = time.Hour

// lockMove takes the move lock of org: a document created only if absent
// in a small index of locks. A lock older than moveLockTTL is taken over.
func (b *Backend) lockMove(ctx context.Context, org uuid.UUID) (unlock func(), ok bool, err error) {
	index := b.opts.Index + "-locks"
	path := "/" + url.PathEscape(index) + "/_create/" + url.PathEscape("move-"+org.String())
	type lock struct {
		Taken time.Time `json:"taken"`
	}
	err = b.call(ctx, http.MethodPut, path, url.Values{"refresh": {"true"}}, lock{Taken: time.Now().UTC()}, nil)
	if statusOf(err) == http.StatusConflict {
		var held struct {
			Source lock `json:"_source"`
		}
		if err := b.call(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_doc/"+url.PathEscape("move-"+org.String()), nil, nil, &held); err != nil {
			return nil, false, err
		}
		if time.Since(held.Source.Taken) < moveLockTTL {
			return nil, false, nil
		}
		err = b.call(ctx, http.MethodPut, "/"+url.PathEscape(index)+"/_doc/"+url.PathEscape("move-"+org.String()), url.Values{"refresh": {"true"}}, lock{Taken: time.Now().UTC()}, nil)
	}
	if err != nil {
		return nil, false, fmt.Errorf("taking the move lock of org %s: %w", org, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.Timeout)
		defer cancel()
		_ = b.call(ctx, http.MethodDelete, "/"+url.PathEscape(index)+"/_doc/"+url.PathEscape("move-"+org.String()), url.Values{"refresh": {"true"}}, nil, nil) // an unreleased lock expires
	}, true, nil
}
