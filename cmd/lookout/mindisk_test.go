package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lookout-dev/lookout/internal/disktest"
)

// TestMinFreeDisk runs lookout on a 64 MiB tmpfs with a 16 MiB floor and
// fills the file system to 8 MiB free: ingest is refused retryably on both
// transports (503 with Retry-After, UNAVAILABLE with RetryInfo) and
// counted, /readyz names the disk, queries still answer, and once the
// filler is gone ingest and readiness come back without a restart. The
// stores never meet a full disk: no storage error reaches the log.
func TestMinFreeDisk(t *testing.T) {
	mnt := disktest.Mount(t, "64m")
	s := startServer(t, filepath.Join(mnt, "data"), "--min-free-disk", "16MiB")
	logs, spans := crashBatch(1)
	if code, err := postOTLP(s.addr.OTLPHTTP, "/v1/logs", logs); err != nil || code != 200 {
		t.Fatalf("POST /v1/logs with room = %d, %v; want 200", code, err)
	}
	waitIndexed(t, s.addr.HTTP)

	remove := disktest.FillTo(t, mnt, 8<<20)
	for _, req := range []struct {
		path string
		body []byte
	}{{"/v1/logs", logs}, {"/v1/traces", spans}, {"/v1/metrics", crashMetrics(1)}} {
		// Free space is read every second: a request may pass before.
		eventually(t, "POST "+req.path+" to be refused under the floor", func() bool {
			code, retryAfter := postOTLPHeader(t, s.addr.OTLPHTTP, req.path, req.body)
			switch code {
			case 200:
				return false
			case 503:
				if retryAfter == "" {
					t.Fatalf("POST %s under the floor: 503 without Retry-After", req.path)
				}
				return true
			}
			t.Fatalf("POST %s under the floor = %d, want 503 (retryable)", req.path, code)
			return false
		})
	}

	conn, err := grpc.NewClient(s.addr.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	greq := plogotlp.NewExportRequest()
	if err := greq.UnmarshalProto(logs); err != nil {
		t.Fatal(err)
	}
	gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e2eToken)
	_, err = plogotlp.NewGRPCClient(conn).Export(gctx, greq)
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if st.Code() != codes.Unavailable || retry == nil {
		t.Fatalf("gRPC logs under the floor: %v (RetryInfo %v), want UNAVAILABLE with RetryInfo", err, retry)
	}

	code, body := readyz(t, s.addr.HTTP)
	var r struct{ Reasons map[string]string }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readyz: %v in %s", err, body)
	}
	if code != 503 || !strings.Contains(r.Reasons["disk"], "--min-free-disk") {
		t.Fatalf("readyz under the floor = %d %s, want 503 with a disk reason naming --min-free-disk", code, body)
	}
	t.Logf("readyz under the floor: %s", body)

	var lr logsResponse
	if code := apiGet(t, s.addr.HTTP, "/api/v1/logs?query=*&limit=10", &lr); code != 200 || lr.Total == 0 {
		t.Errorf("log query under the floor = %d with %d records, want 200 with the record stored before", code, lr.Total)
	}
	if code, body := apiSend(t, http.MethodGet, s.addr.HTTP, "/api/v1/query?query=up", nil); code != 200 {
		t.Errorf("PromQL query under the floor = %d %s, want 200", code, body)
	}
	if v := metricValue(t, s.addr.HTTP, "lookout_disk_low_refused_requests_total"); v < 4 {
		t.Errorf("lookout_disk_low_refused_requests_total = %v, want at least the 4 refusals", v)
	}

	remove()
	// Nothing is sent until readiness is back: it must come by itself.
	eventually(t, "readyz to answer 200 once space returns", func() bool {
		code, _ := readyz(t, s.addr.HTTP)
		return code == 200
	})
	if code, err := postOTLP(s.addr.OTLPHTTP, "/v1/logs", logs); err != nil || code != 200 {
		t.Errorf("POST /v1/logs once space returned = %d, %v; want 200", code, err)
	}
	if _, err := plogotlp.NewGRPCClient(conn).Export(gctx, greq); err != nil {
		t.Errorf("gRPC logs once space returned: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if full := regexp.MustCompile(`(?i)disk is full|SQLITE_FULL|no space left|database or disk is full`).FindString(s.logs.String()); full != "" {
		t.Errorf("a store met the full disk (%q in the server log)", full)
	}
}

// postOTLPHeader posts an OTLP/protobuf body and returns the status and
// the Retry-After header.
func postOTLPHeader(t *testing.T, base, path string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// metricValue reads one series without labels from /metrics; -1 when it
// is not there.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	return -1
}
