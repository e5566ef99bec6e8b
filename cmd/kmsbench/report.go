package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one operation at one concurrency: kmsd's result, the echo
// ceiling's, or both.
type row struct {
	Op          Op
	Concurrency int
	Target      *result
	Echo        *result
}

func (r *row) ratio() (float64, bool) {
	if r.Target == nil || r.Echo == nil || r.Echo.opsPerSec() == 0 {
		return 0, false
	}
	return r.Target.opsPerSec() / r.Echo.opsPerSec(), true
}

// reporter prints rows as text, one as soon as it is measured, or as one
// JSON document at the end.
type reporter struct {
	out   io.Writer
	cfg   *Config
	keyID string
	rows  []row
}

func (p *reporter) begin() {
	if p.cfg.JSON {
		return
	}
	target := p.cfg.Endpoint + ", key " + p.keyID
	if p.cfg.EchoOnly {
		target = "echo only"
	}
	fmt.Fprintf(p.out, "# kmsbench: %s; %d conn(s), %v per run after %v warm-up; GOMAXPROCS %d, %d CPUs\n",
		target, p.cfg.Conns, p.cfg.Duration, p.cfg.Warmup, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintln(p.out, p.line(p.header()))
}

func (p *reporter) add(r row) {
	p.rows = append(p.rows, r)
	if !p.cfg.JSON {
		fmt.Fprintln(p.out, p.line(p.cells(&r)))
	}
}

func (p *reporter) end() error {
	if p.cfg.JSON {
		enc := json.NewEncoder(p.out)
		enc.SetIndent("", "  ")
		return enc.Encode(p.document())
	}
	if p.cfg.BaselineEndpoint != "" {
		fmt.Fprintf(p.out, "# base is %s (same run, same client); ratio = kmsd ops/s ÷ base ops/s; cpu_ratio = kmsd server CPU per call ÷ base server CPU per call.\n", p.cfg.BaselineEndpoint)
	} else if p.cfg.Echo && !p.cfg.EchoOnly {
		fmt.Fprintln(p.out, "# echo_proc_cpu_us/call is the CPU of this whole process (echo client and echo server) per call.")
	} else if p.cfg.EchoOnly {
		fmt.Fprintln(p.out, "# proc_cpu_us/call is the CPU of this whole process (echo client and echo server) per call.")
	}
	for _, r := range p.rows {
		p.failures("kmsd", r.Target)
		if p.cfg.BaselineEndpoint != "" {
			p.failures("baseline", r.Echo)
		} else {
			p.failures("echo", r.Echo)
		}
	}
	return nil
}

func (p *reporter) failures(what string, r *result) {
	if r == nil || !r.failed() {
		return
	}
	fmt.Fprintf(p.out, "FAIL %s %s at concurrency %d:\n", what, r.Op, r.Concurrency)
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(p.out, "  %d × %s\n", r.Errors[k], k)
	}
	if r.Wrong > 0 {
		fmt.Fprintf(p.out, "  %d wrong result(s), e.g.:\n", r.Wrong)
		for _, s := range r.WrongSamples {
			fmt.Fprintf(p.out, "    %s\n", s)
		}
	}
}

func (p *reporter) header() []string {
	h := []string{"op", "conc", "ops/s", "p50", "p99", "max", "errors", "wrong"}
	if p.cfg.EchoOnly {
		return append(h, "proc_cpu_us/call")
	}
	if p.cfg.BaselineEndpoint != "" {
		return append(h, "base_ops/s", "ratio", "server_cpu_us/call", "base_cpu_us/call", "cpu_ratio")
	}
	return append(h, "echo_ops/s", "ratio", "server_cpu_us/call", "echo_proc_cpu_us/call")
}

func (p *reporter) cells(r *row) []string {
	m := r.Target
	if p.cfg.EchoOnly {
		m = r.Echo
	}
	p50, p99, pmax := "-", "-", "-"
	if m.Ops > 0 {
		p50, p99, pmax = fmtDur(m.P50), fmtDur(m.P99), fmtDur(m.Max)
	}
	c := []string{string(r.Op), fmt.Sprint(r.Concurrency), fmt.Sprintf("%.0f", m.opsPerSec()),
		p50, p99, pmax, fmt.Sprint(m.errorCount()), fmt.Sprint(m.Wrong)}
	if p.cfg.EchoOnly {
		return append(c, fmt.Sprintf("%.1f", m.perCallMicros(m.ProcessCPU)))
	}
	echoOps, ratio, serverCPU, echoCPU := "-", "-", "-", "-"
	if r.Echo != nil {
		echoOps = fmt.Sprintf("%.0f", r.Echo.opsPerSec())
		echoCPU = fmt.Sprintf("%.1f", r.Echo.perCallMicros(r.Echo.ProcessCPU))
	}
	if x, ok := r.ratio(); ok {
		ratio = fmt.Sprintf("%.2f", x)
	}
	if m.HasServerCPU {
		serverCPU = fmt.Sprintf("%.1f", m.perCallMicros(m.ServerCPU))
	}
	if p.cfg.BaselineEndpoint != "" {
		// The baseline's own CPU per call, and kmsd's over it.
		echoCPU, cpuRatio := "-", "-"
		if b := r.Echo; b != nil && b.HasServerCPU {
			echoCPU = fmt.Sprintf("%.1f", b.perCallMicros(b.ServerCPU))
			if m.HasServerCPU && b.perCallMicros(b.ServerCPU) > 0 {
				cpuRatio = fmt.Sprintf("%.2f", m.perCallMicros(m.ServerCPU)/b.perCallMicros(b.ServerCPU))
			}
		}
		return append(c, echoOps, ratio, serverCPU, echoCPU, cpuRatio)
	}
	return append(c, echoOps, ratio, serverCPU, echoCPU)
}

// line pads cells to fixed columns so that rows can be printed one by one:
// the op left-aligned, the rest right-aligned under their headers.
func (p *reporter) line(cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		if i == 0 {
			fmt.Fprintf(&b, "%-16s", c)
			continue
		}
		fmt.Fprintf(&b, "  %*s", max(len(p.header()[i]), 8), c)
	}
	return b.String()
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// JSON output.

type jsonDocument struct {
	Endpoint   string    `json:"endpoint,omitempty"`
	KeyID      string    `json:"key_id,omitempty"`
	Conns      int       `json:"conns"`
	DurationS  float64   `json:"duration_s"`
	WarmupS    float64   `json:"warmup_s"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	Runs       []jsonRow `json:"runs"`
}

type jsonRow struct {
	Op          Op          `json:"op"`
	Concurrency int         `json:"concurrency"`
	KMSD        *jsonResult `json:"kmsd,omitempty"`
	// Echo's process_cpu_us_per_call covers echo client and server.
	Echo *jsonResult `json:"echo,omitempty"`
	// Baseline is the other AWS endpoint's (--baseline-endpoint); its
	// server_cpu_us_per_call is that process's.
	Baseline *jsonResult `json:"baseline,omitempty"`
	Ratio    *float64    `json:"ratio,omitempty"`
}

type jsonResult struct {
	Ops                 int64            `json:"ops"`
	ElapsedS            float64          `json:"elapsed_s"`
	OpsPerS             float64          `json:"ops_per_s"`
	P50us               float64          `json:"p50_us"`
	P99us               float64          `json:"p99_us"`
	MaxUs               float64          `json:"max_us"`
	MeanUs              float64          `json:"mean_us"`
	Errors              map[string]int64 `json:"errors,omitempty"`
	Wrong               int64            `json:"wrong"`
	WrongSamples        []string         `json:"wrong_samples,omitempty"`
	Verified            int64            `json:"verified"`
	ServerCPUusPerCall  *float64         `json:"server_cpu_us_per_call,omitempty"`
	ProcessCPUusPerCall float64          `json:"process_cpu_us_per_call"`
}

func (p *reporter) document() jsonDocument {
	d := jsonDocument{KeyID: p.keyID, Conns: p.cfg.Conns, DurationS: p.cfg.Duration.Seconds(),
		WarmupS: p.cfg.Warmup.Seconds(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		Runs: []jsonRow{}}
	if !p.cfg.EchoOnly {
		d.Endpoint = p.cfg.Endpoint
	}
	for _, r := range p.rows {
		j := jsonRow{Op: r.Op, Concurrency: r.Concurrency, KMSD: toJSON(r.Target), Echo: toJSON(r.Echo)}
		if p.cfg.BaselineEndpoint != "" {
			j.Echo, j.Baseline = nil, j.Echo
		}
		if x, ok := r.ratio(); ok {
			j.Ratio = &x
		}
		d.Runs = append(d.Runs, j)
	}
	return d
}

func toJSON(r *result) *jsonResult {
	if r == nil {
		return nil
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	j := &jsonResult{Ops: r.Ops, ElapsedS: r.Elapsed.Seconds(), OpsPerS: r.opsPerSec(),
		P50us: us(r.P50), P99us: us(r.P99), MaxUs: us(r.Max), MeanUs: us(r.Mean),
		Errors: r.Errors, Wrong: r.Wrong, WrongSamples: r.WrongSamples, Verified: r.Verified,
		ProcessCPUusPerCall: r.perCallMicros(r.ProcessCPU)}
	if r.HasServerCPU {
		x := r.perCallMicros(r.ServerCPU)
		j.ServerCPUusPerCall = &x
	}
	return j
}
