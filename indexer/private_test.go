package indexer_test

import (
	"context"
	"testing"
	"time"

	"github.com/codingbrain/gateway/indexer"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestIndexerFollowsVisibilityChanges changes a memory's visibility back and
// forth and checks, on PostgreSQL, OpenSearch and Qdrant through the outbox
// indexer, that its document and vector follow each change: found by its
// author only while PRIVATE, by the whole org while ORG, never twice.
func TestIndexerFollowsVisibilityChanges(t *testing.T) {
	s := openRealStack(t)
	author := storetest.NewTenant()
	colleague := storetest.SameOrgOtherUser(author)
	ix := indexer.New(s.outbox, s.backends, indexer.Options{
		Poll: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Embedder: s.embedder, Orgs: []uuid.UUID{author.OrgID},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	wctx := storetest.Ctx(t)
	mem := s.backends.Memories.Memories(author)
	app, err := mem.CreateApp(wctx, "visibility", "")
	storetest.RequireNoError(t, err)
	token := "tok" + randomToken()
	content := "private note " + token + " about the deploy key"
	m, err := mem.CreateMemory(wctx, stores.NewMemory{AppID: app.ID, Content: content, Visibility: stores.VisibilityPrivate})
	storetest.RequireNoError(t, err)
	vector, err := s.embedder.Embed(wctx, []string{content})
	storetest.RequireNoError(t, err)

	// found counts the memory's documents and vectors a user finds.
	found := func(who stores.Tenant) (docs, points int, ok bool) {
		page, err := s.backends.FullText.FullText(who).Search(wctx, stores.SearchQuery{Text: token}, stores.PageArgs{First: 10})
		if err != nil {
			return 0, 0, false
		}
		hits, err := s.backends.Vectors.Vectors(who).SearchVectors(wctx, s.embedder.Model(), vector[0], nil, 100)
		if err != nil {
			return 0, 0, false
		}
		for _, h := range hits {
			if h.MemoryID != nil && *h.MemoryID == m.ID {
				points++
			}
		}
		return len(page.Items), points, true
	}
	expect := func(what string, authorSees, colleagueSees int) {
		t.Helper()
		storetest.Eventually(t, 60*time.Second, what, func() bool {
			ad, ap, aok := found(author)
			cd, cp, cok := found(colleague)
			return aok && cok && ad == authorSees && ap == authorSees && cd == colleagueSees && cp == colleagueSees
		})
	}

	ix.Wake()
	expect("the new private memory indexed for its author only", 1, 0)
	version := m.Version
	for _, step := range []struct {
		to        stores.Visibility
		colleague int
	}{{stores.VisibilityOrg, 1}, {stores.VisibilityPrivate, 0}, {stores.VisibilityOrg, 1}} {
		changed, err := mem.SetMemoryVisibility(wctx, m.ID, step.to, &version)
		storetest.RequireNoError(t, err)
		version = changed.Version
		ix.Wake()
		expect("the indexes following the change to "+string(step.to), 1, step.colleague)
	}
}
