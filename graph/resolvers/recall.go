package resolvers

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/codingbrain/gateway/graph/loaders"
	"github.com/codingbrain/gateway/graph/model"
	"github.com/codingbrain/gateway/graph/relay"
	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// recall runs a validated recall query over the caller's stores. Text
// without a vector is embedded (once) when the gateway has an embedder, so
// a UI can recall by words alone; without one the vector source is skipped.
func (r *Resolver) recall(ctx context.Context, b *stores.Bundle, q recallQuery) (*model.Recall, error) {
	weights, err := recallWeights(ctx, b, q.experimentID)
	if err != nil {
		return nil, err
	}

	// The three sources are independent: query them at once, and let each
	// fail alone.
	var (
		wg                         sync.WaitGroup
		textHits                   []stores.SearchHit
		vectorHits                 []stores.VectorHit
		items                      []stores.EpisodicItem
		textErr, vectorErr, epiErr error
	)
	candidates := min(max(3*q.first, 50), 100)
	if q.text != "" {
		wg.Go(func() {
			var page stores.Page[stores.SearchHit]
			page, textErr = b.FullText.Search(ctx, stores.SearchQuery{Text: q.text}, stores.PageArgs{First: candidates})
			textHits = page.Items
		})
	}
	vectorSkipped := "no vector given"
	embedText := q.vector == nil && q.text != "" && r.Embedder != nil
	switch {
	case embedText:
		q.model = r.Embedder.Model()
	case q.vector == nil && q.text != "":
		vectorSkipped = "no vector given and no embedding server configured"
	}
	if q.vector != nil || embedText {
		wg.Go(func() {
			if embedText {
				if q.vector, vectorErr = r.embedQuery(ctx, q.text); vectorErr != nil {
					return
				}
			}
			vectorHits, vectorErr = b.Vectors.SearchVectors(ctx, q.model, q.vector, nil, candidates)
		})
	}
	if q.sessionID != "" {
		wg.Go(func() {
			var bySession map[string][]stores.EpisodicItem
			bySession, epiErr = b.Episodic.ItemsBySession(ctx, []string{q.sessionID}, stores.DefaultHalfLife, stores.MaxSessionItems)
			items = bySession[q.sessionID]
		})
	}
	wg.Wait()

	sources := []model.RecallSource{
		recallSource(ctx, model.RecallSourceNameFullText, q.text != "", len(textHits), textErr, "no text given"),
		recallSource(ctx, model.RecallSourceNameVector, q.vector != nil || embedText, len(vectorHits), vectorErr, vectorSkipped),
		recallSource(ctx, model.RecallSourceNameEpisodic, q.sessionID != "", len(items), epiErr, "no session given"),
	}
	for _, err := range []error{textErr, vectorErr, epiErr} {
		if err != nil && !errors.Is(err, stores.ErrUnavailable) {
			return nil, err
		}
	}

	session := map[uuid.UUID]float64{}
	for _, it := range items {
		if it.MemoryID != nil && it.Score > session[*it.MemoryID] {
			session[*it.MemoryID] = it.Score
		}
	}
	ranked := fuse(weights.fusion, textHits, vectorHits, session)

	// Hydrate every candidate through the memory loader: one batched store
	// call, which also drops what the caller cannot see.
	thunks := make([]func() (*stores.Memory, error), len(ranked))
	l := loaders.For(ctx)
	for i, f := range ranked {
		thunks[i] = l.Memory.Load(ctx, f.MemoryID)
	}
	hits := []model.RecallHit{}
	for i, f := range ranked {
		m, err := thunks[i]()
		if err != nil {
			return nil, err
		}
		if m == nil || m.State != stores.MemoryActive || len(hits) == q.first {
			continue
		}
		hits = append(hits, recallHit(*m, f))
	}
	return &model.Recall{Hits: hits, Sources: sources, Weights: weights.model}, nil
}

// recallQuery is recall's validated arguments.
type recallQuery struct {
	text         string
	vector       []float32
	model        string
	sessionID    string
	first        int
	experimentID *uuid.UUID
}

// newRecallQuery validates recall's arguments: text or a vector (with its
// model), a sane page size and session id.
func newRecallQuery(text *string, vector []float64, model *string, sessionID *string, first *int, experimentID *string) (recallQuery, error) {
	q := recallQuery{text: deref(text), model: deref(model), sessionID: deref(sessionID), first: 20}
	if first != nil {
		q.first = *first
	}
	if q.first < 1 || q.first > stores.MaxVectorLimit {
		return q, stores.Invalid("first must be between 1 and %d", stores.MaxVectorLimit)
	}
	if q.text == "" && vector == nil {
		return q, stores.Invalid("recall needs text, a vector, or both")
	}
	if q.text != "" && strings.TrimSpace(q.text) == "" {
		return q, stores.Invalid("text must not be blank")
	}
	if vector != nil {
		if q.model == "" {
			return q, stores.Invalid("a vector needs its model")
		}
		v, err := float32s(vector)
		if err != nil {
			return q, err
		}
		q.vector = v
	}
	if q.sessionID != "" && !stores.ValidEpisodicID(q.sessionID) {
		return q, stores.Invalid("sessionId must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
	}
	id, err := relay.DecodeOptionalUUID(experimentID, relay.KindExperiment)
	q.experimentID = id
	return q, err
}

// weightsChoice is the fusion settings and how to explain them to the client.
type weightsChoice struct {
	fusion fusionWeights
	model  model.RecallWeights
}

// recallWeights picks the fusion settings: from the caller's variant in the
// named experiment, else in the newest running experiment whose variants
// configure recall, else the defaults. Assignments are the caller's own, so
// no experiments scope is needed to be weighted by one.
func recallWeights(ctx context.Context, b *stores.Bundle, experimentID *uuid.UUID) (weightsChoice, error) {
	choice := weightsChoice{fusion: defaultFusion}
	// The candidate experiments, in order: the named one, or the running
	// ones, whose listing already carries them (no second read).
	var ids []uuid.UUID
	experiments := map[uuid.UUID]stores.Experiment{}
	if experimentID != nil {
		found, err := b.Experiments.ExperimentsByID(ctx, []uuid.UUID{*experimentID})
		if err != nil {
			return choice, err
		}
		experiments = found
		ids = []uuid.UUID{*experimentID}
	} else {
		page, err := b.Experiments.ListExperiments(ctx, []stores.ExperimentStatus{stores.ExperimentRunning}, stores.PageArgs{First: 20})
		if err != nil {
			return choice, err
		}
		for _, e := range page.Items {
			ids = append(ids, e.ID)
			experiments[e.ID] = e
		}
	}
	if len(ids) > 0 {
		assigned, err := b.Experiments.Assignments(ctx, ids)
		if err != nil {
			return choice, err
		}
		for _, id := range ids {
			a, ok := assigned[id]
			if !ok {
				continue
			}
			if w, ok := fusionFromConfig(a.Variant.Config); ok {
				e := experiments[id]
				key := a.Variant.Key
				choice.fusion = w
				choice.model.Experiment, choice.model.VariantKey = &e, &key
				break
			}
		}
	}
	choice.model.FullText = choice.fusion.FullText
	choice.model.Vector = choice.fusion.Vector
	choice.model.SessionBoost = choice.fusion.SessionBoost
	choice.model.K = choice.fusion.K
	return choice, nil
}

// recallSource reports one source. An unavailable source's error joins the
// response's errors (STORE_UNAVAILABLE) while recall answers with the others.
func recallSource(ctx context.Context, name model.RecallSourceName, asked bool, n int, err error, skipped string) model.RecallSource {
	s := model.RecallSource{Name: name, Status: model.RecallSourceStatusOk, HitCount: n}
	switch {
	case !asked:
		s.Status, s.Message = model.RecallSourceStatusSkipped, &skipped
	case errors.Is(err, stores.ErrUnavailable):
		msg := stores.PublicMessage(err)
		s.Status, s.Message, s.HitCount = model.RecallSourceStatusUnavailable, &msg, 0
		graphql.AddError(ctx, err)
	}
	return s
}

// recallHit explains one fused hit: its ranks and scores per source.
func recallHit(m stores.Memory, f fused) model.RecallHit {
	h := model.RecallHit{Memory: m, Score: f.Score, SessionBoost: f.Boost, Highlights: f.Highlights}
	if h.Highlights == nil {
		h.Highlights = []string{}
	}
	if f.FullTextRank > 0 {
		h.FullTextRank, h.FullTextScore = &f.FullTextRank, &f.FullTextScore
	}
	if f.VectorRank > 0 {
		h.VectorRank, h.VectorScore = &f.VectorRank, &f.VectorScore
	}
	return h
}
