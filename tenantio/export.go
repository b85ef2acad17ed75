package tenantio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	qc "github.com/qdrant/go-client/qdrant"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/neo4j"
)

// pageSize is the number of nodes, points or rows a store hands over at
// once; with one line in flight it is what bounds an export's memory.
const pageSize = 500

// ErrUnknownOrg is returned for an org that holds nothing in any store.
var ErrUnknownOrg = errors.New("unknown org")

// The export reads PostgreSQL in one REPEATABLE READ READ ONLY transaction
// (one snapshot for every table) bound to the org as its operator
// (app.operator_org, which only the tables' owner can use): every user's rows
// of that org and nothing of any other org, which the explicit org_id
// conditions repeat. Each statement streams its rows
// (pgx reads them off the socket one at a time), in primary-key order.
const (
	beginSnapshotSQL = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	bindOperatorSQL  = `SELECT set_config('app.org_id', $1, true), set_config('app.operator_org', $1, true)`
	operatorCheckSQL = `SELECT app_operator_org() IS NOT NULL`

	orgHoldsDataSQL = `SELECT EXISTS (SELECT 1 FROM apps WHERE org_id = $1)
    OR EXISTS (SELECT 1 FROM categories WHERE org_id = $1)
    OR EXISTS (SELECT 1 FROM experiments WHERE org_id = $1)
    OR EXISTS (SELECT 1 FROM feedback_events WHERE org_id = $1)`

	exportAppsSQL       = `SELECT id, name, description, created_at FROM apps WHERE org_id = $1 ORDER BY id`
	exportCategoriesSQL = `SELECT id, name, created_at FROM categories WHERE org_id = $1 ORDER BY id`
	exportMemoriesSQL   = `SELECT m.id, m.app_id, m.author_id, m.content, m.metadata::text, m.state, m.version, m.visibility,
       m.created_at, m.updated_at, m.deleted_at,
       coalesce((SELECT array_agg(mc.category_id ORDER BY mc.category_id) FROM memory_categories mc
                 WHERE mc.org_id = m.org_id AND mc.memory_id = m.id), '{}')
FROM memories m WHERE m.org_id = $1 ORDER BY m.id`
	exportExperimentsSQL = `SELECT e.id, e.name, e.description, e.status, e.created_at, e.updated_at,
       coalesce((SELECT json_agg(json_build_object('id', v.id, 'key', v.key, 'weight', v.weight, 'config', v.config, 'position', v.position)
                         ORDER BY v.position)
                 FROM experiment_variants v WHERE v.org_id = e.org_id AND v.experiment_id = e.id), '[]')::text
FROM experiments e WHERE e.org_id = $1 ORDER BY e.id`
	exportStatusHistorySQL = `SELECT experiment_id, from_status, to_status, changed_by, reason, changed_at
FROM experiment_status_history WHERE org_id = $1 ORDER BY id`
	exportAssignmentsSQL = `SELECT experiment_id, user_id, variant_id, assigned_at
FROM experiment_assignments WHERE org_id = $1 ORDER BY experiment_id, user_id`
	exportFeedbackSQL = `SELECT id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key, created_at
FROM feedback_events WHERE org_id = $1 ORDER BY id`
)

// ExportOptions tunes an export.
type ExportOptions struct {
	// Vectors includes the Qdrant points (large: a vector a memory).
	Vectors bool
	// Progress, when set, receives a progress line now and then.
	Progress io.Writer
}

// Export writes org as a stream to out and returns its trailer. It refuses
// an org that holds nothing (ErrUnknownOrg) before writing a byte.
func Export(ctx context.Context, s *Stores, org uuid.UUID, out io.Writer, opts ExportOptions) (Trailer, error) {
	if org == uuid.Nil {
		return Trailer{}, fmt.Errorf("%w: the nil uuid", ErrUnknownOrg)
	}
	if opts.Vectors && s.Vectors == nil {
		return Trailer{}, errors.New("--vectors needs QDRANT_URL")
	}
	conn, err := s.Postgres.Acquire(ctx)
	if err != nil {
		return Trailer{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	tx, err := beginOperator(ctx, conn.Conn(), beginSnapshotSQL, org)
	if err != nil {
		return Trailer{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read only: nothing to keep
	known, err := orgKnown(ctx, tx, s, org)
	if err != nil {
		return Trailer{}, err
	}
	if !known {
		return Trailer{}, fmt.Errorf("%w %s: it holds no data in any store", ErrUnknownOrg, org)
	}
	w, err := newWriter(out, Header{Org: org, ExportedAt: time.Now().UTC(), Vectors: opts.Vectors})
	if err != nil {
		return Trailer{}, err
	}
	p := newProgress(opts.Progress, "export")
	w.progress = p
	for _, step := range []func(context.Context, pgx.Tx, uuid.UUID, *writer) error{
		exportApps, exportCategories, exportMemories, exportExperiments, exportStatusHistory, exportAssignments, exportFeedback,
	} {
		if err := step(ctx, tx, org, w); err != nil {
			return Trailer{}, err
		}
	}
	if s.Episodic != nil {
		if err := exportEpisodic(ctx, s, org, w); err != nil {
			return Trailer{}, err
		}
	}
	if s.CodeGraph != nil {
		if err := exportCodeGraph(ctx, s, org, w); err != nil {
			return Trailer{}, err
		}
	}
	if opts.Vectors {
		if err := exportVectors(ctx, s, org, w); err != nil {
			return Trailer{}, err
		}
	}
	t, err := w.close()
	p.done(t.Lines)
	return t, err
}

// beginOperator starts a transaction bound to org as its operator, and
// checks that the binding took: a role that is not the tables' owner (the
// application role's URL given by mistake) would silently see one user's
// rows only.
func beginOperator(ctx context.Context, conn *pgx.Conn, begin string, org uuid.UUID) (pgx.Tx, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var operator bool
	if _, err = tx.Exec(ctx, bindOperatorSQL, org.String()); err == nil {
		err = tx.QueryRow(ctx, operatorCheckSQL).Scan(&operator)
	}
	if err == nil && !operator {
		err = errors.New("the PostgreSQL role is not the owner of the tables (or the schema predates the operator binding): use DATABASE_OWNER_URL and run gateway migrate up")
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("postgres: binding the org operator: %w", err)
	}
	return tx, nil
}

// orgKnown reports whether org holds anything in PostgreSQL, the code graph
// or the episodic store.
func orgKnown(ctx context.Context, tx pgx.Tx, s *Stores, org uuid.UUID) (bool, error) {
	var known bool
	if err := tx.QueryRow(ctx, orgHoldsDataSQL, org).Scan(&known); err != nil || known {
		return known, err
	}
	if s.CodeGraph != nil {
		page, err := s.CodeGraph.ExportPage(ctx, org, neo4j.ExportRepos, "", 1)
		if err != nil || len(page.Repos) > 0 {
			return len(page.Repos) > 0, err
		}
	}
	if s.Episodic != nil {
		users, err := s.Episodic.OrgUsers(ctx, org)
		return len(users) > 0, err
	}
	return false, nil
}

// streamRows runs sql and hands each row to emit.
func streamRows(ctx context.Context, tx pgx.Tx, sql string, org uuid.UUID, emit func(pgx.Rows) error) error {
	rows, err := tx.Query(ctx, sql, org)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := emit(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func exportApps(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportAppsSQL, org, func(rows pgx.Rows) error {
		var r appRecord
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.CreatedAt); err != nil {
			return err
		}
		return w.record(KindApp, r)
	})
}

func exportCategories(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportCategoriesSQL, org, func(rows pgx.Rows) error {
		var r categoryRecord
		if err := rows.Scan(&r.ID, &r.Name, &r.CreatedAt); err != nil {
			return err
		}
		return w.record(KindCategory, r)
	})
}

func exportMemories(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportMemoriesSQL, org, func(rows pgx.Rows) error {
		var r memoryRecord
		var metadata string
		if err := rows.Scan(&r.ID, &r.AppID, &r.AuthorID, &r.Content, &metadata, &r.State, &r.Version, &r.Visibility,
			&r.CreatedAt, &r.UpdatedAt, &r.DeletedAt, &r.Categories); err != nil {
			return err
		}
		r.Metadata = []byte(metadata)
		return w.record(KindMemory, r)
	})
}

func exportExperiments(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportExperimentsSQL, org, func(rows pgx.Rows) error {
		var r experimentRecord
		var variants string
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &r.Status, &r.CreatedAt, &r.UpdatedAt, &variants); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(variants), &r.Variants); err != nil {
			return err
		}
		return w.record(KindExperiment, r)
	})
}

func exportStatusHistory(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportStatusHistorySQL, org, func(rows pgx.Rows) error {
		var r statusChangeRecord
		if err := rows.Scan(&r.ExperimentID, &r.FromStatus, &r.ToStatus, &r.ChangedBy, &r.Reason, &r.ChangedAt); err != nil {
			return err
		}
		return w.record(KindStatusChange, r)
	})
}

func exportAssignments(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportAssignmentsSQL, org, func(rows pgx.Rows) error {
		var r assignmentRecord
		if err := rows.Scan(&r.ExperimentID, &r.UserID, &r.VariantID, &r.AssignedAt); err != nil {
			return err
		}
		return w.record(KindAssignment, r)
	})
}

func exportFeedback(ctx context.Context, tx pgx.Tx, org uuid.UUID, w *writer) error {
	return streamRows(ctx, tx, exportFeedbackSQL, org, func(rows pgx.Rows) error {
		var r feedbackRecord
		if err := rows.Scan(&r.ID, &r.UserID, &r.QueryID, &r.MemoryID, &r.Tool, &r.QueryType, &r.Outcome, &r.LatencyMS,
			&r.ExperimentID, &r.VariantKey, &r.CreatedAt); err != nil {
			return err
		}
		return w.record(KindFeedback, r)
	})
}

// exportEpisodic writes the live items of every user of org, one session at
// a time (a session holds at most stores.MaxSessionItems items).
func exportEpisodic(ctx context.Context, s *Stores, org uuid.UUID, w *writer) error {
	users, err := s.Episodic.OrgUsers(ctx, org)
	if err != nil {
		return err
	}
	for _, user := range users {
		store := s.Episodic.Episodic(stores.Tenant{OrgID: org, UserID: user})
		sessions, err := store.Sessions(ctx)
		if err != nil {
			return err
		}
		for _, session := range sessions {
			// touch=false: reading for an export must not extend a life.
			items, err := store.SessionItems(ctx, session.ID, stores.DefaultHalfLife, stores.MaxSessionItems, false)
			if err != nil {
				return err
			}
			now := time.Now()
			for _, it := range items {
				ttl := it.ExpiresAt.Sub(now).Milliseconds()
				if ttl < stores.MinEpisodicTTL.Milliseconds() {
					continue // expiring as we read: not live any more on import
				}
				if err := w.record(KindEpisodic, episodicRecord{
					UserID: user, SessionID: session.ID, ID: it.ID, Content: it.Content, MemoryID: it.MemoryID,
					Metadata: it.Metadata, Weight: it.Weight, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt, TTLMillis: ttl,
				}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// exportCodeGraph writes repos, files, symbols and then edges, each in
// keyset pages.
func exportCodeGraph(ctx context.Context, s *Stores, org uuid.UUID, w *writer) error {
	for _, kind := range []neo4j.CodeGraphKind{neo4j.ExportRepos, neo4j.ExportFiles, neo4j.ExportSymbols, neo4j.ExportEdges} {
		after := ""
		for {
			page, err := s.CodeGraph.ExportPage(ctx, org, kind, after, pageSize)
			if err != nil {
				return err
			}
			for _, r := range page.Repos {
				if err := w.record(KindCodeRepo, codeRepoRecord{ID: r.ID, Name: r.Name, URL: r.URL, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}); err != nil {
					return err
				}
			}
			for _, f := range page.Files {
				if err := w.record(KindCodeFile, codeFileRecord{ID: f.ID, RepoID: f.RepoID, Path: f.Path, Language: f.Language, UpdatedAt: f.UpdatedAt}); err != nil {
					return err
				}
			}
			for _, sy := range page.Symbols {
				if err := w.record(KindCodeSymbol, codeSymbolRecord{ID: sy.ID, RepoID: sy.RepoID, FileID: sy.FileID, Kind: string(sy.Kind),
					Name: sy.Name, Signature: sy.Signature, StartLine: sy.StartLine, EndLine: sy.EndLine, UpdatedAt: sy.UpdatedAt}); err != nil {
					return err
				}
			}
			for _, e := range page.Edges {
				if err := w.record(KindCodeEdge, codeEdgeRecord{From: e.FromID, To: e.ToID, Kind: string(e.Kind)}); err != nil {
					return err
				}
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
	}
	return nil
}

// exportVectors writes org's points of every model, a scroll page at a time.
func exportVectors(ctx context.Context, s *Stores, org uuid.UUID, w *writer) error {
	models, err := s.Vectors.ExportModels(ctx)
	if err != nil {
		return err
	}
	for _, model := range models {
		var offset *qc.PointId
		for {
			points, next, err := s.Vectors.ExportPage(ctx, org, model, offset, pageSize)
			if err != nil {
				return err
			}
			for _, p := range points {
				if err := w.record(KindVector, vectorRecord{Model: model, ID: p.ID, MemoryID: p.MemoryID, AuthorID: p.AuthorID,
					Visibility: string(p.Visibility), Payload: p.Payload, Vector: p.Vector}); err != nil {
					return err
				}
			}
			if next == nil {
				break
			}
			offset = next
		}
	}
	return nil
}
