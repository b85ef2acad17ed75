package storetest

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// RunMemories checks a MemoryBackend: memories, apps and categories.
func RunMemories(t *testing.T, newHarness NewHarness) {
	t.Run("a created memory is active at version 1 and reads back unchanged", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		meta := map[string]any{"lang": "go", "lines": 12.0, "nested": map[string]any{"tags": []any{"x", true}}}
		m, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "use context first", Metadata: meta, Categories: []string{"style", "api"}})
		RequireNoError(t, err)
		if m.ID == uuid.Nil || m.AppID != app.ID || m.AuthorID != b.Tenant.UserID || m.Content != "use context first" ||
			m.State != stores.MemoryActive || m.Version != 1 || m.DeletedAt != nil || m.CreatedAt.IsZero() || m.UpdatedAt.Before(m.CreatedAt) {
			t.Fatalf("created memory %+v", m)
		}
		if !reflect.DeepEqual(m.Metadata, meta) {
			t.Fatalf("metadata %#v, want %#v", m.Metadata, meta)
		}
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, m)
		memRequireCategories(t, b, m.ID, "api", "style")
	})

	t.Run("nil metadata is stored as an empty object", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		m := memCreate(t, b, app, "no metadata")
		if m.Metadata == nil || len(m.Metadata) != 0 {
			t.Fatalf("metadata %#v, want an empty non-nil map", m.Metadata)
		}
		got, err := b.Memories.Memory(Ctx(t), m.ID)
		RequireNoError(t, err)
		if got.Metadata == nil || len(got.Metadata) != 0 {
			t.Fatalf("read back metadata %#v, want an empty non-nil map", got.Metadata)
		}
	})

	t.Run("invalid memory input is refused and nothing is stored", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		cases := []struct {
			name string
			in   stores.NewMemory
		}{
			{"empty content", stores.NewMemory{AppID: app.ID, Content: ""}},
			{"content over the limit", stores.NewMemory{AppID: app.ID, Content: strings.Repeat("a", stores.MaxMemoryContent+1)}},
			{"content that is not UTF-8", stores.NewMemory{AppID: app.ID, Content: "bad \xff byte"}},
			{"metadata holding a channel", stores.NewMemory{AppID: app.ID, Content: "x", Metadata: map[string]any{"c": make(chan int)}}},
			{"metadata holding NaN", stores.NewMemory{AppID: app.ID, Content: "x", Metadata: map[string]any{"n": math.NaN()}}},
			{"a blank category name", stores.NewMemory{AppID: app.ID, Content: "x", Categories: []string{"ok", "  "}}},
			{"a category name over the limit", stores.NewMemory{AppID: app.ID, Content: "x", Categories: []string{strings.Repeat("c", stores.MaxNameLength+1)}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := b.Memories.CreateMemory(Ctx(t), c.in)
				RequireKind(t, err, stores.ErrInvalid)
			})
		}
		memRequireList(t, b, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryActive, stores.MemoryPaused, stores.MemoryArchived, stores.MemoryDeleted}})
		cats, err := b.Memories.ListCategories(Ctx(t), stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(cats.Items) != 0 {
			t.Fatalf("a refused memory created categories %+v", cats.Items)
		}
	})

	t.Run("content of exactly the maximum size is accepted", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		content := strings.Repeat("é", stores.MaxMemoryContent/2)
		m := memCreate(t, b, app, content)
		if m.Content != content {
			t.Fatal("content changed on the way in")
		}
	})

	t.Run("a memory with an unknown app is not found", func(t *testing.T) {
		_, b, _ := memSetup(t, newHarness)
		_, err := b.Memories.CreateMemory(Ctx(t), stores.NewMemory{AppID: uuid.New(), Content: "x"})
		RequireKind(t, err, stores.ErrNotFound)
	})

	t.Run("another org's app cannot be used", func(t *testing.T) {
		h, b, _ := memSetup(t, newHarness)
		other := h.Bundle(t, NewTenant())
		otherApp := memApp(t, other, "other")
		_, err := b.Memories.CreateMemory(Ctx(t), stores.NewMemory{AppID: otherApp.ID, Content: "x"})
		RequireKind(t, err, stores.ErrNotFound)
		memRequireList(t, b, stores.MemoryFilter{})
		memRequireList(t, other, stores.MemoryFilter{})
	})

	t.Run("a missing memory is not found", func(t *testing.T) {
		_, b, _ := memSetup(t, newHarness)
		ctx := Ctx(t)
		_, err := b.Memories.Memory(ctx, uuid.New())
		RequireKind(t, err, stores.ErrNotFound)
		byID, err := b.Memories.MemoriesByID(ctx, []uuid.UUID{uuid.New()})
		RequireNoError(t, err)
		if byID == nil || len(byID) != 0 {
			t.Fatalf("MemoriesByID of a missing id = %#v, want an empty map", byID)
		}
		_, err = b.Memories.UpdateMemory(ctx, uuid.New(), stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("x")})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = b.Memories.SetMemoryState(ctx, uuid.New(), stores.MemoryPaused, nil)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = b.Memories.DeleteMemory(ctx, uuid.New(), nil)
		RequireKind(t, err, stores.ErrNotFound)
	})

	t.Run("every user of the org sees and changes the org's memories", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "shared fact")
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		got, err := colleague.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		if got.AuthorID != b.Tenant.UserID {
			t.Fatalf("author %s, want the creator %s", got.AuthorID, b.Tenant.UserID)
		}
		memRequireList(t, colleague, stores.MemoryFilter{}, m.ID)
		updated, err := colleague.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("shared fact, revised")})
		RequireNoError(t, err)
		if updated.AuthorID != b.Tenant.UserID || updated.Version != 2 {
			t.Fatalf("updated by a colleague: %+v", updated)
		}
		own, err := colleague.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "colleague's"})
		RequireNoError(t, err)
		if own.AuthorID != colleague.Tenant.UserID {
			t.Fatalf("author %s, want the colleague %s", own.AuthorID, colleague.Tenant.UserID)
		}
	})

	t.Run("another org's memory is invisible and unchangeable", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "secret", Categories: []string{"private"}})
		RequireNoError(t, err)
		other := h.Bundle(t, NewTenant())
		otherApp := memApp(t, other, "theirs")
		one := int64(1)

		_, err = other.Memories.Memory(ctx, m.ID)
		RequireKind(t, err, stores.ErrNotFound)
		byID, err := other.Memories.MemoriesByID(ctx, []uuid.UUID{m.ID})
		RequireNoError(t, err)
		if len(byID) != 0 {
			t.Fatalf("another org's MemoriesByID = %+v", byID)
		}
		memRequireList(t, other, stores.MemoryFilter{})
		memRequireList(t, other, stores.MemoryFilter{AppID: &app.ID})
		_, err = other.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("stolen")})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = other.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, AppID: &otherApp.ID})
		RequireKind(t, err, stores.ErrNotFound)
		_, err = other.Memories.SetMemoryState(ctx, m.ID, stores.MemoryArchived, &one)
		RequireKind(t, err, stores.ErrNotFound)
		_, err = other.Memories.DeleteMemory(ctx, m.ID, &one)
		RequireKind(t, err, stores.ErrNotFound)
		cats, err := other.Memories.CategoriesByMemory(ctx, []uuid.UUID{m.ID})
		RequireNoError(t, err)
		if got, ok := cats[m.ID]; !ok || got == nil || len(got) != 0 {
			t.Fatalf("another org's CategoriesByMemory = %#v, want an empty slice under the id", cats)
		}
		catPage, err := other.Memories.ListCategories(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(catPage.Items) != 0 {
			t.Fatalf("another org lists categories %+v", catPage.Items)
		}
		apps, err := other.Memories.AppsByID(ctx, []uuid.UUID{app.ID})
		RequireNoError(t, err)
		if len(apps) != 0 {
			t.Fatalf("another org's AppsByID = %+v", apps)
		}
		appPage, err := other.Memories.ListApps(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(appPage.Items) != 1 || appPage.Items[0].ID != otherApp.ID {
			t.Fatalf("another org lists apps %+v, want only its own", appPage.Items)
		}

		// The owner's memory is untouched.
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, m)
		memRequireCategories(t, b, m.ID, "private")
	})

	t.Run("MemoriesByID returns the existing memories, deleted ones included", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		a := memCreate(t, b, app, "a")
		d := memCreate(t, b, app, "d")
		deleted, err := b.Memories.DeleteMemory(ctx, d.ID, nil)
		RequireNoError(t, err)
		missing := uuid.New()
		got, err := b.Memories.MemoriesByID(ctx, []uuid.UUID{a.ID, missing, d.ID, a.ID})
		RequireNoError(t, err)
		if len(got) != 2 {
			t.Fatalf("MemoriesByID returned %d memories, want 2: %+v", len(got), got)
		}
		memRequireSame(t, got[a.ID], a)
		memRequireSame(t, got[d.ID], deleted)
		if _, ok := got[missing]; ok {
			t.Fatal("a missing id is a key")
		}
	})

	t.Run("an update changes only the given fields and bumps the version", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		app2 := memApp(t, b, "second")
		m, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "v1", Metadata: map[string]any{"k": "v"}, Categories: []string{"one"}})
		RequireNoError(t, err)

		v2, err := b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("v2")})
		RequireNoError(t, err)
		if v2.Content != "v2" || v2.Version != 2 || v2.AppID != app.ID || !reflect.DeepEqual(v2.Metadata, m.Metadata) ||
			!v2.CreatedAt.Equal(m.CreatedAt) || v2.UpdatedAt.Before(m.UpdatedAt) || v2.State != stores.MemoryActive {
			t.Fatalf("after a content update: %+v", v2)
		}
		memRequireCategories(t, b, m.ID, "one")

		v3, err := b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 2, Metadata: map[string]any{"k2": 2.5}, AppID: &app2.ID, Categories: []string{"two", "three"}})
		RequireNoError(t, err)
		if v3.Content != "v2" || v3.Version != 3 || v3.AppID != app2.ID || !reflect.DeepEqual(v3.Metadata, map[string]any{"k2": 2.5}) {
			t.Fatalf("after a metadata, app and categories update: %+v", v3)
		}
		memRequireCategories(t, b, m.ID, "three", "two")

		v4, err := b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 3, Categories: []string{}})
		RequireNoError(t, err)
		if v4.Version != 4 {
			t.Fatalf("version %d, want 4", v4.Version)
		}
		memRequireCategories(t, b, m.ID)
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, v4)
	})

	t.Run("an update at a stale version conflicts and names the current version", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "original")
		v2, err := b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("first writer")})
		RequireNoError(t, err)
		_, err = b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("second writer")})
		RequireKind(t, err, stores.ErrConflict)
		if !strings.Contains(stores.PublicMessage(err), "2") {
			t.Fatalf("conflict message %q does not name the current version 2", stores.PublicMessage(err))
		}
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, v2)
	})

	t.Run("invalid updates are refused and change nothing", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "stays")
		cases := []struct {
			name string
			u    stores.MemoryUpdate
			kind error
		}{
			{"empty content", stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("")}, stores.ErrInvalid},
			{"content that is not UTF-8", stores.MemoryUpdate{ExpectedVersion: 1, Content: valuePtr("\xfe")}, stores.ErrInvalid},
			{"metadata holding a function", stores.MemoryUpdate{ExpectedVersion: 1, Metadata: map[string]any{"f": func() {}}}, stores.ErrInvalid},
			{"a blank category", stores.MemoryUpdate{ExpectedVersion: 1, Categories: []string{""}}, stores.ErrInvalid},
			{"an unknown app", stores.MemoryUpdate{ExpectedVersion: 1, AppID: valuePtr(uuid.New())}, stores.ErrNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := b.Memories.UpdateMemory(Ctx(t), m.ID, c.u)
				RequireKind(t, err, c.kind)
			})
		}
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, m)
	})

	t.Run("state changes move between active, paused and archived", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "stateful")
		paused, err := b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryPaused, nil)
		RequireNoError(t, err)
		if paused.State != stores.MemoryPaused || paused.Version != 2 {
			t.Fatalf("paused: %+v", paused)
		}
		stale := int64(1)
		_, err = b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryArchived, &stale)
		RequireKind(t, err, stores.ErrConflict)
		current := int64(2)
		archived, err := b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryArchived, &current)
		RequireNoError(t, err)
		if archived.State != stores.MemoryArchived || archived.Version != 3 {
			t.Fatalf("archived: %+v", archived)
		}
		_, err = b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryDeleted, nil)
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryState("FROZEN"), nil)
		RequireKind(t, err, stores.ErrInvalid)
		active, err := b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryActive, nil)
		RequireNoError(t, err)
		if active.State != stores.MemoryActive || active.Version != 4 {
			t.Fatalf("reactivated: %+v", active)
		}
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, active)
	})

	t.Run("a deleted memory stays readable but cannot change", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m := memCreate(t, b, app, "to delete")
		stale := int64(7)
		_, err := b.Memories.DeleteMemory(ctx, m.ID, &stale)
		RequireKind(t, err, stores.ErrConflict)
		one := int64(1)
		deleted, err := b.Memories.DeleteMemory(ctx, m.ID, &one)
		RequireNoError(t, err)
		if deleted.State != stores.MemoryDeleted || deleted.DeletedAt == nil || deleted.Version != 2 {
			t.Fatalf("deleted: %+v", deleted)
		}
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, deleted)

		_, err = b.Memories.UpdateMemory(ctx, m.ID, stores.MemoryUpdate{ExpectedVersion: 2, Content: valuePtr("revived")})
		RequireKind(t, err, stores.ErrConflict)
		_, err = b.Memories.SetMemoryState(ctx, m.ID, stores.MemoryActive, nil)
		RequireKind(t, err, stores.ErrConflict)
		_, err = b.Memories.DeleteMemory(ctx, m.ID, nil)
		RequireKind(t, err, stores.ErrNotFound)
		got, err = b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		memRequireSame(t, got, deleted)
	})

	t.Run("a batch is stored whole with shared categories", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		got, err := b.Memories.CreateMemories(ctx, []stores.NewMemory{
			{AppID: app.ID, Content: "one", Categories: []string{"shared"}},
			{AppID: app.ID, Content: "two", Categories: []string{"shared", "own"}},
			{AppID: app.ID, Content: "three"},
		})
		RequireNoError(t, err)
		if len(got) != 3 {
			t.Fatalf("batch returned %d memories, want 3", len(got))
		}
		for i, want := range []string{"one", "two", "three"} {
			if got[i].Content != want || got[i].Version != 1 || got[i].State != stores.MemoryActive {
				t.Fatalf("batch item %d = %+v, want content %q in input order", i, got[i], want)
			}
		}
		memRequireList(t, b, stores.MemoryFilter{}, memNewestFirst(got...)...)
		cats, err := b.Memories.CategoriesByMemory(ctx, []uuid.UUID{got[0].ID, got[1].ID})
		RequireNoError(t, err)
		if cats[got[0].ID][0].ID != cats[got[1].ID][1].ID {
			t.Fatalf("the batch created the shared category twice: %+v", cats)
		}
		page, err := b.Memories.ListCategories(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(page.Items) != 2 {
			t.Fatalf("categories %+v, want own and shared", page.Items)
		}
		empty, err := b.Memories.CreateMemories(ctx, []stores.NewMemory{})
		RequireNoError(t, err)
		if empty == nil || len(empty) != 0 {
			t.Fatalf("an empty batch returned %#v", empty)
		}
	})

	t.Run("a batch with one bad memory stores nothing", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		_, err := b.Memories.CreateMemories(ctx, []stores.NewMemory{
			{AppID: app.ID, Content: "fine", Categories: []string{"fresh"}},
			{AppID: app.ID, Content: ""},
		})
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Memories.CreateMemories(ctx, []stores.NewMemory{
			{AppID: app.ID, Content: "fine", Categories: []string{"fresh"}},
			{AppID: uuid.New(), Content: "orphan"},
		})
		RequireKind(t, err, stores.ErrNotFound)
		memRequireList(t, b, stores.MemoryFilter{})
		page, err := b.Memories.ListCategories(ctx, stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(page.Items) != 0 {
			t.Fatalf("a refused batch created categories %+v", page.Items)
		}
	})

	t.Run("a batch over the size limit is refused", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		batch := make([]stores.NewMemory, stores.MaxBatchSize+1)
		for i := range batch {
			batch[i] = stores.NewMemory{AppID: app.ID, Content: "x"}
		}
		_, err := b.Memories.CreateMemories(Ctx(t), batch)
		RequireKind(t, err, stores.ErrInvalid)
		memRequireList(t, b, stores.MemoryFilter{})
	})

	t.Run("lists are newest first and skip deleted memories unless asked", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		var ms []stores.Memory
		for i := range 4 {
			ms = append(ms, memCreate(t, b, app, "memory "+string(rune('a'+i))))
			h.Wait(t, 50*time.Millisecond)
		}
		_, err := b.Memories.DeleteMemory(ctx, ms[1].ID, nil)
		RequireNoError(t, err)
		_, err = b.Memories.SetMemoryState(ctx, ms[2].ID, stores.MemoryPaused, nil)
		RequireNoError(t, err)

		memRequireList(t, b, stores.MemoryFilter{}, ms[3].ID, ms[2].ID, ms[0].ID)
		memRequireList(t, b, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryDeleted}}, ms[1].ID)
		memRequireList(t, b, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryPaused}}, ms[2].ID)
		memRequireList(t, b, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryActive, stores.MemoryDeleted}}, ms[3].ID, ms[1].ID, ms[0].ID)
		_, err = b.Memories.ListMemories(ctx, stores.MemoryFilter{States: []stores.MemoryState{"GONE"}}, stores.PageArgs{First: 10})
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("filters narrow the list", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		app2 := memApp(t, b, "cli")
		first, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "Say Hello to the world", Categories: []string{"greeting"}})
		RequireNoError(t, err)
		h.Wait(t, 50*time.Millisecond)
		second, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app2.ID, Content: "goodbye, world", Categories: []string{"farewell"}})
		RequireNoError(t, err)
		h.Wait(t, 50*time.Millisecond)
		third, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app2.ID, Content: "HELLO again", Categories: []string{"greeting", "farewell"}})
		RequireNoError(t, err)
		cats, err := b.Memories.CategoriesByMemory(ctx, []uuid.UUID{first.ID})
		RequireNoError(t, err)
		greeting := cats[first.ID][0].ID
		between := first.CreatedAt.Add(second.CreatedAt.Sub(first.CreatedAt) / 2)
		missing := uuid.New()

		memRequireList(t, b, stores.MemoryFilter{AppID: &app.ID}, first.ID)
		memRequireList(t, b, stores.MemoryFilter{AppID: &app2.ID}, third.ID, second.ID)
		memRequireList(t, b, stores.MemoryFilter{AppID: &missing})
		memRequireList(t, b, stores.MemoryFilter{CategoryID: &greeting}, third.ID, first.ID)
		memRequireList(t, b, stores.MemoryFilter{CategoryID: &missing})
		memRequireList(t, b, stores.MemoryFilter{TextContains: "hello"}, third.ID, first.ID)
		memRequireList(t, b, stores.MemoryFilter{TextContains: "WORLD"}, second.ID, first.ID)
		memRequireList(t, b, stores.MemoryFilter{TextContains: "nowhere"})
		memRequireList(t, b, stores.MemoryFilter{CreatedAfter: &between}, third.ID, second.ID)
		memRequireList(t, b, stores.MemoryFilter{CreatedBefore: &between}, first.ID)
		memRequireList(t, b, stores.MemoryFilter{CreatedAfter: &between, TextContains: "hello", AppID: &app2.ID, CategoryID: &greeting}, third.ID)
	})

	t.Run("pages walk every memory exactly once in order", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		for i := range 7 {
			memCreate(t, b, app, "paged "+string(rune('a'+i)))
		}
		all, err := b.Memories.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		if len(all.Items) != 7 || all.HasNextPage {
			t.Fatalf("one big page has %d items (more: %v), want 7", len(all.Items), all.HasNextPage)
		}
		memRequireNewestFirst(t, all.Items)
		walked := pageThrough(t, func(after string) (stores.Page[stores.Memory], error) {
			return b.Memories.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 2, After: after})
		}, nil)
		if !slices.Equal(memIDs(walked), memIDs(all.Items)) {
			t.Fatalf("pages gave %v, want %v", memIDs(walked), memIDs(all.Items))
		}
	})

	t.Run("pages stay stable when a memory is added between them", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		for i := range 5 {
			memCreate(t, b, app, "stable "+string(rune('a'+i)))
		}
		before, err := b.Memories.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 100})
		RequireNoError(t, err)
		var added stores.Memory
		walked := pageThrough(t, func(after string) (stores.Page[stores.Memory], error) {
			return b.Memories.ListMemories(ctx, stores.MemoryFilter{}, stores.PageArgs{First: 2, After: after})
		}, func() { added = memCreate(t, b, app, "inserted between pages") })
		ids := slices.DeleteFunc(memIDs(walked), func(id uuid.UUID) bool { return id == added.ID })
		if !slices.Equal(ids, memIDs(before.Items)) {
			t.Fatalf("pages gave %v, want every earlier memory once in order %v", memIDs(walked), memIDs(before.Items))
		}
	})

	t.Run("counts agree with the pages walked and never include another org's", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		other := h.Bundle(t, NewTenant())
		otherApp := memApp(t, other, "editor")
		for i := range 7 {
			_, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: fmt.Sprintf("counted %d", i), Categories: []string{"c" + strconv.Itoa(i%3)}})
			RequireNoError(t, err)
		}
		deleted := memCreate(t, b, app, "counted but deleted")
		_, err := b.Memories.DeleteMemory(ctx, deleted.ID, nil)
		RequireNoError(t, err)
		_, err = other.Memories.CreateMemory(ctx, stores.NewMemory{AppID: otherApp.ID, Content: "counted elsewhere", Categories: []string{"c0", "theirs"}})
		RequireNoError(t, err)
		memApp(t, b, "cli")

		walked := pageThrough(t, func(after string) (stores.Page[stores.Memory], error) {
			return b.Memories.ListMemories(ctx, stores.MemoryFilter{TextContains: "counted"}, stores.PageArgs{First: 3, After: after})
		}, nil)
		for _, c := range []struct {
			who  *stores.Bundle
			f    stores.MemoryFilter
			want int
		}{
			{b, stores.MemoryFilter{TextContains: "counted"}, len(walked)},
			{b, stores.MemoryFilter{}, 7},
			{b, stores.MemoryFilter{States: []stores.MemoryState{stores.MemoryDeleted}}, 1},
			{b, stores.MemoryFilter{AppID: &otherApp.ID}, 0},
			{other, stores.MemoryFilter{}, 1},
			{h.Bundle(t, NewTenant()), stores.MemoryFilter{}, 0},
		} {
			n, err := c.who.Memories.CountMemories(ctx, c.f)
			RequireNoError(t, err)
			if n != c.want {
				t.Fatalf("CountMemories(%+v) = %d, want %d", c.f, n, c.want)
			}
		}
		if len(walked) != 7 {
			t.Fatalf("walked %d memories, want 7", len(walked))
		}
		_, err = b.Memories.CountMemories(ctx, stores.MemoryFilter{States: []stores.MemoryState{"GONE"}})
		RequireKind(t, err, stores.ErrInvalid)

		apps := pageThrough(t, func(after string) (stores.Page[stores.App], error) {
			return b.Memories.ListApps(ctx, stores.PageArgs{First: 1, After: after})
		}, nil)
		cats := pageThrough(t, func(after string) (stores.Page[stores.Category], error) {
			return b.Memories.ListCategories(ctx, stores.PageArgs{First: 2, After: after})
		}, nil)
		for _, c := range []struct {
			what      string
			count     func(context.Context) (int, error)
			want      int
			wantTotal int
		}{
			{"apps", b.Memories.CountApps, len(apps), 2},
			{"categories", b.Memories.CountCategories, len(cats), 3},
			{"their apps", other.Memories.CountApps, 1, 1},
			{"their categories", other.Memories.CountCategories, 2, 2},
		} {
			n, err := c.count(ctx)
			RequireNoError(t, err)
			if n != c.want || n != c.wantTotal {
				t.Fatalf("%s counted %d, walked %d, want %d", c.what, n, c.want, c.wantTotal)
			}
		}
	})

	t.Run("a malformed cursor is refused", func(t *testing.T) {
		_, b, _ := memSetup(t, newHarness)
		ctx := Ctx(t)
		bad := stores.PageArgs{First: 2, After: "not a cursor"}
		_, err := b.Memories.ListMemories(ctx, stores.MemoryFilter{}, bad)
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Memories.ListApps(ctx, bad)
		RequireKind(t, err, stores.ErrInvalid)
		_, err = b.Memories.ListCategories(ctx, bad)
		RequireKind(t, err, stores.ErrInvalid)
	})

	t.Run("app names are unique within an org only", func(t *testing.T) {
		h, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		if app.ID == uuid.Nil || app.Name != "editor" || app.Description != "the editor plugin" || app.CreatedAt.IsZero() {
			t.Fatalf("created app %+v", app)
		}
		_, err := b.Memories.CreateApp(ctx, "editor", "again")
		RequireKind(t, err, stores.ErrConflict)
		colleague := h.Bundle(t, SameOrgOtherUser(b.Tenant))
		_, err = colleague.Memories.CreateApp(ctx, "editor", "a colleague's")
		RequireKind(t, err, stores.ErrConflict)
		other := h.Bundle(t, NewTenant())
		theirs := memApp(t, other, "editor")
		if theirs.ID == app.ID {
			t.Fatal("two orgs share an app id")
		}
		got, err := b.Memories.AppsByID(ctx, []uuid.UUID{app.ID, theirs.ID, uuid.New()})
		RequireNoError(t, err)
		if len(got) != 1 || got[app.ID].Name != "editor" || !got[app.ID].CreatedAt.Equal(app.CreatedAt) {
			t.Fatalf("AppsByID = %+v, want only the org's own app", got)
		}
	})

	t.Run("invalid app names are refused", func(t *testing.T) {
		_, b, _ := memSetup(t, newHarness)
		for _, name := range []string{"", "   ", strings.Repeat("n", stores.MaxNameLength+1), "bad \xff"} {
			_, err := b.Memories.CreateApp(Ctx(t), name, "")
			RequireKind(t, err, stores.ErrInvalid)
		}
		page, err := b.Memories.ListApps(Ctx(t), stores.PageArgs{First: 10})
		RequireNoError(t, err)
		if len(page.Items) != 1 {
			t.Fatalf("apps %+v, want only the setup app", page.Items)
		}
	})

	t.Run("apps list by name across pages", func(t *testing.T) {
		_, b, _ := memSetup(t, newHarness)
		ctx := Ctx(t)
		for _, name := range []string{"delta", "alpha", "foxtrot", "charlie", "bravo"} {
			memApp(t, b, name)
		}
		walked := pageThrough(t, func(after string) (stores.Page[stores.App], error) {
			return b.Memories.ListApps(ctx, stores.PageArgs{First: 2, After: after})
		}, nil)
		var names []string
		for _, a := range walked {
			names = append(names, a.Name)
		}
		want := []string{"alpha", "bravo", "charlie", "delta", "editor", "foxtrot"}
		if !slices.Equal(names, want) {
			t.Fatalf("apps %v, want %v", names, want)
		}
	})

	t.Run("categories are created on first use, by exact trimmed name", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		a, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "a", Categories: []string{"db", "db"}})
		RequireNoError(t, err)
		c, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "c", Categories: []string{" db ", "DB"}})
		RequireNoError(t, err)
		memRequireCategories(t, b, a.ID, "db")
		cats, err := b.Memories.CategoriesByMemory(ctx, []uuid.UUID{a.ID, c.ID})
		RequireNoError(t, err)
		// Names differing only in case are distinct; their relative order
		// depends on the collation, so compare as a set.
		byName := map[string]uuid.UUID{}
		for _, cat := range cats[c.ID] {
			byName[cat.Name] = cat.ID
		}
		if len(cats[c.ID]) != 2 || byName["DB"] == uuid.Nil || byName["db"] != cats[a.ID][0].ID || cats[a.ID][0].CreatedAt.IsZero() {
			t.Fatalf("categories %+v, want \"db\" shared with the first memory and a distinct \"DB\"", cats)
		}
	})

	t.Run("categories list by name across pages", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		_, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "x", Categories: []string{"echo", "alpha", "delta"}})
		RequireNoError(t, err)
		_, err = b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "y", Categories: []string{"charlie", "bravo", "alpha"}})
		RequireNoError(t, err)
		walked := pageThrough(t, func(after string) (stores.Page[stores.Category], error) {
			return b.Memories.ListCategories(ctx, stores.PageArgs{First: 2, After: after})
		}, nil)
		var names []string
		for _, c := range walked {
			names = append(names, c.Name)
		}
		want := []string{"alpha", "bravo", "charlie", "delta", "echo"}
		if !slices.Equal(names, want) {
			t.Fatalf("categories %v, want %v", names, want)
		}
	})

	t.Run("CategoriesByMemory has every id as a key", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		bare := memCreate(t, b, app, "no categories")
		missing := uuid.New()
		got, err := b.Memories.CategoriesByMemory(ctx, []uuid.UUID{bare.ID, missing})
		RequireNoError(t, err)
		for _, id := range []uuid.UUID{bare.ID, missing} {
			if cats, ok := got[id]; !ok || cats == nil || len(cats) != 0 {
				t.Fatalf("CategoriesByMemory[%s] = %#v (present: %v), want an empty slice", id, cats, ok)
			}
		}
	})

	t.Run("returned values are copies the caller may change", func(t *testing.T) {
		_, b, app := memSetup(t, newHarness)
		ctx := Ctx(t)
		m, err := b.Memories.CreateMemory(ctx, stores.NewMemory{AppID: app.ID, Content: "x", Metadata: map[string]any{"list": []any{"a"}, "obj": map[string]any{"k": "v"}}})
		RequireNoError(t, err)
		m.Metadata["new"] = true
		m.Metadata["list"].([]any)[0] = "changed"
		m.Metadata["obj"].(map[string]any)["k"] = "changed"
		got, err := b.Memories.Memory(ctx, m.ID)
		RequireNoError(t, err)
		want := map[string]any{"list": []any{"a"}, "obj": map[string]any{"k": "v"}}
		if !reflect.DeepEqual(got.Metadata, want) {
			t.Fatalf("metadata %#v after the caller changed its copy, want %#v", got.Metadata, want)
		}
	})

	runPrivateMemories(t, newHarness)
}

// memSetup makes a fresh tenant with one app named "editor".
func memSetup(t *testing.T, newHarness NewHarness) (Harness, *stores.Bundle, stores.App) {
	t.Helper()
	h := newHarness(t)
	b := h.Bundle(t, NewTenant())
	app, err := b.Memories.CreateApp(Ctx(t), "editor", "the editor plugin")
	RequireNoError(t, err)
	return h, b, app
}

func memApp(t *testing.T, b *stores.Bundle, name string) stores.App {
	t.Helper()
	app, err := b.Memories.CreateApp(Ctx(t), name, "")
	RequireNoError(t, err)
	return app
}

func memCreate(t *testing.T, b *stores.Bundle, app stores.App, content string) stores.Memory {
	t.Helper()
	m, err := b.Memories.CreateMemory(Ctx(t), stores.NewMemory{AppID: app.ID, Content: content})
	RequireNoError(t, err)
	return m
}

func memIDs(ms []stores.Memory) []uuid.UUID {
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// memRequireList fails unless the filtered list holds exactly want, in order.
func memRequireList(t *testing.T, b *stores.Bundle, f stores.MemoryFilter, want ...uuid.UUID) {
	t.Helper()
	page, err := b.Memories.ListMemories(Ctx(t), f, stores.PageArgs{First: 100})
	RequireNoError(t, err)
	if page.Items == nil || page.Cursors == nil {
		t.Fatal("ListMemories returned a nil slice")
	}
	if got := memIDs(page.Items); !slices.Equal(got, want) {
		t.Fatalf("ListMemories(%+v) = %v, want %v", f, got, want)
	}
	memRequireNewestFirst(t, page.Items)
	n, err := b.Memories.CountMemories(Ctx(t), f)
	RequireNoError(t, err)
	if n != len(want) {
		t.Fatalf("CountMemories(%+v) = %d, want %d", f, n, len(want))
	}
}

// memNewestFirst returns the memories' ids in the documented list order
// (created_at desc, id desc), computed from the times the store returned.
func memNewestFirst(ms ...stores.Memory) []uuid.UUID {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b stores.Memory) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID.String(), a.ID.String())
	})
	return memIDs(ms)
}

// memRequireNewestFirst checks the documented order: created_at desc, id desc.
func memRequireNewestFirst(t *testing.T, ms []stores.Memory) {
	t.Helper()
	for i := 1; i < len(ms); i++ {
		a, b := ms[i-1], ms[i]
		if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && strings.Compare(a.ID.String(), b.ID.String()) < 0) {
			t.Fatalf("memories out of order at %d: %s (%s) before %s (%s)", i, a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
}

// memRequireCategories fails unless the memory's categories are named want, in order.
func memRequireCategories(t *testing.T, b *stores.Bundle, id uuid.UUID, want ...string) {
	t.Helper()
	got, err := b.Memories.CategoriesByMemory(Ctx(t), []uuid.UUID{id})
	RequireNoError(t, err)
	cats, ok := got[id]
	if !ok || cats == nil {
		t.Fatalf("CategoriesByMemory has no slice for %s", id)
	}
	names := []string{}
	for _, c := range cats {
		names = append(names, c.Name)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("categories %v, want %v", names, want)
	}
}

// memRequireSame compares two memories field by field, times by instant.
func memRequireSame(t *testing.T, got, want stores.Memory) {
	t.Helper()
	same := got.ID == want.ID && got.AppID == want.AppID && got.AuthorID == want.AuthorID &&
		got.Content == want.Content && reflect.DeepEqual(got.Metadata, want.Metadata) &&
		got.State == want.State && got.Version == want.Version &&
		got.CreatedAt.Equal(want.CreatedAt) && got.UpdatedAt.Equal(want.UpdatedAt) &&
		(got.DeletedAt == nil) == (want.DeletedAt == nil) &&
		(got.DeletedAt == nil || got.DeletedAt.Equal(*want.DeletedAt))
	if !same {
		t.Fatalf("memory\n got %+v\nwant %+v", got, want)
	}
}

// pageThrough walks a list with the fetch function from the first page to
// the last, checking each page's shape, and returns every item in order.
// between, when set, runs once after the first page.
func pageThrough[T any](t *testing.T, fetch func(after string) (stores.Page[T], error), between func()) []T {
	t.Helper()
	var all []T
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		page, err := fetch(after)
		RequireNoError(t, err)
		if page.Items == nil || len(page.Cursors) != len(page.Items) {
			t.Fatalf("page with %d items and %d cursors (items nil: %v)", len(page.Items), len(page.Cursors), page.Items == nil)
		}
		all = append(all, page.Items...)
		if !page.HasNextPage {
			return all
		}
		if len(page.Items) == 0 {
			t.Fatal("an empty page says more follow")
		}
		after = page.Cursors[len(page.Cursors)-1]
		if pages == 0 && between != nil {
			between()
		}
	}
}

// valuePtr returns a pointer to a copy of v, for optional fields.
func valuePtr[T any](v T) *T { return &v }
