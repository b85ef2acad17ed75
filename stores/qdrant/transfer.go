package qdrant

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"

	"github.com/codingbrain/gateway/stores"
)

// ExportModels lists the models that have a collection, for tenant export.
func (b *Backend) ExportModels(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	names, err := b.client.ListCollections(ctx)
	if err != nil {
		return nil, b.fail(ctx, err)
	}
	var models []string
	for _, n := range names {
		if model, ok := strings.CutPrefix(n, collectionPrefix); ok && stores.ValidModelName(model) {
			models = append(models, model)
		}
	}
	return models, nil
}

// ExportPage reads up to limit of org's points of one model, with their
// vectors, after the Qdrant offset after (nil for the first page). It
// returns the offset of the next page, nil after the last one. The points
// come back as the gateway wrote them: the caller's id, memory, payload,
// author and visibility, never the derived Qdrant id.
func (b *Backend) ExportPage(ctx context.Context, org uuid.UUID, model string, after *qc.PointId, limit uint32) ([]stores.VectorPoint, *qc.PointId, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	recs, next, err := b.client.ScrollAndOffset(ctx, &qc.ScrollPoints{
		CollectionName: collectionName(model),
		Filter:         &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword(orgKey, org.String())}},
		Offset:         after,
		Limit:          &limit,
		WithPayload:    qc.NewWithPayload(true),
		WithVectors:    qc.NewWithVectors(true),
	})
	if err != nil {
		return nil, nil, b.fail(ctx, err)
	}
	points := make([]stores.VectorPoint, 0, len(recs))
	for _, r := range recs {
		payload := r.GetPayload()
		id, err := uuid.Parse(payload[pointKey].GetStringValue())
		if err != nil {
			return nil, nil, fmt.Errorf("qdrant point %s has no valid %s: %w", r.GetId().GetUuid(), pointKey, err)
		}
		// The dense field: the deprecated data field, which older servers
		// filled instead, is not read (e2e/transfer_test.go checks that the
		// vectors come back).
		p := stores.VectorPoint{ID: id, Vector: r.GetVectors().GetVector().GetDense().GetData(), Payload: decodePayload(payload)}
		if m, ok := payload[memoryKey]; ok {
			memoryID, err := uuid.Parse(m.GetStringValue())
			if err != nil {
				return nil, nil, fmt.Errorf("qdrant point %s has an invalid %s: %w", r.GetId().GetUuid(), memoryKey, err)
			}
			p.MemoryID = &memoryID
		}
		if a, ok := payload[authorKey]; ok {
			p.AuthorID, _ = uuid.Parse(a.GetStringValue())
		}
		if v, ok := payload[visibilityKey]; ok {
			p.Visibility = stores.Visibility(v.GetStringValue())
		}
		points = append(points, p)
	}
	return points, next, nil
}
