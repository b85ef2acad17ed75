package resolvers

import (
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
)

// newMemory converts a createMemory input to the store's.
func newMemory(in model.CreateMemoryInput) (stores.NewMemory, error) {
	appID, err := relay.DecodeUUID(in.AppID, relay.KindApp)
	if err != nil {
		return stores.NewMemory{}, err
	}
	return stores.NewMemory{AppID: appID, Content: in.Content, Metadata: in.Metadata, Categories: in.Categories}, nil
}

// memoryFilter converts a memories filter to the store's.
func memoryFilter(in *model.MemoryFilter) (stores.MemoryFilter, error) {
	if in == nil {
		return stores.MemoryFilter{}, nil
	}
	appID, err := relay.DecodeOptionalUUID(in.AppID, relay.KindApp)
	if err != nil {
		return stores.MemoryFilter{}, err
	}
	categoryID, err := relay.DecodeOptionalUUID(in.CategoryID, relay.KindCategory)
	if err != nil {
		return stores.MemoryFilter{}, err
	}
	return stores.MemoryFilter{
		States:        in.States,
		AppID:         appID,
		CategoryID:    categoryID,
		TextContains:  deref(in.TextContains),
		CreatedAfter:  in.CreatedAfter,
		CreatedBefore: in.CreatedBefore,
	}, nil
}

// version converts an optional expectedVersion argument.
func version(v *int) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}
