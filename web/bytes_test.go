package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/logstore"
)

// TestAPIBytesValues reads a bytes attribute back through the logs and
// trace APIs: it comes as OTLP/JSON's {"bytesValue":"<base64>"}, and a
// string that merely looks like base64 stays a plain string. Both were
// bare base64 strings, one indistinguishable from the other.
func TestAPIBytesValues(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().Add(-time.Minute)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
	lr.Body().SetEmptyBytes().FromRaw([]byte("raw body"))
	lr.Attributes().PutEmptyBytes("digest").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	lr.Attributes().PutStr("looks_like_base64", "3q2+7w==")
	lr.Attributes().PutEmptyMap("nested").PutEmptyBytes("key").FromRaw([]byte{1, 2})
	if err := f.store.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "api")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	sp.SetName("GET /")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	sp.Attributes().PutEmptyBytes("digest").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	sp.Attributes().PutStr("looks_like_base64", "3q2+7w==")
	if err := f.store.ConsumeTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	// The query language still matches a bytes value by its hex.
	logsWaitSearchable(t, f, "digest:deadbeef", 1)

	get := func(path string) map[string]json.RawMessage {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.SetBasicAuth("admin", "admin-password-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
		return out
	}
	check := func(what string, attrs map[string]json.RawMessage) {
		t.Helper()
		want := map[string]string{
			"digest":            `{"bytesValue":"3q2+7w=="}`,
			"looks_like_base64": `"3q2+7w=="`,
		}
		for k, w := range want {
			if got := string(attrs[k]); got != w {
				t.Errorf("%s attribute %s = %s, want %s", what, k, got, w)
			}
		}
	}

	var logs struct {
		Records []struct {
			Body       json.RawMessage            `json:"body"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"records"`
	}
	if err := json.Unmarshal(mustJSON(t, get("/api/v1/logs?query=digest:deadbeef")), &logs); err != nil || len(logs.Records) != 1 {
		t.Fatalf("logs: %v, %d records", err, len(logs.Records))
	}
	rec := logs.Records[0]
	check("log", rec.Attributes)
	if got, want := string(rec.Body), `{"bytesValue":"cmF3IGJvZHk="}`; got != want {
		t.Errorf("log body = %s, want %s", got, want)
	}
	if got, want := string(rec.Attributes["nested"]), `{"key":{"bytesValue":"AQI="}}`; got != want {
		t.Errorf("nested bytes = %s, want %s", got, want)
	}

	var trace struct {
		Spans []struct {
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"spans"`
	}
	if err := json.Unmarshal(mustJSON(t, get("/api/v1/traces/0102030405060708090a0b0c0d0e0f10")), &trace); err != nil || len(trace.Spans) != 1 {
		t.Fatalf("trace: %v, %d spans", err, len(trace.Spans))
	}
	check("span", trace.Spans[0].Attributes)

	// A Go client decodes the shape back into logstore's types.
	var typed struct{ Records []logstore.LogRecord }
	if err := json.Unmarshal(mustJSON(t, get("/api/v1/logs?query=digest:deadbeef")), &typed); err != nil {
		t.Fatal(err)
	}
	if b, ok := typed.Records[0].Body.(map[string]any); !ok || b["bytesValue"] != "cmF3IGJvZHk=" {
		t.Errorf("typed body = %#v", typed.Records[0].Body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPagesShowBytes renders a log's attributes on the logs page: a bytes
// value shows as bytes(hex:…), the hex a query matches it by, and a
// base64-looking string as itself.
func TestPagesShowBytes(t *testing.T) {
	f := newFixture(t)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute)))
	lr.Body().SetStr("hello")
	lr.Attributes().PutEmptyBytes("digest").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	lr.Attributes().PutStr("looks_like_base64", "3q2+7w==")
	if err := f.store.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	logsWaitSearchable(t, f, "hello", 1)
	req, _ := http.NewRequest("GET", f.srv.URL+"/logs?query=hello", nil)
	req.SetBasicAuth("admin", "admin-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	for _, want := range []string{"bytes(hex:deadbeef)", "3q2+7w=="} {
		if !strings.Contains(page, want) {
			t.Errorf("logs page (%d) lacks %q", resp.StatusCode, want)
		}
	}
}
