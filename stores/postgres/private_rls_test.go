package postgres_test

import (
	"context"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestPrivateMemoriesAtSQLLevel checks the policies of private memories as
// the application role, with no store in between: a PRIVATE row is visible
// to its author's binding only.
func TestPrivateMemoriesAtSQLLevel(t *testing.T) {
	b := backend(t)
	ctx := storetest.Ctx(t)
	author := storetest.NewTenant()
	ms := b.Memories(author)
	app, err := ms.CreateApp(ctx, "private", "")
	storetest.RequireNoError(t, err)
	private, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "my private note", Categories: []string{"mine"}, Visibility: stores.VisibilityPrivate})
	storetest.RequireNoError(t, err)
	shared, err := ms.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "team fact"})
	storetest.RequireNoError(t, err)
	_, err = b.Feedback(author).RecordFeedback(ctx, stores.NewFeedbackEvent{QueryID: "q", MemoryID: &private.ID, Tool: "cli", QueryType: "recall", Outcome: stores.OutcomeAccepted})
	storetest.RequireNoError(t, err)

	// read counts the memories, the private one's category links and its
	// feedback events that a transaction bound by the given settings reads.
	type seen struct{ memories, links, events int }
	read := func(t *testing.T, settings map[string]string) (seen, error) {
		t.Helper()
		tx, err := connect(t, "DATABASE_URL").Begin(ctx)
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
		return s, err
	}
	org := author.OrgID.String()

	t.Run("the author's binding sees the private row, its links and its own events", func(t *testing.T) {
		got, err := read(t, map[string]string{"app.org_id": org, "app.user_id": author.UserID.String()})
		storetest.RequireNoError(t, err)
		if got != (seen{memories: 2, links: 1, events: 1}) {
			t.Fatalf("the author sees %+v", got)
		}
	})
	for _, c := range []struct {
		name     string
		settings map[string]string
	}{
		{"another user of the org", map[string]string{"app.org_id": org, "app.user_id": uuid.NewString()}},
		{"no user context", map[string]string{"app.org_id": org}},
		{"an empty user context", map[string]string{"app.org_id": org, "app.user_id": ""}},
	} {
		t.Run("a private row is invisible with "+c.name, func(t *testing.T) {
			got, err := read(t, c.settings)
			storetest.RequireNoError(t, err)
			if got != (seen{memories: 1}) {
				t.Fatalf("%s sees %+v, want the ORG memory only", c.name, got)
			}
		})
	}
	t.Run("a malformed user context is an error, never rows", func(t *testing.T) {
		_, err := read(t, map[string]string{"app.org_id": org, "app.user_id": "not-a-uuid"})
		requireSQLState(t, err, "22P02")
	})
	t.Run("aggregates and admins read every event of the org through app.feedback_all", func(t *testing.T) {
		got, err := read(t, map[string]string{"app.org_id": org, "app.user_id": uuid.NewString(), "app.feedback_all": "on"})
		storetest.RequireNoError(t, err)
		if got != (seen{memories: 1, events: 1}) {
			t.Fatalf("with app.feedback_all another user sees %+v, want the ORG memory and the event", got)
		}
	})

	t.Run("another user can neither change the private row nor write a row in someone else's name", func(t *testing.T) {
		other := stores.Tenant{OrgID: author.OrgID, UserID: uuid.New()}
		tx := bindTenant(t, connect(t, "DATABASE_URL"), other)
		tag, err := tx.Exec(ctx, `UPDATE memories SET content = 'stolen', visibility = 'ORG' WHERE id = $1`, private.ID)
		storetest.RequireNoError(t, err)
		if tag.RowsAffected() != 0 {
			t.Fatalf("another user updated %d private rows", tag.RowsAffected())
		}
		_, err = tx.Exec(ctx, `SAVEPOINT s`)
		storetest.RequireNoError(t, err)
		_, err = tx.Exec(ctx, `INSERT INTO memories (org_id, id, app_id, author_id, content, visibility) VALUES ($1, $2, $3, $4, 'planted', 'PRIVATE')`,
			author.OrgID, uuid.New(), app.ID, author.UserID)
		requireSQLState(t, err, "42501")
		_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
		storetest.RequireNoError(t, err)
		_, err = tx.Exec(ctx, `INSERT INTO feedback_events (org_id, id, user_id, query_id, tool, query_type, outcome) VALUES ($1, $2, $3, 'q', 'cli', 'recall', 'ACCEPTED')`,
			author.OrgID, uuid.New(), author.UserID)
		requireSQLState(t, err, "42501")
	})

	t.Run("the private memory is unchanged", func(t *testing.T) {
		got, err := ms.Memory(ctx, private.ID)
		storetest.RequireNoError(t, err)
		if got.Content != private.Content || got.Version != private.Version || got.Visibility != stores.VisibilityPrivate {
			t.Fatalf("the private memory changed: %+v", got)
		}
	})
}
