package opensearch

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"
)

// The operator's view of the full-text store (package tenants): what an
// organisation holds (documents in the shared and dedicated indices, its
// alias, its dedicated index), erasing it in bounded batches (a
// delete_by_query of at most batch documents, then the alias and the
// dedicated index), and which organisations hold anything.

// TenantStoreName names this store in lifecycle jobs and audits.
const TenantStoreName = "opensearch"

// maxOrgBuckets bounds the organisations one listing aggregation returns.
const maxOrgBuckets = 65536

// Name names the store in lifecycle jobs.
func (b *Backend) Name() string { return TenantStoreName }

// allIndices names the shared index and every dedicated one (they share its
// name as a prefix).
func (b *Backend) allIndices() string { return url.PathEscape(b.opts.Index + "*") }

func orgQuery(org uuid.UUID) map[string]any {
	return map[string]any{"query": newTermQuery("org_id", org.String())}
}

// exists reports whether an index or alias answers HEAD with 200.
func (b *Backend) exists(ctx context.Context, path string) (bool, error) {
	err := b.call(ctx, http.MethodHead, path, nil, nil, nil)
	if statusOf(err) == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// Count returns the organisation's documents, whether its alias exists, and
// whether a dedicated index does.
func (b *Backend) Count(ctx context.Context, org uuid.UUID) (map[string]int64, error) {
	var resp struct {
		Count int64 `json:"count"`
	}
	if err := b.call(ctx, http.MethodPost, "/"+b.allIndices()+"/_count", nil, orgQuery(org), &resp); err != nil && statusOf(err) != http.StatusNotFound {
		return nil, err
	}
	out := map[string]int64{"documents": resp.Count}
	for kind, path := range map[string]string{
		"aliases":           "/_alias/" + url.PathEscape(b.aliasName(org)),
		"dedicated_indices": "/" + url.PathEscape(b.DedicatedIndex(org)),
	} {
		found, err := b.exists(ctx, path)
		if err != nil {
			return nil, err
		}
		if found {
			out[kind] = 1
		} else {
			out[kind] = 0
		}
	}
	return out, nil
}

// EraseBatch deletes up to batch of the organisation's documents; once none
// is left, its alias and its dedicated index.
func (b *Backend) EraseBatch(ctx context.Context, org uuid.UUID, batch int) (map[string]int64, bool, error) {
	q := url.Values{"max_docs": {strconv.Itoa(batch)}, "refresh": {"true"}, "conflicts": {"proceed"}}
	var resp struct {
		Deleted int64 `json:"deleted"`
	}
	err := b.call(ctx, http.MethodPost, "/"+b.allIndices()+"/_delete_by_query", q, orgQuery(org), &resp)
	if err != nil && statusOf(err) != http.StatusNotFound {
		return nil, false, err
	}
	if resp.Deleted > 0 {
		return map[string]int64{"documents": resp.Deleted}, false, nil
	}
	removed := map[string]int64{}
	b.mu.Lock()
	delete(b.aliases, org)
	b.mu.Unlock()
	indices, err := b.TenantIndices(ctx, org)
	if err != nil {
		return nil, false, err
	}
	for _, index := range indices {
		path := "/" + url.PathEscape(index) + "/_alias/" + url.PathEscape(b.aliasName(org))
		if err := b.call(ctx, http.MethodDelete, path, nil, nil, nil); err != nil && statusOf(err) != http.StatusNotFound {
			return nil, false, err
		}
		removed["aliases"]++
	}
	dedicated := b.DedicatedIndex(org)
	found, err := b.exists(ctx, "/"+url.PathEscape(dedicated))
	if err != nil {
		return nil, false, err
	}
	if found {
		if err := b.call(ctx, http.MethodDelete, "/"+url.PathEscape(dedicated), nil, nil, nil); err != nil && statusOf(err) != http.StatusNotFound {
			return nil, false, err
		}
		removed["dedicated_indices"] = 1
	}
	return removed, true, nil
}

// Orgs lists the organisations with an alias or documents on this backend's
// indices.
func (b *Backend) Orgs(ctx context.Context) ([]uuid.UUID, error) {
	tenants, err := b.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]bool{}
	for _, t := range tenants {
		seen[t.Org] = true
	}
	counts, err := b.countByTenantAndIndex(ctx, maxOrgBuckets)
	if err != nil && statusOf(err) != http.StatusNotFound {
		return nil, err
	}
	for org := range counts {
		if id, err := uuid.Parse(org); err == nil {
			seen[id] = true
		}
	}
	out := make([]uuid.UUID, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out, nil
}
