// Package drain stops an http.Server so that every request a client has
// already sent is answered.
//
// http.Server.Shutdown closes idle keep-alive connections at once. A
// client that has just written its next request on one of them reads EOF
// or a reset instead of an answer, and an OTLP exporter cannot know
// whether its batch was stored (net/http's client retries only idempotent
// requests). Drain comes first: it stops accepting, so that a new
// connection is refused, and keeps serving the connections that are open,
// each answer saying "Connection: close", until every client has had its
// answer and gone or a grace period passes. Shutdown after it finds
// nothing, or only connections silent for the whole grace, to close.
package drain

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server wraps an http.Server's handler and connection hook to drain it.
type Server struct {
	srv      *http.Server
	draining atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// New wraps srv's Handler and ConnState (both are kept, and called); srv
// must not serve yet.
func New(srv *http.Server) *Server {
	s := &Server{srv: srv, conns: map[net.Conn]struct{}{}}
	next, hook := srv.Handler, srv.ConnState
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			// net/http closes the connection after this answer (HTTP/2
			// sends GOAWAY instead); the client's next request opens a
			// new connection, which is refused.
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		switch st {
		case http.StateNew:
			s.conns[c] = struct{}{}
		case http.StateClosed, http.StateHijacked:
			delete(s.conns, c)
		}
		s.mu.Unlock()
		if hook != nil {
			hook(c, st)
		}
	}
	return s
}

// Serve serves on ln until Drain or Shutdown; it returns
// http.ErrServerClosed then, as http.Server.Serve does.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	err := s.srv.Serve(ln)
	if s.draining.Load() && errors.Is(err, net.ErrClosed) {
		return http.ErrServerClosed
	}
	return err
}

// Drain stops accepting and waits, up to grace or ctx's end, until every
// open connection has been closed after an answer. The caller then calls
// srv.Shutdown, which waits for requests still running.
func (s *Server) Drain(ctx context.Context, grace time.Duration) {
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// Shutdown drains, then shuts srv down (see http.Server.Shutdown); it
// closes srv when ctx ends first.
func (s *Server) Shutdown(ctx context.Context, grace time.Duration) error {
	s.Drain(ctx, grace)
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil // the listener Drain closed
	}
	if err != nil {
		s.srv.Close()
	}
	return err
}
