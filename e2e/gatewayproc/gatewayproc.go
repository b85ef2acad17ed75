// Package gatewayproc builds the gateway binary and runs it as a process of
// its own, for the tests that need the real binary: the e2e stack, several
// replicas at once, or a gateway whose outbox indexer must be the only one
// running.
package gatewayproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Build compiles the gateway into a temporary directory of the test and
// returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/codingbrain/gateway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binary
}

// Process is a running gateway.
type Process struct {
	// URL is its base URL (http://127.0.0.1:port).
	URL string
	// OS is the process, for tests that kill it.
	OS   *os.Process
	stop func()
}

// Stop interrupts the gateway and waits for it to exit (20 s, then it is
// killed). Stopping twice is harmless.
func (p *Process) Stop() { p.stop() }

// Launch runs `binary serve` on a free loopback port with exactly env (and
// PATH and HOME), its stderr copied to logw (nil: kept only for errors),
// and returns once the gateway says it listens.
func Launch(binary string, env map[string]string, logw io.Writer) (*Process, error) {
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // how it exited shows in its log
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	addr := make(chan string, 1)
	var log lockedBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := append(sc.Bytes(), '\n')
			log.write(line)
			if logw != nil {
				_, _ = logw.Write(line) // a lost log line must not stop the gateway
			}
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &entry) == nil && entry.Msg == "gateway listening" {
				addr <- entry.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr) // keep draining after a too long line
	}()
	select {
	case a := <-addr:
		return &Process{URL: "http://" + a, OS: cmd.Process, stop: stop}, nil
	case <-exited:
		return nil, fmt.Errorf("the gateway process stopped: %s", log.String())
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("the gateway process did not start within 60 s: %s", log.String())
	}
}

// StartProcess is Launch for a test: the gateway stops when the test ends,
// and a failure to start fails the test.
func StartProcess(t testing.TB, binary string, env map[string]string) *Process {
	t.Helper()
	p, err := Launch(binary, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Start is StartProcess when only the URL matters.
func Start(t testing.TB, binary string, env map[string]string) string {
	t.Helper()
	return StartProcess(t, binary, env).URL
}

// lockedBuffer keeps the process's log, written and read from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) write(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
