package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/web"
)

// exploreTraceID is the trace an exemplar of the explorer's fixture names.
const exploreTraceID = "5b8efff798038103d269b633813fc60c"

// exploreManySeries is one more than the table shows.
const exploreManySeries = 501

// newExploreFixture serves the handler over a TSDB loaded at t=0 with a
// sample every 15s up to 1500s, an exemplar on one series, and 501 series
// of explore_many; the browser is signed in as the admin.
func newExploreFixture(t *testing.T) (*promFixture, *browser) {
	t.Helper()
	var load strings.Builder
	load.WriteString(`load 15s
  http_requests_total{job="api", instance="a"} 0+10x100
  http_requests_total{job="api", instance="b"} 0+20x100
  up{job="api"} 1x100
`)
	for i := range exploreManySeries {
		fmt.Fprintf(&load, "  explore_many{i=\"%03d\"} 1x100\n", i)
	}
	st := promqltest.LoadedStorage(t, load.String())
	app := st.Appender(context.Background())
	series := labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", "a")
	ref, err := app.Append(0, series, 1_515_000, 1010)
	if err != nil {
		t.Fatal(err)
	}
	ex := exemplar.Exemplar{Labels: labels.FromStrings("trace_id", exploreTraceID), Value: 7, Ts: 1_200_000, HasTs: true}
	if _, err := app.AppendExemplar(ref, series, ex); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	f := newPromFixture(t, st, func(o *web.Options) { o.PromQL.Exemplars = st })
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	return f, b
}

// explorePath is the explorer's address for a query over the fixture's
// data (0 to 1500 s) in a view.
func explorePath(query, view string) string {
	return "/explore?" + url.Values{"query": {query}, "from": {"0"}, "to": {"1500"}, "view": {view}}.Encode()
}

// exploreRows is each table row's series text and value, in order.
func exploreRows(page string) [][2]string {
	var out [][2]string
	re := regexp.MustCompile(`(?s)<tr data-testid="result-row">\s*<td class="mono series">(.*?)</td>\s*<td[^>]*>(.*?)</td>`)
	tags := regexp.MustCompile(`<[^>]+>`)
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out = append(out, [2]string{html.UnescapeString(tags.ReplaceAllString(m[1], "")), html.UnescapeString(m[2])})
	}
	return out
}

func TestExploreTable(t *testing.T) {
	f, b := newExploreFixture(t)
	_ = f
	cases := []struct {
		name, query string
		want        [][2]string
	}{
		{"selector", `http_requests_total`, [][2]string{
			{`http_requests_total{instance="a", job="api"}`, "1000"},
			{`http_requests_total{instance="b", job="api"}`, "2000"},
		}},
		{"function drops the name", `sum by (instance) (rate(http_requests_total[5m]))`, [][2]string{
			{`{instance="a"}`, "0.6666666666666666"},
			{`{instance="b"}`, "1.3333333333333333"},
		}},
		{"scalar", `1 + 1`, [][2]string{{`{}`, "2"}}},
		{"sort_desc keeps its order", `sort_desc(http_requests_total)`, [][2]string{
			{`http_requests_total{instance="b", job="api"}`, "2000"},
			{`http_requests_total{instance="a", job="api"}`, "1000"},
		}},
		{"no data at the end", `up offset 1h`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := explorePath(c.query, "table")
			resp, page := b.do("GET", path, nil, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d, want 200\n%s", path, resp.StatusCode, page)
			}
			got := exploreRows(page)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("GET %s: rows\n%v\nwant\n%v", path, got, c.want)
			}
			if len(c.want) == 0 && testIDTag(page, "table-empty") == "" {
				t.Errorf("GET %s: no table-empty note", path)
			}
			if !strings.Contains(page, "1970-01-01 00:25:00 UTC") {
				t.Errorf("GET %s: the evaluation time (1970-01-01 00:25:00 UTC) is not shown", path)
			}
			if testIDTag(page, "chart") != "" || strings.Contains(page, "uPlot") {
				t.Errorf("GET %s: the table view has the chart or loads uPlot", path)
			}
			noInlineCode(t, page)
		})
	}

	t.Run("capped at 500 rows", func(t *testing.T) {
		path := explorePath("explore_many", "table")
		resp, page := b.do("GET", path, nil, nil)
		rows := exploreRows(page)
		if resp.StatusCode != http.StatusOK || len(rows) != 500 {
			t.Fatalf("GET %s: %d with %d rows, want 200 with 500", path, resp.StatusCode, len(rows))
		}
		cut := testIDTag(page, "table-cut")
		if cut == "" || !strings.Contains(page, "Showing the first 500 of 501 series") {
			t.Errorf("GET %s: no note that 500 of 501 series are shown", path)
		}
	})
}

func TestExploreMetricNames(t *testing.T) {
	_, b := newExploreFixture(t)
	// The names are those with data in the range.
	resp, page := b.do("GET", "/explore?from=0&to=1500", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /explore: %d, want 200", resp.StatusCode)
	}
	m := regexp.MustCompile(`(?s)<datalist id="metric-names"[^>]*>(.*?)</datalist>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("GET /explore: no datalist of metric names:\n%s", page)
	}
	var names []string
	for _, o := range regexp.MustCompile(`<option value="([^"]*)">`).FindAllStringSubmatch(m[1], -1) {
		names = append(names, o[1])
	}
	want := []string{"explore_many", "http_requests_total", "up"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("datalist options %v, want %v", names, want)
	}
	input := testIDTag(page, "query")
	if l, _ := attr(input, "list"); l != "metric-names" {
		t.Errorf("query input %s: list=%q, want metric-names", input, l)
	}
	if testIDTag(page, "no-query") == "" || testIDTag(page, "chart") != "" {
		t.Errorf("GET /explore without a query: want the no-query hint and no chart")
	}
}

func TestExploreBadQuery(t *testing.T) {
	_, b := newExploreFixture(t)
	p := parser.NewParser(parser.Options{EnableExperimentalFunctions: true, ExperimentalDurationExpr: true})
	parseErr := func(q string) string {
		_, err := p.ParseExpr(q)
		if err == nil {
			t.Fatalf("%q parses", q)
		}
		return err.Error()
	}
	cases := []struct {
		name, query, view string
		wantStatus        int
		wantMsg           string
	}{
		{"parse error, table", `rate(http_requests_total[5m]`, "table", 400, parseErr(`rate(http_requests_total[5m]`)},
		{"parse error, graph", `sum(up{job="api"`, "graph", 400, parseErr(`sum(up{job="api"`)},
		{"unknown function", `nope(up)`, "table", 400, parseErr(`nope(up)`)},
		{"range vector", `up[5m]`, "graph", 400, `invalid expression type "range vector" for range query`},
		{"evaluation error", `label_replace(http_requests_total, "instance", "x", "", "")`, "table", 422, "vector cannot contain metrics with the same labelset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := explorePath(c.query, c.view)
			resp, page := b.do("GET", path, nil, nil)
			errTag := testIDTag(page, "error")
			if resp.StatusCode != c.wantStatus || errTag == "" || !strings.Contains(page, html.EscapeString(c.wantMsg)) {
				t.Fatalf("GET %s: %d, error shown: %v; want %d with %q\n%s", path, resp.StatusCode, errTag != "", c.wantStatus, c.wantMsg, page)
			}
			// The query stays in the form, to be fixed.
			if v, _ := attr(testIDTag(page, "query"), "value"); v != c.query {
				t.Errorf("GET %s: query input value %q, want %q", path, v, c.query)
			}
			if testIDTag(page, "chart") != "" || testIDTag(page, "result-table") != "" {
				t.Errorf("GET %s: a chart or table is shown beside the error", path)
			}
			noInlineCode(t, page)
		})
	}
	t.Run("bad range", func(t *testing.T) {
		path := "/explore?query=up&from=yesterday"
		resp, page := b.do("GET", path, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Bad time range") || !strings.Contains(page, "yesterday") {
			t.Errorf("GET %s: %d, want 400 saying the range is bad\n%s", path, resp.StatusCode, page)
		}
	})
}

func TestExploreGraph(t *testing.T) {
	_, b := newExploreFixture(t)
	query := `rate(http_requests_total{job="api"}[1m])`
	path := explorePath(query, "graph")
	resp, page := b.do("GET", path, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200\n%s", path, resp.StatusCode, page)
	}
	chart := testIDTag(page, "chart")
	if chart == "" {
		t.Fatalf("GET %s: no chart container:\n%s", path, page)
	}
	for name, want := range map[string]string{
		"data-query": query, "data-start": "0", "data-end": "1500", "data-step": "6",
		"data-from": "0", "data-to": "1500", "data-max-series": "200",
	} {
		if got, ok := attr(chart, name); !ok || got != want {
			t.Errorf("chart %s: %s=%q, want %q", chart, name, got, want)
		}
	}
	if _, ok := attr(chart, "data-ready"); ok {
		t.Errorf("chart %s is ready before the script drew it", chart)
	}
	for _, want := range []string{
		`<script src="/static/vendor/uPlot-1.6.32.iife.min.js?v=`,
		`<link rel="stylesheet" href="/static/vendor/uPlot-1.6.32.min.css?v=`,
		`<script src="/static/explore.js?v=`,
		`<link rel="stylesheet" href="/static/explore.css?v=`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("GET %s: no %s", path, want)
		}
	}
	for _, id := range []string{"chart-status", "chart-error", "zoom-reset", "exemplars"} {
		if testIDTag(page, id) == "" {
			t.Errorf("GET %s: no %s element for the script", path, id)
		}
	}
	// Without JavaScript, the graph view shows the table and says why.
	m := regexp.MustCompile(`(?s)<noscript>(.*?)</noscript>`).FindStringSubmatch(page)
	if m == nil || testIDTag(m[1], "nojs-note") == "" || testIDTag(m[1], "result-table") == "" || len(exploreRows(m[1])) != 2 {
		t.Errorf("GET %s: the graph view has no table with a note for browsers without JavaScript", path)
	}
	noInlineCode(t, page)

	// The assets the page names are served.
	for _, re := range []string{`src="(/static/explore\.js[^"]*)"`, `href="(/static/explore\.css[^"]*)"`, `src="(/static/vendor/uPlot[^"]*)"`} {
		src := html.UnescapeString(regexp.MustCompile(re).FindStringSubmatch(page)[1])
		if resp, body := b.do("GET", src, nil, nil); resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d", src, resp.StatusCode)
		}
	}
	// With no time range in the URL, the last hour is charted.
	resp, page = b.do("GET", "/explore?query=up", nil, nil)
	chart = testIDTag(page, "chart")
	from, _ := attr(chart, "data-from")
	to, _ := attr(chart, "data-to")
	step, _ := attr(chart, "data-step")
	if resp.StatusCode != 200 || from != "now-1h" || to != "now" || step != "14" {
		t.Errorf("GET /explore?query=up: %d, chart from %q to %q step %q, want now-1h, now, 14", resp.StatusCode, from, to, step)
	}
}

// TestExploreChartData: what explore.js fetches with the session cookie,
// from the chart container's attributes, answers the chart's series, the
// exemplar's trace and the completion's labels.
func TestExploreChartData(t *testing.T) {
	_, b := newExploreFixture(t)
	query := `http_requests_total{job="api"}`
	_, page := b.do("GET", explorePath(query, "graph"), nil, nil)
	chart := testIDTag(page, "chart")
	get := func(name string) string {
		v, _ := attr(chart, name)
		return v
	}
	fetch := func(path string, params url.Values) promResponse {
		t.Helper()
		resp, body := b.do("GET", path+"?"+params.Encode(), nil, nil)
		var pr promResponse
		if err := json.Unmarshal([]byte(body), &pr); err != nil || resp.StatusCode != 200 || pr.Status != "success" {
			t.Fatalf("GET %s?%s with the session: %d %s", path, params.Encode(), resp.StatusCode, body)
		}
		return pr
	}
	rng := fetch("/api/v1/query_range", url.Values{"query": {get("data-query")}, "start": {get("data-start")}, "end": {get("data-end")}, "step": {get("data-step")}, "limit": {"201"}})
	series := result(t, rng, "matrix")
	if len(series) != 2 || len(series[0].Values) != 251 {
		t.Errorf("query_range: %d series of %d points, want 2 of 251", len(series), len(series[0].Values))
	}
	ex := fetch("/api/v1/query_exemplars", url.Values{"query": {get("data-query")}, "start": {get("data-start")}, "end": {get("data-end")}})
	if !strings.Contains(string(ex.Data), `"trace_id":"`+exploreTraceID+`"`) {
		t.Errorf("query_exemplars: %s, want the exemplar of trace %s", ex.Data, exploreTraceID)
	}
	names := fetch("/api/v1/labels", url.Values{"match[]": {"http_requests_total"}, "start": {"0"}, "end": {"1500"}, "limit": {"1000"}})
	if got := decode[[]string](t, names.Data); fmt.Sprint(got) != "[__name__ instance job]" {
		t.Errorf("labels of http_requests_total: %v, want [__name__ instance job]", got)
	}
	values := fetch("/api/v1/label/instance/values", url.Values{"match[]": {"http_requests_total"}, "start": {"0"}, "end": {"1500"}, "limit": {"1000"}})
	if got := decode[[]string](t, values.Data); fmt.Sprint(got) != "[a b]" {
		t.Errorf("values of instance on http_requests_total: %v, want [a b]", got)
	}
}

// TestExploreURLState: the view's state is its URL: the form, the tabs
// and the chart carry the query, range and view of the URL, and
// following a tab keeps them.
func TestExploreURLState(t *testing.T) {
	_, b := newExploreFixture(t)
	query := `sum by (job) (rate(http_requests_total{instance=~"a|b"}[5m]))`
	path := explorePath(query, "table")
	resp, page := b.do("GET", path, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if v, _ := attr(testIDTag(page, "query"), "value"); v != query {
		t.Errorf("query input value %q, want %q", v, query)
	}
	form := regexp.MustCompile(`(?s)<form method="get" action="/explore".*?</form>`).FindString(page)
	if !strings.Contains(form, `<input type="hidden" name="view" value="table">`) {
		t.Errorf("the form does not keep the view:\n%s", form)
	}
	for id, want := range map[string]string{"range-from": "1970-01-01T00:00:00", "range-to": "1970-01-01T00:25:00"} {
		if v, _ := attr(testIDTag(form, id), "value"); v != want {
			t.Errorf("the form's %s is %q, want %q", id, v, want)
		}
	}
	tab := func(page, id string) url.Values {
		t.Helper()
		href, _ := attr(testIDTag(page, id), "href")
		u, err := url.Parse(href)
		if err != nil || u.Path != "/explore" {
			t.Fatalf("%s href %q", id, href)
		}
		return u.Query()
	}
	for id, view := range map[string]string{"tab-graph": "graph", "tab-table": "table"} {
		q := tab(page, id)
		if q.Get("query") != query || q.Get("from") != "0" || q.Get("to") != "1500" || q.Get("view") != view {
			t.Errorf("%s links to %v, want the query, from=0, to=1500, view=%s", id, q, view)
		}
	}
	if c, _ := attr(testIDTag(page, "tab-table"), "aria-current"); c != "page" {
		t.Errorf("the Table tab is not current on the table view")
	}

	// Following the Graph tab shows the same state as a chart.
	graph := "/explore?" + tab(page, "tab-graph").Encode()
	resp, page = b.do("GET", graph, nil, nil)
	chart := testIDTag(page, "chart")
	q, _ := attr(chart, "data-query")
	from, _ := attr(chart, "data-from")
	if resp.StatusCode != 200 || q != query || from != "0" {
		t.Errorf("GET %s: %d, chart query %q from %q; want the same query from 0", graph, resp.StatusCode, q, from)
	}
	if c, _ := attr(testIDTag(page, "tab-graph"), "aria-current"); c != "page" {
		t.Errorf("the Graph tab is not current on the graph view")
	}
	if tab(page, "tab-table").Get("query") != query {
		t.Errorf("the Table tab of %s lost the query", graph)
	}

	// A relative range stays relative, as the range picker sends it.
	rel := "/explore?" + url.Values{"query": {query}, "range": {"now-15m"}}.Encode()
	_, page = b.do("GET", rel, nil, nil)
	chart = testIDTag(page, "chart")
	from, _ = attr(chart, "data-from")
	to, _ := attr(chart, "data-to")
	if from != "now-15m" || to != "now" {
		t.Errorf("GET %s: chart from %q to %q, want now-15m to now", rel, from, to)
	}
	for id, view := range map[string]string{"tab-graph": "graph", "tab-table": "table"} {
		q := tab(page, id)
		if q.Get("range") != "now-15m" || q.Has("from") || q.Has("to") || q.Get("view") != view || q.Get("query") != query {
			t.Errorf("GET %s: %s links to %v, want range=now-15m, view=%s and the query", rel, id, q, view)
		}
	}
}

func TestExploreAccess(t *testing.T) {
	f, _ := newExploreFixture(t)
	if err := f.auth.CreateUser(context.Background(), "vera", "vera-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	viewer := newBrowser(t, f.srv.URL)
	viewer.signIn("vera", "vera-password-1")
	path := explorePath("up", "table")
	if resp, page := viewer.do("GET", path, nil, nil); resp.StatusCode != 200 || len(exploreRows(page)) != 1 {
		t.Errorf("GET %s as a viewer: %d with %d rows, want 200 with 1", path, resp.StatusCode, len(exploreRows(page)))
	}
	anon := newBrowser(t, f.srv.URL)
	resp, _ := anon.do("GET", path, nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Errorf("GET %s signed out: %d to %q, want 303 to /login?next=...", path, resp.StatusCode, loc)
	}
}

func TestExploreMetricsDisabled(t *testing.T) {
	f := newFixture(t) // no PromQL options
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	resp, page := b.do("GET", "/explore?query=up", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "Metrics are not enabled") {
		t.Errorf("GET /explore?query=up without metrics: %d, want 404 saying metrics are not enabled", resp.StatusCode)
	}
}
