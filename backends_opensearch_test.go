package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

func TestSearchCommandUsage(t *testing.T) {
	org := uuid.NewString()
	withURL := func(name string) string {
		if name == "OPENSEARCH_URL" {
			return "http://127.0.0.1:1"
		}
		return ""
	}
	for _, c := range []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"no subcommand is refused with the usage", nil, withURL, "no subcommand"},
		{"an unknown subcommand is refused with the usage", []string{"reindex"}, withURL, `unknown subcommand "reindex"`},
		{"a missing ORG is refused", []string{"move-tenant"}, withURL, "want exactly one ORG"},
		{"two ORGs are refused", []string{"move-tenant", org, org}, withURL, "want exactly one ORG"},
		{"an ORG that is not a UUID is refused", []string{"move-tenant", "acme"}, withURL, `ORG "acme" is not an organisation UUID`},
		{"an unknown flag is refused", []string{"move-tenant", "--force", org}, withURL, "flag provided but not defined: -force"},
		{"a move without OPENSEARCH_URL is refused", []string{"move-tenant", org}, noEnv, "OPENSEARCH_URL is not set"},
		{"a bad index name is refused", []string{"move-tenant", "--index", "Docs/../x", org}, withURL, "index name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"search"}, c.args...), c.getenv, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on a usage error", out.String())
			}
		})
	}
}

func TestSearchCommandMovesATenant(t *testing.T) {
	addr := storetest.ServiceEnv(t, "OPENSEARCH_URL")
	ctx := storetest.Ctx(t)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	index := "cb-cmd-test-" + hex.EncodeToString(suffix)
	b, err := opensearch.Open(ctx, opensearch.Options{URL: addr, Index: index})
	storetest.RequireNoError(t, err)
	tenant := storetest.NewTenant()
	t.Cleanup(func() {
		b.Close()
		deleteIndices(t, addr, index, b.DedicatedIndex(tenant.OrgID))
	})
	st := b.FullText(tenant)
	storetest.RequireNoError(t, st.IndexDocuments(ctx, []stores.Document{
		{ID: "a", Body: "tenant on the move"},
		{ID: "b", Body: "another note on the move"},
	}))
	search := func() []string {
		t.Helper()
		page, err := st.Search(ctx, stores.SearchQuery{Text: "move"}, stores.PageArgs{First: 10})
		storetest.RequireNoError(t, err)
		var ids []string
		for _, h := range page.Items {
			ids = append(ids, h.Document.ID)
		}
		return ids
	}
	before := search()

	getenv := func(name string) string {
		if name == "OPENSEARCH_URL" {
			return addr
		}
		return ""
	}
	var out bytes.Buffer
	storetest.RequireNoError(t, run(ctx, []string{"search", "move-tenant", "--index", index, tenant.OrgID.String()}, getenv, &out, io.Discard))
	want := fmt.Sprintf("moved org %s: 2 documents copied from %s to %s", tenant.OrgID, index, b.DedicatedIndex(tenant.OrgID))
	if !strings.Contains(out.String(), want) {
		t.Fatalf("printed %q, want it to say %q", out.String(), want)
	}

	if after := search(); !slices.Equal(after, before) || len(after) != 2 {
		t.Fatalf("after the move the search found %v, before %v", after, before)
	}
	indices, err := b.TenantIndices(ctx, tenant.OrgID)
	storetest.RequireNoError(t, err)
	if !slices.Equal(indices, []string{b.DedicatedIndex(tenant.OrgID)}) {
		t.Fatalf("the tenant's alias points to %v", indices)
	}
	storetest.RequireNoError(t, st.IndexDocuments(ctx, []stores.Document{{ID: "c", Body: "written after the move"}}))
	if got := search(); len(got) != 3 {
		t.Fatalf("a write after the move is not found: %v", got)
	}

	out.Reset()
	storetest.RequireNoError(t, run(ctx, []string{"search", "move-tenant", "--index", index, tenant.OrgID.String()}, getenv, &out, io.Discard))
	if !strings.Contains(out.String(), "was already on") {
		t.Fatalf("a second move printed %q", out.String())
	}
	err = run(ctx, []string{"search", "move-tenant", "--index", index, uuid.NewString()}, getenv, io.Discard, io.Discard)
	if !errors.Is(err, opensearch.ErrNoTenant) {
		t.Fatalf("moving an org that never wrote gave %v", err)
	}
}

func TestOpenSearchWiring(t *testing.T) {
	t.Run("an unreachable OPENSEARCH_URL stops the start quickly without printing its password", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		storetest.RequireNoError(t, err)
		host := ln.Addr().String()
		ln.Close()
		cfg := config.Config{OpenSearchURL: "http://admin:s3cret-pw@" + host}
		var b stores.Backends
		start := time.Now()
		closer, err := openOpenSearch(context.Background(), cfg, slog.New(slog.DiscardHandler), &b)
		if err == nil {
			closer()
			t.Fatal("opened a backend on a closed port")
		}
		if !errors.Is(err, stores.ErrUnavailable) || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), host) {
			t.Fatalf("got %v", err)
		}
		if elapsed := time.Since(start); elapsed > opensearch.DefaultTimeout+time.Second {
			t.Fatalf("took %s", elapsed)
		}
		if b.FullText != nil {
			t.Fatal("a failed open still set the full-text backend")
		}
	})

	t.Run("without OPENSEARCH_URL the embedded full-text store stays", func(t *testing.T) {
		var b stores.Backends
		closer, err := openOpenSearch(context.Background(), config.Config{}, slog.New(slog.DiscardHandler), &b)
		if err != nil || closer != nil || b.FullText != nil {
			t.Fatalf("got closer %v, err %v, backend %v", closer != nil, err, b.FullText)
		}
	})
}

// deleteIndices removes what a test created, over plain HTTP.
func deleteIndices(t *testing.T, addr string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, addr+"/"+strings.Join(names, ",")+"?ignore_unavailable=true", nil)
	storetest.RequireNoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("deleting %v: %v", names, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("deleting %v: status %d", names, resp.StatusCode)
	}
}
