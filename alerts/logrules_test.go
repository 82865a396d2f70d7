package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookout-dev/lookout/logstore"
)

var _ LogCounter = (*logstore.Store)(nil)

func TestLoadLogRuleFiles(t *testing.T) {
	groups, _, err := loadLogRuleFiles([]string{"testdata/logrules_good.yml"})
	if err != nil {
		t.Fatalf("load good file: %v", err)
	}
	if len(groups) != 2 {
		t.Fatalf("got %d groups, want 2", len(groups))
	}
	g := groups[0]
	if g.name != "checkout" || g.file != "testdata/logrules_good.yml" || g.interval != 30*time.Second || len(g.rules) != 1 {
		t.Fatalf("group checkout = %+v", g)
	}
	r := g.rules[0]
	want := &logRule{
		name:          "CheckoutErrors",
		query:         "severity:error AND service:checkout",
		window:        5 * time.Minute,
		groupBy:       []string{"service", "http.route"},
		groupLabels:   []string{"service", "http_route"},
		above:         10,
		hold:          2 * time.Minute,
		keepFiringFor: time.Minute,
		labels:        labels.FromStrings("severity", "page"),
		annotations: labels.FromStrings(
			"runbook_url", "https://runbooks.example/checkout",
			"summary", "{{ $value }} errors in {{ $labels.service }} in 5m"),
	}
	if !sameLogRule(r, want) {
		t.Fatalf("rule = %+v\nwant %+v", r, want)
	}
	g = groups[1]
	if g.name != "everything" || g.interval != time.Minute || len(g.rules) != 1 {
		t.Fatalf("group everything = %+v", g)
	}
	r = g.rules[0]
	if r.name != "AnyFatal" || r.window != 24*time.Hour || r.above != 0 || r.hold != 0 || r.groupBy != nil || r.labels.Len() != 0 {
		t.Fatalf("rule AnyFatal = %+v", r)
	}
}

func sameLogRule(a, b *logRule) bool {
	return a.name == b.name && a.query == b.query && a.window == b.window &&
		slices.Equal(a.groupBy, b.groupBy) && slices.Equal(a.groupLabels, b.groupLabels) &&
		a.above == b.above && a.hold == b.hold && a.keepFiringFor == b.keepFiringFor &&
		labels.Equal(a.labels, b.labels) && labels.Equal(a.annotations, b.annotations)
}

func TestLoadLogRuleFilesProblems(t *testing.T) {
	good, bad := "testdata/logrules_good.yml", "testdata/logrules_bad.yml"
	dup, syntax := "testdata/logrules_dup.yml", "testdata/logrules_syntax.yml"
	groups, _, err := loadLogRuleFiles([]string{good, bad, dup, syntax, "testdata/logrules_missing.yml"})
	if err == nil || groups != nil {
		t.Fatalf("load bad files = %d groups, %v; want an error and no groups", len(groups), err)
	}
	// Every problem, each as file:line:column: message (file:line: where
	// yaml.v3 gives no column).
	want := []struct {
		at, msg string
	}{
		{bad + ":3", `interval: "soon" is not a duration`},
		{bad + ":4", `unknown field "colour" in a group`},
		{bad + ":10", "rule has no alert"},
		{bad + ":13", `alert name "Bad Name" is not valid`},
		{bad + ":15", `window: "5x" is not a duration`},
		{bad + ":16", `above must be a number, 0 or more, not "-1"`},
		{bad + ":17", `for: "later" is not a duration`},
		{bad + ":19", "query: at position"},
		{bad + ":22", `unknown field "threshold" in a rule`},
		{bad + ":26", `above must be a number, 0 or more, not "ten"`},
		{bad + ":27", `group_by fields "service.name" and "service_name" both make label "service_name"`},
		{bad + ":27", `group_by: cannot group by "body"`},
		{bad + ":29", "label alertname is the rule's name"},
		{bad + ":30", `label name "9lives" is not valid`},
		{bad + ":32", `annotation "summary":`},
		{bad + ":33", `rule "Dup" is defined twice in group "bad" (first at line 6)`},
		{bad + ":37", `rule "MissingAll" has no query`},
		{bad + ":37", `rule "MissingAll" has no window`},
		{bad + ":37", `rule "MissingAll" has no above`},
		{bad + ":38", `group "bad" is defined twice (first at ` + bad + ":2)"},
		{dup + ":2", `group "checkout" is defined twice (first at ` + good + ":2)"},
		{syntax + ":3", "did not find expected node content"},
		{"read log rules", "no such file"},
	}
	got := strings.Split(err.Error(), "\n")
	for _, w := range want {
		i := slices.IndexFunc(got, func(line string) bool {
			atCol := regexp.MustCompile(`^` + regexp.QuoteMeta(w.at) + `(:\d+)?: `)
			return atCol.MatchString(line) && strings.Contains(line, w.msg) || w.at == "read log rules" && strings.HasPrefix(line, w.at) && strings.Contains(line, w.msg)
		})
		if i < 0 {
			t.Errorf("no problem %s: ...%s...", w.at, w.msg)
			continue
		}
		got = slices.Delete(got, i, i+1)
	}
	if len(got) > 0 {
		t.Errorf("problems not expected:\n%s", strings.Join(got, "\n"))
	}
	if t.Failed() {
		t.Logf("all problems:\n%v", err)
	}
}

func TestLogLabelName(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := logLabelName(in); got != want {
			t.Errorf("logLabelName(%q) = %q, want %q", in, got, want)
		}
	}
	f("service", "service")
	f("service.name", "service_name")
	f("http.route", "http_route")
	f("attributes.user-id", "attributes_user_id")
	f("9lives", "_9lives")
	f("k8s.pod.name", "k8s_pod_name")
	f("größe", "gr__e")
}

func TestFormatLogSamples(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 999, time.FixedZone("x", 3600))
	long := strings.Repeat("é", 400)
	recs := []logstore.LogRecord{
		{Timestamp: at, Service: "checkout", SeverityText: "error", Body: "payment\nfailed\t twice"},
		{Timestamp: at, SeverityNumber: 13, Body: map[string]any{"user": "alice"}},
		{Timestamp: at, Service: "cart", Body: long},
	}
	for range 5 {
		recs = append(recs, recs[0])
	}
	got := strings.Split(formatLogSamples(recs), "\n")
	want := []string{
		"2026-01-02T14:04:05Z checkout ERROR payment failed twice",
		`2026-01-02T14:04:05Z - WARN {"user":"alice"}`,
		"2026-01-02T14:04:05Z cart - " + strings.Repeat("é", logSampleChars),
		"2026-01-02T14:04:05Z checkout ERROR payment failed twice",
		"2026-01-02T14:04:05Z checkout ERROR payment failed twice",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("formatLogSamples =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// logAlertSink records what log rules send.
type logAlertSink struct {
	mu    sync.Mutex
	sends [][]*model.Alert
}

func (s *logAlertSink) send(_ context.Context, alerts []*model.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends = append(s.sends, alerts)
}

// take returns the alerts sent since the last call, ordered by labels.
func (s *logAlertSink) take() []*model.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Alert
	for _, a := range s.sends {
		out = append(out, a...)
	}
	s.sends = nil
	slices.SortFunc(out, func(a, b *model.Alert) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	return out
}

// writeLogRules writes a log rule file and loads it.
func writeLogRules(t *testing.T, text string) []*logRuleGroup {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	groups, _, err := loadLogRuleFiles([]string{path})
	if err != nil {
		t.Fatalf("load rules: %v", err)
	}
	return groups
}

const shopRules = `
groups:
  - name: shop
    rules:
      - alert: ServiceErrors
        query: severity:error
        window: 5m
        group_by: [service]
        above: 2
        for: 2m
        labels:
          severity: page
          team: '{{ $labels.service }}-team'
        annotations:
          summary: '{{ $value }} errors in {{ $labels.service }}'
`

func logTraceID(n byte) pcommon.TraceID {
	return pcommon.TraceID{0xab, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, n}
}

// logErrorRecords is one error record of svc at each time, with trace n+1 for
// the n-th if traced.
func logErrorRecords(svc string, traced bool, at ...time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", svc)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, ts := range at {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
		lr.Body().SetStr(fmt.Sprintf("%s failed for order %d", svc, i+1))
		if traced {
			lr.SetTraceID(logTraceID(byte(i + 1)))
		}
	}
	return ld
}

// openShopStore opens a store in t.TempDir holding, up to t0, 5 errors of
// checkout (traced), 3 of payments and 1 of cart, and waits until all are
// searchable.
func openShopStore(t *testing.T, t0 time.Time) *logstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := logstore.Open(ctx, logstore.Config{Dir: t.TempDir(), LogsRetention: 7 * 24 * time.Hour, TracesRetention: 7 * 24 * time.Hour}, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	info := logErrorRecords("checkout", false, sec(-5))
	info.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetSeverityNumber(plog.SeverityNumberInfo)
	info.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetSeverityText("INFO")
	for _, ld := range []plog.Logs{
		logErrorRecords("checkout", true, sec(-90), sec(-60), sec(-45), sec(-30), sec(0)),
		logErrorRecords("payments", false, sec(-30), sec(-20), sec(-10)),
		logErrorRecords("cart", false, sec(-10)),
		info,
	} {
		if err := s.ConsumeLogs(ctx, ld); err != nil {
			t.Fatal(err)
		}
	}
	// Indexing follows the write: poll until every record counts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.CountLogs(ctx, logstore.CountQuery{Start: sec(-600), End: sec(60)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Groups[0].Count == 10 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("store counts %d records after 30s, want 10", res.Groups[0].Count)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogRulesEval steps a rule over a real store through pending, firing,
// re-sending, a reload, resolving and forgetting, alert by alert.
func TestLogRulesEval(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Minute)
	s := openShopStore(t, t0)
	ext, _ := url.Parse("https://lookout.example/base/")
	sent := &logAlertSink{}
	var failures int
	now := t0
	l := newLogRules(writeLogRules(t, shopRules), logRuleOptions{
		Counter:     s,
		ExternalURL: ext,
		Send:        sent.send,
		Now:         func() time.Time { return now },
		Failures:    func() { failures++ },
	})
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	eval := func(ts time.Time) []*model.Alert {
		t.Helper()
		now = ts
		l.evalGroup(ctx, l.groups[0], ts)
		return sent.take()
	}
	// names renders alerts as "service state-ish ends" for comparison.
	names := func(as []*model.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, fmt.Sprintf("%s %s..%s", a.Labels["service"], a.StartsAt.Sub(t0), a.EndsAt.Sub(t0)))
		}
		return out
	}
	expect := func(step string, got []*model.Alert, want ...string) {
		t.Helper()
		if g := names(got); !slices.Equal(g, want) {
			t.Fatalf("%s: sent %q, want %q", step, g, want)
		}
	}
	ruleState := func() Rule {
		t.Helper()
		st := l.status()
		if len(st) != 1 || len(st[0].Rules) != 1 {
			t.Fatalf("status = %+v, want one group of one rule", st)
		}
		return st[0].Rules[0]
	}

	if r := ruleState(); r.Health != "unknown" || r.State != "inactive" || r.Signal != "logs" || r.Kind != "alerting" {
		t.Fatalf("before evaluation: %+v", r)
	}
	expect("t0: pending", eval(t0))
	r := ruleState()
	if r.Health != "ok" || r.State != "pending" || len(r.Alerts) != 2 {
		t.Fatalf("t0: rule %+v, want ok, pending, 2 alerts", r)
	}
	if a := r.Alerts[0]; a.Labels.Get("service") != "checkout" || a.Value != 5 || a.State != "pending" || !a.ActiveAt.Equal(t0) {
		t.Fatalf("t0: alert %+v, want checkout pending with 5 since t0", a)
	}
	expect("t0+1m: still pending", eval(at(1)))

	got := eval(at(2))
	expect("t0+2m: firing", got, "checkout 2m0s..6m0s", "payments 2m0s..6m0s")
	co := got[0]
	wantLabels := model.LabelSet{"alertname": "ServiceErrors", "service": "checkout", "severity": "page", "team": "checkout-team"}
	if !co.Labels.Equal(wantLabels) {
		t.Errorf("labels = %v, want %v", co.Labels, wantLabels)
	}
	if s := co.Annotations["summary"]; s != "5 errors in checkout" {
		t.Errorf("summary = %q", s)
	}
	lines := strings.Split(string(co.Annotations["sample_lines"]), "\n")
	if len(lines) != 5 || lines[0] != t0.Format(time.RFC3339)+" checkout ERROR checkout failed for order 5" ||
		lines[4] != t0.Add(-90*time.Second).Format(time.RFC3339)+" checkout ERROR checkout failed for order 1" {
		t.Errorf("sample_lines =\n%s", strings.Join(lines, "\n"))
	}
	tid := logTraceID(5).String()
	if co.Annotations["trace_id"] != model.LabelValue(tid) || co.Annotations["trace_url"] != model.LabelValue("https://lookout.example/base/traces/"+tid) {
		t.Errorf("trace annotations = %q %q, want the newest sample's trace %s", co.Annotations["trace_id"], co.Annotations["trace_url"], tid)
	}
	if _, ok := got[1].Annotations["trace_id"]; ok {
		t.Errorf("payments has trace_id %q, but no sample has one", got[1].Annotations["trace_id"])
	}
	u, err := url.Parse(string(co.Annotations["logs_url"]))
	if err != nil || u.Host != "lookout.example" || u.Path != "/base/logs" || co.GeneratorURL != u.String() {
		t.Fatalf("logs_url %q (%v), generator URL %q", co.Annotations["logs_url"], err, co.GeneratorURL)
	}
	q := u.Query()
	if q.Get("query") != `(severity:error) AND service:"checkout"` || q.Get("start") != at(-3).Format(time.RFC3339) || q.Get("end") != at(2).Format(time.RFC3339) {
		t.Errorf("logs_url query = %v", q)
	}
	// The link finds what the rule counted.
	start, _ := time.Parse(time.RFC3339, q.Get("start"))
	end, _ := time.Parse(time.RFC3339, q.Get("end"))
	res, err := s.CountLogs(ctx, logstore.CountQuery{Query: q.Get("query"), Start: start, End: end})
	if err != nil || res.Groups[0].Count != 5 {
		t.Errorf("logs_url's query counts %+v, %v; want 5", res, err)
	}

	// A reload that changes only an annotation keeps the alerts firing.
	l.update(writeLogRules(t, strings.Replace(shopRules, "errors in", "errors from", 1)))
	expect("t0+3m: after reload, firing, sent a minute ago", eval(at(3)))
	if r := ruleState(); r.State != "firing" || r.Alerts[0].Annotations.Get("summary") != "5 errors from checkout" {
		t.Fatalf("t0+3m: after reload: %+v", r)
	}
	expect("t0+4m: re-sent", eval(at(4)), "checkout 2m0s..8m0s", "payments 2m0s..8m0s")

	// Only the record at t0 is left in the window: both resolve.
	expect("t0+5m: resolved", eval(at(5)), "checkout 2m0s..5m0s", "payments 2m0s..5m0s")
	if r := ruleState(); r.State != "inactive" || len(r.Alerts) != 0 {
		t.Fatalf("t0+5m: %+v, want inactive without active alerts", r)
	}
	expect("t0+6m: resolved, sent a minute ago", eval(at(6)))
	expect("t0+7m: resolved, re-sent", eval(at(7)), "checkout 2m0s..5m0s", "payments 2m0s..5m0s")
	expect("t0+21m: forgotten", eval(at(21)))
	if n := len(l.groups[0].rules[0].active); n != 0 {
		t.Fatalf("t0+21m: %d alerts kept 16m after resolving, want none", n)
	}
	if failures != 0 {
		t.Fatalf("%d failures", failures)
	}
}

// logCountFunc is a LogCounter made of a function.
type logCountFunc func(q logstore.CountQuery) (logstore.CountResult, error)

func (f logCountFunc) CountLogs(_ context.Context, q logstore.CountQuery) (logstore.CountResult, error) {
	return f(q)
}

// countByService answers with one group per value given, counted as given.
func countByService(byService map[string]uint64) logCountFunc {
	return func(q logstore.CountQuery) (logstore.CountResult, error) {
		res := logstore.CountResult{Exact: true}
		for svc, n := range byService {
			res.Groups = append(res.Groups, logstore.GroupCount{Values: []string{svc}, Count: n})
		}
		return res, nil
	}
}

func TestLogRulesStateMachine(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const rules = `
groups:
  - name: g
    rules:
      - alert: Errors
        query: severity:error
        window: 5m
        group_by: [service]
        above: 0
        keep_firing_for: 2m
`
	var (
		by       = map[string]uint64{"a": 1}
		fail     error
		failures int
	)
	counter := logCountFunc(func(q logstore.CountQuery) (logstore.CountResult, error) {
		if fail != nil {
			return logstore.CountResult{}, fail
		}
		return countByService(by)(q)
	})
	sent := &logAlertSink{}
	now := t0
	l := newLogRules(writeLogRules(t, rules), logRuleOptions{Counter: counter, Send: sent.send, Now: func() time.Time { return now }, Failures: func() { failures++ }})
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	step := func(ts time.Time, want ...string) {
		t.Helper()
		now = ts
		l.evalGroup(ctx, l.groups[0], ts)
		var got []string
		for _, a := range sent.take() {
			got = append(got, fmt.Sprintf("%s %s..%s", a.Labels["service"], a.StartsAt.Sub(t0), a.EndsAt.Sub(t0)))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("at t0+%s: sent %q, want %q", ts.Sub(t0), got, want)
		}
	}

	step(t0, "a 0s..4m0s") // for: 0 fires at once
	// a stops matching but keeps firing for 2m.
	by = map[string]uint64{}
	step(at(1))
	if a := l.status()[0].Rules[0].Alerts; len(a) != 1 || a[0].State != "firing" || !a[0].KeepFiringSince.Equal(at(1)) {
		t.Fatalf("keep_firing_for: alerts %+v", a)
	}
	step(at(2), "a 0s..6m0s")
	step(at(3), "a 0s..3m0s") // 2m after it stopped matching

	// A failed count leaves the alerts as they were and says why.
	by = map[string]uint64{"b": 3}
	step(at(4), "b 4m0s..8m0s")
	fail = errors.New("disk on fire")
	step(at(5))
	r := l.status()[0].Rules[0]
	if r.Health != "err" || r.LastError != "disk on fire" || failures != 1 || r.State != "firing" || len(r.Alerts) != 1 {
		t.Fatalf("after a failed count: %+v, %d failures", r, failures)
	}
	fail = nil
	// Both due again: b firing, a resolved (re-sent for 15m).
	step(at(6), "a 0s..3m0s", "b 4m0s..10m0s")
	if r := l.status()[0].Rules[0]; r.Health != "ok" || r.LastError != "" {
		t.Fatalf("after a good count: %+v", r)
	}

	// A new query is a new rule: its alerts start over, and the firing
	// alerts of the old one are sent resolved.
	now = at(6).Add(30 * time.Second)
	l.update(writeLogRules(t, strings.Replace(rules, "severity:error", "severity:fatal", 1)))
	if got := sent.take(); len(got) != 1 || got[0].Labels["service"] != "b" || !got[0].EndsAt.Equal(now) {
		t.Fatalf("reload: sent %v, want b resolved now", got)
	}
	if r := l.status()[0].Rules[0]; r.Health != "unknown" || len(r.Alerts) != 0 {
		t.Fatalf("after a reload with a new query: %+v", r)
	}
	step(at(7), "b 7m0s..11m0s")

	// Removing the rule resolves its alerts too.
	now = at(8)
	l.update(nil)
	if got := sent.take(); len(got) != 1 || !got[0].EndsAt.Equal(now) {
		t.Fatalf("rule removed: sent %v, want b resolved", got)
	}
	if st := l.status(); len(st) != 0 {
		t.Fatalf("status after removing every group: %+v", st)
	}
}

func TestLogRuleTemplates(t *testing.T) {
	ext, _ := url.Parse("https://lookout.example")
	cases := []struct {
		name, tmpl, want string
	}{
		{"value", "{{ $value }} errors", "1234 errors"},
		{"labels", "in {{ $labels.service }}", "in checkout"},
		{"missing label", "[{{ $labels.nope }}]", "[]"},
		{"external URL", "{{ $externalURL }}/alerts", "https://lookout.example/alerts"},
		{"functions", "{{ humanize $value }}", "1.234k"},
		{"plain", "no template", "no template"},
		{"no PromQL", `{{ query "up" }}`, "<error expanding template: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			groups := writeLogRules(t, fmt.Sprintf(`
groups:
  - name: g
    rules:
      - alert: A
        query: '*'
        window: 1m
        group_by: [service]
        above: 0
        annotations:
          text: '%s'
`, c.tmpl))
			sent := &logAlertSink{}
			l := newLogRules(groups, logRuleOptions{Counter: countByService(map[string]uint64{"checkout": 1234}), Send: sent.send, ExternalURL: ext})
			l.evalGroup(context.Background(), groups[0], time.Now())
			got := sent.take()
			if len(got) != 1 || !strings.HasPrefix(string(got[0].Annotations["text"]), c.want) {
				t.Fatalf("template %q expanded to %v, want %q", c.tmpl, got, c.want)
			}
		})
	}
}

// TestLogRulesRun runs the loops in a bubble whose clock advances only when
// every goroutine waits: evaluations fall on the group's slots, a reload
// restarts them, and run returns once they stop.
func TestLogRulesRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			evals = map[string][]time.Time{}
		)
		counter := logCountFunc(func(q logstore.CountQuery) (logstore.CountResult, error) {
			mu.Lock()
			defer mu.Unlock()
			evals[q.Query] = append(evals[q.Query], q.End)
			return logstore.CountResult{Groups: []logstore.GroupCount{{}}, Exact: true}, nil
		})
		rules := func(interval string) []*logRuleGroup {
			return writeLogRules(t, `
groups:
  - name: fast
    interval: `+interval+`
    rules:
      - {alert: Fast, query: 'fast', window: 1m, above: 0}
  - name: slow
    interval: 5m
    rules:
      - {alert: Slow, query: 'slow', window: 1m, above: 0}
`)
		}
		l := newLogRules(rules("1m"), logRuleOptions{Counter: counter})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			l.run(ctx)
			close(done)
		}()
		start := time.Now()
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		check := func(query string, interval time.Duration, from, to time.Time) {
			t.Helper()
			mu.Lock()
			ts := slices.Clone(evals[query])
			evals[query] = nil
			mu.Unlock()
			want := int(to.Sub(from) / interval)
			if len(ts) < want-1 || len(ts) > want+1 {
				t.Fatalf("%s: %d evaluations in %s, want about %d", query, len(ts), to.Sub(from), want)
			}
			g := &logRuleGroup{name: query, file: l.groups[0].file, interval: interval}
			for i, e := range ts {
				if !logEvalSlot(g, e).Equal(e) || e.Before(from) || e.After(to) {
					t.Fatalf("%s: evaluation at %s is not a slot of the group in [%s, %s]", query, e, from, to)
				}
				if i > 0 && e.Sub(ts[i-1]) != interval {
					t.Fatalf("%s: evaluations at %s and %s, want %s apart", query, ts[i-1], e, interval)
				}
			}
		}
		check("fast", time.Minute, start, time.Now())
		check("slow", 5*time.Minute, start, time.Now())

		// A reload restarts the loops on the new intervals.
		l.update(rules("2m"))
		from := time.Now()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		check("fast", 2*time.Minute, from, time.Now())

		cancel()
		<-done
		mu.Lock()
		n := len(evals["fast"]) + len(evals["slow"])
		mu.Unlock()
		time.Sleep(time.Hour)
		mu.Lock()
		defer mu.Unlock()
		if m := len(evals["fast"]) + len(evals["slow"]); m != n {
			t.Fatalf("%d evaluations after run returned", m-n)
		}
	})
}

// TestLogRuleDuplicates: a log rule with the same name and labels as one in
// another group of the file is a warning, as promtool warns of Prometheus
// rules; other labels make another rule.
func TestLogRuleDuplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dup.yml")
	const file = `groups:
  - name: a
    rules:
      - alert: Errors
        query: 'severity:error'
        window: 5m
        above: 10
        labels: {severity: page}
  - name: b
    rules:
      - alert: Errors
        query: 'severity:error'
        window: 5m
        above: 1
        labels: {severity: ticket}
      - alert: Errors2
        query: '*'
        window: 5m
        above: 1
  - name: c
    rules:
      - alert: Errors
        query: 'severity:fatal'
        window: 1m
        above: 0
        labels: {severity: page}
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	groups, warnings, err := loadLogRuleFiles([]string{path})
	if err != nil || len(groups) != 3 {
		t.Fatalf("load = %d groups, %v", len(groups), err)
	}
	want := path + `:22:9: group "c", rule "Errors": same name and labels {severity="page"} as the rule at line 4`
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0].Error(), want) {
		t.Fatalf("warnings %v, want one: %s...", warnings, want)
	}
}

// ctxCounter is a LogCounter that answers only when its context ends, as a
// count over too many records would.
type ctxCounter struct{}

func (ctxCounter) CountLogs(ctx context.Context, _ logstore.CountQuery) (logstore.CountResult, error) {
	<-ctx.Done()
	return logstore.CountResult{}, ctx.Err()
}

// A log rule's count stops at the query timeout, as a metric rule's query
// does, and the rule says why.
func TestLogRuleCountTimesOut(t *testing.T) {
	const rules = `
groups:
  - name: g
    rules:
      - alert: Errors
        query: severity:error
        window: 5m
        above: 0
`
	failures := 0
	l := newLogRules(writeLogRules(t, rules), logRuleOptions{Counter: ctxCounter{}, Send: (&logAlertSink{}).send, Failures: func() { failures++ }, Timeout: 20 * time.Millisecond})
	l.evalGroup(context.Background(), l.groups[0], time.Now())
	r := l.status()[0].Rules[0]
	if r.Health != "err" || !strings.Contains(r.LastError, "timed out after 20ms") || failures != 1 {
		t.Fatalf("a count past the timeout: health %q, error %q, %d failures; want err, timed out, 1", r.Health, r.LastError, failures)
	}
}
