package storetest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunEpisodic checks an EpisodicBackend. Durations are short (TTLs of one or
// two seconds, half-lives of a second) so the suite runs against a real
// server in real time as well as on a manual clock.
func RunEpisodic(t *testing.T, newHarness NewHarness) {
	episodicSetup := func(t *testing.T) (Harness, stores.EpisodicStore) {
		t.Helper()
		h := newHarness(t)
		return h, h.Bundle(t, NewTenant()).Episodic
	}

	t.Run("a put item comes back with its fields", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		mem := uuid.New()
		got, err := st.PutItem(ctx, "sess-1", stores.NewEpisodicItem{
			ID: "note-1", Content: "opened main.go", MemoryID: &mem,
			Metadata: map[string]any{"file": "main.go"}, Weight: 2, TTL: time.Hour,
		})
		RequireNoError(t, err)
		if got.ID != "note-1" || got.SessionID != "sess-1" || got.Content != "opened main.go" || got.Weight != 2 {
			t.Fatalf("put returned %+v", got)
		}
		if got.MemoryID == nil || *got.MemoryID != mem {
			t.Fatalf("memory id %v, want %v", got.MemoryID, mem)
		}
		if got.Metadata["file"] != "main.go" {
			t.Fatalf("metadata %v", got.Metadata)
		}
		if got.CreatedAt.IsZero() || got.TouchedAt.IsZero() {
			t.Fatalf("times not set: %+v", got)
		}
		if d := got.ExpiresAt.Sub(got.TouchedAt) - time.Hour; d < -2*time.Second || d > 2*time.Second {
			t.Fatalf("expires at %v, touched at %v: want one hour later", got.ExpiresAt, got.TouchedAt)
		}
		items, err := st.SessionItems(ctx, "sess-1", time.Hour, 10, false)
		RequireNoError(t, err)
		if len(items) != 1 || items[0].ID != "note-1" || items[0].Content != "opened main.go" {
			t.Fatalf("session items %+v", items)
		}
		if items[0].MemoryID == nil || *items[0].MemoryID != mem || items[0].Metadata["file"] != "main.go" {
			t.Fatalf("session item lost fields: %+v", items[0])
		}
		if s := items[0].Score; s > 2 || s < 1.98 {
			t.Fatalf("a fresh item of weight 2 scored %v, want about 2", s)
		}
		items[0].Metadata["file"] = "changed"
		again, err := st.SessionItems(ctx, "sess-1", time.Hour, 10, false)
		RequireNoError(t, err)
		if again[0].Metadata["file"] != "main.go" {
			t.Fatal("changing a returned item's metadata changed the store")
		}
	})

	t.Run("an item without an id, weight or metadata gets defaults", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		a, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{Content: "a", TTL: time.Hour})
		RequireNoError(t, err)
		b, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{Content: "b", TTL: time.Hour})
		RequireNoError(t, err)
		if !stores.ValidEpisodicID(a.ID) || !stores.ValidEpisodicID(b.ID) || a.ID == b.ID {
			t.Fatalf("generated ids %q and %q: want two distinct valid ids", a.ID, b.ID)
		}
		if a.Weight != 1 {
			t.Fatalf("weight %v, want 1 for 0", a.Weight)
		}
		if a.Metadata == nil {
			t.Fatal("metadata is nil, want an empty object")
		}
		if a.MemoryID != nil {
			t.Fatalf("memory id %v, want none", a.MemoryID)
		}
		items, err := st.SessionItems(ctx, "s", time.Hour, 10, false)
		RequireNoError(t, err)
		if len(items) != 2 || items[0].Metadata == nil {
			t.Fatalf("session items %+v", items)
		}
	})

	t.Run("putting an existing id replaces the item and refreshes its TTL", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		_, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: "x", Content: "first", TTL: stores.MinEpisodicTTL})
		RequireNoError(t, err)
		_, err = st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: "x", Content: "second", TTL: time.Hour})
		RequireNoError(t, err)
		h.Wait(t, 1500*time.Millisecond)
		items, err := st.SessionItems(ctx, "s", time.Hour, 10, false)
		RequireNoError(t, err)
		if len(items) != 1 || items[0].Content != "second" {
			t.Fatalf("session items %+v, want the replaced item only, still live", items)
		}
	})

	t.Run("an expired item never comes back", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s1", "short", 1, stores.MinEpisodicTTL)
		episodicPut(t, st, "s1", "long", 1, time.Hour)
		episodicPut(t, st, "s2", "gone", 1, stores.MinEpisodicTTL)
		before, err := st.SessionItems(ctx, "s1", time.Hour, 10, false)
		RequireNoError(t, err)
		if len(before) != 2 {
			t.Fatalf("before expiry: %d items, want 2", len(before))
		}
		h.Wait(t, 1500*time.Millisecond)

		sessions, err := st.Sessions(ctx)
		RequireNoError(t, err)
		if len(sessions) != 1 || sessions[0].ID != "s1" || sessions[0].ItemCount != 1 {
			t.Fatalf("sessions %+v, want s1 with one item", sessions)
		}
		items, err := st.SessionItems(ctx, "s1", time.Hour, 10, true)
		RequireNoError(t, err)
		if ids := episodicIDs(items); ids != "long" {
			t.Fatalf("live items %q, want long", ids)
		}
		gone, err := st.SessionItems(ctx, "s2", time.Hour, 10, false)
		RequireNoError(t, err)
		if gone == nil || len(gone) != 0 {
			t.Fatalf("an expired session gave %#v, want an empty non-nil slice", gone)
		}
		by, err := st.ItemsBySession(ctx, []string{"s1", "s2"}, time.Hour, 10)
		RequireNoError(t, err)
		if episodicIDs(by["s1"]) != "long" || by["s2"] == nil || len(by["s2"]) != 0 {
			t.Fatalf("items by session %+v", by)
		}
		RequireKind(t, st.ExpireItem(ctx, "s1", "short"), stores.ErrNotFound)
		n, err := st.ExpireSession(ctx, "s2")
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("expiring an expired session counted %d, want 0", n)
		}
		n, err = st.ExpireSession(ctx, "s1")
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("expiring s1 counted %d, want 1 live item", n)
		}
		// A new item under an expired id is a new item.
		again, err := st.PutItem(ctx, "s1", stores.NewEpisodicItem{ID: "short", Content: "back", TTL: time.Hour})
		RequireNoError(t, err)
		if again.Content != "back" {
			t.Fatalf("put after expiry %+v", again)
		}
	})

	t.Run("items rank by weight times decay", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s", "old", 1, time.Minute)
		episodicPut(t, st, "s", "heavy", 4, time.Minute)
		h.Wait(t, time.Second)
		episodicPut(t, st, "s", "new", 1, time.Minute)
		// With a one-second half-life: heavy 4 x 1/2 > new 1 > old 1/2.
		items, err := st.SessionItems(ctx, "s", time.Second, 10, false)
		RequireNoError(t, err)
		if ids := episodicIDs(items); ids != "heavy,new,old" {
			t.Fatalf("ranked %q, want heavy,new,old", ids)
		}
		for i := 1; i < len(items); i++ {
			if items[i].Score > items[i-1].Score {
				t.Fatalf("scores not decreasing: %v then %v", items[i-1].Score, items[i].Score)
			}
		}
		if items[0].Score > 2.01 || items[0].Score <= 0 || items[2].Score > items[0].Score/4+0.01 {
			t.Fatalf("scores %v, %v, %v do not follow weight x decay", items[0].Score, items[1].Score, items[2].Score)
		}
		// With a long half-life the weight dominates; the limit cuts the list.
		items, err = st.SessionItems(ctx, "s", 1000*time.Hour, 2, false)
		RequireNoError(t, err)
		if ids := episodicIDs(items); ids != "heavy,new" {
			t.Fatalf("limit 2 gave %q, want heavy,new", ids)
		}
	})

	t.Run("a bad half-life or limit is invalid", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s", "a", 1, time.Minute)
		for _, hl := range []time.Duration{0, -time.Second} {
			_, err := st.SessionItems(ctx, "s", hl, 10, false)
			RequireKind(t, err, stores.ErrInvalid)
			_, err = st.ItemsBySession(ctx, []string{"s"}, hl, 10)
			RequireKind(t, err, stores.ErrInvalid)
		}
		for _, limit := range []int{0, -1} {
			_, err := st.SessionItems(ctx, "s", time.Minute, limit, true)
			RequireKind(t, err, stores.ErrInvalid)
			_, err = st.ItemsBySession(ctx, []string{"s"}, time.Minute, limit)
			RequireKind(t, err, stores.ErrInvalid)
		}
	})

	t.Run("reading without touch changes nothing and touch refreshes only the returned items", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s", "a", 4, time.Minute)
		h.Wait(t, time.Second)
		episodicPut(t, st, "s", "b", 1, time.Minute)
		first := episodicByID(t, st, "s")
		h.Wait(t, time.Second)
		_, err := st.ItemsBySession(ctx, []string{"s"}, time.Second, 10)
		RequireNoError(t, err)
		_, err = st.SessionItems(ctx, "s", time.Second, 10, false)
		RequireNoError(t, err)
		second := episodicByID(t, st, "s")
		for _, id := range []string{"a", "b"} {
			if !second[id].TouchedAt.Equal(first[id].TouchedAt) {
				t.Fatalf("reading without touch moved %s's touch time from %v to %v", id, first[id].TouchedAt, second[id].TouchedAt)
			}
		}
		// a ranks first (4 x decay(2s) = 1 against b's 1 x decay(1s) = 1/2), so
		// a limit of one touches a only.
		top, err := st.SessionItems(ctx, "s", time.Second, 1, true)
		RequireNoError(t, err)
		if episodicIDs(top) != "a" {
			t.Fatalf("top item %q, want a", episodicIDs(top))
		}
		third := episodicByID(t, st, "s")
		if !third["a"].TouchedAt.After(first["a"].TouchedAt) {
			t.Fatalf("touch did not refresh a: %v then %v", first["a"].TouchedAt, third["a"].TouchedAt)
		}
		if !third["b"].TouchedAt.Equal(first["b"].TouchedAt) {
			t.Fatalf("touch refreshed b, which was not returned: %v then %v", first["b"].TouchedAt, third["b"].TouchedAt)
		}
		if third["a"].Score <= second["a"].Score {
			t.Fatalf("a touched item did not gain score: %v then %v", second["a"].Score, third["a"].Score)
		}
		if !third["a"].ExpiresAt.Equal(first["a"].ExpiresAt) {
			t.Fatalf("touch changed a's expiry from %v to %v", first["a"].ExpiresAt, third["a"].ExpiresAt)
		}
	})

	t.Run("invalid input is refused", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		badIDs := []string{"", "has space", "slash/no", strings.Repeat("x", 129), "tab\t"}
		for _, bad := range badIDs {
			_, err := st.PutItem(ctx, bad, stores.NewEpisodicItem{Content: "c", TTL: time.Minute})
			RequireKind(t, err, stores.ErrInvalid)
			_, err = st.SessionItems(ctx, bad, time.Minute, 10, false)
			RequireKind(t, err, stores.ErrInvalid)
			_, err = st.ItemsBySession(ctx, []string{"ok", bad}, time.Minute, 10)
			RequireKind(t, err, stores.ErrInvalid)
			RequireKind(t, st.ExpireItem(ctx, bad, "x"), stores.ErrInvalid)
			_, err = st.ExpireSession(ctx, bad)
			RequireKind(t, err, stores.ErrInvalid)
			if bad != "" {
				_, err = st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: bad, Content: "c", TTL: time.Minute})
				RequireKind(t, err, stores.ErrInvalid)
				RequireKind(t, st.ExpireItem(ctx, "s", bad), stores.ErrInvalid)
			}
		}
		if _, err := st.PutItem(ctx, "s", stores.NewEpisodicItem{ID: strings.Repeat("y", 128), Content: "c", TTL: time.Minute}); err != nil {
			t.Fatalf("a 128-character id was refused: %v", err)
		}
		bad := []stores.NewEpisodicItem{
			{Content: "", TTL: time.Minute},
			{Content: strings.Repeat("x", stores.MaxMemoryContent+1), TTL: time.Minute},
			{Content: "c", TTL: 0},
			{Content: "c", TTL: stores.MinEpisodicTTL - time.Millisecond},
			{Content: "c", TTL: stores.MaxEpisodicTTL + time.Second},
			{Content: "c", TTL: time.Minute, Weight: -1},
			{Content: "c", TTL: time.Minute, Weight: math.NaN()},
			{Content: "c", TTL: time.Minute, Weight: math.Inf(1)},
		}
		for i, in := range bad {
			_, err := st.PutItem(ctx, "s", in)
			if err == nil {
				t.Fatalf("bad item %d was accepted", i)
			}
			RequireKind(t, err, stores.ErrInvalid)
		}
		items, err := st.SessionItems(ctx, "s", time.Minute, 10, false)
		RequireNoError(t, err)
		if len(items) != 1 {
			t.Fatalf("refused puts stored something: %d items", len(items))
		}
		for _, ttl := range []time.Duration{stores.MinEpisodicTTL, stores.MaxEpisodicTTL} {
			_, err := st.PutItem(ctx, "bounds", stores.NewEpisodicItem{Content: "c", TTL: ttl})
			RequireNoError(t, err)
		}
	})

	t.Run("a session holds at most MaxSessionItems live items", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		for i := 1; i < stores.MaxSessionItems; i++ {
			episodicPut(t, st, "full", fmt.Sprintf("i-%d", i), 1, time.Minute)
		}
		// The short-lived item comes last, so that it is still live for the
		// next put however long the 999 puts took on a busy machine.
		episodicPut(t, st, "full", "i-0", 1, stores.MinEpisodicTTL)
		_, err := st.PutItem(ctx, "full", stores.NewEpisodicItem{ID: "one-more", Content: "c", TTL: time.Minute})
		RequireKind(t, err, stores.ErrConflict)
		_, err = st.PutItem(ctx, "full", stores.NewEpisodicItem{ID: "i-5", Content: "replaced", TTL: time.Minute})
		RequireNoError(t, err)
		// Another session is not affected.
		episodicPut(t, st, "other", "x", 1, time.Minute)
		// Once an item expired there is room again.
		h.Wait(t, 1500*time.Millisecond)
		_, err = st.PutItem(ctx, "full", stores.NewEpisodicItem{ID: "one-more", Content: "c", TTL: time.Minute})
		RequireNoError(t, err)
		_, err = st.PutItem(ctx, "full", stores.NewEpisodicItem{ID: "two-more", Content: "c", TTL: time.Minute})
		RequireKind(t, err, stores.ErrConflict)
		sessions, err := st.Sessions(ctx)
		RequireNoError(t, err)
		counts := map[string]int{}
		for _, s := range sessions {
			counts[s.ID] = s.ItemCount
		}
		if counts["full"] != stores.MaxSessionItems || counts["other"] != 1 {
			t.Fatalf("session counts %v", counts)
		}
	})

	t.Run("sessions are listed most recently touched first", func(t *testing.T) {
		h, st := episodicSetup(t)
		ctx := Ctx(t)
		empty, err := st.Sessions(ctx)
		RequireNoError(t, err)
		if empty == nil || len(empty) != 0 {
			t.Fatalf("a new user's sessions %#v, want an empty non-nil slice", empty)
		}
		episodicPut(t, st, "s1", "a", 1, 10*time.Second)
		episodicPut(t, st, "s1", "b", 1, 20*time.Second)
		h.Wait(t, 50*time.Millisecond)
		episodicPut(t, st, "s2", "c", 1, 10*time.Second)
		got := episodicSessions(t, st)
		if got != "s2:1,s1:2" {
			t.Fatalf("sessions %q, want s2:1,s1:2", got)
		}
		sessions, err := st.Sessions(ctx)
		RequireNoError(t, err)
		items, err := st.SessionItems(ctx, "s1", time.Minute, 10, false)
		RequireNoError(t, err)
		var latest, touched time.Time
		for _, it := range items {
			if it.ExpiresAt.After(latest) {
				latest = it.ExpiresAt
			}
			if it.TouchedAt.After(touched) {
				touched = it.TouchedAt
			}
		}
		s1 := sessions[1]
		if d := s1.ExpiresAt.Sub(latest); d < -time.Second || d > time.Second {
			t.Fatalf("s1 expires at %v, want its last item's expiry %v", s1.ExpiresAt, latest)
		}
		if d := s1.LastTouchedAt.Sub(touched); d < -time.Second || d > time.Second {
			t.Fatalf("s1 last touched at %v, want %v", s1.LastTouchedAt, touched)
		}
		h.Wait(t, 50*time.Millisecond)
		episodicPut(t, st, "s1", "d", 1, 10*time.Second)
		if got := episodicSessions(t, st); got != "s1:3,s2:1" {
			t.Fatalf("after a put to s1: %q, want s1:3,s2:1", got)
		}
		h.Wait(t, 50*time.Millisecond)
		_, err = st.SessionItems(ctx, "s2", time.Minute, 10, true)
		RequireNoError(t, err)
		if got := episodicSessions(t, st); got != "s2:1,s1:3" {
			t.Fatalf("after touching s2: %q, want s2:1,s1:3", got)
		}
	})

	t.Run("expiring an item or a session removes it now", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s", "a", 1, time.Minute)
		episodicPut(t, st, "s", "b", 1, time.Minute)
		episodicPut(t, st, "t", "c", 1, time.Minute)
		RequireNoError(t, st.ExpireItem(ctx, "s", "a"))
		RequireKind(t, st.ExpireItem(ctx, "s", "a"), stores.ErrNotFound)
		RequireKind(t, st.ExpireItem(ctx, "s", "never"), stores.ErrNotFound)
		RequireKind(t, st.ExpireItem(ctx, "nosuch", "b"), stores.ErrNotFound)
		RequireKind(t, st.ExpireItem(ctx, "t", "b"), stores.ErrNotFound)
		if got := episodicIDs(episodicItems(t, st, "s")); got != "b" {
			t.Fatalf("after expiring a: %q, want b", got)
		}
		n, err := st.ExpireSession(ctx, "s")
		RequireNoError(t, err)
		if n != 1 {
			t.Fatalf("expire session counted %d, want 1", n)
		}
		n, err = st.ExpireSession(ctx, "s")
		RequireNoError(t, err)
		if n != 0 {
			t.Fatalf("expiring it again counted %d, want 0", n)
		}
		if got := episodicSessions(t, st); got != "t:1" {
			t.Fatalf("sessions %q, want t:1", got)
		}
	})

	t.Run("items by session has every id as a key", func(t *testing.T) {
		_, st := episodicSetup(t)
		ctx := Ctx(t)
		episodicPut(t, st, "s", "a", 1, time.Minute)
		episodicPut(t, st, "s", "b", 2, time.Minute)
		by, err := st.ItemsBySession(ctx, []string{"s", "nosuch"}, time.Minute, 1)
		RequireNoError(t, err)
		if len(by) != 2 || episodicIDs(by["s"]) != "b" || by["nosuch"] == nil || len(by["nosuch"]) != 0 {
			t.Fatalf("items by session %+v", by)
		}
		empty, err := st.ItemsBySession(ctx, nil, time.Minute, 1)
		RequireNoError(t, err)
		if empty == nil || len(empty) != 0 {
			t.Fatalf("no ids gave %#v, want an empty map", empty)
		}
	})

	for _, c := range []struct {
		name  string
		other func(stores.Tenant) stores.Tenant
	}{
		{"another user of the same org", SameOrgOtherUser},
		{"another org", func(stores.Tenant) stores.Tenant { return NewTenant() }},
	} {
		t.Run(c.name+" neither sees nor changes the user's sessions", func(t *testing.T) {
			h := newHarness(t)
			me := NewTenant()
			mine := h.Bundle(t, me).Episodic
			theirs := h.Bundle(t, c.other(me)).Episodic
			ctx := Ctx(t)
			episodicPut(t, mine, "shared", "same-id", 1, time.Minute)
			episodicPut(t, mine, "shared", "mine-only", 1, time.Minute)
			episodicPut(t, mine, "private", "p", 1, time.Minute)

			for _, sid := range []string{"shared", "private"} {
				got, err := theirs.SessionItems(ctx, sid, time.Minute, 10, true)
				RequireNoError(t, err)
				if got == nil || len(got) != 0 {
					t.Fatalf("they see %d items of %s", len(got), sid)
				}
			}
			sessions, err := theirs.Sessions(ctx)
			RequireNoError(t, err)
			if len(sessions) != 0 {
				t.Fatalf("they see sessions %+v", sessions)
			}
			RequireKind(t, theirs.ExpireItem(ctx, "shared", "mine-only"), stores.ErrNotFound)
			RequireKind(t, theirs.ExpireItem(ctx, "private", "p"), stores.ErrNotFound)
			n, err := theirs.ExpireSession(ctx, "private")
			RequireNoError(t, err)
			if n != 0 {
				t.Fatalf("they expired %d of my items", n)
			}

			// The same session and item id on their side is their own item.
			_, err = theirs.PutItem(ctx, "shared", stores.NewEpisodicItem{ID: "same-id", Content: "theirs", TTL: time.Minute})
			RequireNoError(t, err)
			by, err := theirs.ItemsBySession(ctx, []string{"shared", "private"}, time.Minute, 10)
			RequireNoError(t, err)
			if episodicIDs(by["shared"]) != "same-id" || by["shared"][0].Content != "theirs" || len(by["private"]) != 0 {
				t.Fatalf("their items by session %+v", by)
			}
			n, err = theirs.ExpireSession(ctx, "shared")
			RequireNoError(t, err)
			if n != 1 {
				t.Fatalf("their session expiry counted %d, want their one item", n)
			}

			items := episodicItems(t, mine, "shared")
			if episodicIDs(items) != "mine-only,same-id" {
				t.Fatalf("my shared session now holds %q", episodicIDs(items))
			}
			for _, it := range items {
				if it.Content != "content of "+it.ID {
					t.Fatalf("my item %s changed to %q", it.ID, it.Content)
				}
			}
			if got := episodicSessions(t, mine); got != "private:1,shared:2" && got != "shared:2,private:1" {
				t.Fatalf("my sessions %q", got)
			}
		})
	}
}

// episodicPut puts an item whose content is "content of <id>".
func episodicPut(t *testing.T, st stores.EpisodicStore, session, id string, weight float64, ttl time.Duration) {
	t.Helper()
	_, err := st.PutItem(Ctx(t), session, stores.NewEpisodicItem{ID: id, Content: "content of " + id, Weight: weight, TTL: ttl})
	RequireNoError(t, err)
}

func episodicItems(t *testing.T, st stores.EpisodicStore, session string) []stores.EpisodicItem {
	t.Helper()
	items, err := st.SessionItems(Ctx(t), session, time.Hour, stores.MaxSessionItems, false)
	RequireNoError(t, err)
	return items
}

// episodicByID reads a session without touching it, scored with a one-second
// half-life, keyed by item id.
func episodicByID(t *testing.T, st stores.EpisodicStore, session string) map[string]stores.EpisodicItem {
	t.Helper()
	items, err := st.SessionItems(Ctx(t), session, time.Second, stores.MaxSessionItems, false)
	RequireNoError(t, err)
	out := map[string]stores.EpisodicItem{}
	for _, it := range items {
		out[it.ID] = it
	}
	return out
}

func episodicIDs(items []stores.EpisodicItem) string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return strings.Join(ids, ",")
}

// episodicSessions renders Sessions as "id:count,..." in the listed order.
func episodicSessions(t *testing.T, st stores.EpisodicStore) string {
	t.Helper()
	sessions, err := st.Sessions(Ctx(t))
	RequireNoError(t, err)
	parts := make([]string, len(sessions))
	for i, s := range sessions {
		parts[i] = fmt.Sprintf("%s:%d", s.ID, s.ItemCount)
	}
	return strings.Join(parts, ",")
}
