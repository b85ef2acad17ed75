package qdrant

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/codingbrain/gateway/stores"
)

// vectorStore is the VectorStore of one tenant: every request it sends
// carries the tenant's org, in the payload it writes and in a must-filter on
// everything it reads, counts or deletes.
type vectorStore struct {
	b      *Backend
	tenant stores.Tenant
}

// begin checks what every call needs before a round trip and bounds the
// call with the backend's timeout.
func (s *vectorStore) begin(ctx context.Context, model string) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := s.tenant.Validate(); err != nil {
		return nil, nil, err
	}
	if err := stores.CheckModelName(model); err != nil {
		return nil, nil, err
	}
	if _, err := s.b.declaredDimension(model); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.b.timeout)
	return ctx, cancel, nil
}

// orgCondition restricts a request to the bound org's points.
func (s *vectorStore) orgCondition() *qc.Condition {
	return qc.NewMatchKeyword(orgKey, s.tenant.OrgID.String())
}

// visibleFilter keeps the points the bound user may see: those that are
// not PRIVATE, and the PRIVATE ones the user wrote. Every search carries it
// beside the org condition.
func (s *vectorStore) visibleFilter() *qc.Condition {
	return qc.NewFilterAsCondition(&qc.Filter{Should: []*qc.Condition{
		qc.NewFilterAsCondition(&qc.Filter{MustNot: []*qc.Condition{qc.NewMatchKeyword(visibilityKey, string(stores.VisibilityPrivate))}}),
		qc.NewMatchKeyword(authorKey, s.tenant.UserID.String()),
	}})
}

// point returns one caller point, checked by stores.CheckPoints, as the
// Qdrant point the bound org stores.
func (s *vectorStore) point(p stores.VectorPoint) (*qc.PointStruct, error) {
	user, err := encodePayload(p.Payload)
	if err != nil {
		return nil, err
	}
	if err := stores.CheckIndexedVisibility(p.Visibility, p.AuthorID, s.tenant.UserID); err != nil {
		return nil, err
	}
	payload := map[string]*qc.Value{
		orgKey:   qc.NewValueString(s.tenant.OrgID.String()),
		pointKey: qc.NewValueString(p.ID.String()),
		userKey:  user,
	}
	if p.MemoryID != nil {
		payload[memoryKey] = qc.NewValueString(p.MemoryID.String())
	}
	if p.AuthorID != uuid.Nil {
		payload[authorKey] = qc.NewValueString(p.AuthorID.String())
	}
	if p.Visibility != "" {
		payload[visibilityKey] = qc.NewValueString(string(p.Visibility))
	}
	if p.Version > 0 {
		payload[versionKey] = qc.NewValueInt(p.Version)
		payload[rankKey] = qc.NewValueInt(stores.VersionRank(p.Version, p.Deleted))
	}
	if p.Deleted {
		payload[deletedKey] = qc.NewValueBool(true)
	}
	return &qc.PointStruct{
		Id:      pointID(s.tenant.OrgID, p.ID, stores.PrivateOwner(p.Visibility, p.AuthorID)),
		Vectors: qc.NewVectorsDense(append([]float32(nil), p.Vector...)),
		Payload: payload,
	}, nil
}

// UpsertVectors writes the batch in one Upsert call, waiting until it is
// applied so that a search right after sees it. The model's collection is
// created on its first upsert, after the whole batch has been checked: a
// refused batch creates nothing.
//
// Versioned points are ordered by Qdrant itself: the Upsert carries an
// update filter under which a stored point is replaced only when its rank
// is older than the incoming one's (or it has none), and Qdrant evaluates
// it atomically as it applies the write. So the memory version is the
// fencing token and the check is made against the state the newest writer
// left: a stalled writer that wakes up late cannot overwrite, whatever
// leases it held. A versioned write leaves a tombstone (a point marked
// deleted, at the rank of the delete, with a placeholder vector) where it
// removes a point, so a late write of an older version finds it and stays
// out instead of inserting into an empty slot.
func (s *vectorStore) UpsertVectors(ctx context.Context, model string, points []stores.VectorPoint) error {
	ctx, cancel, err := s.begin(ctx, model)
	if err != nil {
		return err
	}
	defer cancel()
	if err := stores.CheckPoints(points); err != nil {
		return err
	}
	dim := 0
	for _, p := range points {
		if !p.Deleted {
			dim = len(p.Vector)
			break
		}
	}
	if dim == 0 && len(points) > 0 {
		// Only versioned deletes: the tombstones take the collection's
		// dimension, and a model without a collection has nothing to delete.
		d, ok, err := s.b.dimension(ctx, model)
		if err != nil || !ok {
			return err
		}
		dim = d
	}
	if len(points) == 0 {
		return nil
	}
	var (
		batch   []*qc.PointStruct
		twins   []*qc.PointId   // unversioned points' twins, deleted first
		clauses []*qc.Condition // which stored points the upsert may replace
	)
	placeholder := make([]float32, dim)
	placeholder[0] = 1
	for _, p := range points {
		// The user's point of this id in the other space goes (a memory
		// whose visibility changed moves between them), so that a point
		// never shows in both: deleted before the upsert, or replaced by a
		// tombstone in it for a versioned point.
		owner := stores.PrivateOwner(p.Visibility, p.AuthorID)
		other := s.tenant.UserID
		if owner != uuid.Nil {
			other = uuid.Nil
		}
		if p.Deleted {
			p.Vector = placeholder
		}
		qp, err := s.point(p)
		if err != nil {
			return err
		}
		batch = append(batch, qp)
		if p.Version == 0 {
			twins = append(twins, pointID(s.tenant.OrgID, p.ID, other))
			clauses = append(clauses, qc.NewHasID(qp.Id))
			continue
		}
		clauses = append(clauses, olderThan(qp.Id, stores.VersionRank(p.Version, p.Deleted)))
		if !stores.TombstonesOtherSpace(p.Version, p.Deleted) {
			continue
		}
		tombstone := p
		tombstone.Deleted, tombstone.Vector = true, placeholder
		tp, err := s.point(tombstone)
		if err != nil {
			return err
		}
		tp.Id = pointID(s.tenant.OrgID, p.ID, other)
		batch = append(batch, tp)
		clauses = append(clauses, olderThan(tp.Id, stores.VersionRank(p.Version, true)))
	}
	var onlyOlder *qc.Filter
	if len(twins) < len(points) {
		onlyOlder = &qc.Filter{Should: clauses}
	}
	if want, _ := s.b.declaredDimension(model); want != 0 && want != dim {
		return dimensionError(model, want)
	}
	// One retry: a collection deleted behind the cache answers NOT_FOUND once.
	for attempt := 0; ; attempt++ {
		if err := s.b.ensureCollection(ctx, model, dim); err != nil {
			return err
		}
		var err error
		if len(twins) > 0 {
			_, err = s.b.client.Delete(ctx, &qc.DeletePoints{
				CollectionName: collectionName(model),
				Wait:           qc.PtrOf(true),
				Points:         qc.NewPointsSelector(twins...),
			})
		}
		if err == nil {
			_, err = s.b.client.Upsert(ctx, &qc.UpsertPoints{
				CollectionName: collectionName(model),
				Wait:           qc.PtrOf(true),
				Points:         batch,
				UpdateFilter:   onlyOlder,
			})
		}
		if code(err) == codes.NotFound && attempt == 0 {
			s.b.forget(model)
			continue
		}
		if err != nil {
			return s.b.fail(ctx, err)
		}
		return nil
	}
}

// olderThan matches the stored point id when it is older than rank, or
// unversioned: the points a versioned write of that rank may replace.
func olderThan(id *qc.PointId, rank int64) *qc.Condition {
	return qc.NewFilterAsCondition(&qc.Filter{
		Must:   []*qc.Condition{qc.NewHasID(id)},
		Should: []*qc.Condition{qc.NewIsEmpty(rankKey), qc.NewRange(rankKey, &qc.Range{Lt: qc.PtrOf(float64(rank))})},
	})
}

// DeleteVectors finds the org's points among ids (in the shared space and
// the user's own), then deletes them by a filter on org and point ids: two
// round trips, so two concurrent deletes of the same point may both count it.
func (s *vectorStore) DeleteVectors(ctx context.Context, model string, ids []uuid.UUID) (int, error) {
	ctx, cancel, err := s.begin(ctx, model)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if err := stores.CheckPointIDs(ids); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, ok, err := s.b.dimension(ctx, model); err != nil || !ok {
		return 0, err
	}
	qids := make([]*qc.PointId, 0, 2*len(ids))
	for _, id := range ids {
		qids = append(qids, pointID(s.tenant.OrgID, id, uuid.Nil), pointID(s.tenant.OrgID, id, s.tenant.UserID))
	}
	filter := &qc.Filter{Must: []*qc.Condition{s.orgCondition(), qc.NewHasID(qids...)}}
	found, err := s.b.client.Scroll(ctx, &qc.ScrollPoints{
		CollectionName: collectionName(model),
		Filter:         filter,
		Limit:          qc.PtrOf(uint32(len(qids))),
		WithPayload:    qc.NewWithPayloadInclude(pointKey, deletedKey),
	})
	if code(err) == codes.NotFound {
		s.b.forget(model)
		return 0, nil
	}
	if err != nil {
		return 0, s.b.fail(ctx, err)
	}
	// An id counts once whether its shared point, the user's own or both existed.
	existed := map[string]bool{}
	for _, p := range found {
		if !p.GetPayload()[deletedKey].GetBoolValue() { // a tombstone is no point
			existed[p.GetPayload()[pointKey].GetStringValue()] = true
		}
	}
	n := len(existed)
	if len(found) == 0 {
		return 0, nil
	}
	_, err = s.b.client.Delete(ctx, &qc.DeletePoints{
		CollectionName: collectionName(model),
		Wait:           qc.PtrOf(true),
		Points:         qc.NewPointsSelectorFilter(filter),
	})
	if err != nil && code(err) != codes.NotFound {
		return 0, s.b.fail(ctx, err)
	}
	return int(n), nil
}

// SearchVectors asks Qdrant for the limit nearest points of the bound org
// that match filter. Ties keep the order stores/embedded gives them (by id).
func (s *vectorStore) SearchVectors(ctx context.Context, model string, vector []float32, filter map[string]any, limit int) ([]stores.VectorHit, error) {
	ctx, cancel, err := s.begin(ctx, model)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := stores.CheckVectorSearch(vector, filter, limit); err != nil {
		return nil, err
	}
	conds, err := filterConditions(filter)
	if err != nil {
		return nil, err
	}
	dim, ok, err := s.b.dimension(ctx, model)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []stores.VectorHit{}, nil
	}
	if dim != len(vector) {
		return nil, dimensionError(model, dim)
	}
	found, err := s.b.client.Query(ctx, &qc.QueryPoints{
		CollectionName: collectionName(model),
		Query:          qc.NewQueryDense(vector),
		Filter: &qc.Filter{Must: append([]*qc.Condition{s.orgCondition(), s.visibleFilter()}, conds...),
			MustNot: []*qc.Condition{qc.NewMatchBool(deletedKey, true)}},
		Limit:       qc.PtrOf(uint64(limit)),
		WithPayload: qc.NewWithPayloadInclude(pointKey, memoryKey, userKey),
	})
	if code(err) == codes.NotFound {
		s.b.forget(model)
		return []stores.VectorHit{}, nil
	}
	if err != nil {
		return nil, s.b.fail(ctx, err)
	}
	hits := make([]stores.VectorHit, 0, len(found))
	for _, p := range found {
		hit, err := decodeHit(p)
		if err != nil {
			return nil, err
		}
		hits = append(hits, hit)
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID.String() < hits[j].ID.String()
	})
	return hits, nil
}

// decodeHit turns a scored Qdrant point into a hit carrying the caller's id;
// the score is Qdrant's cosine similarity.
func decodeHit(p *qc.ScoredPoint) (stores.VectorHit, error) {
	payload := p.GetPayload()
	id, err := uuid.Parse(payload[pointKey].GetStringValue())
	if err != nil {
		return stores.VectorHit{}, fmt.Errorf("qdrant point %s has no valid %s: %w", p.GetId().GetUuid(), pointKey, err)
	}
	hit := stores.VectorHit{ID: id, Score: float64(p.GetScore()), Payload: decodePayload(payload)}
	if m, ok := payload[memoryKey]; ok {
		memoryID, err := uuid.Parse(m.GetStringValue())
		if err != nil {
			return stores.VectorHit{}, fmt.Errorf("qdrant point %s has an invalid %s: %w", p.GetId().GetUuid(), memoryKey, err)
		}
		hit.MemoryID = &memoryID
	}
	return hit, nil
}
