package qdrant

import (
	"context"
	"strings"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

// The operator's view of the vectors (package tenants): what an organisation
// holds in every collection of this backend, erasing it in bounded batches
// (a page of its point ids, then a delete of those ids), and which
// organisations hold points.

// TenantStoreName names this store in lifecycle jobs and audits.
const TenantStoreName = "qdrant"

// orgsPage is how many points one scroll of the organisation listing reads.
const orgsPage = 1000

// Name names the store in lifecycle jobs.
func (b *Backend) Name() string { return TenantStoreName }

// collections lists this backend's collections (emb_<model>).
func (b *Backend) collections(ctx context.Context) ([]string, error) {
	names, err := b.client.ListCollections(ctx)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, collectionPrefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

func orgFilter(org uuid.UUID) *qc.Filter {
	return &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword(orgKey, org.String())}}
}

// Count returns the organisation's points per collection ("points:<collection>").
func (b *Backend) Count(ctx context.Context, org uuid.UUID) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	names, err := b.collections(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, name := range names {
		n, err := b.client.Count(ctx, &qc.CountPoints{CollectionName: name, Filter: orgFilter(org), Exact: qc.PtrOf(true)})
		if code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return nil, b.fail(ctx, err)
		}
		out["points:"+name] = int64(n)
	}
	return out, nil
}

// EraseBatch deletes up to batch of the organisation's points, from the
// first collection that still holds some.
func (b *Backend) EraseBatch(ctx context.Context, org uuid.UUID, batch int) (map[string]int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	names, err := b.collections(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, name := range names {
		found, err := b.client.Scroll(ctx, &qc.ScrollPoints{
			CollectionName: name, Filter: orgFilter(org), Limit: qc.PtrOf(uint32(batch)),
			WithPayload: qc.NewWithPayload(false), WithVectors: qc.NewWithVectors(false),
		})
		if code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return nil, false, b.fail(ctx, err)
		}
		if len(found) == 0 {
			continue
		}
		ids := make([]*qc.PointId, len(found))
		for i, p := range found {
			ids[i] = p.GetId()
		}
		_, err = b.client.Delete(ctx, &qc.DeletePoints{CollectionName: name, Wait: qc.PtrOf(true), Points: qc.NewPointsSelector(ids...)})
		if err != nil && code(err) != codes.NotFound {
			return nil, false, b.fail(ctx, err)
		}
		return map[string]int64{"points:" + name: int64(len(ids))}, false, nil
	}
	return map[string]int64{}, true, nil
}

// Orgs lists the organisations that hold points, reading every point's
// org_id page by page.
func (b *Backend) Orgs(ctx context.Context) ([]uuid.UUID, error) {
	names, err := b.collections(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]bool{}
	for _, name := range names {
		var offset *qc.PointId
		for {
			pageCtx, cancel := context.WithTimeout(ctx, b.timeout)
			found, next, err := b.client.ScrollAndOffset(pageCtx, &qc.ScrollPoints{
				CollectionName: name, Offset: offset, Limit: qc.PtrOf(uint32(orgsPage)),
				WithPayload: qc.NewWithPayloadInclude(orgKey), WithVectors: qc.NewWithVectors(false),
			})
			cancel()
			if err != nil {
				return nil, b.fail(ctx, err)
			}
			for _, p := range found {
				if id, err := uuid.Parse(p.GetPayload()[orgKey].GetStringValue()); err == nil {
					seen[id] = true
				}
			}
			if next == nil || len(found) == 0 {
				break
			}
			offset = next
		}
	}
	out := make([]uuid.UUID, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out, nil
}
