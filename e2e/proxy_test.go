package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// proxy is a TCP proxy in front of one real service. The gateway connects
// to the proxy, so a test can take the service away from the gateway alone
// (cut) and give it back (restore) while the shared server keeps running
// for every other test package.
type proxy struct {
	name, target string

	mu    sync.Mutex
	addr  string // fixed after the first listen, so the gateway's URL stays valid
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(name, target string) (*proxy, error) {
	p := &proxy{name: name, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	return p, p.restore()
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// restore listens again on the proxy's address. The port was ours a moment
// ago; the kernel may keep it briefly, so listening is retried.
func (p *proxy) restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("proxy %s: %w", p.name, err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// cut stops listening and closes every live connection: to the gateway the
// service is gone (connections reset, new ones refused).
func (p *proxy) cut() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// close cuts the proxy for good and waits for its goroutines.
func (p *proxy) close() {
	p.cut()
	p.wg.Wait()
}

func (p *proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track registers a connection unless the proxy is cut; false means closed.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either side ending ends the pair: closing both wakes the other copy.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}
