package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// shutdownOutcome counts what the clients of TestSIGTERMAnswersInFlight
// saw; bad lists what no client should see.
type shutdownOutcome struct {
	mu                  sync.Mutex
	ok, unavail, refuse int
	bad                 []string
}

func (o *shutdownOutcome) add(f func(o *shutdownOutcome)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

// shutdownRequest sends one request on client and classifies it: an
// answer, a refusal before anything was written, or a request written and
// then left without an answer (an EOF or reset, or a retry that hides
// one). It reports whether the client should go on.
func shutdownRequest(client *http.Client, o *shutdownOutcome, method, url string, body []byte, set func(*http.Request)) bool {
	var wrote int
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, r)
	set(req)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote++ },
	}))
	resp, err := client.Do(req)
	if err != nil {
		if wrote == 0 && errors.Is(err, syscall.ECONNREFUSED) {
			o.add(func(o *shutdownOutcome) { o.refuse++ })
			return false
		}
		o.add(func(o *shutdownOutcome) {
			o.bad = append(o.bad, fmt.Sprintf("%s %s: %v after writing it %d times", method, url, err, wrote))
		})
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case wrote > 1:
		// net/http's client re-sent a GET after its first copy, written
		// on a kept-alive connection, got no answer.
		o.add(func(o *shutdownOutcome) {
			o.bad = append(o.bad, fmt.Sprintf("%s %s: written %d times", method, url, wrote))
		})
	case resp.StatusCode == 200:
		o.add(func(o *shutdownOutcome) { o.ok++ })
	case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
		o.add(func(o *shutdownOutcome) { o.unavail++ })
	default:
		o.add(func(o *shutdownOutcome) {
			o.bad = append(o.bad, fmt.Sprintf("%s %s: %d (Retry-After %q)", method, url, resp.StatusCode, resp.Header.Get("Retry-After")))
		})
	}
	return true
}

// TestSIGTERMAnswersInFlight sends a steady stream of OTLP posts and API
// queries from several keep-alive clients to a server process, sends it
// SIGTERM, and checks that every request written got an HTTP answer (200,
// or 503 with Retry-After) and that the only other outcome is a refused
// new connection: never an EOF or a reset on a request already sent.
func TestSIGTERMAnswersInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	c := startChild(t, t.TempDir())
	logs, spans := crashBatch(1)
	var o shutdownOutcome
	var sent atomic.Int64
	var wg sync.WaitGroup
	client := func(method, url string, body []byte, set func(*http.Request)) {
		// One transport per client: its own kept-alive connections.
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 30 * time.Second}
		wg.Go(func() {
			defer hc.CloseIdleConnections()
			for shutdownRequest(hc, &o, method, url, body, set) {
				sent.Add(1)
			}
		})
	}
	otlp := func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-protobuf")
		r.Header.Set("Authorization", "Bearer "+e2eToken)
	}
	api := func(r *http.Request) { r.SetBasicAuth("admin", e2ePassword) }
	for range 2 {
		client("POST", "http://"+c.addr.OTLPHTTP+"/v1/logs", logs, otlp)
		client("POST", "http://"+c.addr.OTLPHTTP+"/v1/traces", spans, otlp)
		client("GET", "http://"+c.addr.HTTP+"/api/v1/logs?limit=5&query=crash", nil, api)
		client("GET", "http://"+c.addr.HTTP+"/api/v1/query?query=up", nil, api)
	}
	// Until each client has had some answers, so all are mid-stream.
	deadline := time.Now().Add(30 * time.Second)
	for sent.Load() < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d answers in 30s", sent.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.terminate(t)
	wg.Wait()
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	t.Logf("%d answered 200, %d 503, %d refused", o.ok, o.unavail, o.refuse)
	for _, b := range o.bad {
		t.Error(b)
	}
}
