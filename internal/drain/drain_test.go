package drain_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/drain"
)

// TestDrainAnswersKeptAliveConnections: once draining, a request on a
// kept-alive connection is answered, with Connection: close, and a new
// connection is refused. Shutdown alone closed the idle connection, and
// the request written on it read EOF.
func TestDrainAnswersKeptAliveConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	d := drain.New(srv)
	served := make(chan error, 1)
	go func() { served <- d.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/"
	client := &http.Client{Transport: &http.Transport{}}
	get := func() (*http.Response, error) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := get(); err != nil { // the connection is now idle, kept alive
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		d.Drain(context.Background(), time.Minute)
		close(drained)
	}()
	// Until the listener is closed: a new connection is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			// A dial racing the close lands in the backlog the close
			// resets; nothing was written on it.
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("dial while draining: %v, want connection refused", err)
			}
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting 10s after Drain")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := get()
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("request on the kept-alive connection while draining: %v, %+v; want 200 with Connection: close", err, resp)
	}
	select {
	case <-drained: // the last connection went, so Drain did not wait its grace
	case <-time.After(30 * time.Second):
		t.Fatal("Drain still waiting 30s after the last connection closed")
	}
	if _, err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("request after draining: %v, want connection refused", err)
	}
	if err := d.Shutdown(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
	}
}
