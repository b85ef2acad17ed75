package neo4j

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

// turnCounter is a loopback TCP proxy in front of the server that counts
// round trips: each time a client starts sending again after the server has
// answered, that is one more round trip on the wire.
type turnCounter struct {
	ln    net.Listener
	turns atomic.Int64
}

func newTurnCounter(t *testing.T, target string) *turnCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	storetest.RequireNoError(t, err)
	p := &turnCounter{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			var serverSpoke atomic.Bool
			serverSpoke.Store(true)
			wg.Add(2)
			go func() { // client -> server
				defer wg.Done()
				defer server.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						if serverSpoke.Swap(false) {
							p.turns.Add(1)
						}
						if _, werr := server.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server -> client
				defer wg.Done()
				defer client.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 {
						serverSpoke.Store(true)
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// messageCounter is a Bolt logger that counts the messages a client sends,
// by kind (RUN, BEGIN, COMMIT, ...).
type messageCounter struct {
	mu    sync.Mutex
	sent  map[string]int
	total int
}

func (m *messageCounter) LogClientMessage(_ string, msg string, _ ...any) {
	kind, _, _ := strings.Cut(msg, " ")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[kind]++
	m.total++
}

func (m *messageCounter) LogServerMessage(string, string, ...any) {}

func (m *messageCounter) take() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent
	m.sent = map[string]int{}
	return out
}

// The figure the design asks for: `repo { files { symbols { dependencies } } }`
// on a repo of 50 files x 20 symbols. The dataloaders batch each level into
// one store call (FilesByRepo, SymbolsByFile of the 50 files, Traverse of the
// 1000 symbols at depth 1); each call must cost one statement and a constant
// number of round trips, whatever the size of the repo.
func TestTheRepoFilesSymbolsDependenciesShapeCostsOneStatementPerLevel(t *testing.T) {
	shared := testBackend(t)
	uri, err := url.Parse(storetest.ServiceEnv(t, "NEO4J_URI"))
	storetest.RequireNoError(t, err)
	proxy := newTurnCounter(t, uri.Host)
	driver, err := NewDriver("bolt://"+proxy.ln.Addr().String(), os.Getenv("NEO4J_USER"), os.Getenv("NEO4J_PASSWORD"), Options{})
	storetest.RequireNoError(t, err)
	t.Cleanup(func() { _ = driver.Close(context.Background()) })
	b := NewCodeGraphBackend(driver, Options{})
	messages := &messageCounter{sent: map[string]int{}}
	b.boltLogger = messages

	tenant := storetest.NewTenant()
	t.Cleanup(func() { deleteOrg(t, shared, tenant) })
	st := b.CodeGraph(tenant)
	ctx := storetest.Ctx(t)
	_, err = st.UpsertRepo(ctx, stores.CodeRepo{ID: "repo", Name: "repo"})
	storetest.RequireNoError(t, err)
	var files []stores.CodeFile
	var fileIDs []string
	var syms []stores.CodeSymbol
	var symIDs []string
	var edges []stores.Edge
	for f := 0; f < 50; f++ {
		fid := fmt.Sprintf("file-%02d", f)
		files = append(files, stores.CodeFile{ID: fid, RepoID: "repo", Path: fid + ".go"})
		fileIDs = append(fileIDs, fid)
		for s := 0; s < 20; s++ {
			sid := fmt.Sprintf("%s/sym-%02d", fid, s)
			syms = append(syms, stores.CodeSymbol{ID: sid, FileID: fid, Kind: stores.SymbolFunction, Name: sid, StartLine: s + 1})
			symIDs = append(symIDs, sid)
		}
	}
	for i := range syms {
		// Each symbol calls the next two (wrapping round): 2000 edges.
		for _, j := range []int{(i + 1) % len(syms), (i + 7) % len(syms)} {
			edges = append(edges, stores.Edge{FromID: syms[i].ID, ToID: syms[j].ID, Kind: stores.EdgeCalls})
		}
	}
	_, err = st.UpsertFiles(ctx, files)
	storetest.RequireNoError(t, err)
	_, err = st.UpsertSymbols(ctx, syms)
	storetest.RequireNoError(t, err)
	storetest.RequireNoError(t, st.AddEdges(ctx, edges[:1000]))
	storetest.RequireNoError(t, st.AddEdges(ctx, edges[1000:]))
	messages.take()
	proxy.turns.Store(0)

	totalTurns, totalRuns := int64(0), 0
	measure := func(what string, call func() error) {
		t.Helper()
		before := proxy.turns.Load()
		storetest.RequireNoError(t, call())
		turns := proxy.turns.Load() - before
		sent := messages.take()
		t.Logf("%-34s %d statement(s) (RUN), %d round trip(s); client messages %v", what, sent["RUN"], turns, sent)
		if sent["RUN"] != 1 {
			t.Errorf("%s sent %d statements, want 1", what, sent["RUN"])
		}
		totalTurns += turns
		totalRuns += sent["RUN"]
	}
	measure("FilesByRepo(1 repo)", func() error {
		byRepo, err := st.FilesByRepo(ctx, []string{"repo"})
		if err == nil && len(byRepo["repo"]) != 50 {
			err = fmt.Errorf("%d files", len(byRepo["repo"]))
		}
		return err
	})
	measure("SymbolsByFile(50 files)", func() error {
		byFile, err := st.SymbolsByFile(ctx, fileIDs)
		if err == nil && len(byFile[fileIDs[49]]) != 20 {
			err = fmt.Errorf("%d symbols", len(byFile[fileIDs[49]]))
		}
		return err
	})
	measure("Traverse(1000 symbols, depth 1)", func() error {
		deps, err := st.Traverse(ctx, symIDs, stores.Dependencies, nil, 1)
		if err == nil && len(deps[symIDs[0]]) != 2 {
			err = fmt.Errorf("%d dependencies", len(deps[symIDs[0]]))
		}
		return err
	})
	t.Logf("repo { files { symbols { dependencies } } } on 50 files x 20 symbols: %d statements, %d Bolt round trips", totalRuns, totalTurns)
	if totalRuns != 3 || totalTurns > 6 {
		t.Fatalf("%d statements and %d round trips, want 3 statements in at most 6 round trips", totalRuns, totalTurns)
	}
}
