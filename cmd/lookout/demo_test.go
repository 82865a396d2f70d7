package main

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type servicesResponse struct {
	Services []struct {
		Name       string   `json:"name"`
		Operations []string `json:"operations"`
	} `json:"services"`
}

type traceSearchResponse struct {
	Traces []struct {
		TraceID     string   `json:"trace_id"`
		RootService string   `json:"root_service"`
		RootName    string   `json:"root_name"`
		DurationNS  int64    `json:"duration_ns"`
		SpanCount   int      `json:"span_count"`
		ErrorCount  int      `json:"error_count"`
		Services    []string `json:"services"`
	} `json:"traces"`
}

// demoSummary finds the demo's last report in its output: requests,
// failed, rejected, spans and logs exported, spans and logs dropped.
func parseDemoSummary(out string) []string {
	re := regexp.MustCompile(`lookout demo: (\d+) requests in .* \((\d+) failed, (\d+) rejected with 4xx.*\); exported (\d+) spans and (\d+) log records, dropped (\d+) spans and (\d+) log records`)
	return re.FindStringSubmatch(out)
}

// waitIndexed polls lookout's own metrics until its index has caught up
// with what is stored.
func waitIndexed(t *testing.T, base string) {
	t.Helper()
	eventually(t, "index to catch up", func() bool {
		resp, err := http.Get("http://" + base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		lags := 0
		for line := range strings.Lines(string(body)) {
			if strings.HasPrefix(line, "lookout_logstore_index_lag_records{") {
				if !strings.HasSuffix(strings.TrimSpace(line), " 0") {
					return false
				}
				lags++
			}
		}
		return lags == 2
	})
}

// serviceNames lists the services lookout knows, polling until want are
// all there.
func serviceNames(t *testing.T, base string, want ...string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	eventually(t, "services "+strings.Join(want, ", "), func() bool {
		var r servicesResponse
		if apiGet(t, base, "/api/v1/services", &r) != 200 {
			return false
		}
		for _, s := range r.Services {
			got[s.Name] = s.Operations
		}
		for _, w := range want {
			if _, ok := got[w]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// The demo runs lookout in-process with the shop sending to it, stops by
// itself, and leaves data that a lookout started afterwards on the same
// directory shows: several services, traces crossing them with errors and
// slow ones among them, logs tied to traces, and golden-signal metrics.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	start := time.Now()
	// No LOOKOUT_INGEST_TOKEN: the demo reads the generated one from the
	// data directory, as it does for a user who set none.
	env := testEnv(map[string]string{"LOOKOUT_INGEST_TOKEN": ""})
	code := run([]string{"demo", "--duration", "10s", "--rate", "30", "--data-dir", dir,
		"--http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0"}, env, &stdout, &stderr)
	t.Logf("demo ran for %s", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("demo exited with %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	t.Logf("demo said:\n%s", out)
	m := parseDemoSummary(out)
	if m == nil {
		t.Fatalf("no summary in the demo's output:\n%s", out)
	}
	if m[1] == "0" || m[4] == "0" || m[5] == "0" || m[6] != "0" || m[7] != "0" {
		t.Errorf("summary: %s requests, %s spans and %s log records exported, %s spans and %s log records dropped; want some sent and none dropped", m[1], m[4], m[5], m[6], m[7])
	}
	if strings.Contains(out, "metric exports failed") || strings.Contains(stderr.String(), "not sent at shutdown") {
		t.Errorf("metrics were not all sent:\n%s\n%s", out, &stderr)
	}
	for _, want := range []string{"127.0.0.1:", "LOOKOUT_ADMIN_PASSWORD", dir, "storefront"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output does not mention %q:\n%s", want, out)
		}
	}
	token, err := os.ReadFile(filepath.Join(dir, "ingest-token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{strings.TrimSpace(string(token)), e2ePassword} {
		if strings.Contains(out, secret) || strings.Contains(stderr.String(), secret) {
			t.Errorf("the demo printed a secret")
		}
	}

	s := startServer(t, dir)
	base := s.addr.HTTP
	// The stored blocks are indexed again after a start; wait for that.
	waitIndexed(t, base)
	var all logsResponse
	if apiGet(t, base, "/api/v1/logs?limit=1", &all) != 200 || strconv.Itoa(all.Total) != m[5] {
		t.Errorf("lookout holds %d log records, the demo exported %s", all.Total, m[5])
	}

	t.Run("services", func(t *testing.T) {
		ops := serviceNames(t, base, "storefront", "inventory", "payments", "shipping", "loadgen")
		for svc, want := range map[string][]string{
			"storefront": {"GET /products/{id}", "POST /checkout"},
			"inventory":  {"GET /stock/{sku}", "POST /reserve", "SELECT stock", "UPDATE stock"},
			"payments":   {"POST /charge", "card-network authorize"},
			"shipping":   {"POST /quote"},
		} {
			for _, op := range want {
				if !slices.Contains(ops[svc], op) {
					t.Errorf("service %s has operations %q, want %q among them", svc, ops[svc], op)
				}
			}
		}
	})

	t.Run("trace across services", func(t *testing.T) {
		var ts traceSearchResponse
		eventually(t, "checkout traces", func() bool {
			return apiGet(t, base, "/api/v1/traces?service=payments&operation="+url.QueryEscape("POST /charge")+"&limit=20", &ts) == 200 && len(ts.Traces) > 0
		})
		sum := ts.Traces[0]
		if len(sum.Services) < 3 || sum.RootService != "loadgen" {
			t.Fatalf("checkout trace summary %+v: want loadgen at the root and at least 3 services", sum)
		}
		var tr traceResponse
		if apiGet(t, base, "/api/v1/traces/"+sum.TraceID, &tr) != 200 {
			t.Fatalf("trace %s not found", sum.TraceID)
		}
		byID := map[string]string{} // span id -> service
		for _, sp := range tr.Spans {
			byID[sp.SpanID] = sp.Service
		}
		crossings := map[string]bool{}
		for _, sp := range tr.Spans {
			if sp.Kind != "server" {
				continue
			}
			parent, ok := byID[sp.ParentSpanID]
			if !ok || parent == sp.Service {
				t.Errorf("server span %s of %s has parent %q in service %q; want a client span of another service", sp.Name, sp.Service, sp.ParentSpanID, parent)
				continue
			}
			crossings[parent+"->"+sp.Service] = true
		}
		for _, want := range []string{"loadgen->storefront", "storefront->inventory", "storefront->payments"} {
			if !crossings[want] {
				t.Errorf("trace %s has calls %v, want %s among them", sum.TraceID, crossings, want)
			}
		}
		for _, sp := range tr.Spans {
			if sp.Name == "UPDATE stock" && (sp.Attributes["db.system.name"] != "postgresql" || sp.Attributes["db.query.text"] == nil) {
				t.Errorf("database span attributes %v, want db.system.name and db.query.text", sp.Attributes)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		var ts traceSearchResponse
		if apiGet(t, base, "/api/v1/traces?service=payments&error=true&limit=100", &ts) != 200 || len(ts.Traces) == 0 {
			t.Fatalf("no failing charges: %+v", ts)
		}
		if got := ts.Traces[0]; got.ErrorCount == 0 || got.RootService != "loadgen" {
			t.Errorf("failing charge's trace %+v: want errors, loadgen at the root", got)
		}
		// The recovered panic in shipping.
		var lr logsResponse
		if apiGet(t, base, "/api/v1/logs?query="+url.QueryEscape(`service:shipping AND severity:error AND "panic recovered"`), &lr) != 200 || lr.Total == 0 {
			t.Errorf("no recovered panic logged by shipping: %+v", lr)
		}
	})

	t.Run("slow traces", func(t *testing.T) {
		var ts traceSearchResponse
		path := "/api/v1/traces?service=payments&operation=" + url.QueryEscape("card-network authorize") + "&min_duration=1s"
		if apiGet(t, base, path, &ts) != 200 || len(ts.Traces) == 0 {
			t.Fatalf("no slow card network call: %+v", ts)
		}
		if d := time.Duration(ts.Traces[0].DurationNS); d < time.Second {
			t.Errorf("slow trace %s lasted %s, want at least 1s", ts.Traces[0].TraceID, d)
		}
	})

	t.Run("logs tied to traces", func(t *testing.T) {
		for _, sev := range []string{"debug", "info", "warn", "error"} {
			var lr logsResponse
			if apiGet(t, base, "/api/v1/logs?limit=1&query=severity:"+sev, &lr) != 200 || lr.Total == 0 {
				t.Errorf("no %s logs", sev)
			}
		}
		var lr logsResponse
		q := url.QueryEscape(`service:payments AND "charge captured"`)
		if apiGet(t, base, "/api/v1/logs?limit=5&query="+q, &lr) != 200 || len(lr.Records) == 0 {
			t.Fatalf("no payments logs: %+v", lr)
		}
		rec := lr.Records[0]
		if rec.TraceID == "" || rec.SpanID == "" || rec.Attributes["order_id"] == nil || rec.Attributes["amount_cents"] == nil || rec.Attributes["user"] == nil {
			t.Fatalf("log record %+v: want trace and span ids, order_id, amount_cents, user", rec)
		}
		var tr traceResponse
		if apiGet(t, base, "/api/v1/traces/"+rec.TraceID, &tr) != 200 {
			t.Fatalf("trace %s of log record not found", rec.TraceID)
		}
		found := false
		var spans []string
		for _, sp := range tr.Spans {
			found = found || (sp.SpanID == rec.SpanID && sp.Service == "payments")
			spans = append(spans, sp.Service+" "+sp.Name+" "+sp.SpanID)
		}
		if !found {
			t.Errorf("trace %s has no payments span %s, the log record's; its spans: %q", rec.TraceID, rec.SpanID, spans)
		}
	})

	t.Run("golden signals", func(t *testing.T) {
		var r promVector
		q := url.Values{"query": {`sum by (job, http_route) (http_server_request_duration_seconds_count)`}}
		if apiGet(t, base, "/api/v1/query?"+q.Encode(), &r) != 200 {
			t.Fatalf("query failed: %+v", r)
		}
		got := map[string]bool{}
		for _, s := range r.Data.Result {
			got[s.Metric["job"]+" "+s.Metric["http_route"]] = true
		}
		for _, want := range []string{"storefront /products/{id}", "storefront /checkout", "inventory /stock/{sku}", "inventory /reserve", "payments /charge", "shipping /quote"} {
			if !got[want] {
				t.Errorf("request counts by job and route %v, want %q among them", got, want)
			}
		}
		q = url.Values{"query": {`sum(shop_orders_total{job="storefront"})`}}
		if v, ok := promQuery(t, base, q.Get("query"), ""); !ok || v == 0 {
			t.Errorf("shop_orders_total = %v (%v), want some orders", v, ok)
		}
	})
}

// With --target the demo starts no lookout: it sends to the one given,
// with the ingest token from the environment, and refuses to run with a
// token that lookout refuses.
func TestDemoTarget(t *testing.T) {
	s := startServer(t, t.TempDir())
	target := "http://" + s.addr.OTLPHTTP
	_, statErr := os.Stat("lookout-data")
	hadDataDir := statErr == nil

	t.Run("sends", func(t *testing.T) {
		var stdout, stderr syncBuffer
		start := time.Now()
		code := run([]string{"demo", "--target", target, "--duration", "3s"}, testEnv(nil), &stdout, &stderr)
		t.Logf("demo ran for %s", time.Since(start).Round(time.Millisecond))
		if code != 0 {
			t.Fatalf("demo exited with %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
		}
		if m := parseDemoSummary(stdout.String()); m == nil || m[1] == "0" || m[6] != "0" || m[7] != "0" {
			t.Errorf("summary: want requests sent and nothing dropped:\n%s", &stdout)
		}
		serviceNames(t, s.addr.HTTP, "storefront", "inventory", "payments", "shipping", "loadgen")
		if _, err := os.Stat("lookout-data"); !hadDataDir && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the demo with --target created ./lookout-data (stat: %v)", err)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		var stdout, stderr syncBuffer
		env := testEnv(map[string]string{"LOOKOUT_INGEST_TOKEN": "not-the-ingest-token-0123"})
		if code := run([]string{"demo", "--target", target, "--duration", "3s"}, env, &stdout, &stderr); code != 1 {
			t.Fatalf("demo exited with %d, want 1\nstderr:\n%s", code, &stderr)
		}
		if !strings.Contains(stderr.String(), "refused the ingest token") || strings.Contains(stderr.String(), "not-the-ingest-token") {
			t.Errorf("stderr %q: want the refusal, without the token", &stderr)
		}
	})
}

func TestDemoFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"zero rate":    {"--rate", "0"},
		"huge rate":    {"--rate", "1e6"},
		"negative":     {"--duration", "-1s"},
		"bad target":   {"--target", "localhost:4318"},
		"ftp target":   {"--target", "ftp://localhost:4318"},
		"extra arg":    {"now"},
		"unknown flag": {"--speed", "3"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(append([]string{"demo"}, args...), testEnv(nil), &stdout, &stderr)
			if code == 0 {
				t.Errorf("demo %q exited with 0, want an error", args)
			}
		})
	}
	var stdout, stderr syncBuffer
	if code := run([]string{"demo", "-h"}, testEnv(nil), &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-target") || !strings.Contains(stderr.String(), "-data-dir") {
		t.Errorf("demo -h: exit %d, usage %q: want 0 and both the demo's and serve's flags", code, &stderr)
	}
}
