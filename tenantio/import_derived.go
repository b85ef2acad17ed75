package tenantio

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
)

// codeBatch collects consecutive code-graph records of one kind, written
// stores.MaxCodeBatch at a time, then given back the times the export
// recorded (the upsert stamps them now). The code graph keeps the stream's
// ids: they are the client's own names (paths, qualified symbols), unique
// per org in Neo4j, and a merge that meets the same id meets the same repo
// or symbol.
type codeBatch struct {
	kind    string
	files   []stores.CodeFile
	symbols []stores.CodeSymbol
	edges   []stores.Edge
	times   []neo4j.NodeTimes
}

func (b *codeBatch) len() int { return len(b.files) + len(b.symbols) + len(b.edges) }

func (im *importer) codeStore() stores.CodeGraphStore {
	return im.s.CodeGraph.CodeGraph(stores.Tenant{OrgID: im.target, UserID: operatorUser})
}

func (im *importer) writeCode(ctx context.Context, kind string, data json.RawMessage) error {
	if kind != im.code.kind || im.code.len() >= stores.MaxCodeBatch {
		if err := im.flushCode(ctx); err != nil {
			return err
		}
		im.code.kind = kind
	}
	switch kind {
	case KindCodeRepo:
		var rec codeRepoRecord
		return decodeThen(data, &rec, func() error {
			if _, err := im.codeStore().UpsertRepo(ctx, stores.CodeRepo{ID: rec.ID, Name: rec.Name, URL: rec.URL}); err != nil {
				return err
			}
			return im.s.CodeGraph.RestoreTimes(ctx, im.target, neo4j.ExportRepos,
				[]neo4j.NodeTimes{{ID: rec.ID, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}})
		})
	case KindCodeFile:
		var rec codeFileRecord
		return decodeThen(data, &rec, func() error {
			im.code.files = append(im.code.files, stores.CodeFile{ID: rec.ID, RepoID: rec.RepoID, Path: rec.Path, Language: rec.Language})
			im.code.times = append(im.code.times, neo4j.NodeTimes{ID: rec.ID, UpdatedAt: rec.UpdatedAt})
			return nil
		})
	case KindCodeSymbol:
		var rec codeSymbolRecord
		return decodeThen(data, &rec, func() error {
			im.code.symbols = append(im.code.symbols, stores.CodeSymbol{ID: rec.ID, RepoID: rec.RepoID, FileID: rec.FileID,
				Kind: stores.SymbolKind(rec.Kind), Name: rec.Name, Signature: rec.Signature, StartLine: rec.StartLine, EndLine: rec.EndLine})
			im.code.times = append(im.code.times, neo4j.NodeTimes{ID: rec.ID, UpdatedAt: rec.UpdatedAt})
			return nil
		})
	default:
		var rec codeEdgeRecord
		return decodeThen(data, &rec, func() error {
			im.code.edges = append(im.code.edges, stores.Edge{FromID: rec.From, ToID: rec.To, Kind: stores.EdgeKind(rec.Kind)})
			return nil
		})
	}
}

func (im *importer) flushCode(ctx context.Context) error {
	if im.code.len() == 0 {
		return nil
	}
	store := im.codeStore()
	var err error
	kind := neo4j.ExportEdges
	switch {
	case len(im.code.files) > 0:
		_, err = store.UpsertFiles(ctx, im.code.files)
		kind = neo4j.ExportFiles
	case len(im.code.symbols) > 0:
		_, err = store.UpsertSymbols(ctx, im.code.symbols)
		kind = neo4j.ExportSymbols
	default:
		err = store.AddEdges(ctx, im.code.edges)
	}
	if err == nil && kind != neo4j.ExportEdges {
		err = im.s.CodeGraph.RestoreTimes(ctx, im.target, kind, im.code.times)
	}
	im.code = codeBatch{}
	return err
}

// vectorBatch collects consecutive points of one model and author (a
// private point is written by its author's binding).
type vectorBatch struct {
	model  string
	author uuid.UUID
	points []stores.VectorPoint
}

// vectorBatchSize is the number of points of one upsert.
const vectorBatchSize = 100

func (im *importer) writeVector(ctx context.Context, rec vectorRecord) error {
	author := rec.AuthorID
	if author == uuid.Nil {
		author = operatorUser
	}
	if rec.Model != im.vecs.model || author != im.vecs.author || len(im.vecs.points) >= vectorBatchSize {
		if err := im.flushVectors(ctx); err != nil {
			return err
		}
		im.vecs.model, im.vecs.author = rec.Model, author
	}
	im.vecs.points = append(im.vecs.points, stores.VectorPoint{
		ID: im.id(rec.ID), Vector: rec.Vector, MemoryID: im.optionalID(rec.MemoryID), Payload: rec.Payload,
		AuthorID: rec.AuthorID, Visibility: stores.Visibility(rec.Visibility),
	})
	return nil
}

func (im *importer) flushVectors(ctx context.Context) error {
	if len(im.vecs.points) == 0 {
		return nil
	}
	store := im.s.Vectors.Vectors(stores.Tenant{OrgID: im.target, UserID: im.vecs.author})
	err := store.UpsertVectors(ctx, im.vecs.model, im.vecs.points)
	im.vecs.points = nil
	return err
}
