// Package embedded implements every store interface in process: the
// zero-config default that lets `go run .` serve the whole schema without a
// server, and the reference implementation of the contract suite.
package embedded

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/stores"
)

// Clock returns the current time; tests inject a manual one so TTLs and
// retention windows can be crossed without waiting.
type Clock func() time.Time

// New returns every domain's in-process backend, wired together: memories are
// indexed into the full-text store as they change (the in-process stand-in
// for the outbox indexer), feedback checks memories and experiments.
func New(now Clock) stores.Backends {
	if now == nil {
		now = time.Now
	}
	fullText := NewFullTextBackend(now)
	memories := NewMemoryBackend(now, fullText)
	experiments := NewExperimentBackend(now)
	return stores.Backends{
		Memories:    memories,
		Feedback:    NewFeedbackBackend(now, memories, experiments),
		Experiments: experiments,
		Episodic:    NewEpisodicBackend(now),
		CodeGraph:   NewCodeGraphBackend(now, 0),
		Vectors:     NewVectorBackend(),
		FullText:    fullText,
		IndexStatus: memories,
	}
}

// begin checks what every store call needs before touching data: a live
// context and a complete tenant.
func begin(ctx context.Context, t stores.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.Validate()
}
