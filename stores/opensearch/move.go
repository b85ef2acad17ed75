package opensearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"
)

// taskPollInterval is how often a move asks whether a reindex or a
// delete-by-query it started has finished.
const taskPollInterval = 200 * time.Millisecond

// ErrNoTenant is returned by MoveTenant for an organisation that has no
// alias: it never wrote a document, or the org id is mistyped.
var ErrNoTenant = errors.New("no such tenant")

// MoveResult says what MoveTenant did, for the operator.
type MoveResult struct {
	Alias        string // the tenant's alias
	From         string // the shared index (empty when the tenant had already moved)
	To           string // the tenant's dedicated index
	Copied       int    // documents copied into the dedicated index
	Removed      int    // documents removed from the shared index
	AlreadyMoved bool   // the alias already pointed to the dedicated index
}

// DedicatedIndex is the index a moved tenant's documents live in.
func (b *Backend) DedicatedIndex(org uuid.UUID) string {
	return b.opts.Index + "-" + org.String()
}

// TenantIndices returns the indices the tenant's alias points to: the shared
// index, the dedicated one after a move, none before the tenant's first write.
func (b *Backend) TenantIndices(ctx context.Context, org uuid.UUID) ([]string, error) {
	return b.aliasIndices(ctx, b.aliasName(org))
}

// MoveTenant moves an organisation's documents from the shared index to a
// dedicated one without downtime: it creates the dedicated index with the
// same mapping, copies the tenant's documents into it (keeping their
// routing), swaps the alias from the shared index to the dedicated one in one
// atomic _aliases call, copies again what was written during the first copy,
// and deletes the tenant's documents from the shared index. Searches and
// writes name the alias throughout, so they keep answering: before the swap
// from the shared index, after it from the dedicated one.
//
// Both copies use external versioning (a document is copied only when newer
// than the copy), so the second one brings over documents created or
// replaced during the first without undoing writes made after the swap. A
// document deleted during the first copy may come back; run the move when
// deletions are rare, or replay them from the outbox. Re-running a move that
// failed midway is safe.
func (b *Backend) MoveTenant(ctx context.Context, org uuid.UUID) (MoveResult, error) {
	alias := b.aliasName(org)
	res := MoveResult{Alias: alias, To: b.DedicatedIndex(org)}
	indices, err := b.aliasIndices(ctx, alias)
	if err != nil {
		return res, err
	}
	switch {
	case slices.Equal(indices, []string{res.To}):
		res.AlreadyMoved = true
	case slices.Equal(indices, []string{b.opts.Index}):
		res.From = b.opts.Index
	case len(indices) == 0:
		return res, fmt.Errorf("%w: org %s has no alias (it never wrote a document): nothing to move", ErrNoTenant, org)
	default:
		return res, fmt.Errorf("alias %s points to %v, neither the shared index %s nor %s alone", alias, indices, b.opts.Index, res.To)
	}
	if err := b.createIndex(ctx, res.To, 1); err != nil {
		return res, fmt.Errorf("creating %s: %w", res.To, err)
	}
	if !res.AlreadyMoved {
		n, err := b.copyTenant(ctx, org, res.From, res.To)
		if err != nil {
			return res, err
		}
		res.Copied += n
		if err := b.call(ctx, http.MethodPost, "/_aliases", nil, newAliasSwap(org, alias, res.From, res.To), nil); err != nil {
			return res, fmt.Errorf("pointing %s to %s: %w", alias, res.To, err)
		}
		b.mu.Lock()
		b.aliases[org] = true
		b.mu.Unlock()
	}
	// Catch up with the writes of the first copy's window, then clear the
	// tenant out of the shared index (also what an interrupted move left).
	n, err := b.copyTenant(ctx, org, b.opts.Index, res.To)
	if err != nil {
		return res, err
	}
	res.Copied += n
	removed, err := b.runTask(ctx, "/"+url.PathEscape(b.opts.Index)+"/_delete_by_query",
		url.Values{"routing": {org.String()}, "conflicts": {"proceed"}, "refresh": {"true"}},
		map[string]termQuery{"query": newTermQuery("org_id", org.String())})
	if err != nil {
		return res, fmt.Errorf("deleting the tenant's documents from %s: %w", b.opts.Index, err)
	}
	res.Removed = removed.Deleted
	return res, nil
}

// reindexRequest copies the documents matching Source.Query.
type reindexRequest struct {
	Conflicts string `json:"conflicts"`
	Source    struct {
		Index string    `json:"index"`
		Query termQuery `json:"query"`
	} `json:"source"`
	Dest struct {
		Index       string `json:"index"`
		VersionType string `json:"version_type"`
	} `json:"dest"`
}

// copyTenant copies the tenant's documents from one index to another,
// keeping their routing and skipping those whose copy is as new, and
// refreshes the destination so that the copies are searchable.
func (b *Backend) copyTenant(ctx context.Context, org uuid.UUID, from, to string) (int, error) {
	var req reindexRequest
	req.Conflicts = "proceed"
	req.Source.Index = from
	req.Source.Query = newTermQuery("org_id", org.String())
	req.Dest.Index = to
	req.Dest.VersionType = "external"
	st, err := b.runTask(ctx, "/_reindex", url.Values{"refresh": {"true"}}, req)
	if err != nil {
		return 0, fmt.Errorf("copying the tenant's documents from %s to %s: %w", from, to, err)
	}
	return st.Created + st.Updated, nil
}

// aliasSwap is one _aliases call: the cluster applies all its actions or none.
type aliasSwap struct {
	Actions []map[string]aliasAction `json:"actions"`
}

type aliasAction struct {
	Index     string     `json:"index"`
	Alias     string     `json:"alias"`
	Filter    *termQuery `json:"filter,omitempty"`
	Routing   string     `json:"routing,omitempty"`
	MustExist *bool      `json:"must_exist,omitempty"`
}

// newAliasSwap removes the alias from the shared index (failing if someone
// else moved it meanwhile) and adds it, still filtered and routed, to the
// dedicated index: the filter is redundant there but keeps the index safe
// should another tenant's document ever land in it.
func newAliasSwap(org uuid.UUID, alias, from, to string) aliasSwap {
	def := newTenantAlias(org)
	add := aliasAction{Index: to, Alias: alias, Filter: &def.Filter, Routing: def.Routing}
	mustExist := true
	return aliasSwap{Actions: []map[string]aliasAction{
		{"remove": {Index: from, Alias: alias, MustExist: &mustExist}},
		{"add": add},
	}}
}

// taskStatus is what a reindex or delete-by-query reports when done.
type taskStatus struct {
	Created  int               `json:"created"`
	Updated  int               `json:"updated"`
	Deleted  int               `json:"deleted"`
	Failures []json.RawMessage `json:"failures"`
}

// runTask starts a long-running request as a task and polls until it is
// done, so that a large tenant's copy is bounded by the caller's context,
// not by one HTTP call's timeout.
func (b *Backend) runTask(ctx context.Context, path string, q url.Values, body any) (taskStatus, error) {
	q.Set("wait_for_completion", "false")
	var started struct {
		Task string `json:"task"`
	}
	if err := b.call(ctx, http.MethodPost, path, q, body, &started); err != nil {
		return taskStatus{}, err
	}
	if started.Task == "" {
		return taskStatus{}, fmt.Errorf("%s started no task", path)
	}
	tick := time.NewTicker(taskPollInterval)
	defer tick.Stop()
	for {
		var task struct {
			Completed bool            `json:"completed"`
			Response  taskStatus      `json:"response"`
			Error     json.RawMessage `json:"error"`
		}
		if err := b.call(ctx, http.MethodGet, "/_tasks/"+url.PathEscape(started.Task), nil, nil, &task); err != nil {
			return taskStatus{}, err
		}
		switch {
		case task.Completed && len(task.Error) > 0:
			return taskStatus{}, fmt.Errorf("task %s failed: %s", started.Task, task.Error)
		case task.Completed && len(task.Response.Failures) > 0:
			return task.Response, fmt.Errorf("task %s had %d failures, the first: %s", started.Task, len(task.Response.Failures), task.Response.Failures[0])
		case task.Completed:
			return task.Response, nil
		}
		select {
		case <-ctx.Done():
			return taskStatus{}, fmt.Errorf("waiting for task %s: %w", started.Task, ctx.Err())
		case <-tick.C:
		}
	}
}
