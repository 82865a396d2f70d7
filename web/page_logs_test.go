package web_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/logstore"
	"github.com/lookout-dev/lookout/web"
)

// logsN is the records of the logs fixture: record i has the body
// "record-<i> ...", and newest first they run 249 down to 0.
const logsN = 250

// logsTie are the records that share one timestamp, across the border
// of the first page (newest first, record 150 is the 100th row).
func logsTie(i int) bool { return i >= 145 && i <= 154 }

var logsServices = []string{"frontend", "checkout", "payments"}

// logsSev is record i's severity class, text and number.
func logsSev(i int) (string, string, plog.SeverityNumber) {
	switch i % 10 {
	case 6, 7:
		return "debug", "DEBUG", plog.SeverityNumberDebug
	case 8:
		return "warn", "WARN", plog.SeverityNumberWarn
	case 9:
		return "error", "ERROR", plog.SeverityNumberError
	}
	return "info", "INFO", plog.SeverityNumberInfo
}

func logsService(i int) string { return logsServices[i%3] }

// logsTraced reports whether record i has a trace and span id.
func logsTraced(i int) bool { return i%4 == 0 }

func logsTraceID(i int) string { return fmt.Sprintf("%032x", 0xabc000+i) }
func logsSpanID(i int) string  { return fmt.Sprintf("%016x", 0xdef000+i) }

// newLogsFixture stores logsN records of three services and four
// severities, every two seconds from a whole minute 9 to 10 minutes ago
// (so inside the default range, now-15m, and some on the edges of its
// 20 s histogram buckets), and signs in.
func newLogsFixture(t *testing.T) (*fixture, *browser, time.Time) {
	t.Helper()
	f := newFixture(t)
	base := time.Now().UTC().Add(-9 * time.Minute).Truncate(time.Minute) // records on bucket edges too
	ld := plog.NewLogs()
	scopes := map[string]plog.ScopeLogs{}
	for _, svc := range logsServices {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		rl.Resource().Attributes().PutStr("host.name", "host-"+svc)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("shop/" + svc)
		scopes[svc] = sl
	}
	for i := range logsN {
		lr := scopes[logsService(i)].LogRecords().AppendEmpty()
		ts := base.Add(time.Duration(i) * 2 * time.Second)
		if logsTie(i) {
			ts = base.Add(150 * 2 * time.Second)
		}
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
		_, text, num := logsSev(i)
		lr.SetSeverityText(text)
		lr.SetSeverityNumber(num)
		body := fmt.Sprintf("record-%03d request handled", i)
		status := int64(200)
		if num == plog.SeverityNumberError {
			body = fmt.Sprintf("record-%03d payment declined", i)
			status = 502
		}
		lr.Body().SetStr(body)
		lr.Attributes().PutInt("http.status_code", status)
		lr.Attributes().PutStr("user.id", fmt.Sprintf("u-%d", i%7))
		if logsTraced(i) {
			tid, _ := hex.DecodeString(logsTraceID(i))
			sid, _ := hex.DecodeString(logsSpanID(i))
			lr.SetTraceID(pcommon.TraceID(tid))
			lr.SetSpanID(pcommon.SpanID(sid))
		}
	}
	if err := f.store.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	logsWaitSearchable(t, f, "", logsN)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	return f, b, base
}

// logsWaitSearchable polls until query finds want records (indexing runs
// behind the acknowledgement).
func logsWaitSearchable(t *testing.T, f *fixture, query string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := f.store.SearchLogs(context.Background(), logstore.LogQuery{Query: query, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q finds %d records after 30s, want %d", query, res.Total, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logsRow is a table row as the page shows it.
type logsRow struct {
	id                int // from the body's record-<i>
	ts                string
	service, severity string
	sevClass          string
	traceHref, spanID string
	html              string
}

var (
	logsBodyRE    = regexp.MustCompile(`data-testid="log-body">record-(\d+)`)
	logsTSRE      = regexp.MustCompile(`data-ts="([^"]+)"`)
	logsServiceRE = regexp.MustCompile(`data-testid="log-service">([^<]*)<`)
	logsSevRE     = regexp.MustCompile(`class="sev sev-([a-z]+)" data-testid="log-severity">([^<]*)<`)
	logsTraceRE   = regexp.MustCompile(`<a href="([^"]*)"[^>]*data-testid="trace-link"`)
	logsSpanRE    = regexp.MustCompile(`data-testid="span-id">([^<]*)<`)
	logsBarRE     = regexp.MustCompile(`<rect [^>]*data-testid="hist-bar" data-severity="([a-z]+)" data-count="(\d+)"`)
)

// logsRows parses the rows of a page (or of one event's fragment).
func logsRows(t *testing.T, page string) []logsRow {
	t.Helper()
	var rows []logsRow
	parts := strings.Split(page, `<tr data-testid="log-row"`)
	for _, p := range parts[1:] {
		if i := strings.Index(p, "</tr>"); i >= 0 {
			// A row's details hold tables with their own rows: cut at the
			// row's last cell instead.
			if j := strings.Index(p, `<td class="trace mono">`); j >= 0 {
				if k := strings.Index(p[j:], "</tr>"); k >= 0 {
					i = j + k
				}
			}
			p = p[:i]
		}
		var r logsRow
		r.html = p
		m := logsBodyRE.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("row without a record-<i> body:\n%s", p)
		}
		r.id, _ = strconv.Atoi(m[1])
		if m := logsTSRE.FindStringSubmatch(p); m != nil {
			r.ts = m[1]
		}
		if m := logsServiceRE.FindStringSubmatch(p); m != nil {
			r.service = m[1]
		}
		if m := logsSevRE.FindStringSubmatch(p); m != nil {
			r.sevClass, r.severity = m[1], m[2]
		}
		if m := logsTraceRE.FindStringSubmatch(p); m != nil {
			r.traceHref = html.UnescapeString(m[1])
		}
		if m := logsSpanRE.FindStringSubmatch(p); m != nil {
			r.spanID = m[1]
		}
		rows = append(rows, r)
	}
	return rows
}

func logsIDs(rows []logsRow) []int {
	ids := make([]int, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	return ids
}

func logsGet(t *testing.T, b *browser, path string, want int) string {
	t.Helper()
	resp, page := b.do("GET", path, nil, nil)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, page)
	}
	return page
}

func TestLogsPageFilters(t *testing.T) {
	f, b, _ := newLogsFixture(t)
	resp, page := b.do("GET", "/logs", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /logs: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /logs: CSP %q", csp)
	}
	noInlineCode(t, page)
	for _, id := range []string{"logs-form", "logs-query", "histogram-pending", "histogram-inline", "log-table", "live-controls", "logs-older", "logs-help"} {
		if !strings.Contains(page, `data-testid="`+id+`"`) {
			t.Errorf("GET /logs: no data-testid %q", id)
		}
	}
	if !regexp.MustCompile(`data-testid="live-controls"[^>]* hidden`).MatchString(page) {
		t.Errorf("GET /logs: the live controls are not hidden without JavaScript")
	}
	rows := logsRows(t, page)
	if len(rows) < 100 || rows[0].id != logsN-1 {
		t.Fatalf("GET /logs: %d rows starting %v, want the newest 100 or more from record %d", len(rows), logsIDs(rows[:min(3, len(rows))]), logsN-1)
	}

	cases := []struct {
		query string
		want  func(i int) bool
	}{
		{"service:checkout AND severity:error", func(i int) bool {
			c, _, _ := logsSev(i)
			return logsService(i) == "checkout" && c == "error"
		}},
		{"declined", func(i int) bool { c, _, _ := logsSev(i); return c == "error" }},
		{"level:>=warn AND NOT service:frontend", func(i int) bool {
			c, _, _ := logsSev(i)
			return (c == "warn" || c == "error") && logsService(i) != "frontend"
		}},
		{"http.status_code:>=500 AND user.id:u-3", func(i int) bool { c, _, _ := logsSev(i); return c == "error" && i%7 == 3 }},
		{`"request handled" AND service:payments`, func(i int) bool {
			c, _, _ := logsSev(i)
			return c != "error" && logsService(i) == "payments"
		}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			var want []int
			for i := logsN - 1; i >= 0; i-- {
				if c.want(i) {
					want = append(want, i)
				}
			}
			if len(want) >= 100 {
				t.Fatalf("case %q matches %d records: keep it under a page", c.query, len(want))
			}
			page := logsGet(t, b, "/logs?"+url.Values{"query": {c.query}}.Encode(), 200)
			rows := logsRows(t, page)
			got := logsIDs(rows)
			// Ties share a timestamp: compare them as a set.
			if !slices.Equal(logsSorted(got), logsSorted(want)) {
				t.Fatalf("query %q: records %v, want %v", c.query, got, want)
			}
			for _, r := range rows {
				wantClass, wantText, _ := logsSev(r.id)
				if r.service != logsService(r.id) || r.sevClass != wantClass || r.severity != wantText {
					t.Errorf("query %q: record %d shows service %q severity %q (%s), want %q %q (%s)",
						c.query, r.id, r.service, r.severity, r.sevClass, logsService(r.id), wantText, wantClass)
				}
			}
			total := regexp.MustCompile(`data-testid="logs-total">\s*Showing the newest (\d+) of\s*(\d+) matching`).FindStringSubmatch(page)
			if total == nil || total[1] != strconv.Itoa(len(want)) || total[2] != strconv.Itoa(len(want)) {
				t.Errorf("query %q: total line %v, want %d of %d", c.query, total, len(want), len(want))
			}
			if strings.Contains(page, `data-testid="logs-older"`) {
				t.Errorf("query %q: an older link on the only page", c.query)
			}
			if !strings.Contains(page, `value="`+html.EscapeString(c.query)+`"`) {
				t.Errorf("query %q: the query box does not keep the query", c.query)
			}
		})
	}

	// htmx asks for the results alone.
	_, frag := b.do("GET", "/logs?query=declined", nil, map[string]string{"HX-Request": "true"})
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-testid="log-table"`) {
		t.Errorf("htmx GET /logs: want the results fragment alone, got %.200q", frag)
	}
	noInlineCode(t, frag)

	// A viewer may read; a signed-out browser goes to the login page.
	f.createLogsViewer(t)
	v := newBrowser(t, f.srv.URL)
	v.signIn("vera", "vera-password-1")
	logsGet(t, v, "/logs?query=declined", 200)
	anon := newBrowser(t, f.srv.URL)
	if resp, _ := anon.do("GET", "/logs", nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("signed-out GET /logs: %d to %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := anon.do("GET", "/logs/tail", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed-out GET /logs/tail: %d, want a redirect to /login", resp.StatusCode)
	}
}

func (f *fixture) createLogsViewer(t *testing.T) {
	t.Helper()
	if err := f.auth.CreateUser(context.Background(), "vera", "vera-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
}

func logsSorted(ids []int) []int {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// TestLogsHistogram: the bars of each severity add up to the records of
// that severity, for all records and for a query.
func TestLogsHistogram(t *testing.T) {
	_, b, _ := newLogsFixture(t)
	cases := []struct {
		query string
		match func(i int) bool
	}{
		{"", func(int) bool { return true }},
		{"service:checkout", func(i int) bool { return logsService(i) == "checkout" }},
		{"NOT severity:info", func(i int) bool { c, _, _ := logsSev(i); return c != "info" }},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			want := map[string]int{}
			total := 0
			for i := range logsN {
				if c.match(i) {
					cls, _, _ := logsSev(i)
					want[cls]++
					total++
				}
			}
			// The page loads its histogram after the rows; without
			// JavaScript, hist=1 draws it in.
			q := url.Values{}
			if c.query != "" {
				q.Set("query", c.query)
			}
			pending := logsGet(t, b, "/logs?"+q.Encode(), 200)
			m := regexp.MustCompile(`data-testid="histogram-pending" hx-get="([^"]+)"`).FindStringSubmatch(pending)
			if m == nil {
				t.Fatalf("query %q: the page does not load its histogram", c.query)
			}
			hxPath := html.UnescapeString(m[1])
			q.Set("hist", "1")
			for _, path := range []string{hxPath, "/logs?" + q.Encode()} {
				logsCheckHistogram(t, b, path, c.query, want, total)
			}
		})
	}
}

// logsCheckHistogram checks the histogram path answers against what the
// query matches.
func logsCheckHistogram(t *testing.T, b *browser, path, query string, want map[string]int, total int) {
	t.Helper()
	page := logsGet(t, b, path, 200)
	got := map[string]int{}
	for _, m := range logsBarRE.FindAllStringSubmatch(page, -1) {
		n, _ := strconv.Atoi(m[2])
		got[m[1]] += n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s (query %q): bars add up to %v, want %v", path, query, got, want)
	}
	buckets := strings.Count(page, `data-testid="hist-bucket"`)
	if buckets < 30 || buckets > 50 {
		t.Errorf("%s (query %q): %d buckets, want 30 to 50", path, query, buckets)
	}
	if !strings.Contains(page, `data-total="`+strconv.Itoa(total)+`" data-exact="true"`) {
		t.Errorf("%s (query %q): histogram total is not an exact %d: %s", path, query, total, regexp.MustCompile(`data-testid="histogram"[^>]*`).FindString(page))
	}
	if strings.Contains(page, `data-testid="hist-skipped"`) || strings.Contains(page, "hist-inexact") {
		t.Errorf("%s (query %q): buckets not counted or inexact in a small store", path, query)
	}
}

// TestLogsPaging follows the older links from the newest page: every
// record once, newest first, though ten share the timestamp at the first
// page's end.
func TestLogsPaging(t *testing.T) {
	_, b, _ := newLogsFixture(t)
	seen := map[int]int{}
	var order []int
	var lastTS time.Time
	path := "/logs"
	pages := 0
	for path != "" {
		pages++
		if pages > 10 {
			t.Fatalf("more than 10 pages of %d records", logsN)
		}
		page := logsGet(t, b, path, 200)
		rows := logsRows(t, page)
		if len(rows) == 0 {
			t.Fatalf("page %d (%s) is empty", pages, path)
		}
		for _, r := range rows {
			seen[r.id]++
			order = append(order, r.id)
			ts, err := time.Parse(time.RFC3339Nano, r.ts)
			if err != nil {
				t.Fatalf("record %d: data-ts %q: %v", r.id, r.ts, err)
			}
			if !lastTS.IsZero() && ts.After(lastTS) {
				t.Errorf("page %d: record %d at %s after an older one at %s", pages, r.id, ts, lastTS)
			}
			lastTS = ts
		}
		if pages == 1 {
			if len(rows) != 105 || !strings.Contains(page, `data-testid="logs-tie-note"`) {
				t.Errorf("first page: %d rows, tie note %v; want 105, ending with all 10 records at the shared timestamp",
					len(rows), strings.Contains(page, "logs-tie-note"))
			}
		}
		path = linkHref(page, "logs-older")
		if pages > 1 && linkHref(page, "logs-newest") == "" {
			t.Errorf("page %d has no link back to the newest", pages)
		}
	}
	var untied []int
	for _, id := range order {
		if !logsTie(id) {
			untied = append(untied, id)
		}
	}
	if !slices.IsSortedFunc(untied, func(a, b int) int { return b - a }) {
		t.Errorf("records over the pages in order %v, want newest first", order)
	}
	for i := range logsN {
		if seen[i] != 1 {
			t.Errorf("record %d shown %d times over %d pages, want once", i, seen[i], pages)
		}
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3 (105, 100 and 45 records)", pages)
	}
}

// TestLogsTraceLinks: a record with a trace id links to its trace and
// shows its span id; one without has neither.
func TestLogsTraceLinks(t *testing.T) {
	_, b, _ := newLogsFixture(t)
	page := logsGet(t, b, "/logs?"+url.Values{"query": {"service:frontend"}}.Encode(), 200)
	rows := logsRows(t, page)
	if len(rows) == 0 {
		t.Fatal("no rows for service:frontend")
	}
	traced := 0
	for _, r := range rows {
		if logsTraced(r.id) {
			traced++
			if want := "/traces/" + logsTraceID(r.id); r.traceHref != want {
				t.Errorf("record %d: trace link %q, want %q", r.id, r.traceHref, want)
			}
			if r.spanID != logsSpanID(r.id) {
				t.Errorf("record %d: span id %q, want %q", r.id, r.spanID, logsSpanID(r.id))
			}
			if !strings.Contains(r.html, "query=trace_id%3A"+logsTraceID(r.id)) {
				t.Errorf("record %d: no link to the logs of its trace", r.id)
			}
		} else if r.traceHref != "" || r.spanID != "" {
			t.Errorf("record %d has no trace but shows link %q span %q", r.id, r.traceHref, r.spanID)
		}
		for _, want := range []string{`data-testid="log-attributes"`, "http.status_code", `data-testid="log-resource"`, "host-frontend", "<details>"} {
			if !strings.Contains(r.html, want) {
				t.Errorf("record %d: details lack %q", r.id, want)
			}
		}
	}
	if traced == 0 {
		t.Error("no traced record among the rows")
	}
}

func TestLogsBadInput(t *testing.T) {
	_, b, _ := newLogsFixture(t)
	cases := []struct {
		path, want string
	}{
		{"/logs?query=%22unclosed", "position"},
		{"/logs?query=" + url.QueryEscape("(a OR b"), "position"},
		{"/logs?from=yesterday", "from"},
		{"/logs?from=now-1h&to=now-2h", "must be before"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			page := logsGet(t, b, c.path, http.StatusBadRequest)
			m := regexp.MustCompile(`data-testid="error">([^<]*)<`).FindStringSubmatch(page)
			if m == nil || !strings.Contains(m[1], c.want) {
				t.Fatalf("GET %s: error %v, want one with %q", c.path, m, c.want)
			}
			if !strings.Contains(page, `data-testid="logs-form"`) {
				t.Errorf("GET %s: the form is not shown again", c.path)
			}
			noInlineCode(t, page)
		})
	}
	for path, want := range map[string]string{
		"/logs/tail?query=%22unclosed": "position",
		"/logs/tail?since=yesterday":   "since",
	} {
		resp, body := b.do("GET", path, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %q, want 400 with %q", path, resp.StatusCode, body, want)
		}
	}
}

// sseEvent is one server-sent event; comments come as name ":".
type sseEvent struct{ name, id, data string }

// logsTail opens a live tail and returns its events; cancel ends it.
func logsTail(t *testing.T, b *browser, path string) (*http.Response, <-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.c.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	events := make(chan sseEvent, 64)
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		close(events)
		return resp, events, cancel
	}
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || data != nil {
					ev.data = strings.Join(data, "\n")
					select {
					case events <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				ev.name = ":"
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return resp, events, cancel
}

// logsNext is the next event other than a comment, failing after d.
func logsNext(t *testing.T, events <-chan sseEvent, d time.Duration, what string) sseEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended", what)
			}
			if ev.name != ":" {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no event within %s", what, d)
		}
	}
}

func logsAppend(t *testing.T, f *fixture, body string, ts time.Time) {
	t.Helper()
	logsAppendN(t, f, 1, func(int) (string, time.Time) { return body, ts })
}

// logsAppendN stores n records of the service "tailer" in one batch,
// record i with the body and timestamp rec(i) gives.
func logsAppendN(t *testing.T, f *fixture, n int, rec func(i int) (string, time.Time)) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "tailer")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		body, ts := rec(i)
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
		lr.Body().SetStr(body)
		lr.SetTraceID(pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	}
	if err := f.store.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
}

// TestLogsTail: a tail sends a record stored after it connected, as a
// table row, and not the records from before; with since in the past it
// first sends what came after since, oldest first.
func TestLogsTail(t *testing.T) {
	f, b, base := newLogsFixture(t)
	since := time.Now().UTC().Format(time.RFC3339Nano)
	resp, events, cancel := logsTail(t, b, "/logs/tail?"+url.Values{"query": {"service:tailer OR record"}, "since": {since}}.Encode())
	defer cancel()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /logs/tail: %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	select {
	case ev := <-events:
		if ev.name != ":" {
			t.Fatalf("first event %+v, want the opening comment", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no opening comment within 10s")
	}
	at := time.Now().UTC()
	logsAppend(t, f, "tail-marker <b>escaped</b>", at)
	ev := logsNext(t, events, 30*time.Second, "the appended record")
	if ev.name != "row" || !strings.Contains(ev.data, "tail-marker &lt;b&gt;escaped&lt;/b&gt;") {
		t.Fatalf("event %+v, want a row with the appended record, escaped", ev)
	}
	if !strings.Contains(ev.data, `data-testid="log-row"`) || !strings.Contains(ev.data, `href="/traces/aa0102030405060708090a0b0c0d0e0f"`) {
		t.Errorf("row event lacks the row or its trace link:\n%s", ev.data)
	}
	if got, err := time.Parse(time.RFC3339Nano, ev.id); err != nil || !got.Equal(at.Truncate(time.Nanosecond)) {
		t.Errorf("row event id %q, want the record's timestamp %s", ev.id, at.Format(time.RFC3339Nano))
	}
	noInlineCode(t, ev.data)
	cancel()

	// Resuming from a record's timestamp sends the ones after it, oldest
	// first, then the one appended above.
	from := base.Add(240 * 2 * time.Second).Format(time.RFC3339Nano)
	_, events, cancel2 := logsTail(t, b, "/logs/tail?"+url.Values{"query": {"record OR tail-marker"}, "since": {from}}.Encode())
	defer cancel2()
	var got []string
	for len(got) < 10 {
		ev := logsNext(t, events, 30*time.Second, "the resumed tail")
		if ev.name != "row" {
			t.Fatalf("resumed tail: event %+v, want rows", ev)
		}
		m := regexp.MustCompile(`data-testid="log-body">([^<]*)<`).FindStringSubmatch(ev.data)
		if m == nil {
			t.Fatalf("row without a body: %s", ev.data)
		}
		got = append(got, strings.Fields(m[1])[0])
	}
	want := []string{"record-241", "record-242", "record-243", "record-244", "record-245", "record-246", "record-247", "record-248", "record-249", "tail-marker"}
	if !slices.Equal(got, want) {
		t.Errorf("resumed from record 240: %v, want %v", got, want)
	}
}

var logsEventBodyRE = regexp.MustCompile(`data-testid="log-body">([^<]*)<`)

// logsEventBody is the body of the record a row event carries.
func logsEventBody(t *testing.T, ev sseEvent) string {
	t.Helper()
	m := logsEventBodyRE.FindStringSubmatch(ev.data)
	if m == nil {
		t.Fatalf("row event without a body: %s", ev.data)
	}
	return html.UnescapeString(m[1])
}

// logsOpenTail opens a live tail that must be accepted, waits for its
// opening comment and returns its events; cancel ends it, as does the
// end of the test.
func logsOpenTail(t *testing.T, b *browser, path string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	resp, events, cancel := logsTail(t, b, path)
	t.Cleanup(cancel)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200", path, resp.StatusCode)
	}
	select {
	case ev, ok := <-events:
		if !ok || ev.name != ":" {
			t.Fatalf("GET %s: first event %+v (stream open %v), want the opening comment", path, ev, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("GET %s: no opening comment within 10s", path)
	}
	return events, cancel
}

// logsUntil reads events other than comments until done says so, failing
// when the stream ends or after d.
func logsUntil(t *testing.T, events <-chan sseEvent, d time.Duration, what string, done func(sseEvent) bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended", what)
			}
			if ev.name != ":" && done(ev) {
				return
			}
		case <-timeout:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// logsTailAnswer asks for a live tail and returns the status, Retry-After
// and, unless the tail was accepted (and is ended at once), the body.
func logsTailAnswer(t *testing.T, b *browser, path string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

// logsViewer creates a viewer and signs it in.
// logsAwaitTailPlace polls until b may open a tail again once a cancelled
// tail has let go of place (the process' cap or its user's), which the
// failure names.
func logsAwaitTailPlace(t *testing.T, b *browser, place string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, body := logsTailAnswer(t, b, "/logs/tail")
		if code == http.StatusOK {
			return
		}
		if code != http.StatusTooManyRequests {
			t.Fatalf("tail after a cancel: %d %q, want 200 or 429", code, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("a tail whose request was cancelled still holds " + place + " after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logsViewer(t *testing.T, f *fixture, name string) *browser {
	t.Helper()
	if err := f.auth.CreateUser(context.Background(), name, name+"-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv.URL)
	b.signIn(name, name+"-password-1")
	return b
}

// TestLogsTailClockSkew: more than a batch of records stamped minutes
// ahead (a sender whose clock runs fast) neither hide a record stamped
// now nor are tailed, and the tail says once that they exist; a since in
// the future still tails new records.
func TestLogsTailClockSkew(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	ahead := time.Now().UTC().Add(5 * time.Minute)
	logsAppendN(t, f, 250, func(i int) (string, time.Time) {
		return fmt.Sprintf("ahead-%03d", i), ahead.Add(time.Duration(i) * time.Millisecond)
	})
	logsWaitSearchable(t, f, "service:tailer", 250)

	cases := []struct{ name, since string }{
		{"since now", time.Now().UTC().Format(time.RFC3339Nano)},
		{"since in the future", ahead.Add(time.Hour).Format(time.RFC3339Nano)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, _ := logsOpenTail(t, b, "/logs/tail?"+url.Values{"query": {"service:tailer"}, "since": {c.since}}.Encode())
			marker := fmt.Sprintf("stamped-now-%d", i)
			logsAppend(t, f, marker, time.Now().UTC())
			notices := 0
			logsUntil(t, events, 30*time.Second, "since "+c.since+": the record stamped now", func(ev sseEvent) bool {
				switch ev.name {
				case "notice":
					if strings.Contains(ev.data, "ahead of this server's clock") {
						notices++
					}
				case "row":
					body := logsEventBody(t, ev)
					if strings.HasPrefix(body, "ahead-") {
						t.Fatalf("since %s: the tail sent %q, stamped 5 minutes ahead", c.since, body)
					}
					return body == marker
				default:
					t.Fatalf("since %s: event %+v, want rows and notices", c.since, ev)
				}
				return false
			})
			if notices != 1 {
				t.Errorf("since %s: %d notices of records stamped ahead before the new record, want 1", c.since, notices)
			}
		})
	}
}

// TestLogsTailBatches: records arriving faster than one read returns, 250
// of them sharing one timestamp, are each sent once, also when later polls
// read them again.
func TestLogsTailBatches(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	events, _ := logsOpenTail(t, b, "/logs/tail?query=service%3Atailer")
	const ties, seq = 250, 450
	t0 := time.Now().UTC()
	logsAppendN(t, f, ties+seq, func(i int) (string, time.Time) {
		if i < ties {
			return fmt.Sprintf("tie-%03d", i), t0
		}
		return fmt.Sprintf("seq-%03d", i-ties), t0.Add(time.Duration(i-ties+1) * time.Microsecond)
	})
	seen := map[string]int{}
	logsUntil(t, events, 60*time.Second, fmt.Sprintf("%d records", ties+seq), func(ev sseEvent) bool {
		if ev.name == "row" {
			body := logsEventBody(t, ev)
			if seen[body]++; seen[body] > 1 {
				t.Fatalf("record %q sent twice", body)
			}
		}
		return len(seen) == ties+seq
	})
	// Polls read those records again for a while: none is sent again
	// before a record stored after them.
	logsAppend(t, f, "sentinel", time.Now().UTC())
	logsUntil(t, events, 30*time.Second, "the sentinel", func(ev sseEvent) bool {
		if ev.name != "row" {
			return false
		}
		if body := logsEventBody(t, ev); body != "sentinel" {
			t.Fatalf("record %q sent again (%d times before)", body, seen[body])
		}
		return true
	})
}

// TestLogsTailCapAndCancel: at most 16 tails at once, the next is refused
// with 429; a tail whose client goes away ends and frees its place.
func TestLogsTailCapAndCancel(t *testing.T) {
	const maxTails = 16 // maxLiveTails in page_logs.go
	f := newFixture(t)
	// Six users, none past their own cap of 3: the fifth and sixth have 2.
	users := make([]*browser, 6)
	for i := range users {
		users[i] = logsViewer(t, f, fmt.Sprintf("tail%d", i))
	}
	var cancels []context.CancelFunc
	for i := range maxTails {
		_, cancel := logsOpenTail(t, users[i%len(users)], "/logs/tail")
		cancels = append(cancels, cancel)
	}
	code, retry, body := logsTailAnswer(t, users[5], "/logs/tail")
	if code != http.StatusTooManyRequests || retry == "" || !strings.Contains(body, "at most 16") {
		t.Fatalf("tail %d: %d Retry-After %q %q, want 429 with Retry-After for the process' cap", maxTails+1, code, retry, body)
	}

	// The first client goes away: its tail ends and another may start.
	cancels[0]()
	logsAwaitTailPlace(t, users[5], "its place")
}

// TestLogsTailPerUserCap: one user has at most 3 tails at once, the fourth
// is refused with 429 while another user still gets one; closing one of
// the three frees its place.
func TestLogsTailPerUserCap(t *testing.T) {
	const perUser = 3 // maxPrincipalTails in page_logs.go
	f := newFixture(t)
	admin := newBrowser(t, f.srv.URL)
	admin.signIn("admin", "admin-password-1")
	var cancels []context.CancelFunc
	for range perUser {
		_, cancel := logsOpenTail(t, admin, "/logs/tail")
		cancels = append(cancels, cancel)
	}
	code, retry, body := logsTailAnswer(t, admin, "/logs/tail")
	if code != http.StatusTooManyRequests || retry == "" || !strings.Contains(body, "of yours") {
		t.Fatalf("tail %d of one user: %d Retry-After %q %q, want 429 with Retry-After for the user's cap", perUser+1, code, retry, body)
	}
	// A second browser of the same user counts as the same user.
	again := newBrowser(t, f.srv.URL)
	again.signIn("admin", "admin-password-1")
	if code, _, body := logsTailAnswer(t, again, "/logs/tail"); code != http.StatusTooManyRequests {
		t.Fatalf("tail %d of one user, from another session: %d %q, want 429", perUser+1, code, body)
	}
	logsOpenTail(t, logsViewer(t, f, "vera"), "/logs/tail")

	cancels[0]()
	logsAwaitTailPlace(t, admin, "its user's place")
}

// TestLogsTailClose: closing the handler ends an open tail, and it refuses
// new ones.
func TestLogsTailClose(t *testing.T) {
	f := newFixture(t)
	h, err := web.New(web.Options{Auth: f.auth, Sessions: f.auth, Logs: f.store})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	b.signIn("admin", "admin-password-1")
	events, _ := logsOpenTail(t, b, "/logs/tail")
	h.Close()
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-events:
		case <-timeout:
			t.Fatal("the tail is still open 10s after Close")
		}
	}
	if code, _, body := logsTailAnswer(t, b, "/logs/tail"); code != http.StatusServiceUnavailable {
		t.Errorf("tail after Close: %d %q, want 503", code, body)
	}
}
