package server

import (
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// inflight counts the calls being handled, so that Close returns only once
// none is left and nothing reads the store after its owner closes it (a
// stream such as TailEvents would otherwise run on). Calls that arrive
// once Close has begun are refused.
type inflight struct {
	mu      sync.Mutex
	n       int
	peak    int // the most calls at once
	closing bool
	stop    chan struct{} // closed when Close begins: long streams end
	idle    chan struct{} // closed when closing and n is 0
}

// closeWait bounds how long Close waits for the calls in progress.
const closeWait = 10 * time.Second

var errClosing = &apiError{code: codes.Unavailable, name: excDependency, message: "The server is shutting down; retry the request."}

func (f *inflight) init() {
	f.mu.Lock()
	if f.stop == nil {
		f.stop, f.idle = make(chan struct{}), make(chan struct{})
	}
	f.mu.Unlock()
}

// enter counts a call in; false once Close has begun.
func (f *inflight) enter() bool {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.n++
	f.peak = max(f.peak, f.n)
	return true
}

// load returns the calls being handled and the most there were at once.
func (f *inflight) load() (n, peak int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.peak
}

func (f *inflight) leave() {
	f.mu.Lock()
	f.n--
	if f.closing && f.n == 0 {
		close(f.idle)
	}
	f.mu.Unlock()
}

// stopping is closed when Close begins.
func (f *inflight) stopping() <-chan struct{} {
	f.init()
	return f.stop
}

// close refuses new calls, ends long streams and waits for the calls in
// progress, at most closeWait.
func (f *inflight) close(log *slog.Logger) {
	f.init()
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return
	}
	f.closing = true
	close(f.stop)
	if f.n == 0 {
		close(f.idle)
	}
	f.mu.Unlock()
	select {
	case <-f.idle:
	case <-time.After(closeWait):
		log.Warn("calls still running at shutdown", "after", closeWait)
	}
}
