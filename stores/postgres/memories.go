package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Statements of the memory store. The org_id of every row is checked by the
// policies; statements name it only where a row is written.
const (
	memoryColumns = `id, app_id, author_id, content, metadata, state, version, created_at, updated_at, deleted_at, visibility`

	memoryByIDSQL   = `SELECT ` + memoryColumns + ` FROM memories WHERE id = $1`
	memoriesByIDSQL = `SELECT ` + memoryColumns + ` FROM memories WHERE id = ANY($1::uuid[])`

	// The filter of a memory list: $1 states (NULL: all but DELETED), $2
	// app, $3 category, $4 ILIKE pattern, $5 created after, $6 created
	// before. Two forms: the category filter is a semi-join the planner can
	// drive from either side, which an "$3 IS NULL OR EXISTS" would prevent.
	memoriesWhere           = memoriesWhereHead + `AND $3::uuid IS NULL` + memoriesWhereTail
	memoriesInCategoryWhere = memoriesWhereHead + `AND EXISTS (
        SELECT 1 FROM memory_categories mc
        WHERE mc.org_id = m.org_id AND mc.category_id = $3::uuid AND mc.memory_id = m.id)` + memoriesWhereTail
	memoriesWhereHead = `
WHERE (CASE WHEN $1::text[] IS NULL THEN m.state <> 'DELETED' ELSE m.state = ANY($1::text[]) END)
  AND ($2::uuid IS NULL OR m.app_id = $2::uuid)
  `
	memoriesWhereTail = `
  AND ($4::text IS NULL OR m.content ILIKE $4::text)
  AND ($5::timestamptz IS NULL OR m.created_at > $5::timestamptz)
  AND ($6::timestamptz IS NULL OR m.created_at < $6::timestamptz)`

	// A page of a memory list: the filter, then $7/$8 cursor, $9 limit.
	listMemoriesSQL           = `SELECT ` + memoryColumns + ` FROM memories m` + memoriesWhere + memoriesPage
	listMemoriesInCategorySQL = `SELECT ` + memoryColumns + ` FROM memories m` + memoriesInCategoryWhere + memoriesPage
	memoriesPage              = `
  AND ($7::timestamptz IS NULL OR (m.created_at, m.id) < ($7::timestamptz, $8::uuid))
ORDER BY m.created_at DESC, m.id DESC
LIMIT $9`

	// The size of a memory list: the filter alone.
	countMemoriesSQL           = `SELECT count(*) FROM memories m` + memoriesWhere
	countMemoriesInCategorySQL = `SELECT count(*) FROM memories m` + memoriesInCategoryWhere

	// Creates the named categories that do not exist yet; a concurrent
	// creator of the same name makes this one wait, then skip it.
	ensureCategoriesSQL = `INSERT INTO categories (org_id, name)
SELECT $1::uuid, unnest($2::text[])
ON CONFLICT (org_id, name) DO NOTHING`

	// One statement stores the batch, links its categories (created by the
	// statement before) and queues one outbox row per memory and index.
	insertMemoriesSQL = `WITH m AS (
  INSERT INTO memories (org_id, id, app_id, author_id, content, metadata, visibility)
  SELECT $1::uuid, u.id, u.app_id, $2::uuid, u.content, u.metadata::jsonb, u.visibility
  FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $9::text[]) AS u(id, app_id, content, metadata, visibility)
  RETURNING ` + memoryColumns + `
), links AS (
  INSERT INTO memory_categories (org_id, memory_id, category_id)
  SELECT c.org_id, l.memory_id, c.id
  FROM unnest($7::uuid[], $8::text[]) AS l(memory_id, name)
  JOIN categories c ON c.name = l.name
), queued AS (
  INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
  SELECT $1::uuid, m.id, 'upsert', m.version, m.author_id, i.name FROM m CROSS JOIN unnest($10::text[]) AS i(name)
)
SELECT ` + memoryColumns + ` FROM m`

	lockMemorySQL = `SELECT version, state, author_id FROM memories WHERE id = $1 FOR UPDATE`

	updateMemorySQL = `UPDATE memories SET
  content = coalesce($2::text, content),
  metadata = coalesce($3::jsonb, metadata),
  app_id = coalesce($4::uuid, app_id),
  version = version + 1,
  updated_at = now()
WHERE id = $1
RETURNING ` + memoryColumns

	setMemoryStateSQL = `UPDATE memories SET state = $2, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING ` + memoryColumns

	setMemoryVisibilitySQL = `UPDATE memories SET visibility = $2, version = version + 1, updated_at = now()
WHERE id = $1
RETURNING ` + memoryColumns

	deleteMemorySQL = `UPDATE memories SET state = 'DELETED', deleted_at = now(), version = version + 1, updated_at = now()
WHERE id = $1
RETURNING ` + memoryColumns

	unlinkCategoriesSQL = `DELETE FROM memory_categories WHERE memory_id = $1`

	linkCategoriesSQL = `INSERT INTO memory_categories (org_id, memory_id, category_id)
SELECT c.org_id, $1::uuid, c.id FROM categories c WHERE c.name = ANY($2::text[])`

	enqueueSQL = `INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, author_id, index_name)
SELECT $1::uuid, $2::uuid, $3::text, $4::bigint, $5::uuid, i.name FROM unnest($6::text[]) AS i(name)`

	insertAppSQL = `INSERT INTO apps (org_id, id, name, description) VALUES ($1, $2, $3, $4) RETURNING created_at`
	appsByIDSQL  = `SELECT id, name, description, created_at FROM apps WHERE id = ANY($1::uuid[])`
	listAppsSQL  = `SELECT id, name, description, created_at FROM apps
WHERE ($1::text IS NULL OR name > $1::text)
ORDER BY name
LIMIT $2`

	countAppsSQL = `SELECT count(*) FROM apps`

	listCategoriesSQL = `SELECT id, name, created_at FROM categories
WHERE ($1::text IS NULL OR name > $1::text)
ORDER BY name
LIMIT $2`
	countCategoriesSQL    = `SELECT count(*) FROM categories`
	categoriesByMemorySQL = `SELECT mc.memory_id, c.id, c.name, c.created_at
FROM memory_categories mc
JOIN categories c ON c.org_id = mc.org_id AND c.id = mc.category_id
WHERE mc.memory_id = ANY($1::uuid[])
ORDER BY mc.memory_id, c.name`
)

// Outbox operations.
const (
	opUpsert = "upsert"
	opDelete = "delete"
)

type memoryStore struct {
	b *Backend
	t stores.Tenant
}

func scanMemory(row pgx.CollectableRow) (stores.Memory, error) {
	var m stores.Memory
	var state, visibility string
	err := row.Scan(&m.ID, &m.AppID, &m.AuthorID, &m.Content, &m.Metadata, &state, &m.Version, &m.CreatedAt, &m.UpdatedAt, &m.DeletedAt, &visibility)
	m.State = stores.MemoryState(state)
	m.Visibility = stores.Visibility(visibility)
	if m.Metadata == nil {
		m.Metadata = map[string]any{}
	}
	m.CreatedAt = m.CreatedAt.UTC()
	m.UpdatedAt = m.UpdatedAt.UTC()
	if m.DeletedAt != nil {
		at := m.DeletedAt.UTC()
		m.DeletedAt = &at
	}
	return m, err
}

func (s *memoryStore) Memory(ctx context.Context, id uuid.UUID) (stores.Memory, error) {
	var ms []stores.Memory
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(memoryByIDSQL, id).Query(func(rows pgx.Rows) (err error) {
			ms, err = pgx.CollectRows(rows, scanMemory)
			return err
		})
	})
	if err != nil {
		return stores.Memory{}, err
	}
	if len(ms) == 0 {
		return stores.Memory{}, stores.NotFound("memory not found")
	}
	return ms[0], nil
}

func (s *memoryStore) MemoriesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Memory, error) {
	out := make(map[uuid.UUID]stores.Memory, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(memoriesByIDSQL, ids).Query(func(rows pgx.Rows) error {
			ms, err := pgx.CollectRows(rows, scanMemory)
			for _, m := range ms {
				out[m.ID] = m
			}
			return err
		})
	})
	return out, err
}

// memoryFilterArgs returns the arguments $1..$6 of a memory list's filter,
// and whether the list is the form with the category semi-join.
func memoryFilterArgs(f stores.MemoryFilter) (args []any, inCategory bool, err error) {
	if err := stores.CheckMemoryFilter(f); err != nil {
		return nil, false, err
	}
	var states []string
	for _, st := range f.States {
		states = append(states, string(st))
	}
	var pattern *string
	if f.TextContains != "" {
		like := "%" + likeEscaper.Replace(f.TextContains) + "%"
		pattern = &like
	}
	return []any{states, f.AppID, f.CategoryID, pattern, f.CreatedAfter, f.CreatedBefore}, f.CategoryID != nil, nil
}

func (s *memoryStore) CountMemories(ctx context.Context, f stores.MemoryFilter) (int, error) {
	args, inCategory, err := memoryFilterArgs(f)
	if err != nil {
		return 0, err
	}
	sql := countMemoriesSQL
	if inCategory {
		sql = countMemoriesInCategorySQL
	}
	return s.b.count(ctx, s.t, sql, args...)
}

func (s *memoryStore) ListMemories(ctx context.Context, f stores.MemoryFilter, p stores.PageArgs) (stores.Page[stores.Memory], error) {
	args, inCategory, err := memoryFilterArgs(f)
	if err != nil {
		return stores.Page[stores.Memory]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.Memory]{}, err
	}
	afterAt, afterID := newestAfter(after)
	sql := listMemoriesSQL
	if inCategory {
		sql = listMemoriesInCategorySQL
	}
	var ms []stores.Memory
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(sql, append(args, afterAt, afterID, p.First+1)...).
			Query(func(rows pgx.Rows) (err error) {
				ms, err = pgx.CollectRows(rows, scanMemory)
				return err
			})
	})
	if err != nil {
		return stores.Page[stores.Memory]{}, err
	}
	return page(ms, p.First, func(m stores.Memory) string { return stores.NewestCursor{At: m.CreatedAt, ID: m.ID}.Encode() }), nil
}

// likeEscaper makes user text match itself literally inside an ILIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (s *memoryStore) CreateMemory(ctx context.Context, in stores.NewMemory) (stores.Memory, error) {
	out, err := s.CreateMemories(ctx, []stores.NewMemory{in})
	if err != nil {
		return stores.Memory{}, err
	}
	return out[0], nil
}

// CreateMemories stores the whole batch in one transaction sent as one
// pipelined batch: the categories it needs, then the memories, their links
// and their outbox rows in one statement.
func (s *memoryStore) CreateMemories(ctx context.Context, in []stores.NewMemory) ([]stores.Memory, error) {
	valid, err := stores.CheckNewMemories(in)
	if err != nil {
		return nil, err
	}
	n := len(valid)
	ids, apps, contents, metas, visibilities := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n)
	var linkMemories []uuid.UUID
	var linkNames, names []string
	for i, v := range valid {
		ids[i], apps[i], contents[i], metas[i], visibilities[i] = uuid.New(), v.AppID, v.Content, v.Metadata, string(v.Visibility)
		for _, c := range v.Categories {
			linkMemories = append(linkMemories, ids[i])
			linkNames = append(linkNames, c)
			names = append(names, c)
		}
	}
	if n == 0 {
		return []stores.Memory{}, s.t.Validate()
	}
	byID := make(map[uuid.UUID]stores.Memory, n)
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		if len(names) > 0 {
			b.Queue(ensureCategoriesSQL, s.t.OrgID, names)
		}
		b.Queue(insertMemoriesSQL, s.t.OrgID, s.t.UserID, ids, apps, contents, metas, linkMemories, linkNames, visibilities, s.b.indexNames).
			Query(func(rows pgx.Rows) error {
				ms, err := pgx.CollectRows(rows, scanMemory)
				for _, m := range ms {
					byID[m.ID] = m
				}
				return err
			})
	})
	if err != nil {
		return nil, err
	}
	out := make([]stores.Memory, n)
	for i, id := range ids {
		m, ok := byID[id]
		if !ok {
			return nil, errorf("memory %s missing from the insert's result", id)
		}
		out[i] = m
	}
	return out, nil
}

func (s *memoryStore) UpdateMemory(ctx context.Context, id uuid.UUID, u stores.MemoryUpdate) (stores.Memory, error) {
	checked, err := stores.CheckMemoryUpdate(u)
	if err != nil {
		return stores.Memory{}, err
	}
	meta, cats := checked.Metadata, checked.Categories
	return s.change(ctx, id, &u.ExpectedVersion, false, nil, func(b *pgx.Batch, scan func(pgx.Rows) error) {
		b.Queue(updateMemorySQL, id, u.Content, meta, u.AppID).Query(scan)
		if u.Categories != nil {
			if len(cats) > 0 {
				b.Queue(ensureCategoriesSQL, s.t.OrgID, cats)
			}
			b.Queue(unlinkCategoriesSQL, id)
			if len(cats) > 0 {
				b.Queue(linkCategoriesSQL, id, cats)
			}
		}
	})
}

func (s *memoryStore) SetMemoryState(ctx context.Context, id uuid.UUID, state stores.MemoryState, expectedVersion *int64) (stores.Memory, error) {
	if err := stores.CheckSettableState(state); err != nil {
		return stores.Memory{}, err
	}
	return s.change(ctx, id, expectedVersion, false, nil, func(b *pgx.Batch, scan func(pgx.Rows) error) {
		b.Queue(setMemoryStateSQL, id, string(state)).Query(scan)
	})
}

func (s *memoryStore) SetMemoryVisibility(ctx context.Context, id uuid.UUID, v stores.Visibility, expectedVersion *int64) (stores.Memory, error) {
	if !v.Valid() {
		return stores.Memory{}, stores.Invalid("visibility must be PRIVATE or ORG")
	}
	return s.change(ctx, id, expectedVersion, false, s.authorOnly, func(b *pgx.Batch, scan func(pgx.Rows) error) {
		b.Queue(setMemoryVisibilitySQL, id, string(v)).Query(scan)
	})
}

func (s *memoryStore) DeleteMemory(ctx context.Context, id uuid.UUID, expectedVersion *int64) (stores.Memory, error) {
	return s.change(ctx, id, expectedVersion, true, nil, func(b *pgx.Batch, scan func(pgx.Rows) error) {
		b.Queue(deleteMemorySQL, id).Query(scan)
	})
}

// authorOnly refuses a visibility change by anyone but the memory's author.
// The policies would refuse to hide another user's ORG memory anyway (the
// new row must stay readable to the updater), but with a driver error.
func (s *memoryStore) authorOnly(author uuid.UUID) error {
	if author != s.t.UserID {
		return stores.Conflict("only its author can change a memory's visibility")
	}
	return nil
}

// change runs one change of an existing memory: it locks the row, checks
// that it exists, is not deleted, is at the expected version (when one is
// given) and passes check (when given), then sends the statements queue adds (the first of them returning
// the changed memory, read with scan) with the memory's outbox row, in one
// transaction. Deleting a deleted memory is not found; changing it conflicts.
func (s *memoryStore) change(ctx context.Context, id uuid.UUID, expectedVersion *int64, deleting bool, check func(author uuid.UUID) error,
	queue func(b *pgx.Batch, scan func(pgx.Rows) error)) (stores.Memory, error) {
	var changed stores.Memory
	err := s.b.tx(ctx, s.t, func(ctx context.Context, conn *pgx.Conn) error {
		var version int64
		var state string
		var author uuid.UUID
		err := conn.QueryRow(ctx, lockMemorySQL, id).Scan(&version, &state, &author)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return stores.NotFound("memory not found")
		case err != nil:
			return err
		case state == string(stores.MemoryDeleted) && deleting:
			return stores.NotFound("memory not found")
		case state == string(stores.MemoryDeleted):
			return stores.Conflict("memory is deleted")
		case expectedVersion != nil && *expectedVersion != version:
			return stores.Conflict("memory is at version %d, not %d", version, *expectedVersion)
		}
		if check != nil {
			if err := check(author); err != nil {
				return err
			}
		}
		op := opUpsert
		if deleting {
			op = opDelete
		}
		b := &pgx.Batch{}
		queue(b, func(rows pgx.Rows) error {
			m, err := pgx.CollectExactlyOneRow(rows, scanMemory)
			changed = m
			return err
		})
		b.Queue(enqueueSQL, s.t.OrgID, id, op, version+1, author, s.b.indexNames)
		return conn.SendBatch(ctx, b).Close()
	})
	return changed, err
}

func (s *memoryStore) CreateApp(ctx context.Context, name, description string) (stores.App, error) {
	name, err := stores.CheckNewApp(name, description)
	if err != nil {
		return stores.App{}, err
	}
	app := stores.App{ID: uuid.New(), Name: name, Description: description}
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(insertAppSQL, s.t.OrgID, app.ID, name, description).QueryRow(func(row pgx.Row) error {
			return row.Scan(&app.CreatedAt)
		})
	})
	if isUniqueViolation(err, "apps_name_key") {
		return stores.App{}, stores.Conflict("an app named %q already exists", name)
	}
	app.CreatedAt = app.CreatedAt.UTC()
	return app, err
}

func scanApp(row pgx.CollectableRow) (stores.App, error) {
	var a stores.App
	err := row.Scan(&a.ID, &a.Name, &a.Description, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

func (s *memoryStore) AppsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.App, error) {
	out := make(map[uuid.UUID]stores.App, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(appsByIDSQL, ids).Query(func(rows pgx.Rows) error {
			apps, err := pgx.CollectRows(rows, scanApp)
			for _, a := range apps {
				out[a.ID] = a
			}
			return err
		})
	})
	return out, err
}

func (s *memoryStore) ListApps(ctx context.Context, p stores.PageArgs) (stores.Page[stores.App], error) {
	apps, err := listByName(ctx, s, listAppsSQL, p, scanApp)
	if err != nil {
		return stores.Page[stores.App]{}, err
	}
	return page(apps, p.First, func(a stores.App) string { return stores.NameCursor{Name: a.Name, ID: a.ID}.Encode() }), nil
}

func (s *memoryStore) CountApps(ctx context.Context) (int, error) {
	return s.b.count(ctx, s.t, countAppsSQL)
}

func scanCategory(row pgx.CollectableRow) (stores.Category, error) {
	var c stores.Category
	err := row.Scan(&c.ID, &c.Name, &c.CreatedAt)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

func (s *memoryStore) ListCategories(ctx context.Context, p stores.PageArgs) (stores.Page[stores.Category], error) {
	cats, err := listByName(ctx, s, listCategoriesSQL, p, scanCategory)
	if err != nil {
		return stores.Page[stores.Category]{}, err
	}
	return page(cats, p.First, func(c stores.Category) string { return stores.NameCursor{Name: c.Name, ID: c.ID}.Encode() }), nil
}

func (s *memoryStore) CountCategories(ctx context.Context) (int, error) {
	return s.b.count(ctx, s.t, countCategoriesSQL)
}

// listByName reads one page of a list ordered by a unique name.
func listByName[T any](ctx context.Context, s *memoryStore, sql string, p stores.PageArgs, scan pgx.RowToFunc[T]) ([]T, error) {
	after, err := stores.NamePageStart(p)
	if err != nil {
		return nil, err
	}
	var items []T
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(sql, nameAfter(after), p.First+1).Query(func(rows pgx.Rows) (err error) {
			items, err = pgx.CollectRows(rows, scan)
			return err
		})
	})
	return items, err
}

func (s *memoryStore) CategoriesByMemory(ctx context.Context, memoryIDs []uuid.UUID) (map[uuid.UUID][]stores.Category, error) {
	out := make(map[uuid.UUID][]stores.Category, len(memoryIDs))
	for _, id := range memoryIDs {
		out[id] = []stores.Category{}
	}
	if len(memoryIDs) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(categoriesByMemorySQL, memoryIDs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var memoryID uuid.UUID
				var c stores.Category
				if err := rows.Scan(&memoryID, &c.ID, &c.Name, &c.CreatedAt); err != nil {
					return err
				}
				c.CreatedAt = c.CreatedAt.UTC()
				out[memoryID] = append(out[memoryID], c)
			}
			return rows.Err()
		})
	})
	return out, err
}
