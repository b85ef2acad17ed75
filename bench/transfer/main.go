// Command transfer measures `gateway tenant export` and `gateway tenant
// import` on orgs of growing size: for each size it seeds an org of that many
// memories (once; later runs reuse it), exports it to a file with the
// gateway binary, imports the file under a new org id, and prints rows/s and
// the peak RSS of each direction's process. Flat RSS across sizes is the
// point: both directions stream.
//
//	go build -o /tmp/gateway . && go run ./bench/transfer --gateway /tmp/gateway --sizes 10000,100000
//
// It needs DATABASE_OWNER_URL (the database is written: seeded orgs stay for
// the next run, imported ones are removed after they are measured). Only
// PostgreSQL is exercised (memories are what grows); the other stores'
// settings are withheld from the gateway so that it exports nothing else.
// Never part of make test.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// benchNamespace names the seeded orgs: UUIDv5(benchNamespace, "memories-N").
var benchNamespace = uuid.MustParse("3f0c4a52-7d44-4c1e-9a43-8f3b0e1c2d5a")

const bindSQL = `SELECT set_config('app.org_id', $1, true), set_config('app.operator_org', $1, true)`

// The seed: 10 apps, 20 categories, n memories (one category link each, a
// tenth of them private, of 5 authors) and a feedback event per 10 memories.
const (
	countSQL = `SELECT count(*) FROM memories WHERE org_id = $1`
	seedApps = `INSERT INTO apps (org_id, id, name) SELECT $1, gen_random_uuid(), 'app-' || i FROM generate_series(1, 10) i`
	seedCats = `INSERT INTO categories (org_id, name) SELECT $1, 'cat-' || i FROM generate_series(1, 20) i`
	seedMems = `INSERT INTO memories (org_id, id, app_id, author_id, content, metadata, visibility)
SELECT $1, gen_random_uuid(), (SELECT id FROM apps WHERE org_id = $1 ORDER BY name LIMIT 1 OFFSET i % 10),
       ('00000000-0000-4000-8000-00000000000' || (i % 5))::uuid,
       'benchmark memory ' || i || ': ' || repeat(md5(i::text), 4), jsonb_build_object('n', i),
       CASE WHEN i % 10 = 0 THEN 'PRIVATE' ELSE 'ORG' END
FROM generate_series(1, $2::int) i`
	seedLinks = `INSERT INTO memory_categories (org_id, memory_id, category_id)
SELECT $1, m.id, (SELECT id FROM categories WHERE org_id = $1 ORDER BY name LIMIT 1 OFFSET abs(hashtext(m.id::text)) % 20)
FROM memories m WHERE m.org_id = $1`
	seedFeedback = `INSERT INTO feedback_events (org_id, id, user_id, query_id, memory_id, tool, query_type, outcome)
SELECT $1, gen_random_uuid(), m.author_id, 'q-' || m.id, m.id, 'bench', 'recall', 'ACCEPTED'
FROM memories m WHERE m.org_id = $1 AND abs(hashtext(m.id::text)) % 10 = 0`
)

// removeOrg deletes an imported org, children first, and the outbox rows
// its import queued (no indexer is meant to index a benchmark).
var removeOrg = []string{
	`DELETE FROM feedback_events WHERE org_id = $1`,
	`DELETE FROM memory_categories WHERE org_id = $1`,
	`DELETE FROM memories WHERE org_id = $1`,
	`DELETE FROM categories WHERE org_id = $1`,
	`DELETE FROM apps WHERE org_id = $1`,
	`SELECT set_config('app.outbox_worker', 'on', true)`,
	`DELETE FROM memory_outbox WHERE org_id = $1`,
}

func main() {
	gateway := flag.String("gateway", "", "the gateway binary to measure (go build -o /tmp/gateway .)")
	sizes := flag.String("sizes", "10000,100000", "comma-separated org sizes, in memories")
	flag.Parse()
	if err := run(*gateway, *sizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench transfer:", err)
		os.Exit(1)
	}
}

func run(gateway, sizes string) error {
	ownerURL := os.Getenv("DATABASE_OWNER_URL")
	if gateway == "" || ownerURL == "" {
		return fmt.Errorf("needs --gateway and DATABASE_OWNER_URL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	dir, err := os.MkdirTemp("", "bench-transfer-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	fmt.Printf("%-10s %-7s %10s %10s %12s %12s\n", "MEMORIES", "DIR", "LINES", "SECONDS", "LINES/S", "PEAK RSS MB")
	for _, field := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return fmt.Errorf("size %q is not a positive number", field)
		}
		org := uuid.NewSHA1(benchNamespace, []byte("memories-"+strconv.Itoa(n)))
		if err := seed(ctx, conn, org, n); err != nil {
			return fmt.Errorf("seeding %d memories: %w", n, err)
		}
		file := filepath.Join(dir, org.String()+".ndjson")
		out, err := os.Create(file)
		if err != nil {
			return err
		}
		exp, err := measure(gateway, ownerURL, out, "export", org.String())
		_ = out.Close()
		if err != nil {
			return err
		}
		lines, err := countLines(file)
		if err != nil {
			return err
		}
		report(n, "export", lines, exp)
		target := uuid.New()
		imp, err := measure(gateway, ownerURL, nil, "import", "--org", target.String(), file)
		if err != nil {
			return err
		}
		report(n, "import", lines, imp)
		if err := inOrg(ctx, conn, target, removeOrg...); err != nil {
			return fmt.Errorf("removing imported org %s: %w", target, err)
		}
	}
	return nil
}

// seed fills org with n memories unless it holds them already.
func seed(ctx context.Context, conn *pgx.Conn, org uuid.UUID, n int) error {
	var have int
	if err := inOrgQuery(ctx, conn, org, func(tx pgx.Tx) error { return tx.QueryRow(ctx, countSQL, org).Scan(&have) }); err != nil {
		return err
	}
	if have == n {
		return nil
	}
	if have != 0 {
		return fmt.Errorf("org %s holds %d memories, not 0 or %d: remove it by hand", org, have, n)
	}
	start := time.Now()
	err := inOrgQuery(ctx, conn, org, func(tx pgx.Tx) error {
		for _, step := range []struct {
			sql  string
			args []any
		}{{seedApps, []any{org}}, {seedCats, []any{org}}, {seedMems, []any{org, n}}, {seedLinks, []any{org}}, {seedFeedback, []any{org}}} {
			if _, err := tx.Exec(ctx, step.sql, step.args...); err != nil {
				return err
			}
		}
		return nil
	})
	fmt.Fprintf(os.Stderr, "seeded org %s with %d memories in %s\n", org, n, time.Since(start).Round(time.Millisecond))
	return err
}

// inOrg runs statements in one transaction bound to org as its operator.
func inOrg(ctx context.Context, conn *pgx.Conn, org uuid.UUID, statements ...string) error {
	return inOrgQuery(ctx, conn, org, func(tx pgx.Tx) error {
		for _, sql := range statements {
			args := []any{org}
			if !strings.Contains(sql, "$1") {
				args = nil
			}
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

func inOrgQuery(ctx context.Context, conn *pgx.Conn, org uuid.UUID, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, bindSQL, org.String()); err != nil {
			return err
		}
		return fn(tx)
	})
}

// run of one direction: its wall time and its peak RSS.
type result struct {
	elapsed time.Duration
	rssKB   int64
}

// measure runs `gateway tenant ARGS` with only the owner URL set.
func measure(gateway, ownerURL string, stdout *os.File, args ...string) (result, error) {
	cmd := exec.Command(gateway, append([]string{"tenant"}, args...)...)
	cmd.Env = []string{"DATABASE_OWNER_URL=" + ownerURL, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("gateway tenant %s: %w\n%s", args[0], err, stderr.String())
	}
	r := result{elapsed: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss // kilobytes on Linux
	}
	return r, nil
}

func report(n int, dir string, lines int, r result) {
	fmt.Printf("%-10d %-7s %10d %10.2f %12.0f %12.1f\n", n, dir, lines, r.elapsed.Seconds(), float64(lines)/r.elapsed.Seconds(), float64(r.rssKB)/1024)
}

// countLines counts a file's lines a buffer at a time: this process must
// stay small, because Go starts a child with vfork semantics and the child's
// ru_maxrss then starts from this process's resident size.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte("\n"))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
