package awsapi

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// SniffTLS returns a listener that serves TLS with config to connections
// that open with a TLS handshake and plain HTTP to the others, on one
// port: health checks and metrics keep answering plain HTTP, while AWS
// clients use https://. A connection that sends nothing within 10 s is
// closed. net/http sees the TLS connections as *tls.Conn, so requests over
// them carry their TLS state.
func SniffTLS(l net.Listener, config *tls.Config) net.Listener {
	s := &sniffer{Listener: l, config: config, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

type sniffer struct {
	net.Listener
	config *tls.Config
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
}

// acceptLoop accepts until the listener is closed; other errors (out of
// file descriptors) are retried after a pause, as net/http does.
func (s *sniffer) acceptLoop() {
	var pause time.Duration
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(pause):
					continue
				case <-s.done:
				}
			}
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			s.Close()
			return
		}
		pause = 0
		go s.sniff(c)
	}
}

// sniff reads the first byte: 0x16 starts a TLS handshake record.
func (s *sniffer) sniff(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 1)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		out = tls.Server(out, s.config)
	}
	select {
	case s.conns <- out:
	case <-s.done:
		c.Close()
	}
}

func (s *sniffer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return nil, s.err
		}
		return nil, net.ErrClosed
	}
}

func (s *sniffer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.Listener.Close()
	})
	return err
}

// peekedConn reads the peeked byte first.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
