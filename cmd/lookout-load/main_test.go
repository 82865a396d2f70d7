package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

// sink is an OTLP/HTTP receiver that keeps what it is sent.
type sink struct {
	t      *testing.T
	signal string

	mu       sync.Mutex
	refuse   int    // answer this many requests 429 first
	partial  int64  // report this many items rejected in the first accepted answer
	fail     string // answer every request 401 with this body
	auth     []string
	refused  [][]byte
	accepted [][]byte
	logs     []plog.Logs
	traces   []ptrace.Traces
	metrics  []pmetric.Metrics
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/"+s.signal {
		s.t.Errorf("request %s %s, want POST /v1/%s", r.Method, r.URL.Path, s.signal)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.t.Errorf("gzip: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		s.t.Errorf("read body: %v", err)
	}
	isJSON := r.Header.Get("Content-Type") == "application/json"
	if !isJSON && r.Header.Get("Content-Type") != "application/x-protobuf" {
		s.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	if s.fail != "" {
		http.Error(w, s.fail, http.StatusUnauthorized)
		return
	}
	if s.refuse > 0 {
		s.refuse--
		s.refused = append(s.refused, b)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	var resp interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	switch s.signal {
	case "logs":
		req := plogotlp.NewExportRequest()
		if err := unmarshal(req.UnmarshalProto, req.UnmarshalJSON, isJSON, b); err != nil {
			s.t.Errorf("decode logs request (json=%t): %v", isJSON, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.logs = append(s.logs, req.Logs())
		res := plogotlp.NewExportResponse()
		if s.partial > 0 {
			res.PartialSuccess().SetRejectedLogRecords(s.partial)
			res.PartialSuccess().SetErrorMessage("records too old")
			s.partial = 0
		}
		resp = res
	case "traces":
		req := ptraceotlp.NewExportRequest()
		if err := unmarshal(req.UnmarshalProto, req.UnmarshalJSON, isJSON, b); err != nil {
			s.t.Errorf("decode traces request (json=%t): %v", isJSON, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.traces = append(s.traces, req.Traces())
		res := ptraceotlp.NewExportResponse()
		if s.partial > 0 {
			res.PartialSuccess().SetRejectedSpans(s.partial)
			res.PartialSuccess().SetErrorMessage("spans too old")
			s.partial = 0
		}
		resp = res
	case "metrics":
		req := pmetricotlp.NewExportRequest()
		if err := unmarshal(req.UnmarshalProto, req.UnmarshalJSON, isJSON, b); err != nil {
			s.t.Errorf("decode metrics request (json=%t): %v", isJSON, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.metrics = append(s.metrics, req.Metrics())
		res := pmetricotlp.NewExportResponse()
		if s.partial > 0 {
			res.PartialSuccess().SetRejectedDataPoints(s.partial)
			res.PartialSuccess().SetErrorMessage("samples too old")
			s.partial = 0
		}
		resp = res
	}
	s.accepted = append(s.accepted, b)
	var out []byte
	if isJSON {
		out, _ = resp.MarshalJSON()
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, _ = resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	_, _ = w.Write(out)
}

// runTool runs the command against s and returns its JSON report and error.
func runTool(t *testing.T, s *sink, env map[string]string, args ...string) (*report, error) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	args = append([]string{"-endpoint", srv.URL, "-signal", s.signal, "-report", "json"}, args...)
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if errors.Is(err, errUsage) {
		t.Fatalf("run %q: %v\n%s", args, err, stderr.String())
	}
	var rep report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("run %q: report %q: %v (run error %v)", args, stdout.String(), jerr, err)
	}
	return &rep, err
}

func checkAuth(t *testing.T, s *sink, want string) {
	t.Helper()
	for i, a := range s.auth {
		if a != want {
			t.Fatalf("request %d: Authorization %q, want %q", i, a, want)
		}
	}
}

// checkRetried checks that every refused request was sent again unchanged.
func checkRetried(t *testing.T, s *sink) {
	t.Helper()
	for i, r := range s.refused {
		found := false
		for _, a := range s.accepted {
			found = found || bytes.Equal(a, r)
		}
		if !found {
			t.Errorf("refused request %d (%d bytes) was not sent again unchanged", i, len(r))
		}
	}
}

func TestLogs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"protobuf", nil},
		{"protobuf gzip", []string{"-gzip"}},
		{"json", []string{"-json"}},
		{"json gzip", []string{"-json", "-gzip", "-concurrency", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokenFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s := &sink{t: t, signal: "logs", refuse: 1}
			const total = 430 // not a multiple of -batch: the last request is smaller
			args := append([]string{"-total", "430", "-batch", "50", "-pool", "2", "-concurrency", "3",
				"-token-file", tokenFile}, tc.args...)
			rep, err := runTool(t, s, map[string]string{"LOOKOUT_INGEST_TOKEN": "env-token"}, args...)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			checkAuth(t, s, "Bearer file-token")
			checkRetried(t, s)
			if rep.ItemsAcked != total || rep.Refused429 != 1 || rep.Errors != 0 || rep.Requests != int64(len(s.accepted))+1 ||
				rep.RequestsOK != int64(len(s.accepted)) || len(s.accepted) != 9 {
				t.Errorf("report acked=%d refused=%d errors=%d requests=%d ok=%d, server accepted %d requests; want %d acked, 1 refusal, 9+1 requests",
					rep.ItemsAcked, rep.Refused429, rep.Errors, rep.Requests, rep.RequestsOK, len(s.accepted), total)
			}
			if rep.RequestBytes <= 0 || rep.Latency.Max <= 0 || rep.Latency.P50 > rep.Latency.P99 {
				t.Errorf("report bytes=%d latency=%+v", rep.RequestBytes, rep.Latency)
			}
			checkLogs(t, s.logs, total)
		})
	}
}

func checkLogs(t *testing.T, reqs []plog.Logs, total int) {
	t.Helper()
	now := time.Now()
	var n, bodyBytes, traced int
	// Values that identify one request to a service may repeat inside an export request (a request
	// logs a few lines) but never across export requests, even when a pooled body is sent again.
	owner := map[string]int{}
	unique := func(kind, v string, req int) {
		if o, ok := owner[kind+v]; ok && o != req {
			t.Errorf("%s %s in export requests %d and %d", kind, v, o, req)
		}
		owner[kind+v] = req
	}
	sev := map[string]int{}
	services := map[string]bool{}
	reqID := regexp.MustCompile(`request_id=([0-9a-f]+)`)
	for i, ld := range reqs {
		for _, rl := range ld.ResourceLogs().All() {
			res := rl.Resource().Attributes()
			for _, k := range []string{"service.name", "service.version", "host.name", "deployment.environment"} {
				if v, ok := res.Get(k); !ok || v.Str() == "" {
					t.Fatalf("resource %v: no %s", res.AsRaw(), k)
				}
			}
			name, _ := res.Get("service.name")
			services[name.Str()] = true
			for _, sl := range rl.ScopeLogs().All() {
				if sl.Scope().Name() == "" {
					t.Error("scope without a name")
				}
				for _, lr := range sl.LogRecords().All() {
					n++
					body := lr.Body().Str()
					bodyBytes += len(body)
					a := lr.Attributes()
					if a.Len() != 5 {
						t.Fatalf("record has %d attributes, want 5: %v", a.Len(), a.AsRaw())
					}
					if v, ok := a.Get("http.status_code"); !ok || v.Type() != pcommon.ValueTypeInt {
						t.Errorf("http.status_code %v, want an int", v)
					}
					for _, k := range []string{"http.method", "http.route", "user.id", "request.id"} {
						if v, ok := a.Get(k); !ok || v.Str() == "" {
							t.Errorf("attribute %s missing in %v", k, a.AsRaw())
						}
					}
					rid, _ := a.Get("request.id")
					unique("request.id", rid.Str(), i)
					if m := reqID.FindStringSubmatch(body); m != nil && m[1] != rid.Str() {
						t.Errorf("body says request_id=%s, attribute request.id=%s: %q", m[1], rid.Str(), body)
					}
					if !lr.TraceID().IsEmpty() {
						traced++
						unique("trace", lr.TraceID().String(), i)
						if lr.SpanID().IsEmpty() {
							t.Error("record with a trace id but no span id")
						}
					}
					want := map[string]plog.SeverityNumber{"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}[lr.SeverityText()]
					if want == 0 || lr.SeverityNumber() != want {
						t.Errorf("severity %q %d", lr.SeverityText(), lr.SeverityNumber())
					}
					sev[lr.SeverityText()]++
					ts, obs := lr.Timestamp().AsTime(), lr.ObservedTimestamp().AsTime()
					if ts.Before(now.Add(-time.Minute)) || ts.After(now.Add(time.Minute)) || obs.Before(ts) {
						t.Errorf("timestamp %v observed %v, want about now (%v)", ts, obs, now)
					}
				}
			}
		}
	}
	if n != total {
		t.Fatalf("server got %d log records, want %d", n, total)
	}
	if avg := float64(bodyBytes) / float64(n); avg < 200 || avg > 320 {
		t.Errorf("average body %.0f bytes, want 200-320", avg)
	}
	if f := float64(traced) / float64(n); f < 0.3 || f > 0.7 {
		t.Errorf("%.0f%% of records have a trace id, want about half", 100*f)
	}
	if sev["INFO"] < sev["DEBUG"] || sev["DEBUG"] == 0 || sev["WARN"] == 0 || sev["ERROR"] == 0 {
		t.Errorf("severities %v, want mostly INFO and some of each", sev)
	}
	if len(services) < 5 {
		t.Errorf("records from %d services, want most of 10", len(services))
	}
}

func TestTraces(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"protobuf", []string{"-gzip"}},
		{"json", []string{"-json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{t: t, signal: "traces", refuse: 2, partial: 2}
			const total = 360
			args := append([]string{"-total", "360", "-batch", "60", "-pool", "2", "-concurrency", "2"}, tc.args...)
			rep, err := runTool(t, s, map[string]string{"LOOKOUT_INGEST_TOKEN": "env-token"}, args...)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			checkAuth(t, s, "Bearer env-token")
			checkRetried(t, s)
			if rep.ItemsAcked != total-2 || rep.ItemsRejected != 2 || rep.PartialSuccess != "spans too old" ||
				rep.Refused429 != 2 || rep.Requests != 8 || rep.Errors != 0 {
				t.Errorf("report acked=%d rejected=%d partial=%q refused=%d requests=%d errors=%d; want %d, 2, \"spans too old\", 2, 8, 0",
					rep.ItemsAcked, rep.ItemsRejected, rep.PartialSuccess, rep.Refused429, rep.Requests, rep.Errors, total-2)
			}
			checkTraces(t, s.traces, total)
		})
	}
}

func checkTraces(t *testing.T, reqs []ptrace.Traces, total int) {
	t.Helper()
	type span struct {
		parent, service string
		start, end      time.Time
	}
	traceReq := map[pcommon.TraceID]int{}
	traces := map[pcommon.TraceID]map[string]span{}
	n, events := 0, 0
	for i, td := range reqs {
		for _, rs := range td.ResourceSpans().All() {
			name, _ := rs.Resource().Attributes().Get("service.name")
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					n++
					tid := sp.TraceID()
					if r, ok := traceReq[tid]; ok && r != i {
						t.Fatalf("trace %s in export requests %d and %d", tid, r, i)
					}
					traceReq[tid] = i
					if traces[tid] == nil {
						traces[tid] = map[string]span{}
					}
					id := sp.SpanID().String()
					if _, dup := traces[tid][id]; dup {
						t.Fatalf("span %s/%s sent twice", tid, id)
					}
					traces[tid][id] = span{sp.ParentSpanID().String(), name.Str(), sp.StartTimestamp().AsTime(), sp.EndTimestamp().AsTime()}
					if k := sp.Kind(); k != ptrace.SpanKindServer && k != ptrace.SpanKindClient && k != ptrace.SpanKindInternal {
						t.Errorf("span kind %v", k)
					}
					if a := sp.Attributes().Len(); a < 4 || a > 8 {
						t.Errorf("span %q has %d attributes, want 4-8: %v", sp.Name(), a, sp.Attributes().AsRaw())
					}
					if sp.Name() == "" || !sp.EndTimestamp().AsTime().After(sp.StartTimestamp().AsTime()) {
						t.Errorf("span %q from %v to %v", sp.Name(), sp.StartTimestamp(), sp.EndTimestamp())
					}
					events += sp.Events().Len()
				}
			}
		}
	}
	if n != total {
		t.Fatalf("server got %d spans, want %d", n, total)
	}
	now := time.Now()
	for tid, spans := range traces {
		roots := 0
		services := map[string]bool{}
		for id, s := range spans {
			services[s.service] = true
			if s.start.Before(now.Add(-time.Minute)) || s.end.After(now.Add(time.Minute)) {
				t.Errorf("span %s/%s from %v to %v, want about now", tid, id, s.start, s.end)
			}
			if s.parent == "" {
				roots++
				continue
			}
			p, ok := spans[s.parent]
			if !ok {
				t.Errorf("span %s/%s: parent %s not in the trace", tid, id, s.parent)
				continue
			}
			if s.start.Before(p.start) || s.end.After(p.end) {
				t.Errorf("span %s/%s [%v, %v] outside its parent [%v, %v]", tid, id, s.start, s.end, p.start, p.end)
			}
			// Walking up must reach the root within len(spans) steps, or there is a cycle.
			cur, steps := s, 0
			for cur.parent != "" && steps <= len(spans) {
				cur, steps = spans[cur.parent], steps+1
			}
			if steps > len(spans) {
				t.Errorf("trace %s: cycle through span %s", tid, id)
			}
		}
		if roots != 1 {
			t.Errorf("trace %s has %d roots, want 1", tid, roots)
		}
		if len(spans) > 15 || len(spans) >= 3 && (len(services) < 2 || len(services) > 5) {
			t.Errorf("trace %s: %d spans across %d services, want 3-15 across 2-5", tid, len(spans), len(services))
		}
	}
	if len(traces) < total/15 {
		t.Errorf("%d traces for %d spans", len(traces), total)
	}
}

func TestErrorAnswer(t *testing.T) {
	s := &sink{t: t, signal: "logs", fail: `{"status":"error","error":"invalid ingest token"}`}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-endpoint", srv.URL, "-total", "100", "-batch", "50", "-token", "wrong"},
		func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, errRequestsFailed) {
		t.Fatalf("run: %v, want %v", err, errRequestsFailed)
	}
	checkAuth(t, s, "Bearer wrong")
	out := stdout.String()
	for _, want := range []string{"errors        2", `401 Unauthorized: {"status":"error","error":"invalid ingest token"}`, "acknowledged  0 log records"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report does not contain %q:\n%s", want, out)
		}
	}
}

func TestDurationAndRate(t *testing.T) {
	s := &sink{t: t, signal: "logs"}
	rep, err := runTool(t, s, nil, "-duration", "300ms", "-rate", "500", "-batch", "50", "-concurrency", "2", "-pool", "3")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// The pacer lets a request go when its items fit the rate since the start, so the count is
	// bounded by the reported elapsed time, whatever it was.
	if limit := int64(500*rep.ElapsedSeconds) + 50; rep.ItemsAcked == 0 || rep.ItemsAcked > limit {
		t.Errorf("acked %d items in %.2fs at -rate 500, want 1..%d", rep.ItemsAcked, rep.ElapsedSeconds, limit)
	}
	checkAuth(t, s, "")
}

func TestMeasureJSONSize(t *testing.T) {
	for _, signal := range []string{"logs", "traces"} {
		var stdout bytes.Buffer
		err := run(context.Background(), []string{"-measure-json-size", "-signal", signal, "-total", "1500", "-batch", "400", "-report", "json"},
			func(string) string { return "" }, &stdout, io.Discard)
		if err != nil {
			t.Fatalf("%s: run: %v", signal, err)
		}
		var s sizeReport
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatalf("%s: report %q: %v", signal, stdout.String(), err)
		}
		if s.Items != 1500 || s.JSONBytes < 300 || s.JSONBytes > 2000 || s.ProtobufBytes >= s.JSONBytes || s.JSONGzipBytes >= s.JSONBytes {
			t.Errorf("%s: %+v", signal, s)
		}
		if signal == "logs" && (s.BodyBytes < 200 || s.BodyBytes > 320) {
			t.Errorf("logs: body %.0f bytes per record, want 200-320", s.BodyBytes)
		}
	}
}

// TestStamp checks re-stamping directly: a template generated an hour ago comes out with current
// timestamps, new ids, intact parent links and consistent request ids, in both encodings.
func TestStamp(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, signal := range []string{"logs", "traces"} {
		for _, isJSON := range []bool{false, true} {
			g := otlpgen.NewGenerator(7, 10)
			body, err := encodeRequest(g, signal, isJSON, 200, base)
			if err != nil {
				t.Fatal(err)
			}
			tpl, err := newTemplate(body, isJSON, signal == "traces", 200, base)
			if err != nil {
				t.Fatalf("%s json=%t: %v", signal, isJSON, err)
			}
			m := stampMasks{delta: int64(time.Hour)}
			for i := range m.trace {
				m.trace[i] = byte(i*37 + 1)
			}
			for i := range m.span {
				m.span[i] = byte(i*11 + 3)
			}
			for i := range m.hex {
				m.hex[i] = byte(i*5+1) & 15
			}
			before, after := decodeItems(t, signal, isJSON, body), decodeItems(t, signal, isJSON, tpl.stamp(nil, &m))
			if len(before) != 200 || len(after) != 200 {
				t.Fatalf("%s json=%t: %d items before, %d after", signal, isJSON, len(before), len(after))
			}
			ids := map[string]bool{}
			for _, it := range after {
				ids[it.id] = true
			}
			for i := range before {
				b, a := before[i], after[i]
				if b.id != "" && b.id == a.id || b.traceID != "" && b.traceID == a.traceID {
					t.Errorf("%s json=%t: item %d ids unchanged: %s/%s", signal, isJSON, i, a.traceID, a.id)
				}
				if a.parent != "" && !ids[a.parent] {
					t.Errorf("%s json=%t: item %d parent %s lost", signal, isJSON, i, a.parent)
				}
				if d := a.time.Sub(b.time); d != time.Hour {
					t.Errorf("%s json=%t: item %d moved by %v, want 1h", signal, isJSON, i, d)
				}
				if len(a.text) != len(b.text) || a.text == b.text && strings.Contains(b.text, "request_id=") {
					t.Errorf("%s json=%t: text %q became %q", signal, isJSON, b.text, a.text)
				}
				if a.reqID != "" && !strings.Contains(a.text, "request_id="+a.reqID) && strings.Contains(b.text, "request_id="+b.reqID) {
					t.Errorf("%s json=%t: request.id %s not in re-stamped body %q", signal, isJSON, a.reqID, a.text)
				}
			}
		}
	}
}

type item struct {
	traceID, id, parent string
	time                time.Time
	text, reqID         string
}

func decodeItems(t *testing.T, signal string, isJSON bool, b []byte) []item {
	t.Helper()
	var out []item
	if signal == "traces" {
		req := ptraceotlp.NewExportRequest()
		if err := unmarshal(req.UnmarshalProto, req.UnmarshalJSON, isJSON, b); err != nil {
			t.Fatal(err)
		}
		for _, rs := range req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					it := item{traceID: sp.TraceID().String(), id: sp.SpanID().String(), time: sp.StartTimestamp().AsTime()}
					if !sp.ParentSpanID().IsEmpty() {
						it.parent = sp.ParentSpanID().String()
					}
					if st, ok := sp.Attributes().Get("db.statement"); ok {
						it.text = st.Str()
					}
					out = append(out, it)
				}
			}
		}
		return out
	}
	req := plogotlp.NewExportRequest()
	if err := unmarshal(req.UnmarshalProto, req.UnmarshalJSON, isJSON, b); err != nil {
		t.Fatal(err)
	}
	for _, rl := range req.Logs().ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				it := item{time: lr.Timestamp().AsTime(), text: lr.Body().Str()}
				if !lr.TraceID().IsEmpty() {
					it.traceID, it.id = lr.TraceID().String(), lr.SpanID().String()
				}
				rid, _ := lr.Attributes().Get("request.id")
				it.reqID = rid.Str()
				out = append(out, it)
			}
		}
	}
	return out
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := func(h string, want time.Duration, wantOK bool) {
		t.Helper()
		if got, ok := retryAfter(h, now); got != want || ok != wantOK {
			t.Errorf("retryAfter(%q) = %v, %t; want %v, %t", h, got, ok, want, wantOK)
		}
	}
	f("", 0, false)
	f("3", 3*time.Second, true)
	f(" 0 ", 0, true)
	f("Sun, 01 Mar 2026 12:00:07 GMT", 7*time.Second, true)
	f("Sun, 01 Mar 2026 11:00:00 GMT", 0, true)
	f("soon", 0, false)
}

func BenchmarkPrepare(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "protobuf"
		if gz {
			name += "+gzip"
		}
		b.Run(name, func(b *testing.B) {
			r := &runner{cfg: config{signal: "logs", batch: 1000, pool: 1, services: 10, seed: 1, gzip: gz}}
			if err := r.buildPool(time.Now); err != nil {
				b.Fatal(err)
			}
			w := newWorker(1, 0, gz)
			b.ReportAllocs()
			b.SetBytes(int64(len(r.pool[0].body)))
			j := job{t: r.pool[0], items: r.pool[0].items}
			for b.Loop() {
				w.prepare(context.Background(), r, j)
			}
		})
	}
}
