package resolvers

import "github.com/codingbrain/gateway/stores"

// emptyStats is the summary of no events: zero counts for every outcome.
func emptyStats() stores.FeedbackStats {
	s := stores.FeedbackStats{Outcomes: make([]stores.OutcomeCount, len(stores.Outcomes))}
	for i, o := range stores.Outcomes {
		s.Outcomes[i] = stores.OutcomeCount{Outcome: o}
	}
	return s
}
