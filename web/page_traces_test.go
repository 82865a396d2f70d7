package web_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/logstore"
)

// The traces fixture: three traces across five services.
//
// T1 (frontend GET /checkout, 100ms, one error) is built so that its
// critical path is known:
//
//	A frontend GET /checkout  [0, 100]ms
//	├─ B auth verify          [0, 30]
//	├─ C checkout place-order [10, 90]
//	│  ├─ D inventory reserve [20, 50]
//	│  └─ E payments charge   [40, 80]  error, event, link to T2
//	└─ F frontend render      [95, 99]
//	G inventory cache         [5, 8]    parent not in the trace: a root
//
// Walking back from A's end: F (ends last), then C (ends before F
// starts), in C: E, then C's own time; B and D overlap what is already on
// the path and G is another root. So the path is A, C, E, F.
//
// T2 (frontend GET /home, 20ms, with auth verify) starts a minute later,
// T3 (inventory reserve-batch, 2s) two minutes later.
const (
	tpT1 = "aa000000000000000000000000000001"
	tpT2 = "aa000000000000000000000000000002"
	tpT3 = "aa000000000000000000000000000003"

	tpA = "a00000000000000a"
	tpB = "a00000000000000b"
	tpC = "a00000000000000c"
	tpD = "a00000000000000d"
	tpE = "a00000000000000e"
	tpF = "a00000000000000f"
	tpG = "a000000000000010"

	tpT2Root  = "b000000000000001"
	tpT2Child = "b000000000000002"
	tpT3Root  = "c000000000000001"
	tpMissing = "ffffffffffffffff"
)

func tpTraceID(s string) pcommon.TraceID {
	var id pcommon.TraceID
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		panic(err)
	}
	return id
}

func tpSpanID(s string) pcommon.SpanID {
	var id pcommon.SpanID
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		panic(err)
	}
	return id
}

// tpSpan is a span of the fixture, times in milliseconds from its
// trace's start.
type tpSpan struct {
	trace, id, parent, service, name string
	start, end                       int
	err                              bool
	attrs                            map[string]string
}

var tpSpans = []tpSpan{
	{tpT1, tpA, "", "frontend", "GET /checkout", 0, 100, false, map[string]string{"http.route": "/checkout", "http.method": "POST"}},
	{tpT1, tpB, tpA, "auth", "verify", 0, 30, false, nil},
	{tpT1, tpC, tpA, "checkout", "place-order", 10, 90, false, map[string]string{"order.id": "o-4711"}},
	{tpT1, tpD, tpC, "inventory", "reserve", 20, 50, false, nil},
	{tpT1, tpE, tpC, "payments", "charge", 40, 80, true, map[string]string{"payment.provider": "acme-pay"}},
	{tpT1, tpF, tpA, "frontend", "render", 95, 99, false, nil},
	{tpT1, tpG, tpMissing, "inventory", "cache", 5, 8, false, nil},
	{tpT2, tpT2Root, "", "frontend", "GET /home", 0, 20, false, map[string]string{"http.route": "/home"}},
	{tpT2, tpT2Child, tpT2Root, "auth", "verify", 2, 7, false, nil},
	{tpT3, tpT3Root, "", "inventory", "reserve-batch", 0, 2000, false, nil},
}

// tpTraceStart is when each trace starts, relative to the fixture's base.
var tpTraceStart = map[string]time.Duration{tpT1: 0, tpT2: time.Minute, tpT3: 2 * time.Minute}

// tpLog is a log record of the fixture.
type tpLog struct {
	trace, span, service, body string
	at                         int // ms from the trace's start
	sev                        plog.SeverityNumber
}

var tpLogs = []tpLog{
	{tpT1, tpC, "checkout", "reserving stock for order o-4711", 15, plog.SeverityNumberInfo},
	{tpT1, tpE, "payments", "card declined by issuer", 70, plog.SeverityNumberError},
	{tpT1, "0123456789abcdef", "frontend", "line of a span that was never sent", 2, plog.SeverityNumberWarn},
	{tpT2, tpT2Root, "frontend", "home page served", 10, plog.SeverityNumberInfo},
}

// tpSeed sends the fixture's spans and logs through the store's OTLP
// consumers and waits until they can be found.
func tpSeed(t *testing.T, st *logstore.Store, base time.Time) {
	t.Helper()
	ctx := context.Background()
	td := ptrace.NewTraces()
	for _, s := range tpSpans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		rs.Resource().Attributes().PutStr("host.name", "node-1")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("shop/" + s.service)
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tpTraceID(s.trace))
		sp.SetSpanID(tpSpanID(s.id))
		if s.parent != "" {
			sp.SetParentSpanID(tpSpanID(s.parent))
		}
		sp.SetName(s.name)
		sp.SetKind(ptrace.SpanKindServer)
		t0 := base.Add(tpTraceStart[s.trace])
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(s.start) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(s.end) * time.Millisecond)))
		for k, v := range s.attrs {
			sp.Attributes().PutStr(k, v)
		}
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("card declined")
			ev := sp.Events().AppendEmpty()
			ev.SetName("retry")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(60 * time.Millisecond)))
			ev.Attributes().PutInt("attempt", 2)
			l := sp.Links().AppendEmpty()
			l.SetTraceID(tpTraceID(tpT2))
			l.SetSpanID(tpSpanID(tpT2Root))
			l.Attributes().PutStr("link.reason", "same customer")
		}
	}
	if err := st.ConsumeTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	for _, l := range tpLogs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", l.service)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(tpTraceStart[l.trace] + time.Duration(l.at)*time.Millisecond)))
		lr.SetSeverityNumber(l.sev)
		lr.SetSeverityText(strings.ToUpper(strings.TrimPrefix(l.sev.String(), "SEVERITY_NUMBER_")))
		lr.Body().SetStr(l.body)
		lr.SetTraceID(tpTraceID(l.trace))
		lr.SetSpanID(tpSpanID(l.span))
	}
	if err := st.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		traces, err := st.SearchTraces(ctx, logstore.TraceQuery{Start: base.Add(-time.Hour), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		logs, err := st.SearchLogs(ctx, logstore.LogQuery{Query: "trace_id:" + tpT1, Start: base.Add(-time.Hour), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		spans, err := st.Trace(ctx, tpT1)
		if err != nil {
			t.Fatal(err)
		}
		if len(traces.Traces) == 3 && len(logs.Records) == 3 && len(spans) == 7 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fixture not searchable after 30s: %d traces (want 3), %d logs of T1 (want 3), %d spans of T1 (want 7)",
				len(traces.Traces), len(logs.Records), len(spans))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tpFixture is the server with the fixture stored and a browser signed
// in as a viewer.
func tpFixture(t *testing.T) (*fixture, *browser, time.Time) {
	t.Helper()
	f := newFixture(t)
	base := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	tpSeed(t, f.store, base)
	if err := f.auth.CreateUser(context.Background(), "vera", "vera-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv.URL)
	b.signIn("vera", "vera-password-1")
	return f, b, base
}

var (
	tpRowRe     = regexp.MustCompile(`<tr data-testid="trace-row" data-trace-id="([0-9a-f]+)"`)
	tpPointRe   = regexp.MustCompile(`<a [^>]*data-testid="scatter-point"[^>]*>`)
	tpAttrRe    = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	tpSpanRowRe = regexp.MustCompile(`data-testid="span-row" data-span-id="([0-9a-f]+)" data-depth="(\d+)" data-critical="(true|false)"`)
	tpLogsRe    = regexp.MustCompile(`(?s)<ul class="span-logs" data-testid="span-logs" data-span-id="([0-9a-f]+)">(.*?)</ul>`)
	tpLogBodyRe = regexp.MustCompile(`<span class="body">([^<]*)</span>`)
)

// tpResults are the trace ids of a search page's table, in order.
func tpResults(page string) []string {
	var ids []string
	for _, m := range tpRowRe.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// tpAttrs are a tag's attributes.
func tpAttrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range tpAttrRe.FindAllStringSubmatch(tag, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

func TestTracesPageSearch(t *testing.T) {
	_, b, _ := tpFixture(t)
	cases := []struct {
		name, query string
		want        []string
	}{
		{"everything, newest first", "", []string{tpT3, tpT2, tpT1}},
		{"service", "service=payments", []string{tpT1}},
		{"service in two traces", "service=auth", []string{tpT2, tpT1}},
		{"service and operation", "service=frontend&operation=GET+%2Fhome", []string{tpT2}},
		{"operation alone", "operation=reserve-batch", []string{tpT3}},
		{"min duration", "min_duration=1s", []string{tpT3}},
		{"duration bounds", "min_duration=90ms&max_duration=150ms", []string{tpT1}},
		{"errors", "error=true", []string{tpT1}},
		{"without errors", "error=false&service=inventory", []string{tpT3, tpT1}},
		{"span query", "query=" + url.QueryEscape("http.route:/checkout"), []string{tpT1}},
		{"span query on an attribute", "query=" + url.QueryEscape(`payment.provider:"acme-pay"`), []string{tpT1}},
		{"nothing matches", "service=auth&min_duration=1s", nil},
		{"absolute range", "from=" + url.QueryEscape(time.Now().Add(-30*time.Minute).UTC().Format(time.RFC3339)) + "&to=now-9m30s", []string{tpT1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, page := b.do("GET", "/traces?"+c.query, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /traces?%s: %d, want 200\n%s", c.query, resp.StatusCode, page)
			}
			if got := tpResults(page); !slices.Equal(got, c.want) {
				t.Errorf("GET /traces?%s: traces %v, want %v", c.query, got, c.want)
			}
			if c.want == nil && !strings.Contains(page, `data-testid="trace-empty"`) {
				t.Errorf("GET /traces?%s: no empty-state message", c.query)
			}
		})
	}
}

func TestTracesPageScatterAndTable(t *testing.T) {
	_, b, base := tpFixture(t)
	resp, page := b.do("GET", "/traces", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /traces: %d", resp.StatusCode)
	}
	noInlineCode(t, page)

	points := tpPointRe.FindAllString(page, -1)
	if len(points) != 3 {
		t.Fatalf("scatter points: %d, want one per trace (3):\n%s", len(points), points)
	}
	ys := map[string]string{}
	for _, tag := range points {
		a := tpAttrs(tag)
		id := a["data-trace-id"]
		if a["href"] != "/traces/"+id {
			t.Errorf("scatter point %s links to %q, want /traces/%s", id, a["href"], id)
		}
		classes := strings.Fields(a["class"])
		if wantErr := id == tpT1; slices.Contains(classes, "err") != wantErr {
			t.Errorf("scatter point %s: class %q, want err %v", id, a["class"], wantErr)
		}
		ys[id] = a["data-trace-id"]
	}
	// Each point carries a tooltip and sits higher the longer its trace.
	cy := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?s)data-trace-id="([0-9a-f]+)"><circle cx="[0-9.]+" cy="([0-9.]+)" r="5"></circle><title>([^<]*)</title>`).FindAllStringSubmatch(page, -1) {
		var y float64
		fmt.Sscan(m[2], &y)
		cy[m[1]] = y
		if !strings.Contains(m[3], "ms") && !strings.Contains(m[3], "s ·") {
			t.Errorf("tooltip of %s: %q has no duration", m[1], m[3])
		}
	}
	if len(cy) != 3 || !(cy[tpT3] < cy[tpT1] && cy[tpT1] < cy[tpT2]) {
		t.Errorf("scatter y by trace %v: want T3 (2s) above T1 (100ms) above T2 (20ms)", cy)
	}

	// The table: start, root service and name, duration, spans, errors,
	// services.
	row := regexp.MustCompile(`(?s)<tr data-testid="trace-row" data-trace-id="` + tpT1 + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		t.Fatalf("no table row for T1:\n%s", page)
	}
	for _, want := range []string{
		base.Format("2006-01-02 15:04:05.000"), `href="/services/frontend"`, "GET /checkout", `href="/traces/` + tpT1 + `"`,
		">100ms<", ">7<", `<span class="badge err">1</span>`,
		`<span class="svc-tag">auth</span>`, `<span class="svc-tag">payments</span>`,
	} {
		if !strings.Contains(row[1], want) {
			t.Errorf("T1's row lacks %q:\n%s", want, row[1])
		}
	}

	// The form is a plain GET form whose fields are the query string, with
	// the services to choose from and the operations offered.
	for _, want := range []string{
		`<form class="bar trace-search" method="get" action="/traces"`,
		`name="service"`, `name="operation" list="trace-operations"`, `name="min_duration"`, `name="max_duration"`,
		`name="error"`, `name="query"`, `name="from"`, `name="to"`,
		`<option value="payments">payments</option>`, `<option value="reserve-batch"></option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("search page lacks %q", want)
		}
	}
	// The form keeps what was asked.
	_, page = b.do("GET", "/traces?service=auth&min_duration=5ms&error=true&query=http.route%3A%2Fhome", nil, nil)
	for _, want := range []string{
		`<option value="auth" selected>auth</option>`, `name="min_duration" class="dur" value="5ms"`,
		`<option value="true" selected>`, `value="http.route:/home"`, `<option value="verify"></option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("search page for service=auth... lacks %q", want)
		}
	}
	if strings.Contains(page, `<option value="reserve-batch"></option>`) {
		t.Error("operations of other services offered while auth is chosen")
	}
}

func TestTracesPageLimitAndMore(t *testing.T) {
	_, b, _ := tpFixture(t)
	_, page := b.do("GET", "/traces", nil, nil)
	if strings.Contains(page, `data-testid="trace-more"`) {
		t.Error("a more link with fewer traces than the limit")
	}
	_, page = b.do("GET", "/traces?service=&limit=2", nil, nil)
	if got, want := tpResults(page), []string{tpT3, tpT2}; !slices.Equal(got, want) {
		t.Fatalf("limit=2: %v, want %v", got, want)
	}
	m := regexp.MustCompile(`<a href="([^"]*)" data-testid="trace-more"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("limit=2 with 3 traces: no more link")
	}
	more := html.UnescapeString(m[1])
	u, _ := url.Parse(more)
	if u.Path != "/traces" || u.Query().Get("limit") != "4" {
		t.Fatalf("more link %q: want /traces with limit=4", more)
	}
	_, page = b.do("GET", more, nil, nil)
	if got, want := tpResults(page), []string{tpT3, tpT2, tpT1}; !slices.Equal(got, want) {
		t.Errorf("GET %s: %v, want %v", more, got, want)
	}
	// The limit is capped; past the cap there is no more link.
	_, page = b.do("GET", "/traces?limit=100000", nil, nil)
	if len(tpResults(page)) != 3 || strings.Contains(page, `data-testid="trace-more"`) {
		t.Errorf("limit=100000: %d rows; a more link: %v", len(tpResults(page)), strings.Contains(page, "trace-more"))
	}
}

func TestTracesPageBadInput(t *testing.T) {
	_, b, _ := tpFixture(t)
	cases := []struct{ query, want string }{
		{"min_duration=fast", `Invalid parameter &#34;min_duration&#34;`},
		{"error=maybe", "error must be true or false"},
		{"query=%22unclosed", "position"},
		{"from=yesterday", "Time range: from"},
		{"limit=-3", `Invalid parameter &#34;limit&#34;`},
		{"min_duration=2s&max_duration=1s", "not a range"},
		{"trace_id=xyz", "not 32 hex digits"},
	}
	for _, c := range cases {
		resp, page := b.do("GET", "/traces?"+c.query, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, c.want) {
			t.Errorf("GET /traces?%s: %d, want 400 with %q\n%s", c.query, resp.StatusCode, c.want, page)
			continue
		}
		// The form is still there to fix the input, with what was typed.
		if !strings.Contains(page, `data-testid="trace-search"`) || !strings.Contains(page, `data-testid="error"`) {
			t.Errorf("GET /traces?%s: the page lacks the form or the message", c.query)
		}
	}
	// A trace id goes to its trace.
	resp, _ := b.do("GET", "/traces?trace_id="+strings.ToUpper(tpT2), nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/traces/"+tpT2 {
		t.Errorf("GET /traces?trace_id=<T2>: %d to %q, want 303 to /traces/%s", resp.StatusCode, loc, tpT2)
	}
}

func TestTracesPageFragment(t *testing.T) {
	_, b, _ := tpFixture(t)
	resp, page := b.do("GET", "/traces?service=payments", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != 200 || strings.Contains(page, "<html") || !slices.Equal(tpResults(page), []string{tpT1}) {
		t.Errorf("htmx GET /traces?service=payments: %d, want the results alone with T1:\n%s", resp.StatusCode, page)
	}
	// htmx restoring history wants the whole page.
	_, page = b.do("GET", "/traces?service=payments", nil, map[string]string{"HX-Request": "true", "HX-History-Restore-Request": "true"})
	if !strings.Contains(page, "<html") {
		t.Error("htmx history restore of /traces: got a fragment, want the page")
	}
	resp, page = b.do("GET", "/traces?error=maybe", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != 400 || strings.Contains(page, "<html") || !strings.Contains(page, "error must be") {
		t.Errorf("htmx GET /traces?error=maybe: %d, want 400 with the message alone:\n%s", resp.StatusCode, page)
	}
}

// tpSpanBlock is the HTML of a span's row through to the next span's row.
func tpSpanBlock(t *testing.T, page, span string) string {
	t.Helper()
	i := strings.Index(page, `data-testid="span-row" data-span-id="`+span+`"`)
	if i < 0 {
		t.Fatalf("no row for span %s", span)
	}
	rest := page[i+1:]
	if j := strings.Index(rest, `data-testid="span-row"`); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestTraceView(t *testing.T) {
	_, b, base := tpFixture(t)
	resp, page := b.do("GET", "/traces/"+tpT1, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /traces/T1: %d\n%s", resp.StatusCode, page)
	}
	noInlineCode(t, page)

	// The tree in depth-first order with depths; the critical path on A, C,
	// E and F.
	type row struct {
		id    string
		depth string
		crit  bool
	}
	var got []row
	for _, m := range tpSpanRowRe.FindAllStringSubmatch(page, -1) {
		got = append(got, row{m[1], m[2], m[3] == "true"})
	}
	want := []row{{tpA, "0", true}, {tpB, "1", false}, {tpC, "1", true}, {tpD, "2", false}, {tpE, "2", true}, {tpF, "1", true}, {tpG, "0", false}}
	if !slices.Equal(got, want) {
		t.Errorf("span rows (id, depth, critical):\n got %v\nwant %v", got, want)
	}
	// Critical spans carry the class and segments on their bars; the legend
	// explains them.
	for _, r := range want {
		block := tpSpanBlock(t, page, r.id)
		if hasSeg := strings.Contains(block, `data-testid="crit-seg"`); hasSeg != r.crit {
			t.Errorf("span %s: critical-path segment %v, want %v", r.id, hasSeg, r.crit)
		}
	}
	if !regexp.MustCompile(`class="span-row crit[^"]*" id="span-` + tpE + `"`).MatchString(page) {
		t.Errorf("span E's row lacks the crit class")
	}
	if !strings.Contains(page, `data-testid="trace-legend"`) || !strings.Contains(page, "critical path (4 spans)") {
		t.Error("no legend for the critical path naming 4 spans")
	}

	// Subtrees nest as open <details>: C's holds D and E, not F.
	c := page[strings.Index(page, `<details class="span-node" open data-testid="span-node" data-span-id="`+tpC+`"`):]
	if !strings.Contains(c[:strings.Index(c, `data-span-id="`+tpF+`"`)], `data-span-id="`+tpE+`"`) {
		t.Error("E does not nest in C's subtree before F")
	}

	// Bars are in percent of the trace's duration: C runs from 10% for 80%.
	if !strings.Contains(tpSpanBlock(t, page, tpC), `<rect class="bar" x="10.000%" width="80.000%"`) {
		t.Errorf("C's bar: want x=10%% width=80%%:\n%s", tpSpanBlock(t, page, tpC))
	}

	// Log lines under the spans that wrote them; a line of an unknown span
	// under the root; T2's lines not at all.
	logs := map[string][]string{}
	for _, m := range tpLogsRe.FindAllStringSubmatch(page, -1) {
		for _, bm := range tpLogBodyRe.FindAllStringSubmatch(m[2], -1) {
			logs[m[1]] = append(logs[m[1]], bm[1])
		}
	}
	wantLogs := map[string][]string{
		tpA: {"line of a span that was never sent"},
		tpC: {"reserving stock for order o-4711"},
		tpE: {"card declined by issuer"},
	}
	if fmt.Sprint(logs) != fmt.Sprint(wantLogs) {
		t.Errorf("log lines by span:\n got %v\nwant %v", logs, wantLogs)
	}
	if strings.Contains(page, "home page served") {
		t.Error("a log line of another trace is shown")
	}
	// Each log line links to the logs explorer for this trace.
	eBlock := tpSpanBlock(t, page, tpE)
	m := regexp.MustCompile(`<li class="log sev-error" data-testid="span-log"><a href="([^"]*)"`).FindStringSubmatch(eBlock)
	if m == nil {
		t.Fatalf("E's error log line has no link or severity class:\n%s", eBlock)
	}
	u, _ := url.Parse(html.UnescapeString(m[1]))
	from, errFrom := time.Parse(time.RFC3339, u.Query().Get("from"))
	to, errTo := time.Parse(time.RFC3339, u.Query().Get("to"))
	if u.Path != "/logs" || u.Query().Get("query") != "trace_id:"+tpT1 || errFrom != nil || errTo != nil ||
		!from.Before(base) || !to.After(base.Add(100*time.Millisecond)) {
		t.Errorf("log line link %q: want /logs?query=trace_id:%s with from before and to after the trace", u, tpT1)
	}

	// E's details: status, kind, ids, attributes, event with its
	// attributes, link to T2, a link to its logs and its service.
	for _, want := range []string{
		`data-testid="span-details"`,
		`<td data-testid="detail-status" class="error">error: card declined</td>`,
		`<td data-testid="detail-kind">server</td>`,
		`<td class="mono" data-testid="detail-span-id">` + tpE + `</td>`,
		`<a href="#span-` + tpC + `">` + tpC + `</a>`,
		`<th class="mono">payment.provider</th><td class="mono">acme-pay</td>`,
		`<strong>retry</strong>`, `<th class="mono">attempt</th><td class="mono">2</td>`, `+60ms`,
		`href="/traces/` + tpT2 + `?span=` + tpT2Root + `#span-` + tpT2Root + `"`,
		`<th class="mono">link.reason</th><td class="mono">same customer</td>`,
		`<th class="mono">host.name</th><td class="mono">node-1</td>`,
		`href="/services/payments"`,
		`data-testid="span-logs-link"`,
		`<span class="badge err">error</span>`,
		`<line class="event" x1="60.000%"`,
	} {
		if !strings.Contains(eBlock, want) {
			t.Errorf("span E lacks %q", want)
		}
	}
	sl := regexp.MustCompile(`<a href="([^"]*)" data-testid="span-logs-link"`).FindStringSubmatch(eBlock)
	if sl == nil {
		t.Fatal("no link from span E to its logs")
	}
	su, _ := url.Parse(html.UnescapeString(sl[1]))
	if su.Path != "/logs" || su.Query().Get("query") != "trace_id:"+tpT1+" AND span_id:"+tpE {
		t.Errorf("span E's logs link %q: want its trace and span id", su)
	}
	if !strings.Contains(tpSpanBlock(t, page, tpA), `<th class="mono">http.route</th><td class="mono">/checkout</td>`) {
		t.Error("root span's attributes lack http.route")
	}
	for _, want := range []string{`data-testid="trace-duration">100ms<`, `data-testid="trace-span-count">7<`, `href="/services/auth" class="svc-tag"`} {
		if !strings.Contains(page, want) {
			t.Errorf("trace facts lack %q", want)
		}
	}
}

func TestTraceViewOptions(t *testing.T) {
	_, b, _ := tpFixture(t)
	// open=1 folds every subtree below the first level.
	_, page := b.do("GET", "/traces/"+tpT1+"?open=1", nil, nil)
	if !strings.Contains(page, `<details class="span-node" open data-testid="span-node" data-span-id="`+tpA+`"`) ||
		!strings.Contains(page, `<details class="span-node" data-testid="span-node" data-span-id="`+tpC+`"`) {
		t.Error("open=1: want A open and C folded")
	}
	// span=<id> opens the way to the span and its details, and marks it.
	_, page = b.do("GET", "/traces/"+tpT1+"?open=0&span="+tpE, nil, nil)
	for _, want := range []string{
		`<details class="span-node" open data-testid="span-node" data-span-id="` + tpA + `"`,
		`<details class="span-node" open data-testid="span-node" data-span-id="` + tpC + `"`,
		`class="span-row crit err selected" id="span-` + tpE + `"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("span=E: page lacks %q", want)
		}
	}
	if !strings.Contains(tpSpanBlock(t, page, tpE), `<details class="span-info" data-testid="span-details" open>`) {
		t.Error("span=E: E's details are not open")
	}
	// A trace of two spans with no logs: leaves are plain rows.
	_, page = b.do("GET", "/traces/"+tpT3, nil, nil)
	if !strings.Contains(page, `<div class="span-node leaf" data-testid="span-node" data-span-id="`+tpT3Root+`"`) {
		t.Error("T3's single span is not a leaf row")
	}
}

func TestTraceViewErrors(t *testing.T) {
	f, b, _ := tpFixture(t)
	resp, page := b.do("GET", "/traces/5b8efff798038103d269b633813fc60c", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "Trace not found") || !strings.Contains(page, "5b8efff798038103d269b633813fc60c") {
		t.Errorf("unknown trace: %d, want 404 naming it\n%s", resp.StatusCode, page)
	}
	for _, id := range []string{"xyz", "aa00", tpT1 + "00", "zz000000000000000000000000000001"} {
		resp, page := b.do("GET", "/traces/"+id, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "32 hex") {
			t.Errorf("GET /traces/%s: %d, want 400 saying a trace id is 32 hex digits", id, resp.StatusCode)
		}
	}
	// Signed out, the pages send to the login.
	anon := newBrowser(t, f.srv.URL)
	for _, p := range []string{"/traces", "/traces/" + tpT1} {
		resp, _ := anon.do("GET", p, nil, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET %s signed out: %d to %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestTraceViewCapsSpans: a trace wider than the render cap shows the
// first spans and says so.
func TestTraceViewCapsSpans(t *testing.T) {
	f := newFixture(t)
	const n = 5100
	base := time.Now().Add(-5 * time.Minute)
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty()
	ss.Resource().Attributes().PutStr("service.name", "fanout")
	spans := ss.ScopeSpans().AppendEmpty().Spans()
	tid := tpTraceID("cc000000000000000000000000000001")
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetTraceID(tid)
		var id pcommon.SpanID
		id[0], id[6], id[7] = 1, byte(i>>8), byte(i)
		sp.SetSpanID(id)
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetName("call")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Microsecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i+10) * time.Microsecond)))
	}
	if err := f.store.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := f.store.Trace(context.Background(), hex.EncodeToString(tid[:]))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wide trace: %d spans stored after 30s, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	resp, page := b.do("GET", "/traces/"+hex.EncodeToString(tid[:]), nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("wide trace: %d", resp.StatusCode)
	}
	if rows := strings.Count(page, `data-testid="span-row"`); rows != 5000 {
		t.Errorf("wide trace of %d spans: %d rows, want 5000", n, rows)
	}
	if !strings.Contains(page, "Showing the first 5000 of 5100 spans") {
		t.Error("wide trace: no note that spans were left out")
	}
	// So wide a trace links to each span's details instead of carrying
	// them all; the link opens the span's details.
	if links, inline := strings.Count(page, `data-testid="span-details-link"`), strings.Count(page, `data-testid="span-details"`); links != 5000 || inline != 0 {
		t.Errorf("wide trace: %d details links and %d inline details, want 5000 and 0", links, inline)
	}
	m := regexp.MustCompile(`<a class="span-info-link" href="([^"]*)"`).FindStringSubmatch(page[strings.Index(page, `data-span-id="010000000000000a"`):])
	if m == nil {
		t.Fatal("wide trace: no details link for span 010000000000000a")
	}
	_, page = b.do("GET", html.UnescapeString(m[1]), nil, nil)
	if n := strings.Count(page, `data-testid="span-details"`); n != 1 || !strings.Contains(tpSpanBlock(t, page, "010000000000000a"), `<details class="span-info" data-testid="span-details" open>`) {
		t.Errorf("GET %s: %d inline details, want span 010000000000000a's alone, open", m[1], n)
	}
}
