// Package proc starts the server processes the benchmarks measure, waits
// until they answer, stops them, and reads what the kernel accounts to them.
package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a process a benchmark started and measures.
type Server struct {
	Name   string
	Base   string // http://host:port
	Log    string // path of the file holding its stdout and stderr
	proc   *os.Process
	exited chan struct{}
}

// PID is the process id of the server.
func (s *Server) PID() int { return s.proc.Pid }

// Stop ends the process the benchmark started: SIGTERM, then SIGKILL after 10 s.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	_ = s.proc.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.proc.Kill()
		<-s.exited
	}
}

// Exited is closed when the process has ended.
func (s *Server) Exited() <-chan struct{} { return s.exited }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// Start runs name's command with env, its output in a log file, and waits
// until ready answers true for the server's base URL. {addr} (host:port) in
// argv and env, and {port} in env, become the free loopback address chosen.
func Start(ctx context.Context, name, dir string, env []string, ready func(base string) bool, argv ...string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	for i := range argv {
		argv[i] = strings.ReplaceAll(argv[i], "{addr}", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	for i := range env {
		env[i] = strings.ReplaceAll(strings.ReplaceAll(env[i], "{addr}", addr), "{port}", port)
	}
	logDir := filepath.Join(os.TempDir(), "codingbrain-bench")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close() // the start failed; that error says why
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	_ = logFile.Close() // the child holds its own descriptor
	exited := make(chan struct{})
	s := &Server{Name: name, Base: "http://" + addr, Log: logPath, proc: cmd.Process, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if ready(s.Base) {
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start; its log: %s\n%s", name, logPath, Tail(logPath))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("%s did not become ready in 90 s; its log: %s\n%s", name, logPath, Tail(logPath))
		}
	}
}

// Tail is the end of a log file, for error messages.
func Tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// HTTPOK reports whether base+path answers 200 to a request with a JSON
// body and, when token is not empty, a bearer token.
func HTTPOK(base, method, path, token string, body string) bool {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	return resp.StatusCode == http.StatusOK
}

// Environ is the environment of a child: ours without the given variables
// (a trailing * drops every variable with that prefix), plus extra.
func Environ(drop []string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			prefix, wild := strings.CutSuffix(d, "*")
			if name == d || wild && strings.HasPrefix(name, prefix) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) returns it).
const clockTicks = 100

// CPUTime is the CPU time pid has used so far, user plus system, as the
// kernel accounts it in /proc/PID/stat (utime + stime, in clock ticks: a
// resolution of 10 ms).
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// CPUTimePrecise is the CPU time pid's threads have used so far, in
// nanoseconds: the sum of the first field of /proc/PID/task/*/schedstat
// (the scheduler's run time). Unlike CPUTime it resolves a single small
// request, but it loses the time of threads that have already exited, so a
// caller checks its totals against CPUTime.
func CPUTimePrecise(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited while we listed them
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %q", dir, t.Name(), f[0])
		}
		total += time.Duration(ns)
	}
	return total, nil
}
