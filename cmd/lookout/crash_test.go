package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// child is a lookout server running as a separate process (this test
// binary, re-run through TestMain), so that it can be killed with SIGKILL.
type child struct {
	cmd  *exec.Cmd
	addr listening
	done chan struct{}
}

func startChild(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"LOOKOUT_TEST_CHILD=1",
		"LOOKOUT_TEST_ARGS=serve --data-dir "+dir+" --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 "+strings.Join(args, " "),
		"LOOKOUT_INGEST_TOKEN="+e2eToken,
		"LOOKOUT_ADMIN_PASSWORD="+e2ePassword,
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	found := make(chan listening, 1)
	var logMu sync.Mutex
	var logBuf bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logMu.Lock()
			logBuf.Write(line)
			logBuf.WriteByte('\n')
			logMu.Unlock()
			var m struct {
				Msg      string `json:"msg"`
				HTTP     string `json:"http"`
				OTLPGRPC string `json:"otlp_grpc"`
				OTLPHTTP string `json:"otlp_http"`
			}
			if json.Unmarshal(line, &m) == nil && m.Msg == "listening" {
				found <- listening{HTTP: m.HTTP, OTLPGRPC: m.OTLPGRPC, OTLPHTTP: m.OTLPHTTP}
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			logMu.Lock()
			t.Logf("child log:\n%s", logBuf.String())
			logMu.Unlock()
		}
	})
	select {
	case c.addr = <-found:
	case <-c.done:
		t.Fatal("child exited before listening")
	case <-time.After(60 * time.Second):
		t.Fatal("child did not start")
	}
	return c
}

// terminate sends SIGTERM and waits for the process to exit.
func (c *child) terminate(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// crashMetrics builds metrics request n: 50 gauge points, each its own
// series labelled with the batch number.
func crashMetrics(n int) []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "crash")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("crash.value")
	dps := g.SetEmptyGauge().DataPoints()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < 50; i++ {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetDoubleValue(float64(n*100 + i))
		dp.Attributes().PutInt("batch", int64(n))
		dp.Attributes().PutInt("i", int64(i))
	}
	b, _ := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	return b
}

// crashBatch builds request n: 200 log records and 50 spans, each marked
// with the batch number.
func crashBatch(n int) (logs, spans []byte) {
	now := time.Now()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "crash")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := 0; i < 200; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
		lr.Body().SetStr(fmt.Sprintf("crash test record %d of batch %d", i, n))
		lr.Attributes().PutInt("batch", int64(n))
	}
	logs, _ = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "crash")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < 50; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(n >> 8), byte(n), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, byte(i)})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		sp.Attributes().PutInt("batch", int64(n))
	}
	spans, _ = ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	return logs, spans
}

func postOTLP(base, path string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", "http://"+base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestCrashLosesNothingAcknowledged sends batches from several clients,
// kills the server with SIGKILL while they are still sending, restarts it
// and checks every acknowledged batch is searchable.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	c := startChild(t, dir)

	var next atomic.Int64
	var mu sync.Mutex
	acked := map[int]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(next.Add(1))
				logs, spans := crashBatch(n)
				lc, err := postOTLP(c.addr.OTLPHTTP, "/v1/logs", logs)
				if err != nil || lc != 200 {
					return
				}
				sc, err := postOTLP(c.addr.OTLPHTTP, "/v1/traces", spans)
				if err != nil || sc != 200 {
					return
				}
				mc, err := postOTLP(c.addr.OTLPHTTP, "/v1/metrics", crashMetrics(n))
				if err != nil || mc != 200 {
					return
				}
				mu.Lock()
				acked[n] = true
				mu.Unlock()
			}
		}()
	}
	eventually(t, "40 acknowledged batches", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 40
	})
	c.kill() // while the clients are still sending
	close(stop)
	wg.Wait()
	mu.Lock()
	ackedN := len(acked)
	mu.Unlock()

	c = startChild(t, dir)
	// Every acknowledged batch must be back: its samples...
	var series promVector
	if code := apiGet(t, c.addr.HTTP, "/api/v1/query?query="+url.QueryEscape("count by (batch) (crash_value)"), &series); code != 200 {
		t.Fatalf("query samples after restart: %d", code)
	}
	perBatch := map[string]string{}
	for _, r := range series.Data.Result {
		perBatch[r.Metric["batch"]] = r.Value[1].(string)
	}
	for n := range acked {
		if got := perBatch[fmt.Sprint(n)]; got != "50" {
			t.Errorf("batch %d has %q samples after restart, want 50", n, got)
		}
	}
	// ...its logs and spans, searchable.
	for n := range acked {
		var lr logsResponse
		q := fmt.Sprintf("/api/v1/logs?limit=1&query=attributes.batch:%d", n)
		eventually(t, fmt.Sprintf("logs of batch %d", n), func() bool {
			return apiGet(t, c.addr.HTTP, q, &lr) == 200 && lr.Total == 200
		})
		var tr traceResponse
		id := fmt.Sprintf("%02x%02x0102030405060708090a0b0c0d%02x", byte(n>>8), byte(n), 49)
		eventually(t, fmt.Sprintf("trace of batch %d", n), func() bool {
			return apiGet(t, c.addr.HTTP, "/api/v1/traces/"+id, &tr) == 200 && len(tr.Spans) == 1
		})
	}
	// Count batch by batch: one search's total stops counting at 10,000.
	total := 0
	for n := 1; n <= int(next.Load()); n++ {
		var lr logsResponse
		apiGet(t, c.addr.HTTP, fmt.Sprintf("/api/v1/logs?limit=1&query=attributes.batch:%d", n), &lr)
		total += lr.Total
	}
	if total < ackedN*200 || total > int(next.Load())*200 {
		t.Fatalf("after restart %d records, want between %d (acknowledged) and %d (sent)", total, ackedN*200, next.Load()*200)
	}
	t.Logf("%d batches acknowledged before SIGKILL, %d records searchable after restart", ackedN, total)
}

// TestSIGTERMShutsDownCleanly checks that SIGTERM stops the server within
// its shutdown timeout with exit status 0, and that what it acknowledged
// is there after a restart.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	c := startChild(t, dir)
	logs, spans := crashBatch(1)
	for _, p := range []struct {
		path string
		body []byte
	}{{"/v1/logs", logs}, {"/v1/traces", spans}} {
		if code, err := postOTLP(c.addr.OTLPHTTP, p.path, p.body); err != nil || code != 200 {
			t.Fatalf("POST %s: %d %v", p.path, code, err)
		}
	}
	start := time.Now()
	c.terminate(t)
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	c = startChild(t, dir)
	var lr logsResponse
	eventually(t, "records after restart", func() bool {
		return apiGet(t, c.addr.HTTP, "/api/v1/logs?limit=1&query=service:crash", &lr) == 200 && lr.Total == 200
	})
}
