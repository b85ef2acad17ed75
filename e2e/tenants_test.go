package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codingbrain/gateway/auth"
	"github.com/codingbrain/gateway/e2e/client"
	"github.com/codingbrain/gateway/stores/storetest"
	"github.com/jackc/pgx/v5"
)

// tenantEnv is the environment of `gateway tenant`: the owner role and every
// store, reached directly (not through the stack's proxies).
func tenantEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "GATEWAY_STORE_TIMEOUT=" + storeTimeout.String()}
	for _, v := range []string{"DATABASE_OWNER_URL", "VALKEY_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "QDRANT_URL", "OPENSEARCH_URL"} {
		env = append(env, v+"="+os.Getenv(v))
	}
	return env
}

// tenantCmd runs `gateway tenant args...` to its end; the error ends with
// the last line the command wrote to stderr.
func tenantCmd(s *stack, args ...string) (string, error) {
	stdout, stderr, err := runTenant(s, nil, tenantEnv(), args...)
	if err != nil {
		return string(stdout), fmt.Errorf("%w: %s", err, lastLine(stderr))
	}
	return string(stdout), nil
}

// runTenant runs `gateway tenant args...` with env, feeding it stdin.
func runTenant(s *stack, stdin io.Reader, env []string, args ...string) ([]byte, string, error) {
	cmd := exec.Command(s.bin, append([]string{"tenant"}, args...)...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

var auditLine = regexp.MustCompile(`(?m)^(\w+)\s+(\S+)\s+(\d+)$`)

// audit runs `gateway tenant audit ORG`: store -> kind -> count.
func audit(t *testing.T, s *stack, org string) map[string]map[string]int {
	t.Helper()
	out, err := tenantCmd(s, "audit", org)
	storetest.RequireNoError(t, err)
	got := map[string]map[string]int{}
	for _, m := range auditLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[3])
		if got[m[1]] == nil {
			got[m[1]] = map[string]int{}
		}
		got[m[1]][m[2]] = n
	}
	for _, store := range []string{"postgres", "valkey", "neo4j", "qdrant", "opensearch"} {
		if got[store] == nil {
			t.Fatalf("the audit names no %s counts:\n%s", store, out)
		}
	}
	return got
}

func storeTotal(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// TestEraseOrganisation fills two organisations in all five stores, erases
// one with `gateway tenant erase`, kills the job with SIGKILL once its
// PostgreSQL step is recorded, resumes it, and checks that the audit finds
// nothing of the erased organisation anywhere while the other answers
// exactly as before.
func TestEraseOrganisation(t *testing.T) {
	s := gateway(t)
	ctx := context.Background()
	a, b := s.newTenant(t), s.newTenant(t)
	fa, fb := seed(t, s, a), seed(t, s, b)
	bBefore := view(t, s, fb)

	before := audit(t, s, a.org.String())
	for store, kinds := range before {
		if storeTotal(kinds) == 0 {
			t.Fatalf("the seeded organisation holds nothing in %s: %v", store, kinds)
		}
	}

	t.Run("an unknown organisation is refused and nothing changes", func(t *testing.T) {
		unknown := freshID(a.org.String())
		_, err := tenantCmd(s, "erase", unknown)
		if err == nil || !strings.Contains(err.Error(), "is not registered") {
			t.Fatalf("erasing an unknown org gave %v", err)
		}
		if out, _ := tenantCmd(s, "audit", unknown); !strings.Contains(out, ": unregistered") {
			t.Fatalf("a refused erasure registered the org:\n%s", out)
		}
		if jobs, _ := tenantCmd(s, "jobs", unknown); strings.Count(jobs, "\n") != 1 {
			t.Fatalf("a refused erasure left a job:\n%s", jobs)
		}
		if _, err := tenantCmd(s, "erase", "not-a-uuid"); err == nil || !strings.Contains(err.Error(), "not an organisation id") {
			t.Fatalf("erasing a malformed org id gave %v", err)
		}
	})

	// The first run stops for good (SIGKILL) right after PostgreSQL's
	// completion is recorded.
	cmd := exec.Command(s.bin, "tenant", "erase", "--batch", "1", "--by", "e2e", "--pause-after", "postgres", a.org.String())
	cmd.Env = tenantEnv()
	stdout, err := cmd.StdoutPipe()
	storetest.RequireNoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	storetest.RequireNoError(t, cmd.Start())
	paused := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "paused after postgres") {
				paused <- strings.Join(lines, "\n")
				return
			}
		}
		paused <- ""
	}()
	select {
	case out := <-paused:
		if out == "" {
			_ = cmd.Wait()
			t.Fatalf("the erasure ended without pausing: %s", stderr.String())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the erasure did not reach its PostgreSQL step: %s", stderr.String())
	}
	storetest.RequireNoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	mid := audit(t, s, a.org.String())
	if n := storeTotal(mid["postgres"]); n != 0 {
		t.Fatalf("PostgreSQL still holds %d rows after its step: %v", n, mid["postgres"])
	}
	if storeTotal(mid["opensearch"]) == 0 {
		t.Fatalf("the killed run went past PostgreSQL: %v", mid)
	}

	t.Run("the erasing organisation's tokens are refused", func(t *testing.T) {
		reader := a
		var err error
		reader.token, err = auth.Issue(s.secret, auth.Principal{OrgID: a.org, UserID: a.user, Scopes: []string{auth.ScopeMemoriesRead}}, time.Hour, time.Now())
		storetest.RequireNoError(t, err)
		c, rec := s.client(reader)
		waitFor(t, 15*time.Second, "the registry to refuse the token", func() bool {
			_, err := client.Memory(ctx, c, fa.memory)
			return err != nil && rec.lastExchange().status == 401
		})
		if codes := decode(t, rec.lastExchange()).codes(); len(codes) != 1 || codes[0] != "UNAUTHENTICATED" {
			t.Fatalf("codes %v", codes)
		}
		// An org admin's token keeps the admin scope alone: it may follow
		// the erasure, and read or write nothing.
		admin, rec := s.client(a)
		if _, err := client.Memory(ctx, admin, fa.memory); err == nil {
			t.Fatal("an org admin read a memory of an erasing organisation")
		}
		if codes := decode(t, rec.lastExchange()).codes(); len(codes) != 1 || codes[0] != "FORBIDDEN" {
			t.Fatalf("an org admin reading a memory of an erasing org got %v", codes)
		}
	})

	t.Run("a second erasure of an erasing organisation is refused", func(t *testing.T) {
		_, err := tenantCmd(s, "erase", a.org.String())
		if err == nil || !strings.Contains(err.Error(), "already being erased by job") {
			t.Fatalf("erasing an org twice gave %v", err)
		}
		if jobs, _ := tenantCmd(s, "jobs", a.org.String()); strings.Count(jobs, "ERASE_ORG") != 1 {
			t.Fatalf("the refused second erasure left a job:\n%s", jobs)
		}
	})

	out, err := tenantCmd(s, "erase", "--resume", "--batch", "2", a.org.String())
	storetest.RequireNoError(t, err)
	if !strings.Contains(out, ": DONE") {
		t.Fatalf("the resumed erasure printed:\n%s", out)
	}
	// The job's record counts every PostgreSQL row exactly, the killed
	// run's included: each batch's counts commit with the batch.
	for _, m := range auditLine.FindAllStringSubmatch(out, -1) {
		if n, _ := strconv.Atoi(m[3]); m[1] == "postgres" && n != before["postgres"][m[2]] {
			t.Errorf("the job says %d %s were erased, the audit counted %d before", n, m[2], before["postgres"][m[2]])
		}
	}
	after := audit(t, s, a.org.String())
	for store, kinds := range after {
		for kind, n := range kinds {
			if n != 0 {
				t.Errorf("after the erasure %s still holds %d %s", store, n, kind)
			}
		}
	}
	if out, _ := tenantCmd(s, "audit", a.org.String()); !strings.Contains(out, ": ERASED") {
		t.Errorf("the audit of the erased org says:\n%s", out)
	}
	if got := view(t, s, fb); got != bBefore {
		t.Fatalf("the other organisation changed:\nbefore %s\nafter  %s", bBefore, got)
	}

	jobs, err := tenantCmd(s, "jobs", a.org.String())
	storetest.RequireNoError(t, err)
	if !regexp.MustCompile(`ERASE_ORG\s+DONE\s+e2e\s`).MatchString(jobs) {
		t.Fatalf("the audit record of the erasure:\n%s", jobs)
	}
	if _, err := tenantCmd(s, "erase", a.org.String()); err == nil || !strings.Contains(err.Error(), "already erased") {
		t.Fatalf("erasing an erased org gave %v", err)
	}
}

// TestOrgAdminErasesItsOrganisation has an org admin start the erasure
// through GraphQL (the stack's gateway has no owner role, so an operator's
// `gateway tenant erase --resume` runs it) and follow it with
// organizationErasures; another org's id and a second start change nothing.
func TestOrgAdminErasesItsOrganisation(t *testing.T) {
	s := gateway(t)
	ctx := context.Background()
	a := s.newTenant(t)
	fa := seed(t, s, a)
	admin, rec := s.client(a)

	if _, err := client.EraseOrganization(ctx, admin, client.EraseOrganizationInput{OrganizationId: s.newTenant(t).org.String()}); err == nil {
		t.Fatal("an org admin started the erasure of another organisation")
	}
	if codes := decode(t, rec.lastExchange()).codes(); len(codes) != 1 || codes[0] != "BAD_USER_INPUT" {
		t.Fatalf("erasing another org: codes %v", codes)
	}
	writer := a
	var err error
	writer.token, err = auth.Issue(s.secret, auth.Principal{OrgID: a.org, UserID: a.user, Scopes: []string{auth.ScopeMemoriesRead, auth.ScopeMemoriesWrite}}, time.Hour, time.Now())
	storetest.RequireNoError(t, err)
	nonAdmin, memberRec := s.client(writer)
	if _, err := client.EraseOrganization(ctx, nonAdmin, client.EraseOrganizationInput{OrganizationId: a.org.String()}); err == nil {
		t.Fatal("a token without the admin scope started an erasure")
	}
	if codes := decode(t, memberRec.lastExchange()).codes(); len(codes) != 1 || codes[0] != "FORBIDDEN" {
		t.Fatalf("erasing without admin: codes %v", codes)
	}
	if audit := audit(t, s, a.org.String()); storeTotal(audit["postgres"]) == 0 {
		t.Fatalf("a refused erasure changed the organisation: %v", audit)
	}

	started := must(client.EraseOrganization(ctx, admin, client.EraseOrganizationInput{OrganizationId: a.org.String()})).EraseOrganization.Erasure
	if started.State != client.ErasureStatePending || started.RequestedBy != a.user.String() {
		t.Fatalf("the started erasure: %+v", started)
	}
	if _, err := client.EraseOrganization(ctx, admin, client.EraseOrganizationInput{OrganizationId: a.org.String()}); err == nil {
		t.Fatal("a second erasure started")
	}
	if codes := decode(t, rec.lastExchange()).codes(); len(codes) != 1 || codes[0] != "CONFLICT" {
		t.Fatalf("a second erasure: codes %v", codes)
	}
	// This replica refuses the org's other tokens at once.
	if _, err := client.Memory(ctx, nonAdmin, fa.memory); err == nil || memberRec.lastExchange().status != 401 {
		t.Fatalf("a member's token still works: %v", err)
	}

	out, err := tenantCmd(s, "erase", "--resume", a.org.String())
	storetest.RequireNoError(t, err)
	if !strings.Contains(out, "job "+started.Id+": DONE") {
		t.Fatalf("the operator's resume printed:\n%s", out)
	}
	list := must(client.OrganizationErasures(ctx, admin)).OrganizationErasures
	if len(list) != 1 || list[0].Id != started.Id || list[0].State != client.ErasureStateDone || list[0].FinishedAt == nil {
		t.Fatalf("organizationErasures after the erasure: %+v", list)
	}
	removed := 0
	for _, st := range list[0].Stores {
		if !st.Done {
			t.Errorf("store %s is not done", st.Store)
		}
		var counts map[string]int
		storetest.RequireNoError(t, json.Unmarshal(st.Counts, &counts))
		removed += storeTotal(counts)
	}
	if removed == 0 {
		t.Fatal("the erasure reports nothing removed")
	}
	for store, kinds := range audit(t, s, a.org.String()) {
		if n := storeTotal(kinds); n != 0 {
			t.Errorf("after the erasure %s still holds %v", store, kinds)
		}
	}
}

// TestOrphansAndUserErasure runs `gateway tenant orphans` and
// `erase-user` on the real stores: an organisation that wrote only
// episodic items and then lost its registry row is listed and purged; a
// user's episodic items and memories go, another user's stay.
func TestOrphansAndUserErasure(t *testing.T) {
	s := gateway(t)
	ctx := context.Background()
	a := s.newTenant(t)
	fa := seed(t, s, a)
	colleague := s.colleague(t, a)
	cc, _ := s.client(colleague)
	mine := must(client.CreateMemory(ctx, cc, client.CreateMemoryInput{AppId: fa.app, Content: "the colleague's note"})).CreateMemory.Memory.Id
	must(client.PutEpisodicItem(ctx, cc, client.PutEpisodicItemInput{SessionId: "s", Content: "the colleague's item", TtlSeconds: ptr(3600)}))

	out, err := tenantCmd(s, "erase-user", "--by", "e2e", a.org.String(), colleague.user.String())
	storetest.RequireNoError(t, err)
	if !regexp.MustCompile(`postgres\s+memories\s+1\n`).MatchString(out) || !regexp.MustCompile(`valkey\s+keys\s+[1-9]`).MatchString(out) {
		t.Fatalf("erase-user printed:\n%s", out)
	}
	c, _ := s.client(a)
	if got := must(client.Memory(ctx, c, mine)).Memory; got != nil {
		t.Fatalf("the erased user's memory is still served: %+v", got)
	}
	if got := must(client.Memory(ctx, c, fa.memory)).Memory; got == nil {
		t.Fatal("the other user's memory went with the erased user")
	}
	if items := must(client.EpisodicSession(ctx, cc, "s")).EpisodicSession; items != nil && len(items.Items) > 0 {
		t.Fatalf("the erased user's episodic items remain: %+v", items.Items)
	}

	// An organisation with data in the stores and no registry row.
	orphan := s.newTenant(t)
	oc, _ := s.client(orphan)
	must(client.PutEpisodicItem(ctx, oc, client.PutEpisodicItemInput{SessionId: "s", Content: "left behind", TtlSeconds: ptr(3600)}))
	must(client.RegisterCodeRepo(ctx, oc, client.RegisterCodeRepoInput{Key: "r", Name: ptr("left behind")}))
	owner, err := pgx.Connect(ctx, os.Getenv("DATABASE_OWNER_URL"))
	storetest.RequireNoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, orphan.org)
	storetest.RequireNoError(t, err)

	listed, err := tenantCmd(s, "orphans", orphan.org.String(), a.org.String())
	storetest.RequireNoError(t, err)
	if !regexp.MustCompile(orphan.org.String()+`\s+unregistered\s+valkey,neo4j\n`).MatchString(listed) || strings.Contains(listed, a.org.String()) {
		t.Fatalf("gateway tenant orphans printed:\n%s", listed)
	}
	purged, err := tenantCmd(s, "orphans", "--purge", "--by", "e2e", orphan.org.String())
	storetest.RequireNoError(t, err)
	if !strings.Contains(purged, ": DONE") {
		t.Fatalf("the purge printed:\n%s", purged)
	}
	for store, kinds := range audit(t, s, orphan.org.String()) {
		if n := storeTotal(kinds); n != 0 {
			t.Errorf("after the purge %s still holds %v", store, kinds)
		}
	}
}

// TestServerRunsErasures starts a gateway with the owner role: an org
// admin's erasure is run by the server itself, and organizationErasures
// follows it to DONE.
func TestServerRunsErasures(t *testing.T) {
	s := gateway(t)
	env := map[string]string{"GATEWAY_ORG_REFRESH": "200ms", "GATEWAY_STORE_TIMEOUT": "2s", "GATEWAY_VECTOR_MODELS": matrixModel + ":4"}
	for _, v := range []string{"DATABASE_URL", "DATABASE_OWNER_URL", "VALKEY_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "QDRANT_URL", "OPENSEARCH_URL"} {
		env[v] = os.Getenv(v)
	}
	r := s.replica(t, env)
	ctx := context.Background()
	a := r.newTenant(t)
	seed(t, r, a)
	admin, _ := r.client(a)
	started := must(client.EraseOrganization(ctx, admin, client.EraseOrganizationInput{OrganizationId: a.org.String()})).EraseOrganization.Erasure
	waitFor(t, 90*time.Second, "the server to finish the erasure", func() bool {
		list, err := client.OrganizationErasures(ctx, admin)
		return err == nil && len(list.OrganizationErasures) == 1 && list.OrganizationErasures[0].Id == started.Id &&
			list.OrganizationErasures[0].State == client.ErasureStateDone
	})
	for store, kinds := range audit(t, s, a.org.String()) {
		if n := storeTotal(kinds); n != 0 {
			t.Errorf("after the server's erasure %s still holds %v", store, kinds)
		}
	}
}
