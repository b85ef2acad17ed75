package guarded

import (
	"context"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// Wrap returns b with every backend that has a guard in guards (keyed by
// the Backends field name: "Memories", "Feedback", ...) wrapped by it.
func Wrap(b stores.Backends, guards map[string]*Guard) stores.Backends {
	if g := guards["Memories"]; g != nil && b.Memories != nil {
		b.Memories = memoryBackend{next: b.Memories, g: g}
	}
	if g := guards["Feedback"]; g != nil && b.Feedback != nil {
		b.Feedback = feedbackBackend{next: b.Feedback, g: g}
	}
	if g := guards["Experiments"]; g != nil && b.Experiments != nil {
		b.Experiments = experimentBackend{next: b.Experiments, g: g}
	}
	if g := guards["Episodic"]; g != nil && b.Episodic != nil {
		b.Episodic = episodicBackend{next: b.Episodic, g: g}
	}
	if g := guards["CodeGraph"]; g != nil && b.CodeGraph != nil {
		b.CodeGraph = codeGraphBackend{next: b.CodeGraph, g: g}
	}
	if g := guards["Vectors"]; g != nil && b.Vectors != nil {
		b.Vectors = vectorBackend{next: b.Vectors, g: g}
	}
	if g := guards["FullText"]; g != nil && b.FullText != nil {
		b.FullText = fullTextBackend{next: b.FullText, g: g}
	}
	return b
}

// The wrappers below pass every call of a store interface through call/run.

type memoryBackend struct {
	next stores.MemoryBackend
	g    *Guard
}

func (b memoryBackend) Memories(t stores.Tenant) stores.MemoryStore {
	s := memoryStore{next: b.next.Memories(t), g: b.g}
	if indexed, ok := s.next.(stores.IndexStatusStore); ok {
		return indexedMemoryStore{memoryStore: s, index: indexed}
	}
	return s
}

// indexedMemoryStore keeps the optional IndexStatusStore of a memory store
// visible through the guard.
type indexedMemoryStore struct {
	memoryStore
	index stores.IndexStatusStore
}

func (s indexedMemoryStore) IndexStatuses(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.IndexStatus, error) {
	return call(ctx, s.g, "IndexStatuses", func(ctx context.Context) (map[uuid.UUID][]stores.IndexStatus, error) {
		return s.index.IndexStatuses(ctx, ids)
	})
}

type memoryStore struct {
	next stores.MemoryStore
	g    *Guard
}

func (s memoryStore) Memory(ctx context.Context, id uuid.UUID) (stores.Memory, error) {
	return call(ctx, s.g, "Memory", func(ctx context.Context) (stores.Memory, error) { return s.next.Memory(ctx, id) })
}

func (s memoryStore) MemoriesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Memory, error) {
	return call(ctx, s.g, "MemoriesByID", func(ctx context.Context) (map[uuid.UUID]stores.Memory, error) { return s.next.MemoriesByID(ctx, ids) })
}

func (s memoryStore) ListMemories(ctx context.Context, f stores.MemoryFilter, p stores.PageArgs) (stores.Page[stores.Memory], error) {
	return call(ctx, s.g, "ListMemories", func(ctx context.Context) (stores.Page[stores.Memory], error) { return s.next.ListMemories(ctx, f, p) })
}

func (s memoryStore) CountMemories(ctx context.Context, f stores.MemoryFilter) (int, error) {
	return call(ctx, s.g, "CountMemories", func(ctx context.Context) (int, error) { return s.next.CountMemories(ctx, f) })
}

func (s memoryStore) CreateMemory(ctx context.Context, in stores.NewMemory) (stores.Memory, error) {
	return call(ctx, s.g, "CreateMemory", func(ctx context.Context) (stores.Memory, error) { return s.next.CreateMemory(ctx, in) })
}

func (s memoryStore) CreateMemories(ctx context.Context, in []stores.NewMemory) ([]stores.Memory, error) {
	return call(ctx, s.g, "CreateMemories", func(ctx context.Context) ([]stores.Memory, error) { return s.next.CreateMemories(ctx, in) })
}

func (s memoryStore) UpdateMemory(ctx context.Context, id uuid.UUID, u stores.MemoryUpdate) (stores.Memory, error) {
	return call(ctx, s.g, "UpdateMemory", func(ctx context.Context) (stores.Memory, error) { return s.next.UpdateMemory(ctx, id, u) })
}

func (s memoryStore) SetMemoryState(ctx context.Context, id uuid.UUID, state stores.MemoryState, expectedVersion *int64) (stores.Memory, error) {
	return call(ctx, s.g, "SetMemoryState", func(ctx context.Context) (stores.Memory, error) {
		return s.next.SetMemoryState(ctx, id, state, expectedVersion)
	})
}

func (s memoryStore) SetMemoryVisibility(ctx context.Context, id uuid.UUID, v stores.Visibility, expectedVersion *int64) (stores.Memory, error) {
	return call(ctx, s.g, "SetMemoryVisibility", func(ctx context.Context) (stores.Memory, error) {
		return s.next.SetMemoryVisibility(ctx, id, v, expectedVersion)
	})
}

func (s memoryStore) DeleteMemory(ctx context.Context, id uuid.UUID, expectedVersion *int64) (stores.Memory, error) {
	return call(ctx, s.g, "DeleteMemory", func(ctx context.Context) (stores.Memory, error) { return s.next.DeleteMemory(ctx, id, expectedVersion) })
}

func (s memoryStore) CreateApp(ctx context.Context, name string, description string) (stores.App, error) {
	return call(ctx, s.g, "CreateApp", func(ctx context.Context) (stores.App, error) { return s.next.CreateApp(ctx, name, description) })
}

func (s memoryStore) AppsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.App, error) {
	return call(ctx, s.g, "AppsByID", func(ctx context.Context) (map[uuid.UUID]stores.App, error) { return s.next.AppsByID(ctx, ids) })
}

func (s memoryStore) ListApps(ctx context.Context, p stores.PageArgs) (stores.Page[stores.App], error) {
	return call(ctx, s.g, "ListApps", func(ctx context.Context) (stores.Page[stores.App], error) { return s.next.ListApps(ctx, p) })
}

func (s memoryStore) CountApps(ctx context.Context) (int, error) {
	return call(ctx, s.g, "CountApps", s.next.CountApps)
}

func (s memoryStore) ListCategories(ctx context.Context, p stores.PageArgs) (stores.Page[stores.Category], error) {
	return call(ctx, s.g, "ListCategories", func(ctx context.Context) (stores.Page[stores.Category], error) { return s.next.ListCategories(ctx, p) })
}

func (s memoryStore) CountCategories(ctx context.Context) (int, error) {
	return call(ctx, s.g, "CountCategories", s.next.CountCategories)
}

func (s memoryStore) CategoriesByMemory(ctx context.Context, memoryIDs []uuid.UUID) (map[uuid.UUID][]stores.Category, error) {
	return call(ctx, s.g, "CategoriesByMemory", func(ctx context.Context) (map[uuid.UUID][]stores.Category, error) {
		return s.next.CategoriesByMemory(ctx, memoryIDs)
	})
}

type feedbackBackend struct {
	next stores.FeedbackBackend
	g    *Guard
}

func (b feedbackBackend) Feedback(t stores.Tenant) stores.FeedbackStore {
	return feedbackStore{next: b.next.Feedback(t), g: b.g}
}

type feedbackStore struct {
	next stores.FeedbackStore
	g    *Guard
}

func (s feedbackStore) RecordFeedback(ctx context.Context, in stores.NewFeedbackEvent) (stores.FeedbackEvent, error) {
	return call(ctx, s.g, "RecordFeedback", func(ctx context.Context) (stores.FeedbackEvent, error) { return s.next.RecordFeedback(ctx, in) })
}

func (s feedbackStore) FeedbackEvents(ctx context.Context, f stores.FeedbackFilter, p stores.PageArgs) (stores.Page[stores.FeedbackEvent], error) {
	return call(ctx, s.g, "FeedbackEvents", func(ctx context.Context) (stores.Page[stores.FeedbackEvent], error) {
		return s.next.FeedbackEvents(ctx, f, p)
	})
}

func (s feedbackStore) CountFeedbackEvents(ctx context.Context, f stores.FeedbackFilter) (int, error) {
	return call(ctx, s.g, "CountFeedbackEvents", func(ctx context.Context) (int, error) { return s.next.CountFeedbackEvents(ctx, f) })
}

func (s feedbackStore) FeedbackAggregates(ctx context.Context, f stores.FeedbackFilter) (stores.FeedbackAggregates, error) {
	return call(ctx, s.g, "FeedbackAggregates", func(ctx context.Context) (stores.FeedbackAggregates, error) { return s.next.FeedbackAggregates(ctx, f) })
}

func (s feedbackStore) PurgeFeedback(ctx context.Context, before time.Time) (int64, error) {
	return call(ctx, s.g, "PurgeFeedback", func(ctx context.Context) (int64, error) { return s.next.PurgeFeedback(ctx, before) })
}

type experimentBackend struct {
	next stores.ExperimentBackend
	g    *Guard
}

func (b experimentBackend) Experiments(t stores.Tenant) stores.ExperimentStore {
	return experimentStore{next: b.next.Experiments(t), g: b.g}
}

type experimentStore struct {
	next stores.ExperimentStore
	g    *Guard
}

func (s experimentStore) CreateExperiment(ctx context.Context, in stores.NewExperiment) (stores.Experiment, error) {
	return call(ctx, s.g, "CreateExperiment", func(ctx context.Context) (stores.Experiment, error) { return s.next.CreateExperiment(ctx, in) })
}

func (s experimentStore) Experiment(ctx context.Context, id uuid.UUID) (stores.Experiment, error) {
	return call(ctx, s.g, "Experiment", func(ctx context.Context) (stores.Experiment, error) { return s.next.Experiment(ctx, id) })
}

func (s experimentStore) ExperimentsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Experiment, error) {
	return call(ctx, s.g, "ExperimentsByID", func(ctx context.Context) (map[uuid.UUID]stores.Experiment, error) {
		return s.next.ExperimentsByID(ctx, ids)
	})
}

func (s experimentStore) ListExperiments(ctx context.Context, statuses []stores.ExperimentStatus, p stores.PageArgs) (stores.Page[stores.Experiment], error) {
	return call(ctx, s.g, "ListExperiments", func(ctx context.Context) (stores.Page[stores.Experiment], error) {
		return s.next.ListExperiments(ctx, statuses, p)
	})
}

func (s experimentStore) CountExperiments(ctx context.Context, statuses []stores.ExperimentStatus) (int, error) {
	return call(ctx, s.g, "CountExperiments", func(ctx context.Context) (int, error) { return s.next.CountExperiments(ctx, statuses) })
}

func (s experimentStore) TransitionExperiment(ctx context.Context, id uuid.UUID, to stores.ExperimentStatus, reason string) (stores.Experiment, error) {
	return call(ctx, s.g, "TransitionExperiment", func(ctx context.Context) (stores.Experiment, error) {
		return s.next.TransitionExperiment(ctx, id, to, reason)
	})
}

func (s experimentStore) VariantsByExperiment(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.Variant, error) {
	return call(ctx, s.g, "VariantsByExperiment", func(ctx context.Context) (map[uuid.UUID][]stores.Variant, error) {
		return s.next.VariantsByExperiment(ctx, ids)
	})
}

func (s experimentStore) StatusHistory(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.StatusChange, error) {
	return call(ctx, s.g, "StatusHistory", func(ctx context.Context) (map[uuid.UUID][]stores.StatusChange, error) {
		return s.next.StatusHistory(ctx, ids)
	})
}

func (s experimentStore) Assignments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Assignment, error) {
	return call(ctx, s.g, "Assignments", func(ctx context.Context) (map[uuid.UUID]stores.Assignment, error) {
		return s.next.Assignments(ctx, ids)
	})
}

type episodicBackend struct {
	next stores.EpisodicBackend
	g    *Guard
}

func (b episodicBackend) Episodic(t stores.Tenant) stores.EpisodicStore {
	return episodicStore{next: b.next.Episodic(t), g: b.g}
}

type episodicStore struct {
	next stores.EpisodicStore
	g    *Guard
}

func (s episodicStore) PutItem(ctx context.Context, sessionID string, in stores.NewEpisodicItem) (stores.EpisodicItem, error) {
	return call(ctx, s.g, "PutItem", func(ctx context.Context) (stores.EpisodicItem, error) { return s.next.PutItem(ctx, sessionID, in) })
}

func (s episodicStore) SessionItems(ctx context.Context, sessionID string, halfLife time.Duration, limit int, touch bool) ([]stores.EpisodicItem, error) {
	return call(ctx, s.g, "SessionItems", func(ctx context.Context) ([]stores.EpisodicItem, error) {
		return s.next.SessionItems(ctx, sessionID, halfLife, limit, touch)
	})
}

func (s episodicStore) ItemsBySession(ctx context.Context, sessionIDs []string, halfLife time.Duration, limit int) (map[string][]stores.EpisodicItem, error) {
	return call(ctx, s.g, "ItemsBySession", func(ctx context.Context) (map[string][]stores.EpisodicItem, error) {
		return s.next.ItemsBySession(ctx, sessionIDs, halfLife, limit)
	})
}

func (s episodicStore) ExpireItem(ctx context.Context, sessionID string, itemID string) error {
	return run(ctx, s.g, "ExpireItem", func(ctx context.Context) error { return s.next.ExpireItem(ctx, sessionID, itemID) })
}

func (s episodicStore) ExpireSession(ctx context.Context, sessionID string) (int, error) {
	return call(ctx, s.g, "ExpireSession", func(ctx context.Context) (int, error) { return s.next.ExpireSession(ctx, sessionID) })
}

func (s episodicStore) Sessions(ctx context.Context) ([]stores.SessionSummary, error) {
	return call(ctx, s.g, "Sessions", func(ctx context.Context) ([]stores.SessionSummary, error) { return s.next.Sessions(ctx) })
}

type codeGraphBackend struct {
	next stores.CodeGraphBackend
	g    *Guard
}

func (b codeGraphBackend) CodeGraph(t stores.Tenant) stores.CodeGraphStore {
	return codeGraphStore{next: b.next.CodeGraph(t), g: b.g}
}

type codeGraphStore struct {
	next stores.CodeGraphStore
	g    *Guard
}

func (s codeGraphStore) UpsertRepo(ctx context.Context, r stores.CodeRepo) (stores.CodeRepo, error) {
	return call(ctx, s.g, "UpsertRepo", func(ctx context.Context) (stores.CodeRepo, error) { return s.next.UpsertRepo(ctx, r) })
}

func (s codeGraphStore) ReposByID(ctx context.Context, ids []string) (map[string]stores.CodeRepo, error) {
	return call(ctx, s.g, "ReposByID", func(ctx context.Context) (map[string]stores.CodeRepo, error) { return s.next.ReposByID(ctx, ids) })
}

func (s codeGraphStore) ListRepos(ctx context.Context, p stores.PageArgs) (stores.Page[stores.CodeRepo], error) {
	return call(ctx, s.g, "ListRepos", func(ctx context.Context) (stores.Page[stores.CodeRepo], error) { return s.next.ListRepos(ctx, p) })
}

func (s codeGraphStore) CountRepos(ctx context.Context) (int, error) {
	return call(ctx, s.g, "CountRepos", s.next.CountRepos)
}

func (s codeGraphStore) UpsertFiles(ctx context.Context, files []stores.CodeFile) ([]stores.CodeFile, error) {
	return call(ctx, s.g, "UpsertFiles", func(ctx context.Context) ([]stores.CodeFile, error) { return s.next.UpsertFiles(ctx, files) })
}

func (s codeGraphStore) FilesByRepo(ctx context.Context, repoIDs []string) (map[string][]stores.CodeFile, error) {
	return call(ctx, s.g, "FilesByRepo", func(ctx context.Context) (map[string][]stores.CodeFile, error) {
		return s.next.FilesByRepo(ctx, repoIDs)
	})
}

func (s codeGraphStore) FilesByID(ctx context.Context, ids []string) (map[string]stores.CodeFile, error) {
	return call(ctx, s.g, "FilesByID", func(ctx context.Context) (map[string]stores.CodeFile, error) { return s.next.FilesByID(ctx, ids) })
}

func (s codeGraphStore) UpsertSymbols(ctx context.Context, symbols []stores.CodeSymbol) ([]stores.CodeSymbol, error) {
	return call(ctx, s.g, "UpsertSymbols", func(ctx context.Context) ([]stores.CodeSymbol, error) { return s.next.UpsertSymbols(ctx, symbols) })
}

func (s codeGraphStore) SymbolsByFile(ctx context.Context, fileIDs []string) (map[string][]stores.CodeSymbol, error) {
	return call(ctx, s.g, "SymbolsByFile", func(ctx context.Context) (map[string][]stores.CodeSymbol, error) {
		return s.next.SymbolsByFile(ctx, fileIDs)
	})
}

func (s codeGraphStore) SymbolsByID(ctx context.Context, ids []string) (map[string]stores.CodeSymbol, error) {
	return call(ctx, s.g, "SymbolsByID", func(ctx context.Context) (map[string]stores.CodeSymbol, error) { return s.next.SymbolsByID(ctx, ids) })
}

func (s codeGraphStore) FindSymbols(ctx context.Context, q stores.SymbolQuery, p stores.PageArgs) (stores.Page[stores.CodeSymbol], error) {
	return call(ctx, s.g, "FindSymbols", func(ctx context.Context) (stores.Page[stores.CodeSymbol], error) {
		return s.next.FindSymbols(ctx, q, p)
	})
}

func (s codeGraphStore) CountSymbols(ctx context.Context, q stores.SymbolQuery) (int, error) {
	return call(ctx, s.g, "CountSymbols", func(ctx context.Context) (int, error) { return s.next.CountSymbols(ctx, q) })
}

func (s codeGraphStore) AddEdges(ctx context.Context, edges []stores.Edge) error {
	return run(ctx, s.g, "AddEdges", func(ctx context.Context) error { return s.next.AddEdges(ctx, edges) })
}

func (s codeGraphStore) Traverse(ctx context.Context, ids []string, dir stores.Direction, kinds []stores.EdgeKind, depth int) (map[string][]stores.Dependency, error) {
	return call(ctx, s.g, "Traverse", func(ctx context.Context) (map[string][]stores.Dependency, error) {
		return s.next.Traverse(ctx, ids, dir, kinds, depth)
	})
}

type vectorBackend struct {
	next stores.VectorBackend
	g    *Guard
}

func (b vectorBackend) Vectors(t stores.Tenant) stores.VectorStore {
	return vectorStore{next: b.next.Vectors(t), g: b.g}
}

type vectorStore struct {
	next stores.VectorStore
	g    *Guard
}

func (s vectorStore) UpsertVectors(ctx context.Context, model string, points []stores.VectorPoint) error {
	return run(ctx, s.g, "UpsertVectors", func(ctx context.Context) error { return s.next.UpsertVectors(ctx, model, points) })
}

func (s vectorStore) DeleteVectors(ctx context.Context, model string, ids []uuid.UUID) (int, error) {
	return call(ctx, s.g, "DeleteVectors", func(ctx context.Context) (int, error) { return s.next.DeleteVectors(ctx, model, ids) })
}

func (s vectorStore) SearchVectors(ctx context.Context, model string, vector []float32, filter map[string]any, limit int) ([]stores.VectorHit, error) {
	return call(ctx, s.g, "SearchVectors", func(ctx context.Context) ([]stores.VectorHit, error) {
		return s.next.SearchVectors(ctx, model, vector, filter, limit)
	})
}

type fullTextBackend struct {
	next stores.FullTextBackend
	g    *Guard
}

func (b fullTextBackend) FullText(t stores.Tenant) stores.FullTextStore {
	return fullTextStore{next: b.next.FullText(t), g: b.g}
}

type fullTextStore struct {
	next stores.FullTextStore
	g    *Guard
}

func (s fullTextStore) IndexDocuments(ctx context.Context, docs []stores.Document) error {
	return run(ctx, s.g, "IndexDocuments", func(ctx context.Context) error { return s.next.IndexDocuments(ctx, docs) })
}

func (s fullTextStore) DeleteDocuments(ctx context.Context, ids []string) (int, error) {
	return call(ctx, s.g, "DeleteDocuments", func(ctx context.Context) (int, error) { return s.next.DeleteDocuments(ctx, ids) })
}

func (s fullTextStore) Search(ctx context.Context, q stores.SearchQuery, p stores.PageArgs) (stores.Page[stores.SearchHit], error) {
	return call(ctx, s.g, "Search", func(ctx context.Context) (stores.Page[stores.SearchHit], error) { return s.next.Search(ctx, q, p) })
}

func (s fullTextStore) CountSearchHits(ctx context.Context, q stores.SearchQuery) (int, error) {
	return call(ctx, s.g, "CountSearchHits", func(ctx context.Context) (int, error) { return s.next.CountSearchHits(ctx, q) })
}
