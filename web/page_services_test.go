package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/logstore"
)

// svcMetrics holds span metrics from t=0 every 15s to 1500s, as
// internal/spanmetrics writes them, and SDK saturation metrics. Over the
// range 300..1500 the served (server and consumer) spans are:
//
//	checkout  3/s, errors 0.2/s (6.67%), p99 99 ms; in flight 8, 55 goroutines, 50 MiB
//	search    4/s, errors 0.2/s (5.00%), p99 99 ms
//	users     1/s, no errors, p99 994 ms
//	worker    0.5/s (consumer), no errors, p99 2 ms
//
// checkout's client spans (SELECT, all errors) must not count. mailer has
// no metrics at all.
const svcMetrics = `
load 15s
  traces_span_metrics_calls_total{job="shop/checkout", service_name="checkout", span_name="GET /cart", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET"} 0+27x100
  traces_span_metrics_calls_total{job="shop/checkout", service_name="checkout", span_name="GET /cart", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_ERROR"} 0+3x100
  traces_span_metrics_calls_total{job="shop/checkout", service_name="checkout", span_name="POST /pay", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET"} 0+15x100
  traces_span_metrics_calls_total{job="shop/checkout", service_name="checkout", span_name="SELECT", span_kind="SPAN_KIND_CLIENT", status_code="STATUS_CODE_ERROR"} 0+30x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="GET /cart", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="10"} 0+15x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="GET /cart", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="100"} 0+30x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="GET /cart", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="+Inf"} 0+30x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="POST /pay", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="10"} 0x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="POST /pay", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="100"} 0+15x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="POST /pay", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="+Inf"} 0+15x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="SELECT", span_kind="SPAN_KIND_CLIENT", status_code="STATUS_CODE_ERROR", le="10"} 0x100
  traces_span_metrics_duration_milliseconds_bucket{job="shop/checkout", service_name="checkout", span_name="SELECT", span_kind="SPAN_KIND_CLIENT", status_code="STATUS_CODE_ERROR", le="+Inf"} 0+30x100
  traces_span_metrics_calls_total{job="search", service_name="search", span_name="GET /search", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET"} 0+57x100
  traces_span_metrics_calls_total{job="search", service_name="search", span_name="GET /search", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_ERROR"} 0+3x100
  traces_span_metrics_duration_milliseconds_bucket{job="search", service_name="search", span_name="GET /search", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="100"} 0+60x100
  traces_span_metrics_duration_milliseconds_bucket{job="search", service_name="search", span_name="GET /search", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET", le="+Inf"} 0+60x100
  traces_span_metrics_calls_total{job="users", service_name="users", span_name="GET /user", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_OK"} 0+15x100
  traces_span_metrics_duration_milliseconds_bucket{job="users", service_name="users", span_name="GET /user", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_OK", le="400"} 0x100
  traces_span_metrics_duration_milliseconds_bucket{job="users", service_name="users", span_name="GET /user", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_OK", le="1000"} 0+15x100
  traces_span_metrics_duration_milliseconds_bucket{job="users", service_name="users", span_name="GET /user", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_OK", le="+Inf"} 0+15x100
  traces_span_metrics_calls_total{job="worker", service_name="worker", span_name="process order", span_kind="SPAN_KIND_CONSUMER", status_code="STATUS_CODE_UNSET"} 0+7.5x100
  traces_span_metrics_duration_milliseconds_bucket{job="worker", service_name="worker", span_name="process order", span_kind="SPAN_KIND_CONSUMER", status_code="STATUS_CODE_UNSET", le="2"} 0+7.5x100
  traces_span_metrics_duration_milliseconds_bucket{job="worker", service_name="worker", span_name="process order", span_kind="SPAN_KIND_CONSUMER", status_code="STATUS_CODE_UNSET", le="+Inf"} 0+7.5x100
  http_server_active_requests{job="shop/checkout", instance="a", http_request_method="GET"} 1+0x50 7 7 1+0x47
  http_server_active_requests{job="shop/checkout", instance="a", http_request_method="POST"} 1x100
  go_goroutine_count{job="shop/checkout", instance="a"} 40x100
  go_goroutine_count{job="shop/checkout", instance="b"} 55x100
  go_memory_used_bytes{job="shop/checkout", instance="a"} 52428800x100
`

// svcRange is the range every check here uses, as the URL carries it.
const svcRange = "from=300&to=1500"

// svcSpans sends one span per (service, operation) to the log store, so
// its catalogue knows the services (mailer only from there), and waits
// until it lists them.
func svcSpans(t *testing.T, st *logstore.Store) {
	t.Helper()
	td := ptrace.NewTraces()
	now := time.Now()
	n := byte(0)
	for _, s := range []struct {
		service string
		ops     []string
	}{
		{"checkout", []string{"GET /cart", "POST /pay", "SELECT"}},
		{"search", []string{"GET /search"}},
		{"users", []string{"GET /user"}},
		{"worker", []string{"process order"}},
		{"mailer", []string{"send"}},
	} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		ss := rs.ScopeSpans().AppendEmpty()
		for _, op := range s.ops {
			n++
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{15: n})
			sp.SetSpanID(pcommon.SpanID{7: n})
			sp.SetName(op)
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Second)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		}
	}
	ctx := context.Background()
	if err := st.ConsumeTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		svcs, err := st.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(svcs) >= 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log store lists %v, want 5 services", svcs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// svcFixture is a handler with span metrics in PromQL and the services in
// the log store, and a browser signed in to it.
func svcFixture(t *testing.T) (*promFixture, *browser) {
	t.Helper()
	f := newPromFixture(t, promqltest.LoadedStorage(t, svcMetrics), nil)
	svcSpans(t, f.store)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	return f, b
}

// svcRowRe finds a table row with its data-service or data-operation.
var svcRowRe = regexp.MustCompile(`(?s)<tr data-testid="(?:service|op)-row" data-(?:service|operation)="([^"]*)">(.*?)</tr>`)

// svcRows maps each row's name to its HTML, and lists the names in order.
func svcRows(page string) (map[string]string, []string) {
	rows := map[string]string{}
	var order []string
	for _, m := range svcRowRe.FindAllStringSubmatch(page, -1) {
		name := html.UnescapeString(m[1])
		rows[name] = m[2]
		order = append(order, name)
	}
	return rows, order
}

// svcCell is the text of the element with data-testid id in a row.
func svcCell(row, id string) string {
	m := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(row)
	if m == nil {
		return "(missing)"
	}
	return html.UnescapeString(m[1])
}

func TestServicesPageSignedOut(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, svcMetrics), nil)
	b := newBrowser(t, f.srv.URL)
	for path, want := range map[string]string{
		"/":                  "/login",
		"/services/checkout": "/login?next=" + url.QueryEscape("/services/checkout"),
	} {
		resp, _ := b.do("GET", path, nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s signed out: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestServicesPage(t *testing.T) {
	_, b := svcFixture(t)
	resp, page := b.do("GET", "/?"+svcRange, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /?%s: %d\n%s", svcRange, resp.StatusCode, page)
	}
	noInlineCode(t, page)
	if !strings.Contains(page, `data-testid="sort-rule"`) || !strings.Contains(page, "highest error rate first, then slowest p99") {
		t.Errorf("the page does not say how it sorts")
	}

	rows, order := svcRows(page)
	if want := []string{"checkout", "search", "users", "worker", "mailer"}; !slices.Equal(order, want) {
		t.Fatalf("services in order %q, want %q (by error rate, then p99, no data last)", order, want)
	}
	cases := []struct {
		service, cell, want string
	}{
		{"checkout", "svc-rate", "3.00"},
		{"checkout", "svc-errors", "6.67%"},
		{"checkout", "svc-p95", "93 ms"}, // rank 2.85 of 3: 10 + 90*1.85/2
		{"checkout", "svc-p99", "99 ms"},
		{"checkout", "svc-inflight", "8"},
		{"checkout", "svc-goroutines", "55"},
		{"checkout", "svc-memory", "50.0 MiB"},
		{"search", "svc-rate", "4.00"},
		{"search", "svc-errors", "5.00%"},
		{"search", "svc-inflight", "—"},
		{"users", "svc-rate", "1.00"},
		{"users", "svc-errors", "0%"},
		{"users", "svc-p50", "700 ms"},
		{"users", "svc-p95", "970 ms"},
		{"users", "svc-p99", "994 ms"},
		{"worker", "svc-rate", "0.500"},
		{"worker", "svc-p99", "2.0 ms"},
		{"worker", "svc-goroutines", "—"},
		{"mailer", "svc-nodata", "no data in this range"},
		{"mailer", "svc-goroutines", "—"},
	}
	for _, c := range cases {
		if got := svcCell(rows[c.service], c.cell); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.service, c.cell, got, c.want)
		}
	}

	// Sparklines are inline SVG polylines with about 60 points.
	for _, spark := range []string{"spark-rate", "spark-errors", "spark-p99"} {
		m := regexp.MustCompile(`<svg[^>]*data-testid="` + spark + `"[^>]*>.*?<polyline points="([^"]+)"`).FindStringSubmatch(rows["checkout"])
		if m == nil {
			t.Errorf("checkout has no %s polyline:\n%s", spark, rows["checkout"])
			continue
		}
		if n := len(strings.Fields(m[1])); n < 55 || n > 65 {
			t.Errorf("checkout %s has %d points, want about 60: %s", spark, n, m[1])
		}
	}
	if strings.Contains(rows["mailer"], "<svg") {
		t.Errorf("mailer, without data, has a sparkline:\n%s", rows["mailer"])
	}

	// Each service links to its page over the same range.
	u := linkURL(t, rows["search"], "service-link")
	if u.Path != "/services/search" || u.Query().Get("from") != "300" || u.Query().Get("to") != "1500" {
		t.Errorf("search links to %s, want /services/search?from=300&to=1500", u)
	}
	if resp, page := b.do("GET", u.String(), nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="ops-table"`) {
		t.Errorf("following %s: %d, want the service page", u, resp.StatusCode)
	}
}

// TestServicesPageRangeDefault: without from and to the page shows the
// last hour (no data in the fixture's 1970 samples) and marks it chosen.
func TestServicesPageRangeDefault(t *testing.T) {
	_, b := svcFixture(t)
	resp, page := b.do("GET", "/", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `<option value="now-1h" selected>`) {
		t.Errorf("the last hour is not the chosen range")
	}
	rows, order := svcRows(page)
	if len(order) != 5 {
		t.Fatalf("services %q, want 5", order)
	}
	for _, n := range order {
		if svcCell(rows[n], "svc-nodata") != "no data in this range" {
			t.Errorf("%s has data in the last hour; the fixture has none there", n)
		}
	}
}

func TestServicesPageFragment(t *testing.T) {
	_, b := svcFixture(t)
	resp, body := b.do("GET", "/?"+svcRange, nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, `data-testid="services-table"`) {
		t.Fatalf("htmx GET /?%s: %d, want the table alone:\n%s", svcRange, resp.StatusCode, body)
	}
}

func TestServicesPageBadInput(t *testing.T) {
	_, b := svcFixture(t)
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/?from=yesterday", `from: &#34;yesterday&#34; is not now`, http.StatusBadRequest},
		{"/?from=now-1h&to=now-2h", "must be before to", http.StatusBadRequest},
		{"/services/checkout?from=soon", `from: &#34;soon&#34; is not now`, http.StatusBadRequest},
		{"/services/nobody?" + svcRange, "No service named", http.StatusNotFound},
	} {
		resp, page := b.do("GET", c.path, nil, nil)
		if resp.StatusCode != c.code || !strings.Contains(page, c.want) || !strings.Contains(page, `data-testid="error"`) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", c.path, resp.StatusCode, c.code, c.want, page)
		}
		if !strings.Contains(page, `data-testid="range-from"`) {
			t.Errorf("GET %s: the range form is not shown again", c.path)
		}
	}
}

func TestServicePage(t *testing.T) {
	_, b := svcFixture(t)
	resp, page := b.do("GET", "/services/checkout?"+svcRange, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /services/checkout: %d\n%s", resp.StatusCode, page)
	}
	noInlineCode(t, page)

	rows, order := svcRows(page)
	// The summary row first, then operations by trouble; SELECT is a
	// client span, listed from the catalogue without data.
	if want := []string{"checkout", "GET /cart", "POST /pay", "SELECT"}; !slices.Equal(order, want) {
		t.Fatalf("rows %q, want %q", order, want)
	}
	for _, c := range []struct{ row, cell, want string }{
		{"checkout", "svc-rate", "3.00"},
		{"checkout", "svc-errors", "6.67%"},
		{"checkout", "svc-inflight", "8"},
		{"GET /cart", "svc-rate", "2.00"},
		{"GET /cart", "svc-errors", "10.00%"},
		{"GET /cart", "svc-p95", "91 ms"},
		{"POST /pay", "svc-rate", "1.00"},
		{"POST /pay", "svc-errors", "0%"},
		{"SELECT", "svc-nodata", "no data in this range"},
	} {
		if got := svcCell(rows[c.row], c.cell); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.row, c.cell, got, c.want)
		}
	}

	// Operations link to their traces over the range, and the slow ones
	// from their p95 up.
	want := url.Values{"service": {"checkout"}, "operation": {"GET /cart"}, "from": {"300"}, "to": {"1500"}}
	if u := linkURL(t, rows["GET /cart"], "op-traces"); u.Path != "/traces" || u.Query().Encode() != want.Encode() {
		t.Errorf("GET /cart traces link %s, want /traces?%s", u, want.Encode())
	}
	want.Set("min_duration", "91ms")
	if u := linkURL(t, rows["GET /cart"], "op-slow"); u.Path != "/traces" || u.Query().Encode() != want.Encode() {
		t.Errorf("GET /cart slow link %s, want /traces?%s", u, want.Encode())
	}
	if strings.Contains(rows["SELECT"], `data-testid="op-slow"`) {
		t.Errorf("SELECT, without latency, has a slow-traces link")
	}

	// The service's logs, error traces and metrics.
	for _, c := range []struct {
		id, path string
		want     url.Values
	}{
		{"service-logs", "/logs", url.Values{"query": {"service:checkout"}, "from": {"300"}, "to": {"1500"}}},
		{"service-errors", "/traces", url.Values{"service": {"checkout"}, "error": {"true"}, "from": {"300"}, "to": {"1500"}}},
		{"back-to-services", "/", url.Values{"from": {"300"}, "to": {"1500"}}},
	} {
		if u := linkURL(t, page, c.id); u.Path != c.path || u.Query().Encode() != c.want.Encode() {
			t.Errorf("%s link %s, want %s?%s", c.id, u, c.path, c.want.Encode())
		}
	}
	u := linkURL(t, page, "service-explore")
	if q := u.Query().Get("query"); u.Path != "/explore" || !strings.Contains(q, `traces_span_metrics_calls_total{service_name="checkout"`) {
		t.Errorf("explore link %s, want /explore with a PromQL query of checkout's span metrics", u)
	}
}

// TestServicesPageWithoutMetrics: with the metric store off, services are
// still listed, each with no data, and the page says why.
func TestServicesPageWithoutMetrics(t *testing.T) {
	f := newFixture(t)
	svcSpans(t, f.store)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	for _, path := range []string{"/", "/services/checkout"} {
		resp, page := b.do("GET", path, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="metrics-off"`) {
			t.Fatalf("GET %s without metrics: %d, want 200 saying metrics are off:\n%s", path, resp.StatusCode, page)
		}
		rows, order := svcRows(page)
		if len(order) == 0 {
			t.Fatalf("GET %s without metrics lists nothing", path)
		}
		for _, n := range order {
			if svcCell(rows[n], "svc-nodata") != "no data in this range" {
				t.Errorf("GET %s: %s has data without metrics", path, n)
			}
		}
		if path == "/" && len(order) != 5 {
			t.Errorf("services %q, want 5", order)
		}
	}
}
