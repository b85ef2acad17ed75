package embedded

import (
	"context"
	"math"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// VectorBackend keeps embeddings in process, laid out like the Qdrant
// deployment: one collection per model, shared by every organisation, each
// point tagged with its org and every read, count and delete restricted to
// the caller's org. As in Qdrant, a model's dimension is therefore fixed by
// the first upsert of that model by any org, and stays fixed even after every
// point is deleted; an org using the same model name with another dimension
// gets ErrInvalid.
type VectorBackend struct {
	mu          sync.RWMutex
	collections map[string]*vectorCollection
}

// vectorCollection holds one model's points, by org then by key: point ids
// are unique per org, so another org upserting the same id stores its own
// point rather than replacing this one.
type vectorCollection struct {
	dim    int
	points map[uuid.UUID]map[vectorKey]*vectorPoint
}

// vectorKey is a point's id in its id space: the org's shared one (owner
// uuid.Nil) or a PRIVATE point's author's own (stores.PrivateOwner).
type vectorKey struct{ id, owner uuid.UUID }

type vectorPoint struct {
	point stores.VectorPoint
	unit  []float64 // the vector scaled to length 1 (all zeros for a zero vector)
	// rank is the stores.VersionRank of a versioned write, 0 for an
	// unversioned one; a tombstone (point.Deleted) is kept for its rank
	// and never found.
	rank int64
}

// NewVectorBackend returns an empty vector backend.
func NewVectorBackend() *VectorBackend {
	return &VectorBackend{collections: map[string]*vectorCollection{}}
}

// Vectors returns the store bound to t's organisation.
func (b *VectorBackend) Vectors(t stores.Tenant) stores.VectorStore {
	return &vectorStore{b: b, tenant: t}
}

type vectorStore struct {
	b      *VectorBackend
	tenant stores.Tenant
}

func (s *vectorStore) begin(ctx context.Context, model string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.tenant.Validate(); err != nil {
		return err
	}
	return stores.CheckModelName(model)
}

// vectorUnit returns v, already checked, scaled to length 1 in float64.
func vectorUnit(v []float32) []float64 {
	unit := make([]float64, len(v))
	var norm float64
	for i, x := range v {
		f := float64(x)
		unit[i] = f
		norm += f * f
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range unit {
			unit[i] /= norm
		}
	}
	return unit
}

// vectorScalar normalises a payload scalar to string, bool, int64 or float64,
// the types a real store gives back, and reports whether v is a scalar.
func vectorScalar(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, utf8.ValidString(x) && len(x) <= stores.MaxPayloadString
	case bool:
		return x, true
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float32:
		f := float64(x)
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return nil, false
}

// vectorPayload checks a payload's values (scalars and string lists; the
// keys are checked by stores.CheckPoints) and returns a normalised copy;
// nil becomes {}.
func vectorPayload(p map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if n, ok := vectorScalar(v); ok {
			out[k] = n
			continue
		}
		list, err := stores.PayloadStrings(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = append([]string{}, list...)
	}
	return out, nil
}

func vectorCopyPayload(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if list, ok := v.([]string); ok {
			v = append([]string{}, list...)
		}
		out[k] = v
	}
	return out
}

// vectorEqual compares two normalised scalars; numbers compare by value
// whatever their Go type.
func vectorEqual(a, b any) bool {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
		return false
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
		return false
	}
	return a == b
}

// vectorMatches applies the filter: every entry must equal the payload's
// value, or be one of its entries when the payload holds a list (as a Qdrant
// match condition on an array field does).
func vectorMatches(payload, filter map[string]any) bool {
	for k, want := range filter {
		got, ok := payload[k]
		if !ok {
			return false
		}
		if list, isList := got.([]string); isList {
			found := false
			for _, s := range list {
				if s == want {
					found = true
					break
				}
			}
			if !found {
				return false
			}
			continue
		}
		if !vectorEqual(got, want) {
			return false
		}
	}
	return true
}

func (s *vectorStore) UpsertVectors(ctx context.Context, model string, points []stores.VectorPoint) error {
	if err := s.begin(ctx, model); err != nil {
		return err
	}
	if err := stores.CheckPoints(points); err != nil {
		return err
	}
	if len(points) == 0 {
		return nil
	}
	prepared := make([]*vectorPoint, len(points))
	for i, p := range points {
		unit := vectorUnit(p.Vector)
		payload, err := vectorPayload(p.Payload)
		if err != nil {
			return err
		}
		if err := stores.CheckIndexedVisibility(p.Visibility, p.AuthorID, s.tenant.UserID); err != nil {
			return err
		}
		stored := stores.VectorPoint{ID: p.ID, Vector: append([]float32{}, p.Vector...), Payload: payload, AuthorID: p.AuthorID, Visibility: p.Visibility,
			Version: p.Version, Deleted: p.Deleted}
		if p.MemoryID != nil {
			m := *p.MemoryID
			stored.MemoryID = &m
		}
		prepared[i] = &vectorPoint{point: stored, unit: unit}
		if p.Version > 0 {
			prepared[i].rank = stores.VersionRank(p.Version, p.Deleted)
		}
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	c := s.b.collections[model]
	dim := 0
	for _, p := range points {
		if !p.Deleted {
			dim = len(p.Vector)
			break
		}
	}
	if dim == 0 && c == nil {
		return nil // only versioned deletes, and no point of the model to delete
	}
	if c != nil && dim != 0 && c.dim != dim {
		return stores.Invalid("model %q takes vectors of dimension %d", model, c.dim)
	}
	if c == nil {
		c = &vectorCollection{dim: dim, points: map[uuid.UUID]map[vectorKey]*vectorPoint{}}
		s.b.collections[model] = c
	}
	own := c.points[s.tenant.OrgID]
	if own == nil {
		own = map[vectorKey]*vectorPoint{}
		c.points[s.tenant.OrgID] = own
	}
	for _, p := range prepared {
		// The user's point of this id in the other space goes: a memory
		// whose visibility changed moves between them.
		ownKey := vectorKey{p.point.ID, stores.PrivateOwner(p.point.Visibility, p.point.AuthorID)}
		otherKey := vectorKey{p.point.ID, s.tenant.UserID}
		if ownKey.owner != uuid.Nil {
			otherKey.owner = uuid.Nil
		}
		if p.rank == 0 {
			delete(own, otherKey)
			own[ownKey] = p
			continue
		}
		// A versioned write replaces only older (or unversioned) points,
		// and leaves a tombstone in the other space, as Qdrant's
		// conditional upsert does.
		if older(own[ownKey], p.rank) {
			own[ownKey] = p
		}
		tombstone := &vectorPoint{point: p.point, rank: stores.VersionRank(p.point.Version, true)}
		tombstone.point.Deleted = true
		if stores.TombstonesOtherSpace(p.point.Version, p.point.Deleted) && older(own[otherKey], tombstone.rank) {
			own[otherKey] = tombstone
		}
	}
	return nil
}

// older reports whether a versioned write of rank may replace stored.
func older(stored *vectorPoint, rank int64) bool {
	return stored == nil || stored.rank < rank
}

func (s *vectorStore) DeleteVectors(ctx context.Context, model string, ids []uuid.UUID) (int, error) {
	if err := s.begin(ctx, model); err != nil {
		return 0, err
	}
	if err := stores.CheckPointIDs(ids); err != nil {
		return 0, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	c := s.b.collections[model]
	if c == nil {
		return 0, nil
	}
	own := c.points[s.tenant.OrgID]
	n := 0
	for _, id := range ids {
		shared, mine := own[vectorKey{id, uuid.Nil}], own[vectorKey{id, s.tenant.UserID}]
		if (shared != nil && !shared.point.Deleted) || (mine != nil && !mine.point.Deleted) {
			n++
		}
		delete(own, vectorKey{id, uuid.Nil})
		delete(own, vectorKey{id, s.tenant.UserID})
	}
	if len(own) == 0 {
		delete(c.points, s.tenant.OrgID)
	}
	return n, nil
}

func (s *vectorStore) SearchVectors(ctx context.Context, model string, vector []float32, filter map[string]any, limit int) ([]stores.VectorHit, error) {
	if err := s.begin(ctx, model); err != nil {
		return nil, err
	}
	if err := stores.CheckVectorSearch(vector, filter, limit); err != nil {
		return nil, err
	}
	query := vectorUnit(vector)
	want := make(map[string]any, len(filter))
	for k, v := range filter {
		n, ok := vectorScalar(v)
		if !ok {
			return nil, stores.Invalid("filter value of %q must be a string, a number or a boolean", k)
		}
		want[k] = n
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	c := s.b.collections[model]
	if c == nil {
		return []stores.VectorHit{}, nil
	}
	if c.dim != len(vector) {
		return nil, stores.Invalid("model %q takes vectors of dimension %d", model, c.dim)
	}
	type scored struct {
		p     *vectorPoint
		score float64
	}
	var found []scored
	for _, p := range c.points[s.tenant.OrgID] {
		if p.point.Deleted || !p.point.Visibility.VisibleTo(p.point.AuthorID, s.tenant.UserID) || !vectorMatches(p.point.Payload, want) {
			continue
		}
		var dot float64
		for i, x := range p.unit {
			dot += x * query[i]
		}
		found = append(found, scored{p, dot})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].score != found[j].score {
			return found[i].score > found[j].score
		}
		return found[i].p.point.ID.String() < found[j].p.point.ID.String()
	})
	if len(found) > limit {
		found = found[:limit]
	}
	out := make([]stores.VectorHit, len(found))
	for i, f := range found {
		hit := stores.VectorHit{ID: f.p.point.ID, Score: f.score, Payload: vectorCopyPayload(f.p.point.Payload)}
		if f.p.point.MemoryID != nil {
			m := *f.p.point.MemoryID
			hit.MemoryID = &m
		}
		out[i] = hit
	}
	return out, nil
}
