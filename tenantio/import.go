package tenantio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/codingbrain/gateway/stores"
)

// ImportOptions says where a stream goes.
type ImportOptions struct {
	// Org is the target org; uuid.Nil keeps the stream's own.
	Org uuid.UUID
	// Merge imports into an org that already holds data: apps and
	// categories of the same name become one, an experiment whose name is
	// taken is renamed. Without it, a name already taken by another row is
	// refused. With it, the target org must exist.
	Merge bool
	// Progress, when set, receives a progress line now and then.
	Progress io.Writer
}

// ImportResult says what an import wrote.
type ImportResult struct {
	Source, Target uuid.UUID
	Records        map[string]int
}

// ErrConflict is returned when an import without Merge meets a name the
// target org already uses for another row.
var ErrConflict = errors.New("import conflict")

// Import verifies the stream in (its trailer's checksum and counts, its
// version) and then writes it; nothing is written unless the whole stream
// verifies. src reads the stream from the start each time it is called: a
// file is read twice; Spool makes such a source from a pipe.
//
// Ids: importing into the stream's own org keeps every id; into another org
// every uuid becomes UUIDv5(target org, old id), so that a re-run writes the
// same rows again (every write is an upsert) and an import that stopped
// half-way is finished by running it again. References follow through the
// same function; only merged apps and categories, whose surviving id is the
// target's, are looked up in maps (one entry an app or category).
func Import(ctx context.Context, s *Stores, src func() (io.ReadCloser, error), opts ImportOptions) (ImportResult, error) {
	header, trailer, err := verify(src)
	if err != nil {
		return ImportResult{}, err
	}
	target := opts.Org
	if target == uuid.Nil {
		target = header.Org
	}
	if err := s.canHold(trailer); err != nil {
		return ImportResult{}, err
	}
	im := &importer{s: s, merge: opts.Merge, source: header.Org, target: target,
		apps: map[uuid.UUID]uuid.UUID{}, categories: map[uuid.UUID]uuid.UUID{}}
	in, err := src()
	if err != nil {
		return ImportResult{}, err
	}
	defer func() { _ = in.Close() }()
	r, err := newReader(in)
	if err != nil {
		return ImportResult{}, err
	}
	if err := im.run(ctx, r, newProgress(opts.Progress, "import")); err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Source: header.Org, Target: target, Records: trailer.Records}, nil
}

// verify reads a whole stream once, holding one line at a time.
func verify(src func() (io.ReadCloser, error)) (Header, Trailer, error) {
	in, err := src()
	if err != nil {
		return Header{}, Trailer{}, err
	}
	defer func() { _ = in.Close() }()
	r, err := newReader(in)
	if err != nil {
		return Header{}, Trailer{}, err
	}
	for {
		if _, _, err := r.next(); errors.Is(err, io.EOF) {
			return r.header, *r.trailer, nil
		} else if err != nil {
			return Header{}, Trailer{}, err
		}
	}
}

// Spool copies a stream that can be read once (stdin) to a temporary file
// and returns a source reading that file, and a function removing it.
func Spool(in io.Reader) (func() (io.ReadCloser, error), func(), error) {
	f, err := os.CreateTemp("", "tenant-import-*.ndjson")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { _ = os.Remove(f.Name()) }
	if _, err := io.Copy(f, in); err != nil {
		_ = f.Close()
		remove()
		return nil, nil, fmt.Errorf("spooling the stream: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return nil, nil, err
	}
	return FileSource(f.Name()), remove, nil
}

// FileSource reads the file at path.
func FileSource(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

// canHold refuses, before anything is written, a stream holding records
// for a store this deployment was not given.
func (s *Stores) canHold(t Trailer) error {
	need := map[string]bool{
		"VALKEY_URL":                     t.Records[KindEpisodic] > 0 && s.Episodic == nil,
		"NEO4J_URI":                      t.Records[KindCodeRepo] > 0 && s.CodeGraph == nil,
		"QDRANT_URL (or drop --vectors)": t.Records[KindVector] > 0 && s.Vectors == nil,
	}
	for setting, missing := range need {
		if missing {
			return fmt.Errorf("the stream holds data for a store that is not configured: set %s", setting)
		}
	}
	return nil
}

// importer writes one verified stream.
type importer struct {
	s              *Stores
	merge          bool
	source, target uuid.UUID
	// apps and categories map a stream's id to the target's (a merged name
	// keeps the target's row); one entry an app or category of the stream.
	apps, categories map[uuid.UUID]uuid.UUID

	tx       pgx.Tx
	batch    *pgx.Batch
	memories memoryColumns
	feedback feedbackColumns
	code     codeBatch
	vecs     vectorBatch
}

// id maps an id of the stream to the target org.
func (im *importer) id(old uuid.UUID) uuid.UUID {
	if im.target == im.source {
		return old
	}
	return uuid.NewSHA1(im.target, old[:])
}

func (im *importer) optionalID(old *uuid.UUID) *uuid.UUID {
	if old == nil {
		return nil
	}
	id := im.id(*old)
	return &id
}

// writeBatch is the number of statements sent to PostgreSQL at once.
const writeBatch = 1000

// run writes the stream: every PostgreSQL record in one transaction bound
// to the target org as its operator, committed when the first record of
// another store comes (the stream orders them last) or at the end; then the
// other stores, whose writes are upserts.
//
// Why the owner role with the operator binding and not the application
// role: the import must write every user's rows (private memories, personal
// feedback and assignments), which the application role can do only one
// user at a time; the operator binding (app.operator_org) is still org-bound
// by row level security, so a bug here cannot write into another org. Rows
// go in INSERT ... ON CONFLICT statements over column arrays (500 memories
// or feedback events a statement) rather than COPY: COPY cannot upsert, and
// upserts are what make a re-run finish an interrupted import.
func (im *importer) run(ctx context.Context, r *reader, p *progress) error {
	conn, err := im.s.Postgres.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	if im.tx, err = beginOperator(ctx, conn.Conn(), "BEGIN", im.target); err != nil {
		return err
	}
	defer func() {
		if im.tx != nil {
			_ = im.tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := im.checkTarget(ctx); err != nil {
		return err
	}
	im.batch = &pgx.Batch{}
	n := 1
	for {
		kind, data, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n++
		p.tick(n)
		if !postgresKinds[kind] && im.tx != nil {
			if err := im.commit(ctx); err != nil {
				return err
			}
		}
		if err := im.write(ctx, kind, data); err != nil {
			return fmt.Errorf("line %d (%s): %w", n, kind, err)
		}
	}
	if im.tx != nil {
		if err := im.commit(ctx); err != nil {
			return err
		}
	}
	if err := im.flushCode(ctx); err != nil {
		return err
	}
	if err := im.flushVectors(ctx); err != nil {
		return err
	}
	p.done(n + 1)
	return nil
}

// postgresKinds are the records that live in PostgreSQL.
var postgresKinds = map[string]bool{
	KindApp: true, KindCategory: true, KindMemory: true, KindExperiment: true,
	KindStatusChange: true, KindAssignment: true, KindFeedback: true,
}

// checkTarget refuses a merge into an org that holds nothing: a mistyped
// --org must not create an org.
func (im *importer) checkTarget(ctx context.Context) error {
	if !im.merge {
		return nil
	}
	var known bool
	if err := im.tx.QueryRow(ctx, orgHoldsDataSQL, im.target).Scan(&known); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !known {
		return fmt.Errorf("%w %s: --merge needs an org that holds data", ErrUnknownOrg, im.target)
	}
	return nil
}

func (im *importer) commit(ctx context.Context) error {
	if err := im.flushRows(ctx); err != nil {
		return err
	}
	err := im.tx.Commit(ctx)
	im.tx = nil
	if err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// queue adds a statement to the pending batch, sending it when full.
func (im *importer) queue(ctx context.Context, sql string, args ...any) error {
	im.batch.Queue(sql, args...)
	if im.batch.Len() >= writeBatch {
		return im.flushRows(ctx)
	}
	return nil
}

func (im *importer) flushRows(ctx context.Context) error {
	im.queueColumns()
	if im.batch.Len() == 0 {
		return nil
	}
	err := im.tx.SendBatch(ctx, im.batch).Close()
	im.batch = &pgx.Batch{}
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func (im *importer) write(ctx context.Context, kind string, data json.RawMessage) error {
	switch kind {
	case KindApp:
		var rec appRecord
		return decodeThen(data, &rec, func() error { return im.writeApp(ctx, rec) })
	case KindCategory:
		var rec categoryRecord
		return decodeThen(data, &rec, func() error { return im.writeCategory(ctx, rec) })
	case KindMemory:
		var rec memoryRecord
		return decodeThen(data, &rec, func() error { return im.writeMemory(ctx, rec) })
	case KindExperiment:
		var rec experimentRecord
		return decodeThen(data, &rec, func() error { return im.writeExperiment(ctx, rec) })
	case KindStatusChange:
		var rec statusChangeRecord
		return decodeThen(data, &rec, func() error {
			return im.queue(ctx, insertStatusChangeSQL, im.id(rec.ExperimentID), rec.FromStatus, rec.ToStatus, rec.ChangedBy, rec.Reason, rec.ChangedAt)
		})
	case KindAssignment:
		var rec assignmentRecord
		return decodeThen(data, &rec, func() error {
			return im.queue(ctx, insertAssignmentSQL, im.id(rec.ExperimentID), rec.UserID, im.id(rec.VariantID), rec.AssignedAt)
		})
	case KindFeedback:
		var rec feedbackRecord
		return decodeThen(data, &rec, func() error { return im.writeFeedback(ctx, rec) })
	case KindEpisodic:
		var rec episodicRecord
		return decodeThen(data, &rec, func() error { return im.writeEpisodic(ctx, rec) })
	case KindCodeRepo, KindCodeFile, KindCodeSymbol, KindCodeEdge:
		return im.writeCode(ctx, kind, data)
	case KindVector:
		var rec vectorRecord
		return decodeThen(data, &rec, func() error { return im.writeVector(ctx, rec) })
	}
	return invalid("unknown kind %q", kind)
}

func decodeThen(data json.RawMessage, v any, then func() error) error {
	if err := json.Unmarshal(data, v); err != nil {
		return invalid("malformed record: %v", err)
	}
	return then()
}

// PostgreSQL writes. Every one is an upsert on the primary key, so that a
// re-run writes the same rows; the org is the transaction's binding.
const (
	insertAppSQL = `INSERT INTO apps (org_id, id, name, description, created_at) VALUES (app_org_id(), $1, $2, $3, $4)
ON CONFLICT DO NOTHING`
	appByNameSQL      = `SELECT id FROM apps WHERE org_id = app_org_id() AND name = $1`
	insertCategorySQL = `INSERT INTO categories (org_id, id, name, created_at) VALUES (app_org_id(), $1, $2, $3)
ON CONFLICT DO NOTHING`
	categoryByNameSQL = `SELECT id FROM categories WHERE org_id = app_org_id() AND name = $1`

	// One statement writes a batch of memories (column arrays), their
	// category links and their outbox rows. A memory already there (a
	// re-run, or a merge into the source org) keeps the newer version, and
	// only a memory written gets an outbox row. The links' foreign keys are
	// checked at the end of the statement, when the memories exist.
	upsertMemoriesSQL = `WITH m AS (
  INSERT INTO memories (org_id, id, app_id, author_id, content, metadata, state, version, visibility, created_at, updated_at, deleted_at)
  SELECT app_org_id(), u.id, u.app_id, u.author_id, u.content, u.metadata::jsonb, u.state, u.version, u.visibility, u.created_at, u.updated_at, u.deleted_at
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
    AS u(id, app_id, author_id, content, metadata, state, version, visibility, created_at, updated_at, deleted_at)
  ON CONFLICT (org_id, id) DO UPDATE SET app_id = EXCLUDED.app_id, content = EXCLUDED.content, metadata = EXCLUDED.metadata,
      state = EXCLUDED.state, version = EXCLUDED.version, visibility = EXCLUDED.visibility,
      updated_at = EXCLUDED.updated_at, deleted_at = EXCLUDED.deleted_at
  WHERE memories.version < EXCLUDED.version
  RETURNING id, version, state, author_id
), links AS (
  INSERT INTO memory_categories (org_id, memory_id, category_id)
  SELECT app_org_id(), l.memory_id, l.category_id FROM unnest($12::uuid[], $13::uuid[]) AS l(memory_id, category_id)
  ON CONFLICT DO NOTHING
)
-- The derived indexes (full text, vectors) are rebuilt by the indexer from
-- these rows, as for any write of the gateway: never copied.
INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
SELECT app_org_id(), id, CASE WHEN state = 'DELETED' THEN 'delete' ELSE 'upsert' END, version, author_id, i.name
FROM m CROSS JOIN unnest($14::text[]) AS i(name)`

	experimentByNameSQL = `SELECT id FROM experiments WHERE org_id = app_org_id() AND name = $1`
	upsertExperimentSQL = `INSERT INTO experiments (org_id, id, name, description, status, created_at, updated_at)
VALUES (app_org_id(), $1, $2, $3, $4, $5, $6)
ON CONFLICT (org_id, id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
    status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`
	insertVariantSQL = `INSERT INTO experiment_variants (org_id, id, experiment_id, key, weight, config, position)
VALUES (app_org_id(), $1, $2, $3, $4, $5::jsonb, $6)
ON CONFLICT (org_id, id) DO NOTHING`
	// History rows have no id of their own in the stream: a change already
	// recorded (same experiment, transition and time) is not added twice.
	insertStatusChangeSQL = `INSERT INTO experiment_status_history (org_id, experiment_id, from_status, to_status, changed_by, reason, changed_at)
SELECT app_org_id(), $1, $2, $3, $4, $5, $6
WHERE NOT EXISTS (SELECT 1 FROM experiment_status_history h WHERE h.org_id = app_org_id() AND h.experiment_id = $1
    AND h.from_status IS NOT DISTINCT FROM $2 AND h.to_status = $3 AND h.changed_at = $6)`
	insertAssignmentSQL = `INSERT INTO experiment_assignments (org_id, experiment_id, user_id, variant_id, assigned_at)
VALUES (app_org_id(), $1, $2, $3, $4)
ON CONFLICT DO NOTHING`
	insertFeedbackSQL = `INSERT INTO feedback_events (org_id, id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key, created_at)
SELECT app_org_id(), u.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::uuid[], $10::text[], $11::timestamptz[])
  AS u(id, user_id, query_id, memory_id, tool, query_type, outcome, latency_ms, experiment_id, variant_key, created_at)
ON CONFLICT DO NOTHING`
)

// writeApp inserts the app and learns which row holds its name: its own, or
// (merge) the target's app of that name.
func (im *importer) writeApp(ctx context.Context, rec appRecord) error {
	id, err := im.named(ctx, insertAppSQL, appByNameSQL, im.id(rec.ID), rec.Name, "app", rec.Description, rec.CreatedAt)
	im.apps[rec.ID] = id
	return err
}

func (im *importer) writeCategory(ctx context.Context, rec categoryRecord) error {
	id, err := im.named(ctx, insertCategorySQL, categoryByNameSQL, im.id(rec.ID), rec.Name, "category", rec.CreatedAt)
	im.categories[rec.ID] = id
	return err
}

// named inserts a row unique by name and returns the id that holds the
// name after it.
func (im *importer) named(ctx context.Context, insert, byName string, id uuid.UUID, name, what string, rest ...any) (uuid.UUID, error) {
	if err := im.flushRows(ctx); err != nil {
		return uuid.Nil, err
	}
	if _, err := im.tx.Exec(ctx, insert, append([]any{id, name}, rest...)...); err != nil {
		return uuid.Nil, fmt.Errorf("postgres: %w", err)
	}
	var holder uuid.UUID
	if err := im.tx.QueryRow(ctx, byName, name).Scan(&holder); err != nil {
		return uuid.Nil, fmt.Errorf("postgres: %w", err)
	}
	if holder != id && !im.merge {
		return uuid.Nil, fmt.Errorf("%w: org %s already has another %s named %q (import with --merge to merge them)", ErrConflict, im.target, what, name)
	}
	return holder, nil
}

func (im *importer) writeMemory(ctx context.Context, rec memoryRecord) error {
	app, ok := im.apps[rec.AppID]
	if !ok {
		return invalid("memory %s refers to app %s, which the stream does not hold", rec.ID, rec.AppID)
	}
	id := im.id(rec.ID)
	categories := make([]uuid.UUID, len(rec.Categories))
	for i, c := range rec.Categories {
		if categories[i], ok = im.categories[c]; !ok {
			return invalid("memory %s refers to category %s, which the stream does not hold", rec.ID, c)
		}
	}
	c := &im.memories
	c.id, c.app, c.author = append(c.id, id), append(c.app, app), append(c.author, rec.AuthorID)
	c.content, c.metadata, c.state = append(c.content, rec.Content), append(c.metadata, string(rec.Metadata)), append(c.state, rec.State)
	c.version, c.visibility = append(c.version, rec.Version), append(c.visibility, rec.Visibility)
	c.created, c.updated, c.deleted = append(c.created, rec.CreatedAt), append(c.updated, rec.UpdatedAt), append(c.deleted, rec.DeletedAt)
	for _, cat := range categories {
		c.linkMemory, c.linkCategory = append(c.linkMemory, id), append(c.linkCategory, cat)
	}
	if len(c.id) >= rowBatch {
		return im.flushRows(ctx)
	}
	return nil
}

func (im *importer) writeFeedback(ctx context.Context, rec feedbackRecord) error {
	c := &im.feedback
	c.id, c.user, c.query = append(c.id, im.id(rec.ID)), append(c.user, rec.UserID), append(c.query, rec.QueryID)
	c.memory, c.tool, c.queryType = append(c.memory, im.optionalID(rec.MemoryID)), append(c.tool, rec.Tool), append(c.queryType, rec.QueryType)
	c.outcome, c.latency, c.experiment = append(c.outcome, rec.Outcome), append(c.latency, rec.LatencyMS), append(c.experiment, im.optionalID(rec.ExperimentID))
	c.variant, c.created = append(c.variant, rec.VariantKey), append(c.created, rec.CreatedAt)
	if len(c.id) >= rowBatch {
		return im.flushRows(ctx)
	}
	return nil
}

// rowBatch is the number of memories or feedback events one statement
// writes: column arrays of that many rows are all an import holds.
const rowBatch = 500

// memoryColumns are the memories waiting for their statement.
type memoryColumns struct {
	id, app, author          []uuid.UUID
	content, metadata, state []string
	version                  []int64
	visibility               []string
	created, updated         []time.Time
	deleted                  []*time.Time
	linkMemory, linkCategory []uuid.UUID
}

// feedbackColumns are the feedback events waiting for their statement.
type feedbackColumns struct {
	id, user                 []uuid.UUID
	query                    []string
	memory, experiment       []*uuid.UUID
	tool, queryType, outcome []string
	latency                  []*int64
	variant                  []*string
	created                  []time.Time
}

// queueColumns adds the pending memories and feedback events to the batch.
func (im *importer) queueColumns() {
	if c := im.memories; len(c.id) > 0 {
		im.batch.Queue(upsertMemoriesSQL, c.id, c.app, c.author, c.content, c.metadata, c.state, c.version, c.visibility,
			c.created, c.updated, c.deleted, c.linkMemory, c.linkCategory, im.s.indexes)
		im.memories = memoryColumns{}
	}
	if c := im.feedback; len(c.id) > 0 {
		im.batch.Queue(insertFeedbackSQL, c.id, c.user, c.query, c.memory, c.tool, c.queryType, c.outcome, c.latency,
			c.experiment, c.variant, c.created)
		im.feedback = feedbackColumns{}
	}
}

// writeExperiment upserts the experiment and its variants. With Merge, an
// experiment whose name another experiment of the target holds is renamed
// "<name> (import <8 hex of its id>)", the same name on every re-run.
func (im *importer) writeExperiment(ctx context.Context, rec experimentRecord) error {
	if err := im.flushRows(ctx); err != nil {
		return err
	}
	id := im.id(rec.ID)
	name := rec.Name
	var holder uuid.UUID
	err := im.tx.QueryRow(ctx, experimentByNameSQL, name).Scan(&holder)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && holder == id):
	case err != nil:
		return fmt.Errorf("postgres: %w", err)
	case !im.merge:
		return fmt.Errorf("%w: org %s already has another experiment named %q (import with --merge to rename it)", ErrConflict, im.target, name)
	default:
		suffix := " (import " + id.String()[:8] + ")"
		name = truncateRunes(name, 64-len([]rune(suffix))) + suffix
	}
	if err := im.queue(ctx, upsertExperimentSQL, id, name, rec.Description, rec.Status, rec.CreatedAt, rec.UpdatedAt); err != nil {
		return err
	}
	for _, v := range rec.Variants {
		if err := im.queue(ctx, insertVariantSQL, im.id(v.ID), id, v.Key, v.Weight, string(v.Config), v.Position); err != nil {
			return err
		}
	}
	return nil
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// writeEpisodic puts a live item back with the life it had left.
func (im *importer) writeEpisodic(ctx context.Context, rec episodicRecord) error {
	ttl := min(time.Duration(rec.TTLMillis)*time.Millisecond, stores.MaxEpisodicTTL)
	if ttl < stores.MinEpisodicTTL {
		return nil
	}
	store := im.s.Episodic.Episodic(stores.Tenant{OrgID: im.target, UserID: rec.UserID})
	_, err := store.PutItem(ctx, rec.SessionID, stores.NewEpisodicItem{
		ID: rec.ID, Content: rec.Content, MemoryID: im.optionalID(rec.MemoryID), Metadata: rec.Metadata, Weight: rec.Weight, TTL: ttl,
	})
	return err
}
