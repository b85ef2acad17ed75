package qdrant

import (
	"context"
	"errors"
	"fmt"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/codingbrain/gateway/stores"
)

// Payload keys the gateway keeps beside the caller's payload. orgKey carries
// the tenant index; the caller's own keys live under userKey, so no user key
// can collide with these.
const (
	orgKey    = "org_id"
	pointKey  = "point_id"
	memoryKey = "memory_id"
	userKey   = "payload"
	// authorKey and visibilityKey carry a memory's visibility; points
	// without visibilityKey (not memories, or written before it existed) are ORG.
	authorKey     = "author_id"
	visibilityKey = "visibility"
	// versionKey, rankKey and deletedKey are those of a versioned write:
	// the memory version, its stores.VersionRank (what the conditional
	// upsert compares) and the tombstone mark (never found).
	versionKey = "version"
	rankKey    = "rank"
	deletedKey = "deleted"
)

// errCollectionVanished is the cause logged when a collection is gone right
// after this backend created it (someone deleted it in between).
var errCollectionVanished = errors.New("collection disappeared right after it was created")

// collectionPrefix starts every collection name: emb_<model>.
const collectionPrefix = "emb_"

// collectionName returns the collection of a model whose name the caller has
// already checked with stores.ValidModelName.
func collectionName(model string) string { return collectionPrefix + model }

// declaredDimension returns the dimension the operator declared for model,
// 0 when every model is accepted, and ErrInvalid for a model not declared.
func (b *Backend) declaredDimension(model string) (int, error) {
	if b.models == nil {
		return 0, nil
	}
	dim, ok := b.models()[model]
	if !ok {
		return 0, stores.Invalid("the vector model %q is not one this gateway serves", model)
	}
	return dim, nil
}

// EnsureCollections makes the collection of every declared model (with its
// tenant and visibility indexes) when it is missing: Qdrant is ready for
// the declared models once this returns. ErrInvalid when a collection
// exists with another dimension than its model's declared one.
func (b *Backend) EnsureCollections(ctx context.Context) error {
	if b.models == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for model, dim := range b.models() {
		if err := b.ensureCollection(ctx, model, dim); err != nil {
			return fmt.Errorf("collection of the vector model %s: %w", model, err)
		}
	}
	return nil
}

// cachedDimension returns the model's dimension when this process has seen
// its collection.
func (b *Backend) cachedDimension(model string) (int, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	dim, ok := b.dims[model]
	return dim, ok
}

// forget drops a model from the cache: its collection was deleted behind the
// backend's back, and the next call looks it up again.
func (b *Backend) forget(model string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.dims, model)
}

// dimension returns the dimension of the model's collection and whether it
// exists, from the cache or from the collection's info. A collection found
// without the tenant index (made by hand, or by a start that died between
// the two calls) gets it here.
func (b *Backend) dimension(ctx context.Context, model string) (int, bool, error) {
	if dim, ok := b.cachedDimension(model); ok {
		return dim, true, nil
	}
	info, err := b.client.GetCollectionInfo(ctx, collectionName(model))
	if code(err) == codes.NotFound {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, b.fail(ctx, err)
	}
	dim := int(info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize())
	if dim == 0 {
		// Named vectors only: not a collection this backend made.
		return 0, false, stores.Invalid("model %q is held in a collection of another layout", model)
	}
	if !hasTenantIndex(info) {
		if err := b.createTenantIndex(ctx, model); err != nil {
			return 0, false, err
		}
	}
	if !hasVisibilityIndexes(info) {
		// A collection made before private memories existed.
		if err := b.createVisibilityIndexes(ctx, model); err != nil {
			return 0, false, err
		}
	}
	b.mu.Lock()
	b.dims[model] = dim
	b.mu.Unlock()
	return dim, true, nil
}

// ensureCollection makes sure the model's collection exists with vectors of
// dim and returns ErrInvalid when it already exists with another dimension.
// Concurrent first upserts (in this or another process) race harmlessly:
// the loser's create answers ALREADY_EXISTS and it reads the winner's
// dimension.
func (b *Backend) ensureCollection(ctx context.Context, model string, dim int) error {
	have, ok, err := b.dimension(ctx, model)
	if err != nil {
		return err
	}
	if !ok {
		if err := b.createCollection(ctx, model, dim); err != nil {
			return err
		}
		if have, ok, err = b.dimension(ctx, model); err != nil {
			return err
		}
		if !ok {
			return stores.Unavailable(backendName, errCollectionVanished)
		}
	}
	if have != dim {
		return dimensionError(model, have)
	}
	return nil
}

// createCollection creates the model's collection (cosine distance) and its
// tenant index; ALREADY_EXISTS is success.
func (b *Backend) createCollection(ctx context.Context, model string, dim int) error {
	err := b.client.CreateCollection(ctx, &qc.CreateCollection{
		CollectionName: collectionName(model),
		VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{
			Size:     uint64(dim),
			Distance: qc.Distance_Cosine,
		}),
	})
	switch code(err) {
	case codes.OK, codes.AlreadyExists:
		if err := b.createTenantIndex(ctx, model); err != nil {
			return err
		}
		return b.createVisibilityIndexes(ctx, model)
	case codes.InvalidArgument:
		// Qdrant releases before the ALREADY_EXISTS code answered a duplicate
		// create as bad input: the collection may well exist now.
		if _, ok, lookErr := b.dimension(ctx, model); lookErr == nil && ok {
			return nil
		}
	}
	return b.fail(ctx, err)
}

// createTenantIndex puts Qdrant's multitenancy index on org_id: a keyword
// index with is_tenant, which lets Qdrant lay each org's points out together
// and plan org-filtered searches per tenant. Creating it again is a no-op.
func (b *Backend) createTenantIndex(ctx context.Context, model string) error {
	_, err := b.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
		CollectionName: collectionName(model),
		Wait:           qc.PtrOf(true),
		FieldName:      orgKey,
		FieldType:      qc.FieldType_FieldTypeKeyword.Enum(),
		FieldIndexParams: qc.NewPayloadIndexParamsKeyword(&qc.KeywordIndexParams{
			IsTenant: qc.PtrOf(true),
		}),
	})
	if err != nil {
		return b.fail(ctx, err)
	}
	return nil
}

// createVisibilityIndexes puts keyword indexes on the author and the
// visibility of points, which every search filters on. Creating them again
// is a no-op.
func (b *Backend) createVisibilityIndexes(ctx context.Context, model string) error {
	for _, field := range []string{authorKey, visibilityKey} {
		_, err := b.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
			CollectionName: collectionName(model),
			Wait:           qc.PtrOf(true),
			FieldName:      field,
			FieldType:      qc.FieldType_FieldTypeKeyword.Enum(),
		})
		if err != nil {
			return b.fail(ctx, err)
		}
	}
	return nil
}

// hasTenantIndex reports whether the collection's payload schema holds the
// keyword index on org_id with is_tenant set.
func hasTenantIndex(info *qc.CollectionInfo) bool {
	schema := info.GetPayloadSchema()[orgKey]
	return schema.GetDataType() == qc.PayloadSchemaType_Keyword &&
		schema.GetParams().GetKeywordIndexParams().GetIsTenant()
}

// hasVisibilityIndexes reports whether the collection's payload schema holds
// the keyword indexes on author_id and visibility.
func hasVisibilityIndexes(info *qc.CollectionInfo) bool {
	schema := info.GetPayloadSchema()
	return schema[authorKey].GetDataType() == qc.PayloadSchemaType_Keyword &&
		schema[visibilityKey].GetDataType() == qc.PayloadSchemaType_Keyword
}

// dimensionError is the refusal of a vector whose dimension is not the model's.
func dimensionError(model string, dim int) error {
	return stores.Invalid("model %q takes vectors of dimension %d", model, dim)
}
