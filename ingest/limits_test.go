package ingest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// blockingConsumer holds every request until released, so a test can look
// at the budget while a request is being stored.
type blockingConsumer struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingConsumer() *blockingConsumer {
	return &blockingConsumer{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (c *blockingConsumer) ConsumeLogs(ctx context.Context, _ plog.Logs) error {
	c.entered <- struct{}{}
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return nil
}

func openReceiver(t *testing.T, cfg Config, opts Options) *Receiver {
	t.Helper()
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	r, err := Open(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// tinyResources is the shape that cost most per wire byte: n resources of
// one record each.
func tinyResources(n int) []byte {
	ld := plog.NewLogs()
	for i := range n {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(i))
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	}
	b, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	return b
}

func postLogs(t *testing.T, r *Receiver, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/logs", ctProto, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp, b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBudgetCountsDecodedCost sends 200,000 resources of one record each
// (8 MB on the wire, over 100 MB decoded). Under a budget that fits its
// bytes but not its decoded cost it is refused before decoding; under a
// larger one, while the store holds it, the budget holds at least what
// decoding it allocates.
func TestBudgetCountsDecodedCost(t *testing.T) {
	body := tinyResources(200_000)
	decoded := allocated(func() { _ = plogotlp.NewExportRequest().UnmarshalProto(body) })
	t.Logf("%d bytes on the wire, %d allocated decoding", len(body), decoded)

	t.Run("refused under a small budget", func(t *testing.T) {
		c := &consumer{}
		cfg := DefaultConfig()
		cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 16<<20, 64<<20
		r := openReceiver(t, cfg, Options{Logs: c, Traces: c})
		resp, b := postLogs(t, r, body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d (%q), want 413: it could never fit the budget", resp.StatusCode, b)
		}
		st := &spb.Status{}
		if err := proto.Unmarshal(b, st); err != nil || !strings.Contains(st.Message, "200000 resources") {
			t.Fatalf("answer %q (%v), want the decoded cost explained", st.GetMessage(), err)
		}
		if c.logs != 0 {
			t.Fatalf("%d records reached the store", c.logs)
		}
		if got := r.budget.used.Load(); got != 0 {
			t.Fatalf("budget holds %d bytes after the request, want 0", got)
		}
	})

	t.Run("held while stored", func(t *testing.T) {
		c := newBlockingConsumer()
		cfg := DefaultConfig()
		cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 16<<20, 1<<30
		r := openReceiver(t, cfg, Options{Logs: c, Traces: &consumer{}})
		done := make(chan int, 1)
		go func() {
			resp, err := http.Post("http://"+r.HTTPAddr().String()+"/v1/logs", ctProto, bytes.NewReader(body))
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-c.entered
		held := r.budget.used.Load()
		close(c.release)
		if code := <-done; code != 200 {
			t.Fatalf("status %d, want 200", code)
		}
		if held < decoded || held < 10*int64(len(body)) {
			t.Fatalf("budget held %d bytes while the request was stored: want at least the %d decoding allocated (and 10x its %d bytes)", held, decoded, len(body))
		}
		waitFor(t, "the reservation to be released", func() bool { return r.budget.used.Load() == 0 })
	})

	t.Run("refused with 429 while others hold the budget", func(t *testing.T) {
		c := &consumer{}
		cfg := DefaultConfig()
		cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 16<<20, 1<<30
		r := openReceiver(t, cfg, Options{Logs: c, Traces: c})
		r.budget.take(1<<30 - 32<<20)
		resp, _ := postLogs(t, r, body)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: want 429 with a delay", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		r.budget.take(-(1<<30 - 32<<20))
		if got := r.budget.used.Load(); got != 0 || c.logs != 0 {
			t.Fatalf("budget %d, %d records stored: want 0 and 0", got, c.logs)
		}
	})
}

// TestGRPCBudget checks the gRPC side: a call takes the budget before its
// message is read and is refused retryably when there is none; a call's
// reservation is its decoded cost while stored and comes back however the
// call ends.
func TestGRPCBudget(t *testing.T) {
	c := newBlockingConsumer()
	cfg := DefaultConfig()
	cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 16<<20, 1<<30
	r := openReceiver(t, cfg, Options{Logs: c, Traces: &consumer{}})
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	logs := plogotlp.NewGRPCClient(conn)
	req := plogotlp.NewExportRequest()
	body := tinyResources(20_000)
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	cost, _ := protoCost(kLogsRequest, body)

	// Held while stored, then released.
	errc := make(chan error, 1)
	go func() {
		_, err := logs.Export(context.Background(), req)
		errc <- err
	}()
	<-c.entered
	if held := r.budget.used.Load(); held < cost.bytes {
		t.Errorf("budget held %d bytes while stored, want at least the decoded cost %d", held, cost.bytes)
	}
	c.release <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reservation to be released", func() bool { return r.budget.used.Load() == 0 })

	// A cancelled call gives its reservation back too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := logs.Export(ctx, req)
		errc <- err
	}()
	<-c.entered
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	waitFor(t, "a cancelled call's reservation to be released", func() bool { return r.budget.used.Load() == 0 })

	// No room: refused before the message is read, with a retry delay.
	r.budget.take(1<<30 - 8<<20)
	_, err = logs.Export(metadata.AppendToOutgoingContext(context.Background(), "x", "y"), req)
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil {
		t.Fatalf("no room: %v (RetryInfo %v), want RESOURCE_EXHAUSTED with RetryInfo", err, retry)
	}
	r.budget.take(-(1<<30 - 8<<20))
	if got := r.budget.used.Load(); got != 0 {
		t.Fatalf("budget holds %d bytes, want 0", got)
	}
}

// TestHTTPTooLargeIsReadable sends a body just over the limit with a
// Content-Length, over a real connection, and reads the 413: the server
// must not reset the connection before the client reads the answer.
func TestHTTPTooLargeIsReadable(t *testing.T) {
	c := &consumer{}
	cfg := DefaultConfig()
	cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 4<<20, 64<<20
	r := openReceiver(t, cfg, Options{Logs: c, Traces: c})
	body := make([]byte, 4<<20+1<<20)
	for i := range 5 {
		// A fresh connection each time, as a sender after a failure makes.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Post("http://"+r.HTTPAddr().String()+"/v1/logs", ctProto, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("attempt %d: %v, want a readable 413", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("attempt %d: status %d, body %q, read error %v: want a readable 413", i, resp.StatusCode, b, err)
		}
		st := &spb.Status{}
		if err := proto.Unmarshal(b, st); err != nil || !strings.Contains(st.Message, "larger than the limit") {
			t.Fatalf("attempt %d: answer %q (%v)", i, b, err)
		}
	}

	// Far past the drain bound the answer is still sent, and the
	// connection closed after it.
	conn, err := net.Dial("tcp", r.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000000000\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, 12)
	if _, err := io.ReadFull(conn, head); err != nil || string(head) != "HTTP/1.1 413" {
		t.Fatalf("answer to a 1 GB Content-Length: %q, %v", head, err)
	}
}
