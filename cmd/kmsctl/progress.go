package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a progress bar on standard error while a file is read,
// only when standard error is a terminal.
type progress struct {
	w            io.Writer // nil: no bar
	label        string
	total, n     int64
	start, drawn time.Time
}

func newProgress(stderr io.Writer, label string, total int64) *progress {
	p := &progress{label: label, total: total, start: time.Now()}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		p.w = f
	}
	return p
}

// reader counts what is read from r, draws the bar at most ten times a
// second, and stops with ctx.
func (p *progress) reader(ctx context.Context, r io.Reader) io.Reader {
	return &progressReader{ctx: ctx, r: r, p: p}
}

type progressReader struct {
	ctx context.Context
	r   io.Reader
	p   *progress
}

func (pr *progressReader) Read(b []byte) (int, error) {
	if err := pr.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := pr.r.Read(b)
	pr.p.n += int64(n)
	if pr.p.w != nil && time.Since(pr.p.drawn) >= 100*time.Millisecond {
		pr.p.draw()
	}
	return n, err
}

func (p *progress) draw() {
	p.drawn = time.Now()
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.n)/float64(p.total), 1)
	}
	bar := strings.Repeat("=", int(frac*width))
	rate := float64(p.n) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r%s %3d%% [%-*s] %s / %s  %s/s ", p.label, int(frac*100), width, bar,
		mib(float64(p.n)), mib(float64(p.total)), mib(rate))
}

// finish draws the last state and ends the line.
func (p *progress) finish(ok bool) {
	if p.w == nil {
		return
	}
	if ok {
		p.n = max(p.n, p.total)
	}
	p.draw()
	fmt.Fprintln(p.w)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
