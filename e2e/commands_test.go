package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/opensearch"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/google/uuid"
)

// TestSearchCommandMovesATenant runs `gateway search move-tenant` on a
// tenant of a shared index of its own and checks what the tenant's alias
// serves before, during and after.
func TestSearchCommandMovesATenant(t *testing.T) {
	s := gateway(t) // builds the binary
	addr := os.Getenv("OPENSEARCH_URL")
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

	move := func(org string) (string, error) {
		cmd := exec.Command(s.bin, "search", "move-tenant", "--index", index, org)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OPENSEARCH_URL=" + addr}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
		}
		return stdout.String(), nil
	}
	out, err := move(tenant.OrgID.String())
	storetest.RequireNoError(t, err)
	want := fmt.Sprintf("moved org %s: 2 documents copied from %s to %s", tenant.OrgID, index, b.DedicatedIndex(tenant.OrgID))
	if !strings.Contains(out, want) {
		t.Fatalf("printed %q, want it to say %q", out, want)
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

	list := exec.Command(s.bin, "search", "tenants", "--index", index)
	list.Env = []string{"PATH=" + os.Getenv("PATH"), "OPENSEARCH_URL=" + addr}
	listed, err := list.Output()
	storetest.RequireNoError(t, err)
	if !regexp.MustCompile(tenant.OrgID.String() + `\s+` + regexp.QuoteMeta(b.DedicatedIndex(tenant.OrgID)) + `\s+dedicated\s+3\n`).Match(listed) {
		t.Fatalf("gateway search tenants printed:\n%s", listed)
	}

	out, err = move(tenant.OrgID.String())
	storetest.RequireNoError(t, err)
	if !strings.Contains(out, "was already on") {
		t.Fatalf("a second move printed %q", out)
	}
	if _, err := move(uuid.NewString()); err == nil || !strings.Contains(err.Error(), opensearch.ErrNoTenant.Error()) {
		t.Fatalf("moving an org that never wrote gave %v, want %q", err, opensearch.ErrNoTenant)
	}
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
