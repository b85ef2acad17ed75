package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Statements of the experiment store.
const (
	experimentColumns = `id, name, description, status, created_at, updated_at`

	// One statement stores the experiment, its variants and the creation
	// entry of its history.
	insertExperimentSQL = `WITH e AS (
  INSERT INTO experiments (org_id, id, name, description) VALUES ($1, $2, $3, $4)
  RETURNING org_id, id, status, created_at, updated_at
), v AS (
  INSERT INTO experiment_variants (org_id, id, experiment_id, key, weight, config, position)
  SELECT e.org_id, u.id, e.id, u.key, u.weight, u.config::jsonb, u.position
  FROM e, unnest($5::uuid[], $6::text[], $7::bigint[], $8::text[], $9::int[]) AS u(id, key, weight, config, position)
), h AS (
  INSERT INTO experiment_status_history (org_id, experiment_id, to_status, changed_by, changed_at)
  SELECT org_id, id, status, $10, created_at FROM e
)
SELECT created_at, updated_at FROM e`

	experimentByIDSQL  = `SELECT ` + experimentColumns + ` FROM experiments WHERE id = $1`
	experimentsByIDSQL = `SELECT ` + experimentColumns + ` FROM experiments WHERE id = ANY($1::uuid[])`

	// The filter of an experiment list, $1 statuses (NULL: all); a page
	// adds $2/$3 cursor and $4 limit.
	experimentsWhere = `
WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))`
	countExperimentsSQL = `SELECT count(*) FROM experiments` + experimentsWhere
	listExperimentsSQL  = `SELECT ` + experimentColumns + ` FROM experiments` + experimentsWhere + `
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4`
	lockExperimentSQL = `SELECT status FROM experiments WHERE id = $1 FOR UPDATE`

	// The status change and its history entry, in one statement.
	transitionExperimentSQL = `WITH e AS (
  UPDATE experiments SET status = $2, updated_at = now() WHERE id = $1
  RETURNING org_id, ` + experimentColumns + `
), h AS (
  INSERT INTO experiment_status_history (org_id, experiment_id, from_status, to_status, changed_by, reason, changed_at)
  SELECT org_id, id, $3, status, $4, $5, updated_at FROM e
)
SELECT ` + experimentColumns + ` FROM e`

	variantColumns          = `id, experiment_id, key, weight, config, position`
	variantsByExperimentSQL = `SELECT ` + variantColumns + ` FROM experiment_variants
WHERE experiment_id = ANY($1::uuid[])
ORDER BY experiment_id, position`

	statusHistorySQL = `SELECT experiment_id, from_status, to_status, changed_by, reason, changed_at
FROM experiment_status_history
WHERE experiment_id = ANY($1::uuid[])
ORDER BY experiment_id, id`

	// Each experiment's status and variants, with the bound user's stored
	// assignment (the policy also limits assignments to that user).
	assignmentsSQL = `SELECT e.status, a.variant_id, a.assigned_at, v.id, v.experiment_id, v.key, v.weight, v.config, v.position
FROM experiments e
JOIN experiment_variants v ON v.org_id = e.org_id AND v.experiment_id = e.id
LEFT JOIN experiment_assignments a ON a.org_id = e.org_id AND a.experiment_id = e.id AND a.user_id = $2
WHERE e.id = ANY($1::uuid[])
ORDER BY v.experiment_id, v.position`

	// Stores first assignments, only while the experiment is running; a
	// concurrent first assignment of the same user wins and is read back.
	insertAssignmentsSQL = `INSERT INTO experiment_assignments (org_id, experiment_id, user_id, variant_id)
SELECT $1, u.experiment_id, $2, u.variant_id
FROM unnest($3::uuid[], $4::uuid[]) AS u(experiment_id, variant_id)
JOIN experiments e ON e.id = u.experiment_id AND e.status = 'RUNNING'
ON CONFLICT (org_id, experiment_id, user_id) DO NOTHING`
	storedAssignmentsSQL = `SELECT experiment_id, variant_id, assigned_at FROM experiment_assignments
WHERE experiment_id = ANY($1::uuid[]) AND user_id = $2`
)

type experimentStore struct {
	b *Backend
	t stores.Tenant
}

func (s *experimentStore) CreateExperiment(ctx context.Context, in stores.NewExperiment) (stores.Experiment, error) {
	checked, err := stores.CheckNewExperiment(in)
	if err != nil {
		return stores.Experiment{}, err
	}
	name, n := checked.Name, len(checked.Variants)
	ids, keys, weights, configs, positions := make([]uuid.UUID, n), make([]string, n), make([]int64, n), make([]string, n), make([]int32, n)
	for i, v := range checked.Variants {
		ids[i], keys[i], weights[i], configs[i], positions[i] = uuid.New(), v.Key, int64(v.Weight), v.Config, int32(i)
	}
	e := stores.Experiment{ID: uuid.New(), Name: name, Description: in.Description, Status: stores.ExperimentDraft}
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(insertExperimentSQL, s.t.OrgID, e.ID, name, in.Description, ids, keys, weights, configs, positions, s.t.UserID).
			QueryRow(func(row pgx.Row) error { return row.Scan(&e.CreatedAt, &e.UpdatedAt) })
	})
	if isUniqueViolation(err, "experiments_name_key") {
		return stores.Experiment{}, stores.Conflict("an experiment named %q already exists", name)
	}
	if err != nil {
		return stores.Experiment{}, err
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

func scanExperiment(row pgx.CollectableRow) (stores.Experiment, error) {
	var e stores.Experiment
	var status string
	err := row.Scan(&e.ID, &e.Name, &e.Description, &status, &e.CreatedAt, &e.UpdatedAt)
	e.Status = stores.ExperimentStatus(status)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, err
}

func (s *experimentStore) Experiment(ctx context.Context, id uuid.UUID) (stores.Experiment, error) {
	got, err := s.ExperimentsByID(ctx, []uuid.UUID{id})
	if err != nil {
		return stores.Experiment{}, err
	}
	e, ok := got[id]
	if !ok {
		return stores.Experiment{}, stores.NotFound("experiment not found")
	}
	return e, nil
}

func (s *experimentStore) ExperimentsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Experiment, error) {
	out := make(map[uuid.UUID]stores.Experiment, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(experimentsByIDSQL, ids).Query(func(rows pgx.Rows) error {
			es, err := pgx.CollectRows(rows, scanExperiment)
			for _, e := range es {
				out[e.ID] = e
			}
			return err
		})
	})
	return out, err
}

// statusNames returns the argument $1 of experimentsWhere.
func statusNames(statuses []stores.ExperimentStatus) ([]string, error) {
	var names []string
	if err := stores.CheckStatuses(statuses); err != nil {
		return nil, err
	}
	for _, st := range statuses {
		names = append(names, string(st))
	}
	return names, nil
}

func (s *experimentStore) CountExperiments(ctx context.Context, statuses []stores.ExperimentStatus) (int, error) {
	names, err := statusNames(statuses)
	if err != nil {
		return 0, err
	}
	return s.b.count(ctx, s.t, countExperimentsSQL, names)
}

func (s *experimentStore) ListExperiments(ctx context.Context, statuses []stores.ExperimentStatus, p stores.PageArgs) (stores.Page[stores.Experiment], error) {
	names, err := statusNames(statuses)
	if err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	after, err := stores.NewestPageStart(p)
	if err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	afterAt, afterID := newestAfter(after)
	var es []stores.Experiment
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(listExperimentsSQL, names, afterAt, afterID, p.First+1).Query(func(rows pgx.Rows) (err error) {
			es, err = pgx.CollectRows(rows, scanExperiment)
			return err
		})
	})
	if err != nil {
		return stores.Page[stores.Experiment]{}, err
	}
	return page(es, p.First, func(e stores.Experiment) string { return stores.NewestCursor{At: e.CreatedAt, ID: e.ID}.Encode() }), nil
}

// TransitionExperiment locks the experiment, checks the move against
// stores.CanTransition, and writes the new status and its history entry in
// the same transaction.
func (s *experimentStore) TransitionExperiment(ctx context.Context, id uuid.UUID, to stores.ExperimentStatus, reason string) (stores.Experiment, error) {
	if err := stores.CheckTransition(to, reason); err != nil {
		return stores.Experiment{}, err
	}
	var e stores.Experiment
	err := s.b.tx(ctx, s.t, func(ctx context.Context, conn *pgx.Conn) error {
		var from string
		err := conn.QueryRow(ctx, lockExperimentSQL, id).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return stores.NotFound("experiment not found")
		}
		if err != nil {
			return err
		}
		if !stores.CanTransition(stores.ExperimentStatus(from), to) {
			return stores.Conflict("an experiment cannot move from %s to %s", from, to)
		}
		rows, _ := conn.Query(ctx, transitionExperimentSQL, id, string(to), from, s.t.UserID, reason)
		e, err = pgx.CollectExactlyOneRow(rows, scanExperiment)
		return err
	})
	return e, err
}

func scanVariant(row pgx.CollectableRow) (stores.Variant, error) {
	var v stores.Variant
	var weight int64
	var position int32
	err := row.Scan(&v.ID, &v.ExperimentID, &v.Key, &weight, &v.Config, &position)
	v.Weight, v.Position = int(weight), int(position)
	if v.Config == nil {
		v.Config = map[string]any{}
	}
	return v, err
}

func (s *experimentStore) VariantsByExperiment(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.Variant, error) {
	out := make(map[uuid.UUID][]stores.Variant, len(ids))
	for _, id := range ids {
		out[id] = []stores.Variant{}
	}
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(variantsByExperimentSQL, ids).Query(func(rows pgx.Rows) error {
			vs, err := pgx.CollectRows(rows, scanVariant)
			for _, v := range vs {
				out[v.ExperimentID] = append(out[v.ExperimentID], v)
			}
			return err
		})
	})
	return out, err
}

func (s *experimentStore) StatusHistory(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]stores.StatusChange, error) {
	out := make(map[uuid.UUID][]stores.StatusChange, len(ids))
	for _, id := range ids {
		out[id] = []stores.StatusChange{}
	}
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(statusHistorySQL, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id uuid.UUID
				var from *string
				var to string
				var h stores.StatusChange
				if err := rows.Scan(&id, &from, &to, &h.ChangedBy, &h.Reason, &h.ChangedAt); err != nil {
					return err
				}
				if from != nil {
					st := stores.ExperimentStatus(*from)
					h.From = &st
				}
				h.To = stores.ExperimentStatus(to)
				h.ChangedAt = h.ChangedAt.UTC()
				out[id] = append(out[id], h)
			}
			return rows.Err()
		})
	})
	return out, err
}

// assignable is what Assignments reads about one experiment.
type assignable struct {
	status   stores.ExperimentStatus
	variants []stores.Variant
	stored   *stores.Assignment // the user's assignment, when there is one
}

// Assignments reads the experiments, their variants and the user's stored
// assignments in one round trip; when running experiments have none yet it
// stores stores.PickVariant's choice and reads back what is stored in a
// second one.
func (s *experimentStore) Assignments(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]stores.Assignment, error) {
	out := make(map[uuid.UUID]stores.Assignment, len(ids))
	if len(ids) == 0 {
		return out, s.t.Validate()
	}
	found := map[uuid.UUID]*assignable{}
	err := s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(assignmentsSQL, ids, s.t.UserID).Query(func(rows pgx.Rows) error {
			return scanAssignables(rows, s.t.UserID, found)
		})
	})
	if err != nil {
		return nil, err
	}
	var newExperiments, newVariants []uuid.UUID
	for id, a := range found {
		switch {
		case a.stored != nil:
			out[id] = *a.stored
		case a.status == stores.ExperimentRunning:
			if v, ok := stores.PickVariant(id, s.t.UserID, a.variants); ok {
				newExperiments = append(newExperiments, id)
				newVariants = append(newVariants, v.ID)
			}
		}
	}
	if len(newExperiments) == 0 {
		return out, nil
	}
	err = s.b.pipeline(ctx, s.t, func(b *pgx.Batch) {
		b.Queue(insertAssignmentsSQL, s.t.OrgID, s.t.UserID, newExperiments, newVariants)
		b.Queue(storedAssignmentsSQL, newExperiments, s.t.UserID).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var a stores.Assignment
				var variantID uuid.UUID
				if err := rows.Scan(&a.ExperimentID, &variantID, &a.AssignedAt); err != nil {
					return err
				}
				v, ok := variantByID(found[a.ExperimentID].variants, variantID)
				if !ok {
					return errorf("assignment to unknown variant %s", variantID)
				}
				a.UserID, a.Variant, a.AssignedAt = s.t.UserID, v, a.AssignedAt.UTC()
				out[a.ExperimentID] = a
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanAssignables groups the rows of assignmentsSQL by experiment.
func scanAssignables(rows pgx.Rows, user uuid.UUID, found map[uuid.UUID]*assignable) error {
	for rows.Next() {
		var status string
		var storedVariant *uuid.UUID
		var assigned *time.Time
		var v stores.Variant
		var weight int64
		var position int32
		if err := rows.Scan(&status, &storedVariant, &assigned, &v.ID, &v.ExperimentID, &v.Key, &weight, &v.Config, &position); err != nil {
			return err
		}
		v.Weight, v.Position = int(weight), int(position)
		if v.Config == nil {
			v.Config = map[string]any{}
		}
		a := found[v.ExperimentID]
		if a == nil {
			a = &assignable{status: stores.ExperimentStatus(status)}
			found[v.ExperimentID] = a
		}
		a.variants = append(a.variants, v)
		if storedVariant != nil && *storedVariant == v.ID && assigned != nil {
			a.stored = &stores.Assignment{ExperimentID: v.ExperimentID, UserID: user, Variant: v, AssignedAt: assigned.UTC()}
		}
	}
	return rows.Err()
}

func variantByID(vs []stores.Variant, id uuid.UUID) (stores.Variant, bool) {
	for _, v := range vs {
		if v.ID == id {
			return v, true
		}
	}
	return stores.Variant{}, false
}
