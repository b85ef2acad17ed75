package embedded

import (
	"sync"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestExperimentsContract(t *testing.T) {
	storetest.RunExperiments(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{Experiments: NewExperimentBackend(clock.Now)},
			Advance:  clock.Advance,
		}
	})
}

func TestExperimentAssignmentsAreStoredOnceUnderConcurrency(t *testing.T) {
	b := NewExperimentBackend(nil)
	tenant := storetest.NewTenant()
	st := b.Experiments(tenant)
	ctx := storetest.Ctx(t)
	e, err := st.CreateExperiment(ctx, stores.NewExperiment{Name: "race", Variants: []stores.NewVariant{{Key: "a", Weight: 1}, {Key: "b", Weight: 1}}})
	storetest.RequireNoError(t, err)
	_, err = st.TransitionExperiment(ctx, e.ID, stores.ExperimentRunning, "")
	storetest.RequireNoError(t, err)
	var wg sync.WaitGroup
	got := make([]stores.Assignment, 8)
	for i := range got {
		wg.Go(func() {
			as, err := b.Experiments(tenant).Assignments(ctx, []uuid.UUID{e.ID})
			if err == nil {
				got[i] = as[e.ID]
			}
		})
	}
	wg.Wait()
	for _, a := range got {
		if a.Variant.ID != got[0].Variant.ID || !a.AssignedAt.Equal(got[0].AssignedAt) || a.Variant.ID == uuid.Nil {
			t.Fatalf("assignments differ: %+v vs %+v", a, got[0])
		}
	}
}

func TestExperimentNamesAreTrimmedAndVariantKeysExact(t *testing.T) {
	st := NewExperimentBackend(nil).Experiments(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	e, err := st.CreateExperiment(ctx, stores.NewExperiment{Name: "  spaced  ", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
	storetest.RequireNoError(t, err)
	if e.Name != "spaced" {
		t.Fatalf("name %q, want it trimmed", e.Name)
	}
	_, err = st.CreateExperiment(ctx, stores.NewExperiment{Name: "spaced", Variants: []stores.NewVariant{{Key: "a", Weight: 1}}})
	storetest.RequireKind(t, err, stores.ErrConflict)
	_, err = st.CreateExperiment(ctx, stores.NewExperiment{Name: "keys", Variants: []stores.NewVariant{{Key: " a", Weight: 1}}})
	storetest.RequireKind(t, err, stores.ErrInvalid)
}
