package postgres_test

import (
	"context"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestOrgOperatorBinding checks the binding tenant export and import run
// under: the owner role bound with app.operator_org reads every user's rows
// of that org and nothing of another; the application role gains nothing
// from the setting.
func TestOrgOperatorBinding(t *testing.T) {
	b := backend(t)
	ctx := storetest.Ctx(t)
	author := storetest.NewTenant()
	ms := b.Memories(author)
	app, err := ms.CreateApp(ctx, "operator", "")
	storetest.RequireNoError(t, err)
	private, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "my private note", Categories: []string{"mine"}, Visibility: stores.VisibilityPrivate})
	storetest.RequireNoError(t, err)
	shared, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "team fact"})
	storetest.RequireNoError(t, err)
	_, err = b.Feedback(author).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &private.ID, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
	storetest.RequireNoError(t, err)

	type seen struct{ memories, links, events int }
	read := func(t *testing.T, role string, settings map[string]string) seen {
		t.Helper()
		tx, err := connect(t, role).Begin(ctx)
		storetest.RequireNoError(t, err)
		defer tx.Rollback(context.Background())
		for name, value := range settings {
			_, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, name, value)
			storetest.RequireNoError(t, err)
		}
		var s seen
		err = tx.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM memories WHERE id = ANY($1::uuid[])),
  (SELECT count(*) FROM memory_categories WHERE memory_id = $2),
  (SELECT count(*) FROM feedback_events WHERE memory_id = $2)`,
			[]uuid.UUID{private.ID, shared.ID}, private.ID).Scan(&s.memories, &s.links, &s.events)
		storetest.RequireNoError(t, err)
		return s
	}
	org := author.OrgID.String()

	for _, c := range []struct {
		name, role string
		settings   map[string]string
		want       seen
	}{
		{"the owner bound to the org as its operator sees every user's rows", "DATABASE_OWNER_URL",
			map[string]string{"app.org_id": org, "app.operator_org": org}, seen{memories: 2, links: 1, events: 1}},
		{"the owner as the operator of the org alone sees every user's rows", "DATABASE_OWNER_URL",
			map[string]string{"app.operator_org": org}, seen{memories: 2, links: 1, events: 1}},
		{"the owner as the operator of another org sees nothing of this one", "DATABASE_OWNER_URL",
			map[string]string{"app.operator_org": uuid.NewString()}, seen{}},
		{"the owner bound to no org sees nothing", "DATABASE_OWNER_URL",
			map[string]string{}, seen{}},
		{"the application role gains nothing from the operator setting", "DATABASE_URL",
			map[string]string{"app.org_id": org, "app.user_id": uuid.NewString(), "app.operator_org": org}, seen{memories: 1}},
		{"the application role bound to no org gains nothing from the operator setting", "DATABASE_URL",
			map[string]string{"app.operator_org": org}, seen{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := read(t, c.role, c.settings); got != c.want {
				t.Fatalf("sees %+v, want %+v", got, c.want)
			}
		})
	}
}
