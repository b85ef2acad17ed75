package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// MemoryBackend keeps every organisation's memories, apps and categories in
// process. When it has a full-text index it keeps each memory's document in
// step with the memory, as the outbox indexer does for PostgreSQL.
type MemoryBackend struct {
	now     Clock
	index   stores.FullTextBackend
	vectors *vectorIndex // nil unless IndexVectors was called

	mu   sync.RWMutex
	orgs map[uuid.UUID]*memoryOrg
}

// memoryOrg is one organisation's share of the backend.
type memoryOrg struct {
	memories      map[uuid.UUID]*memoryRow
	apps          map[uuid.UUID]stores.App
	appNames      map[string]uuid.UUID
	categories    map[uuid.UUID]stores.Category
	categoryNames map[string]uuid.UUID
}

// memoryRow is a stored memory and the ids of its categories.
type memoryRow struct {
	memory     stores.Memory
	categories []uuid.UUID
}

// NewMemoryBackend returns an empty memory backend. index may be nil; when it
// is set, every memory is mirrored as a stores.Document whose id is the
// memory id, and removed from it when the memory is deleted.
func NewMemoryBackend(now Clock, index stores.FullTextBackend) *MemoryBackend {
	if now == nil {
		now = time.Now
	}
	return &MemoryBackend{now: now, index: index, orgs: make(map[uuid.UUID]*memoryOrg)}
}

// Memories binds the backend to one tenant.
func (b *MemoryBackend) Memories(t stores.Tenant) stores.MemoryStore {
	return &memoryStore{b: b, tenant: t}
}

// stamp returns the current time as the stores keep it: UTC, to the
// microsecond, so that values round-trip like a PostgreSQL timestamptz.
func (b *MemoryBackend) stamp() time.Time { return storeTime(b.now) }

// org returns the tenant's partition, creating it when create is set (the
// caller then holds the write lock). It returns nil for an unknown org.
func (b *MemoryBackend) org(id uuid.UUID, create bool) *memoryOrg {
	o := b.orgs[id]
	if o == nil && create {
		o = &memoryOrg{
			memories:      make(map[uuid.UUID]*memoryRow),
			apps:          make(map[uuid.UUID]stores.App),
			appNames:      make(map[string]uuid.UUID),
			categories:    make(map[uuid.UUID]stores.Category),
			categoryNames: make(map[string]uuid.UUID),
		}
		b.orgs[id] = o
	}
	return o
}

type memoryStore struct {
	b      *MemoryBackend
	tenant stores.Tenant
}

// begin checks what every call needs before touching data.
func (s *memoryStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

func (s *memoryStore) Memory(ctx context.Context, id uuid.UUID) (stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Memory{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	row := s.visible(s.b.org(s.tenant.OrgID, false), id)
	if row == nil {
		return stores.Memory{}, stores.NotFound("memory not found")
	}
	return copyMemory(row.memory), nil
}

// visible returns the memory's row when it exists in o and the bound user
// may see it (an ORG memory, or one of the user's own), else nil: another
// user's private memory is exactly like a missing one. The caller holds a lock.
func (s *memoryStore) visible(o *memoryOrg, id uuid.UUID) *memoryRow {
	if o == nil {
		return nil
	}
	row := o.memories[id]
	if row == nil || !row.memory.Visibility.VisibleTo(row.memory.AuthorID, s.tenant.UserID) {
		return nil
	}
	return row
}

func (s *memoryStore) MemoriesByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID]stores.Memory, len(ids))
	o := s.b.org(s.tenant.OrgID, false)
	if o == nil {
		return out, nil
	}
	for _, id := range ids {
		if row := s.visible(o, id); row != nil {
			out[id] = copyMemory(row.memory)
		}
	}
	return out, nil
}

// IndexStatus binds the index status of the tenant's memories.
func (b *MemoryBackend) IndexStatus(t stores.Tenant) stores.IndexStatusStore {
	return &memoryStore{b: b, tenant: t}
}

// matchingMemories returns the org's memories that f selects, in no order.
// The caller holds the read lock and has checked f.
func (s *memoryStore) matchingMemories(f stores.MemoryFilter) []stores.Memory {
	needle := strings.ToLower(f.TextContains)
	var rows []stores.Memory
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		for _, row := range o.memories {
			m := row.memory
			switch {
			case !m.Visibility.VisibleTo(m.AuthorID, s.tenant.UserID),
				len(f.States) == 0 && m.State == stores.MemoryDeleted,
				len(f.States) > 0 && !slices.Contains(f.States, m.State),
				f.AppID != nil && m.AppID != *f.AppID,
				f.CategoryID != nil && !slices.Contains(row.categories, *f.CategoryID),
				needle != "" && !strings.Contains(strings.ToLower(m.Content), needle),
				f.CreatedAfter != nil && !m.CreatedAt.After(*f.CreatedAfter),
				f.CreatedBefore != nil && !m.CreatedAt.Before(*f.CreatedBefore):
				continue
			}
			rows = append(rows, m)
		}
	}
	return rows
}

func (s *memoryStore) CountMemories(ctx context.Context, f stores.MemoryFilter) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckMemoryFilter(f); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return len(s.matchingMemories(f)), nil
}

func (s *memoryStore) ListMemories(ctx context.Context, f stores.MemoryFilter, p stores.PageArgs) (stores.Page[stores.Memory], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.Memory]{}, err
	}
	if err := stores.CheckMemoryFilter(f); err != nil {
		return stores.Page[stores.Memory]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.Memory]{}, err
	}

	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	rows := s.matchingMemories(f)
	page := keysetPage(rows, p.First, after, func(m stores.Memory) stores.NewestCursor { return stores.NewestCursor{At: m.CreatedAt, ID: m.ID} }, compareNewest)
	for i := range page.Items {
		page.Items[i] = copyMemory(page.Items[i])
	}
	return page, nil
}

func (s *memoryStore) CreateMemory(ctx context.Context, in stores.NewMemory) (stores.Memory, error) {
	out, err := s.CreateMemories(ctx, []stores.NewMemory{in})
	if err != nil {
		return stores.Memory{}, err
	}
	return out[0], nil
}

func (s *memoryStore) CreateMemories(ctx context.Context, in []stores.NewMemory) ([]stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	valid, err := stores.CheckNewMemories(in)
	if err != nil {
		return nil, err
	}
	metadata := make([]map[string]any, len(valid))
	for i, v := range valid {
		if metadata[i], err = decodeJSONObject("metadata", v.Metadata); err != nil {
			return nil, err
		}
	}

	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o := s.b.org(s.tenant.OrgID, true)
	// Every check happens before the first write, so a failing batch stores nothing.
	for _, v := range valid {
		if _, ok := o.apps[v.AppID]; !ok {
			return nil, stores.NotFound("app not found")
		}
	}
	now := s.b.stamp()
	out := make([]stores.Memory, len(valid))
	for i, v := range valid {
		m := stores.Memory{
			ID:         uuid.New(),
			AppID:      v.AppID,
			AuthorID:   s.tenant.UserID,
			Visibility: v.Visibility,
			Content:    v.Content,
			Metadata:   metadata[i],
			State:      stores.MemoryActive,
			Version:    1,
			CreatedAt:  now,
			UpdatedAt:  now,
		}
		row := &memoryRow{memory: m, categories: s.ensureCategories(o, v.Categories, now)}
		o.memories[m.ID] = row
		s.reindex(ctx, o, row)
		out[i] = copyMemory(m)
	}
	return out, nil
}

// ensureCategories returns the ids of the named categories, creating the
// missing ones. The names are already checked and deduplicated.
func (s *memoryStore) ensureCategories(o *memoryOrg, names []string, now time.Time) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(names))
	for _, name := range names {
		id, ok := o.categoryNames[name]
		if !ok {
			id = uuid.New()
			o.categoryNames[name] = id
			o.categories[id] = stores.Category{ID: id, Name: name, CreatedAt: now}
		}
		ids = append(ids, id)
	}
	return ids
}

func (s *memoryStore) UpdateMemory(ctx context.Context, id uuid.UUID, u stores.MemoryUpdate) (stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Memory{}, err
	}
	checked, err := stores.CheckMemoryUpdate(u)
	if err != nil {
		return stores.Memory{}, err
	}
	var meta map[string]any
	if checked.Metadata != nil {
		if meta, err = decodeJSONObject("metadata", *checked.Metadata); err != nil {
			return stores.Memory{}, err
		}
	}
	cats := checked.Categories

	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o, row, err := s.changeable(id, &u.ExpectedVersion)
	if err != nil {
		return stores.Memory{}, err
	}
	if u.AppID != nil {
		if _, ok := o.apps[*u.AppID]; !ok {
			return stores.Memory{}, stores.NotFound("app not found")
		}
	}
	now := s.b.stamp()
	m := &row.memory
	if u.Content != nil {
		m.Content = *u.Content
	}
	if meta != nil {
		m.Metadata = meta
	}
	if u.AppID != nil {
		m.AppID = *u.AppID
	}
	if u.Categories != nil {
		row.categories = s.ensureCategories(o, cats, now)
	}
	m.Version++
	m.UpdatedAt = now
	s.reindex(ctx, o, row)
	return copyMemory(*m), nil
}

func (s *memoryStore) SetMemoryState(ctx context.Context, id uuid.UUID, state stores.MemoryState, expectedVersion *int64) (stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Memory{}, err
	}
	if err := stores.CheckSettableState(state); err != nil {
		return stores.Memory{}, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o, row, err := s.changeable(id, expectedVersion)
	if err != nil {
		return stores.Memory{}, err
	}
	row.memory.State = state
	row.memory.Version++
	row.memory.UpdatedAt = s.b.stamp()
	s.reindex(ctx, o, row)
	return copyMemory(row.memory), nil
}

func (s *memoryStore) SetMemoryVisibility(ctx context.Context, id uuid.UUID, v stores.Visibility, expectedVersion *int64) (stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Memory{}, err
	}
	if !v.Valid() {
		return stores.Memory{}, stores.Invalid("visibility must be PRIVATE or ORG")
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o, row, err := s.changeable(id, expectedVersion)
	if err != nil {
		return stores.Memory{}, err
	}
	if row.memory.AuthorID != s.tenant.UserID {
		return stores.Memory{}, stores.Conflict("only its author can change a memory's visibility")
	}
	row.memory.Visibility = v
	row.memory.Version++
	row.memory.UpdatedAt = s.b.stamp()
	s.reindex(ctx, o, row)
	return copyMemory(row.memory), nil
}

func (s *memoryStore) DeleteMemory(ctx context.Context, id uuid.UUID, expectedVersion *int64) (stores.Memory, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Memory{}, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o := s.b.org(s.tenant.OrgID, false)
	row := s.visible(o, id)
	if row == nil || row.memory.State == stores.MemoryDeleted {
		return stores.Memory{}, stores.NotFound("memory not found")
	}
	if err := checkVersion(row.memory.Version, expectedVersion); err != nil {
		return stores.Memory{}, err
	}
	now := s.b.stamp()
	row.memory.State = stores.MemoryDeleted
	row.memory.DeletedAt = &now
	row.memory.Version++
	row.memory.UpdatedAt = now
	s.unindex(ctx, id)
	return copyMemory(row.memory), nil
}

// changeable finds a memory that may be changed: it exists, is not deleted,
// and is at the expected version when one is given. The caller holds the
// write lock.
func (s *memoryStore) changeable(id uuid.UUID, expectedVersion *int64) (*memoryOrg, *memoryRow, error) {
	o := s.b.org(s.tenant.OrgID, false)
	row := s.visible(o, id)
	if row == nil {
		return nil, nil, stores.NotFound("memory not found")
	}
	if row.memory.State == stores.MemoryDeleted {
		return nil, nil, stores.Conflict("memory is deleted")
	}
	if err := checkVersion(row.memory.Version, expectedVersion); err != nil {
		return nil, nil, err
	}
	return o, row, nil
}

func checkVersion(current int64, expected *int64) error {
	if expected != nil && *expected != current {
		return stores.Conflict("memory is at version %d, not %d", current, *expected)
	}
	return nil
}

// reindex mirrors a memory into the full-text store. The write has already
// happened, so a failure to index is logged rather than returned: the
// outbox indexer of the PostgreSQL backend would retry it the same way.
func (s *memoryStore) reindex(ctx context.Context, o *memoryOrg, row *memoryRow) {
	if s.b.index == nil {
		return
	}
	m := row.memory
	id := m.ID
	doc := stores.Document{
		ID:         id.String(),
		MemoryID:   &id,
		Body:       m.Content,
		Tags:       make([]string, 0, len(row.categories)),
		CreatedAt:  m.CreatedAt,
		AuthorID:   m.AuthorID,
		Visibility: m.Visibility,
	}
	for _, c := range sortedCategories(o, row.categories) {
		doc.Tags = append(doc.Tags, c.Name)
	}
	err := s.b.index.FullText(s.tenant).IndexDocuments(context.WithoutCancel(ctx), []stores.Document{doc})
	if err != nil {
		slog.Warn("embedded: indexing a memory failed", "memory_id", id, "error", err)
	}
	if s.b.vectors != nil {
		s.b.vectors.enqueue(vectorJob{tenant: s.tenant, id: id, version: m.Version, content: m.Content})
	}
}

// unindex removes a deleted memory's document and vector.
func (s *memoryStore) unindex(ctx context.Context, id uuid.UUID) {
	if s.b.vectors != nil {
		s.b.vectors.enqueue(vectorJob{tenant: s.tenant, id: id})
	}
	if s.b.index == nil {
		return
	}
	_, err := s.b.index.FullText(s.tenant).DeleteDocuments(context.WithoutCancel(ctx), []string{id.String()})
	if err != nil {
		slog.Warn("embedded: removing a memory from the index failed", "memory_id", id, "error", err)
	}
}

// IndexStatuses implements stores.IndexStatusStore: full text is indexed
// with every write; the vector index, when IndexVectors runs, in the
// background.
func (s *memoryStore) IndexStatuses(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.IndexStatus, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := map[uuid.UUID][]stores.IndexStatus{}
	o := s.b.org(s.tenant.OrgID, false)
	if o == nil {
		return out, nil
	}
	for _, id := range ids {
		row, ok := o.memories[id]
		if !ok {
			continue
		}
		statuses := []stores.IndexStatus{{Index: stores.IndexFullText, State: stores.IndexIndexed, Version: row.memory.Version}}
		if s.b.vectors != nil {
			statuses = append(statuses, s.b.vectors.statusOf(id))
		}
		out[id] = statuses
	}
	return out, nil
}

func (s *memoryStore) CreateApp(ctx context.Context, name, description string) (stores.App, error) {
	if err := s.begin(ctx); err != nil {
		return stores.App{}, err
	}
	name, err := stores.CheckNewApp(name, description)
	if err != nil {
		return stores.App{}, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o := s.b.org(s.tenant.OrgID, true)
	if _, taken := o.appNames[name]; taken {
		return stores.App{}, stores.Conflict("an app named %q already exists", name)
	}
	app := stores.App{ID: uuid.New(), Name: name, Description: description, CreatedAt: s.b.stamp()}
	o.apps[app.ID] = app
	o.appNames[name] = app.ID
	return app, nil
}

func (s *memoryStore) AppsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.App, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID]stores.App, len(ids))
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		for _, id := range ids {
			if app, ok := o.apps[id]; ok {
				out[id] = app
			}
		}
	}
	return out, nil
}

func (s *memoryStore) ListApps(ctx context.Context, p stores.PageArgs) (stores.Page[stores.App], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.App]{}, err
	}
	after, err := stores.NamePageStart(p)
	if err != nil {
		return stores.Page[stores.App]{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	var apps []stores.App
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		for _, app := range o.apps {
			apps = append(apps, app)
		}
	}
	return keysetPage(apps, p.First, after, func(a stores.App) stores.NameCursor { return stores.NameCursor{Name: a.Name, ID: a.ID} }, compareByName), nil
}

func (s *memoryStore) CountApps(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		return len(o.apps), nil
	}
	return 0, nil
}

func (s *memoryStore) ListCategories(ctx context.Context, p stores.PageArgs) (stores.Page[stores.Category], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.Category]{}, err
	}
	after, err := stores.NamePageStart(p)
	if err != nil {
		return stores.Page[stores.Category]{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	var cats []stores.Category
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		for _, c := range o.categories {
			cats = append(cats, c)
		}
	}
	return keysetPage(cats, p.First, after, categoryCursor, compareByName), nil
}

func (s *memoryStore) CountCategories(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		return len(o.categories), nil
	}
	return 0, nil
}

func (s *memoryStore) CategoriesByMemory(ctx context.Context, memoryIDs []uuid.UUID) (map[uuid.UUID][]stores.Category, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID][]stores.Category, len(memoryIDs))
	o := s.b.org(s.tenant.OrgID, false)
	for _, id := range memoryIDs {
		out[id] = []stores.Category{}
		if row := s.visible(o, id); row != nil {
			out[id] = sortedCategories(o, row.categories)
		}
	}
	return out, nil
}

// sortedCategories resolves category ids to categories ordered by name.
func sortedCategories(o *memoryOrg, ids []uuid.UUID) []stores.Category {
	cats := make([]stores.Category, 0, len(ids))
	for _, id := range ids {
		cats = append(cats, o.categories[id])
	}
	slices.SortFunc(cats, func(a, b stores.Category) int { return compareByName(categoryCursor(a), categoryCursor(b)) })
	return cats
}

func categoryCursor(c stores.Category) stores.NameCursor {
	return stores.NameCursor{Name: c.Name, ID: c.ID}
}

func copyMemory(m stores.Memory) stores.Memory {
	m.Metadata = copyJSONObject(m.Metadata)
	if m.DeletedAt != nil {
		at := *m.DeletedAt
		m.DeletedAt = &at
	}
	return m
}

// decodeJSONObject decodes the JSON text of an object, as CheckJSONObject
// returns it: the value a JSON column would give back (numbers as float64,
// structs as maps), so the embedded stores answer exactly like PostgreSQL's
// jsonb.
func decodeJSONObject(what, text string) (map[string]any, error) {
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil || out == nil {
		return nil, stores.Invalid("%s must be a JSON object", what)
	}
	return out, nil
}

// copyJSONObject deep-copies a normalised JSON object, so that a caller
// mutating a returned value cannot change the store.
func copyJSONObject(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyJSONValue(v)
	}
	return out
}

func copyJSONValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyJSONObject(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyJSONValue(e)
		}
		return out
	}
	return v
}

// storeTime reads a clock the way the stores keep time: UTC, to the microsecond.
func storeTime(now Clock) time.Time {
	return now().UTC().Truncate(time.Microsecond)
}

// Keyset pagination shared by the memories, feedback and experiments lists.
// A cursor names the last item of a page by its sort key and id; the next
// page starts strictly after it, so inserts between pages neither repeat nor
// skip items that were already there.

// keysetPage sorts rows by their cursors (cmp) and returns up to first of
// them that come after the cursor after (nil: from the start).
func keysetPage[T any, C interface{ Encode() string }](rows []T, first int, after *C, cursor func(T) C, cmp func(a, b C) int) stores.Page[T] {
	slices.SortFunc(rows, func(a, b T) int { return cmp(cursor(a), cursor(b)) })
	start := 0
	for after != nil && start < len(rows) && cmp(cursor(rows[start]), *after) <= 0 {
		start++
	}
	rest := rows[start:]
	n := min(first, len(rest))
	page := stores.Page[T]{
		Items:       make([]T, n),
		Cursors:     make([]string, n),
		HasNextPage: len(rest) > n,
	}
	copy(page.Items, rest[:n])
	for i, item := range page.Items {
		page.Cursors[i] = cursor(item).Encode()
	}
	return page
}

// compareNewest orders by time descending, then id descending.
func compareNewest(a, b stores.NewestCursor) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return bytes.Compare(b.ID[:], a.ID[:])
}

// compareByName orders by name (byte order), then id.
func compareByName(a, b stores.NameCursor) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}
