package embedded

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// ExperimentBackend keeps every organisation's experiments, their variants,
// status histories and per-user assignments in process.
type ExperimentBackend struct {
	now Clock

	mu   sync.RWMutex
	orgs map[uuid.UUID]*experimentOrg
}

type experimentOrg struct {
	experiments map[uuid.UUID]*experimentRow
	names       map[string]uuid.UUID
}

type experimentRow struct {
	experiment  stores.Experiment
	variants    []stores.Variant
	history     []stores.StatusChange
	assignments map[uuid.UUID]stores.Assignment // by user id
}

// NewExperimentBackend returns an empty experiment backend.
func NewExperimentBackend(now Clock) *ExperimentBackend {
	if now == nil {
		now = time.Now
	}
	return &ExperimentBackend{now: now, orgs: make(map[uuid.UUID]*experimentOrg)}
}

// Experiments binds the backend to one tenant; assignments are the user's.
func (b *ExperimentBackend) Experiments(t stores.Tenant) stores.ExperimentStore {
	return &experimentStore{b: b, tenant: t}
}

func (b *ExperimentBackend) org(id uuid.UUID, create bool) *experimentOrg {
	o := b.orgs[id]
	if o == nil && create {
		o = &experimentOrg{experiments: make(map[uuid.UUID]*experimentRow), names: make(map[string]uuid.UUID)}
		b.orgs[id] = o
	}
	return o
}

// row returns the org's experiment, or nil; the caller holds a lock.
func (b *ExperimentBackend) row(org, id uuid.UUID) *experimentRow {
	if o := b.orgs[org]; o != nil {
		return o.experiments[id]
	}
	return nil
}

type experimentStore struct {
	b      *ExperimentBackend
	tenant stores.Tenant
}

func (s *experimentStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

func (s *experimentStore) CreateExperiment(ctx context.Context, in stores.NewExperiment) (stores.Experiment, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Experiment{}, err
	}
	checked, err := stores.CheckNewExperiment(in)
	if err != nil {
		return stores.Experiment{}, err
	}
	name := checked.Name
	id := uuid.New()
	variants := make([]stores.Variant, len(checked.Variants))
	for i, v := range checked.Variants {
		config, err := decodeJSONObject("variant config", v.Config)
		if err != nil {
			return stores.Experiment{}, err
		}
		variants[i] = stores.Variant{ID: uuid.New(), ExperimentID: id, Key: v.Key, Weight: v.Weight, Config: config, Position: i}
	}

	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	o := s.b.org(s.tenant.OrgID, true)
	if _, taken := o.names[name]; taken {
		return stores.Experiment{}, stores.Conflict("an experiment named %q already exists", name)
	}
	now := storeTime(s.b.now)
	e := stores.Experiment{ID: id, Name: name, Description: in.Description, Status: stores.ExperimentDraft, CreatedAt: now, UpdatedAt: now}
	o.experiments[id] = &experimentRow{
		experiment:  e,
		variants:    variants,
		history:     []stores.StatusChange{{To: stores.ExperimentDraft, ChangedBy: s.tenant.UserID, ChangedAt: now}},
		assignments: make(map[uuid.UUID]stores.Assignment),
	}
	o.names[name] = id
	return e, nil
}

func (s *experimentStore) Experiment(ctx context.Context, id uuid.UUID) (stores.Experiment, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Experiment{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	row := s.b.row(s.tenant.OrgID, id)
	if row == nil {
		return stores.Experiment{}, stores.NotFound("experiment not found")
	}
	return row.experiment, nil
}

func (s *experimentStore) ExperimentsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Experiment, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID]stores.Experiment, len(ids))
	for _, id := range ids {
		if row := s.b.row(s.tenant.OrgID, id); row != nil {
			out[id] = row.experiment
		}
	}
	return out, nil
}

// withStatus returns the org's experiments in one of statuses (any when
// empty), in no order. The caller holds the read lock.
func (s *experimentStore) withStatus(statuses []stores.ExperimentStatus) []stores.Experiment {
	var list []stores.Experiment
	if o := s.b.org(s.tenant.OrgID, false); o != nil {
		for _, row := range o.experiments {
			if len(statuses) == 0 || slices.Contains(statuses, row.experiment.Status) {
				list = append(list, row.experiment)
			}
		}
	}
	return list
}

func (s *experimentStore) CountExperiments(ctx context.Context, statuses []stores.ExperimentStatus) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckStatuses(statuses); err != nil {
		return 0, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return len(s.withStatus(statuses)), nil
}

func (s *experimentStore) ListExperiments(ctx context.Context, statuses []stores.ExperimentStatus, p stores.PageArgs) (stores.Page[stores.Experiment], error) {
	if err := s.begin(ctx); err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	if err := stores.CheckStatuses(statuses); err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	list := s.withStatus(statuses)
	return keysetPage(list, p.First, after, func(e stores.Experiment) stores.NewestCursor { return stores.NewestCursor{At: e.CreatedAt, ID: e.ID} }, compareNewest), nil
}

func (s *experimentStore) TransitionExperiment(ctx context.Context, id uuid.UUID, to stores.ExperimentStatus, reason string) (stores.Experiment, error) {
	if err := s.begin(ctx); err != nil {
		return stores.Experiment{}, err
	}
	if err := stores.CheckTransition(to, reason); err != nil {
		return stores.Experiment{}, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	row := s.b.row(s.tenant.OrgID, id)
	if row == nil {
		return stores.Experiment{}, stores.NotFound("experiment not found")
	}
	from := row.experiment.Status
	if !stores.CanTransition(from, to) {
		return stores.Experiment{}, stores.Conflict("an experiment cannot move from %s to %s", from, to)
	}
	now := storeTime(s.b.now)
	row.experiment.Status = to
	row.experiment.UpdatedAt = now
	row.history = append(row.history, stores.StatusChange{From: &from, To: to, ChangedBy: s.tenant.UserID, Reason: reason, ChangedAt: now})
	return row.experiment, nil
}

func (s *experimentStore) VariantsByExperiment(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.Variant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID][]stores.Variant, len(ids))
	for _, id := range ids {
		vs := []stores.Variant{}
		if row := s.b.row(s.tenant.OrgID, id); row != nil {
			for _, v := range row.variants {
				vs = append(vs, copyVariant(v))
			}
		}
		out[id] = vs
	}
	return out, nil
}

func (s *experimentStore) StatusHistory(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.StatusChange, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make(map[uuid.UUID][]stores.StatusChange, len(ids))
	for _, id := range ids {
		hs := []stores.StatusChange{}
		if row := s.b.row(s.tenant.OrgID, id); row != nil {
			for _, h := range row.history {
				if h.From != nil {
					from := *h.From
					h.From = &from
				}
				hs = append(hs, h)
			}
		}
		out[id] = hs
	}
	return out, nil
}

func (s *experimentStore) Assignments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Assignment, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	out := make(map[uuid.UUID]stores.Assignment, len(ids))
	user := s.tenant.UserID
	for _, id := range ids {
		row := s.b.row(s.tenant.OrgID, id)
		if row == nil {
			continue
		}
		a, ok := row.assignments[user]
		if !ok {
			if row.experiment.Status != stores.ExperimentRunning {
				continue
			}
			v, picked := stores.PickVariant(id, user, row.variants)
			if !picked {
				continue
			}
			a = stores.Assignment{ExperimentID: id, UserID: user, Variant: v, AssignedAt: storeTime(s.b.now)}
			row.assignments[user] = a
		}
		a.Variant = copyVariant(a.Variant)
		out[id] = a
	}
	return out, nil
}

func copyVariant(v stores.Variant) stores.Variant {
	v.Config = copyJSONObject(v.Config)
	return v
}
