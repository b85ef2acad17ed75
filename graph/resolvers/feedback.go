package resolvers

import (
	"context"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
)

// feedbackFilter converts a feedback filter to the store's. An org admin
// (the admin or feedback:admin scope) lists every user's raw events; anyone
// else only their own.
func feedbackFilter(ctx context.Context, in *model.FeedbackFilter) (stores.FeedbackFilter, error) {
	p, _ := auth.FromContext(ctx)
	allUsers := p.Has(auth.ScopeAdmin) || p.Has(auth.ScopeFeedbackAdmin)
	if in == nil {
		return stores.FeedbackFilter{AllUsers: allUsers}, nil
	}
	experimentID, err := relay.DecodeOptionalUUID(in.ExperimentID, relay.KindExperiment)
	if err != nil {
		return stores.FeedbackFilter{}, err
	}
	memoryID, err := relay.DecodeOptionalUUID(in.MemoryID, relay.KindMemory)
	if err != nil {
		return stores.FeedbackFilter{}, err
	}
	if in.Since != nil && in.Until != nil && !in.Since.Before(*in.Until) {
		return stores.FeedbackFilter{}, stores.Invalid("since must be before until")
	}
	return stores.FeedbackFilter{
		Since:        in.Since,
		Until:        in.Until,
		Outcomes:     in.Outcomes,
		Tool:         deref(in.Tool),
		QueryType:    deref(in.QueryType),
		ExperimentID: experimentID,
		MemoryID:     memoryID,
		AllUsers:     allUsers,
	}, nil
}
