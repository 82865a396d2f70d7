package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// consumer is a hand-written store stand-in: it counts what it is given and
// returns err.
type consumer struct {
	mu    sync.Mutex
	logs  int
	spans int
	err   error
}

func (c *consumer) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.logs += ld.LogRecordCount()
	return nil
}

func (c *consumer) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.spans += td.SpanCount()
	return nil
}

func (c *consumer) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

type tokenAuth string

func (a tokenAuth) AuthenticateIngest(_ context.Context, h string) error {
	if h != "Bearer "+string(a) {
		return errors.New("bad token")
	}
	return nil
}

type overloadErr struct{}

func (overloadErr) Error() string    { return "busy" }
func (overloadErr) Overloaded() bool { return true }

const testToken = "test-token-123456"

func startReceiver(t *testing.T, c *consumer) *Receiver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxRequestBytes = 64 << 10
	cfg.MaxInFlightBytes = 1 << 20
	return openReceiver(t, cfg, Options{Auth: tokenAuth(testToken), Logs: c, Traces: c})
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "otlp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestHTTPAnswers(t *testing.T) {
	c := &consumer{}
	r := startReceiver(t, c)
	base := "http://" + r.HTTPAddr().String()
	bomb := gzipped(t, make([]byte, 10<<20)) // 10 MiB of zeros, ~10 KiB on the wire

	cases := []struct {
		name, path, ctype, encoding, token string
		body                               []byte
		err                                error
		method                             string
		want                               int
		wantMsg                            string
		wantRejected                       int64
	}{
		{name: "logs protobuf", path: "/v1/logs", ctype: ctProto, body: fixture(t, "logs.pb"), want: 200},
		{name: "logs json", path: "/v1/logs", ctype: ctJSON, body: fixture(t, "logs.json"), want: 200},
		{name: "traces protobuf gzip", path: "/v1/traces", ctype: ctProto, encoding: "gzip", body: gzipped(t, fixture(t, "traces.pb")), want: 200},
		{name: "content type with charset", path: "/v1/traces", ctype: ctJSON + "; charset=utf-8", body: fixture(t, "traces.json"), want: 200},
		{name: "spans without ids are a partial success", path: "/v1/traces", ctype: ctJSON, body: fixture(t, "traces-invalid-ids.json"), want: 200, wantRejected: 1, wantMsg: "trace_id and span_id must be non-zero"},
		{name: "malformed protobuf", path: "/v1/logs", ctype: ctProto, body: fixture(t, "malformed.pb"), want: 400, wantMsg: "malformed OTLP/protobuf logs request"},
		{name: "malformed json", path: "/v1/logs", ctype: ctJSON, body: fixture(t, "malformed.json"), want: 400, wantMsg: "malformed OTLP/JSON logs request"},
		{name: "bad trace id", path: "/v1/traces", ctype: ctJSON, body: fixture(t, "bad-traceid.json"), want: 400, wantMsg: "malformed OTLP/JSON traces request"},
		{name: "malformed gzip", path: "/v1/logs", ctype: ctProto, encoding: "gzip", body: []byte("not gzip"), want: 400, wantMsg: "malformed gzip"},
		{name: "unknown content type", path: "/v1/logs", ctype: "text/plain", body: []byte("hi"), want: 415, wantMsg: "unsupported Content-Type"},
		{name: "unknown encoding", path: "/v1/logs", ctype: ctProto, encoding: "br", body: fixture(t, "logs.pb"), want: 415, wantMsg: "unsupported Content-Encoding"},
		{name: "no token", path: "/v1/logs", ctype: ctProto, token: "-", body: fixture(t, "logs.pb"), want: 401, wantMsg: "ingest token"},
		{name: "wrong token", path: "/v1/logs", ctype: ctProto, token: "nope", body: fixture(t, "logs.pb"), want: 401, wantMsg: "ingest token"},
		{name: "too large", path: "/v1/logs", ctype: ctProto, body: make([]byte, 65<<10), want: 413, wantMsg: "larger than the limit"},
		{name: "gzip bomb", path: "/v1/logs", ctype: ctProto, encoding: "gzip", body: bomb, want: 413, wantMsg: "once decompressed"},
		{name: "store overloaded", path: "/v1/logs", ctype: ctProto, body: fixture(t, "logs.pb"), err: overloadErr{}, want: 429, wantMsg: "retry"},
		{name: "store failing", path: "/v1/logs", ctype: ctProto, body: fixture(t, "logs.pb"), err: errors.New("disk on fire"), want: 503, wantMsg: "request id"},
		{name: "metrics not stored yet", path: "/v1/metrics", ctype: ctJSON, body: fixture(t, "metrics.json"), want: 501, wantMsg: "metric storage is not configured"},
		{name: "GET", path: "/v1/logs", method: "GET", ctype: ctProto, want: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.setErr(tc.err)
			defer c.setErr(nil)
			method := tc.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, base+tc.path, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			switch tc.token {
			case "":
				req.Header.Set("Authorization", "Bearer "+testToken)
			case "-":
			default:
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d; body %q", resp.StatusCode, tc.want, body)
			}
			isJSON := strings.HasPrefix(tc.ctype, ctJSON)
			if tc.want != 200 {
				if tc.want == 405 {
					return
				}
				st := &spb.Status{}
				if isJSON || tc.ctype == "text/plain" {
					err = protojson.Unmarshal(body, st)
				} else {
					err = proto.Unmarshal(body, st)
				}
				if err != nil {
					t.Fatalf("error body is not a google.rpc.Status: %v (%q)", err, body)
				}
				if !strings.Contains(st.Message, tc.wantMsg) {
					t.Fatalf("message %q does not contain %q", st.Message, tc.wantMsg)
				}
				if tc.want == 429 || tc.want == 503 {
					if resp.Header.Get("Retry-After") == "" {
						t.Fatalf("%d without Retry-After", tc.want)
					}
				}
				return
			}
			if got := resp.Header.Get("Content-Type"); isJSON != (got == ctJSON) {
				t.Fatalf("response Content-Type %q for request %q", got, tc.ctype)
			}
			if tc.path == "/v1/traces" {
				er := ptraceotlp.NewExportResponse()
				if isJSON {
					err = er.UnmarshalJSON(body)
				} else {
					err = er.UnmarshalProto(body)
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := er.PartialSuccess().RejectedSpans(); got != tc.wantRejected {
					t.Fatalf("rejected spans = %d, want %d", got, tc.wantRejected)
				}
				if !strings.Contains(er.PartialSuccess().ErrorMessage(), tc.wantMsg) {
					t.Fatalf("partial success message %q, want %q", er.PartialSuccess().ErrorMessage(), tc.wantMsg)
				}
			}
		})
	}
	if c.logs != 4 || c.spans != 5 {
		t.Fatalf("consumer got %d logs and %d spans, want 4 and 5", c.logs, c.spans)
	}
}

func TestHTTPInflightBudget(t *testing.T) {
	c := &consumer{}
	r := startReceiver(t, c)
	// Spend the budget as concurrent requests would.
	if !r.budget.take(r.cfg.MaxInFlightBytes - 100) {
		t.Fatal("could not reserve")
	}
	req, _ := http.NewRequest("POST", "http://"+r.HTTPAddr().String()+"/v1/logs", bytes.NewReader(fixture(t, "logs.pb")))
	req.Header.Set("Content-Type", ctProto)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	r.budget.take(-(r.cfg.MaxInFlightBytes - 100))
	if got := r.budget.used.Load(); got != 0 {
		t.Fatalf("in-flight bytes after the requests = %d, want 0", got)
	}
	if c.logs != 0 {
		t.Fatalf("refused request reached the store")
	}
}

func TestGRPCAnswers(t *testing.T) {
	c := &consumer{}
	r := startReceiver(t, c)
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	logsReq := plogotlp.NewExportRequest()
	if err := logsReq.UnmarshalJSON(fixture(t, "logs.json")); err != nil {
		t.Fatal(err)
	}
	tracesReq := ptraceotlp.NewExportRequest()
	if err := tracesReq.UnmarshalJSON(fixture(t, "traces-invalid-ids.json")); err != nil {
		t.Fatal(err)
	}
	metricsReq := pmetricotlp.NewExportRequest()
	if err := metricsReq.UnmarshalJSON(fixture(t, "metrics.json")); err != nil {
		t.Fatal(err)
	}
	authed := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+testToken)
	logs := plogotlp.NewGRPCClient(conn)

	if _, err := logs.Export(authed, logsReq, grpc.UseCompressor(grpcgzip.Name)); err != nil {
		t.Fatalf("gzip export: %v", err)
	}
	if _, err := logs.Export(context.Background(), logsReq); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	resp, err := ptraceotlp.NewGRPCClient(conn).Export(authed, tracesReq)
	if err != nil || resp.PartialSuccess().RejectedSpans() != 1 {
		t.Fatalf("partial success: %v, rejected %d", err, resp.PartialSuccess().RejectedSpans())
	}
	if _, err := pmetricotlp.NewGRPCClient(conn).Export(authed, metricsReq); status.Code(err) != codes.Unimplemented {
		t.Fatalf("metrics: %v, want Unimplemented", err)
	}
	c.setErr(overloadErr{})
	_, err = logs.Export(authed, logsReq)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("overloaded: %v, want ResourceExhausted", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() != 2*time.Second {
		t.Fatalf("RetryInfo = %v, want 2s", retry)
	}
	c.setErr(nil)
	big := plog.NewLogs()
	lr := big.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(strings.Repeat("x", 70<<10))
	if _, err := logs.Export(authed, plogotlp.NewExportRequestFromLogs(big)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize: %v, want ResourceExhausted (gRPC's code for a message over the limit)", err)
	}
	if c.logs != 2 || c.spans != 1 {
		t.Fatalf("consumer got %d logs and %d spans, want 2 and 1", c.logs, c.spans)
	}
}

func TestCountServices(t *testing.T) {
	r := &Receiver{set: metrics.NewSet()}
	sig := logsSignal(&consumer{})
	req := plogotlp.NewExportRequest()
	for _, svc := range []string{"checkout", "cart", "", `we"ird`, "checkout"} {
		rl := req.Logs().ResourceLogs().AppendEmpty()
		if svc != "" {
			rl.Resource().Attributes().PutStr("service.name", svc)
		}
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	}
	r.countServices(sig, req)
	var out bytes.Buffer
	r.set.WritePrometheus(&out)
	for _, want := range []string{
		`lookout_ingest_service_items_total{signal="logs",service="checkout"} 4`,
		`lookout_ingest_service_items_total{signal="logs",service="cart"} 2`,
		`lookout_ingest_service_items_total{signal="logs",service="unknown_service"} 2`,
		`lookout_ingest_service_items_total{signal="logs",service="we_ird"} 2`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("no %s in\n%s", want, out.String())
		}
	}

	// Past maxServices names, the rest share service="other".
	sig = tracesSignal(&consumer{})
	treq := ptraceotlp.NewExportRequest()
	for i := range maxServices + 5 {
		rs := treq.Traces().ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(i))
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	}
	r.countServices(sig, treq)
	out.Reset()
	r.set.WritePrometheus(&out)
	if n := strings.Count(out.String(), `lookout_ingest_service_items_total{signal="traces"`); n != maxServices+1 {
		t.Errorf("%d trace service series, want %d", n, maxServices+1)
	}
	if !strings.Contains(out.String(), `lookout_ingest_service_items_total{signal="traces",service="other"} 5`+"\n") {
		t.Errorf("no service=\"other\" series with the 5 past the cap")
	}
	n := 0
	sig.services.Range(func(any, any) bool { n++; return true })
	if n != maxServices {
		t.Errorf("%d service names remembered, want the cap %d: names past it must cost no memory", n, maxServices)
	}
}
