package tenantio

import (
	"fmt"
	"io"
	"time"
)

// progressEvery is how often a progress line is written at most.
const progressEvery = 2 * time.Second

// progress writes "export: 120000 lines, 41000/s" lines to an operator's
// terminal (stderr), at most one every progressEvery.
type progress struct {
	out   io.Writer
	verb  string
	start time.Time
	last  time.Time
}

func newProgress(out io.Writer, verb string) *progress {
	now := time.Now()
	return &progress{out: out, verb: verb, start: now, last: now}
}

// tick reports n lines handled so far, if it is time to.
func (p *progress) tick(n int) {
	if p == nil || p.out == nil {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		_, _ = fmt.Fprintf(p.out, "%s: %d lines, %.0f/s\n", p.verb, n, float64(n)/now.Sub(p.start).Seconds())
	}
}

// done reports the total.
func (p *progress) done(n int) {
	if p == nil || p.out == nil {
		return
	}
	elapsed := time.Since(p.start)
	_, _ = fmt.Fprintf(p.out, "%s: done, %d lines in %s (%.0f/s)\n", p.verb, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
}
