package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lookout-dev/lookout/alerts"
	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/web"
)

// fakeRules is a rules manager with fixed groups; Reload fails with err
// when it is set.
type fakeRules struct {
	groups []alerts.RuleGroup

	mu      sync.Mutex
	err     error
	reloads int
}

func (f *fakeRules) RuleGroups() []alerts.RuleGroup { return f.groups }

func (f *fakeRules) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return f.err
}

func (f *fakeRules) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeRules) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloads
}

var evalAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testRuleGroups is one metric group (an alerting rule with a firing and a
// pending alert, a recording rule that fails), one log group (a firing
// rule and one never evaluated) and an empty group, which the API leaves
// out as Prometheus does.
func testRuleGroups() []alerts.RuleGroup {
	return []alerts.RuleGroup{
		{
			Name: "api", File: "/etc/lookout/rules/api.yml", Interval: 30 * time.Second,
			EvaluationTime: 1500 * time.Microsecond, LastEvaluation: evalAt,
			Rules: []alerts.Rule{
				{
					Kind: "alerting", Signal: "metrics", Name: "HighErrorRate",
					Query:    `sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) > 1`,
					Duration: 5 * time.Minute, KeepFiringFor: time.Minute,
					Labels:      labels.FromStrings("severity", "page", "team", "api"),
					Annotations: labels.FromStrings("summary", "{{ $labels.service }} is failing"),
					State:       "firing", Health: "ok",
					EvaluationTime: time.Millisecond, LastEvaluation: evalAt,
					Alerts: []alerts.Alert{
						{
							Labels:      labels.FromStrings("alertname", "HighErrorRate", "service", "checkout", "severity", "page", "team", "api"),
							Annotations: labels.FromStrings("summary", "checkout is failing"),
							State:       "firing", ActiveAt: evalAt.Add(-10 * time.Minute),
							KeepFiringSince: evalAt.Add(-30 * time.Second), Value: 2.5,
						},
						{
							Labels:      labels.FromStrings("alertname", "HighErrorRate", "service", "cart", "severity", "page", "team", "api"),
							Annotations: labels.FromStrings("summary", "cart is failing"),
							State:       "pending", ActiveAt: evalAt.Add(-time.Minute), Value: 1.25,
						},
					},
				},
				{
					Kind: "recording", Signal: "metrics", Name: "service:http_requests:rate5m",
					Query:  `sum by (service) (rate(http_requests_total[5m]))`,
					Health: "err", LastError: "vector contains metrics with the same labelset after applying rule labels",
					EvaluationTime: 500 * time.Microsecond, LastEvaluation: evalAt,
				},
			},
		},
		{
			Name: "checkout-logs", File: "/etc/lookout/rules/logs.yml", Interval: time.Minute, Limit: 10,
			EvaluationTime: 2 * time.Millisecond, LastEvaluation: evalAt,
			Rules: []alerts.Rule{
				{
					Kind: "alerting", Signal: "logs", Name: "PaymentFailures",
					Query:       `service:checkout AND severity:ERROR AND "payment declined"`,
					Labels:      labels.FromStrings("severity", "ticket", "team", "payments"),
					Annotations: labels.FromStrings("summary", "payments are being declined"),
					State:       "firing", Health: "ok",
					EvaluationTime: 2 * time.Millisecond, LastEvaluation: evalAt,
					Alerts: []alerts.Alert{{
						Labels:      labels.FromStrings("alertname", "PaymentFailures", "severity", "ticket", "team", "payments"),
						Annotations: labels.FromStrings("summary", "payments are being declined"),
						State:       "firing", ActiveAt: evalAt.Add(-5 * time.Minute), Value: 7,
					}},
				},
				{
					// Never evaluated: no state, health or evaluation yet.
					Kind: "alerting", Signal: "logs", Name: "NoCheckoutLogs",
					Query:  `service:checkout`,
					Labels: labels.FromStrings("severity", "ticket", "team", "payments"),
				},
			},
		},
		{Name: "empty", File: "/etc/lookout/rules/empty.yml", Interval: time.Minute},
	}
}

// wantRules is the whole /api/v1/rules answer for testRuleGroups, field
// for field in the shape of Prometheus' web/api/v1 RuleDiscovery, plus
// lookout's "signal".
const wantRules = `{"groups":[
 {"name":"api","file":"/etc/lookout/rules/api.yml","rules":[
   {"state":"firing","name":"HighErrorRate",
    "query":"sum by (service) (rate(http_requests_total{code=~\"5..\"}[5m])) > 1",
    "duration":300,"keepFiringFor":60,
    "labels":{"severity":"page","team":"api"},
    "annotations":{"summary":"{{ $labels.service }} is failing"},
    "alerts":[
      {"labels":{"alertname":"HighErrorRate","service":"checkout","severity":"page","team":"api"},
       "annotations":{"summary":"checkout is failing"},"state":"firing",
       "activeAt":"2026-03-01T11:50:00Z","keepFiringSince":"2026-03-01T11:59:30Z","value":"2.5e+00"},
      {"labels":{"alertname":"HighErrorRate","service":"cart","severity":"page","team":"api"},
       "annotations":{"summary":"cart is failing"},"state":"pending",
       "activeAt":"2026-03-01T11:59:00Z","value":"1.25e+00"}],
    "health":"ok","evaluationTime":0.001,"lastEvaluation":"2026-03-01T12:00:00Z",
    "type":"alerting","signal":"metrics"},
   {"name":"service:http_requests:rate5m","query":"sum by (service) (rate(http_requests_total[5m]))",
    "labels":{},"health":"err",
    "lastError":"vector contains metrics with the same labelset after applying rule labels",
    "evaluationTime":0.0005,"lastEvaluation":"2026-03-01T12:00:00Z",
    "type":"recording","signal":"metrics"}],
  "interval":30,"limit":0,"evaluationTime":0.0015,"lastEvaluation":"2026-03-01T12:00:00Z"},
 {"name":"checkout-logs","file":"/etc/lookout/rules/logs.yml","rules":[
   {"state":"firing","name":"PaymentFailures",
    "query":"service:checkout AND severity:ERROR AND \"payment declined\"",
    "duration":0,"keepFiringFor":0,
    "labels":{"severity":"ticket","team":"payments"},
    "annotations":{"summary":"payments are being declined"},
    "alerts":[
      {"labels":{"alertname":"PaymentFailures","severity":"ticket","team":"payments"},
       "annotations":{"summary":"payments are being declined"},"state":"firing",
       "activeAt":"2026-03-01T11:55:00Z","value":"7e+00"}],
    "health":"ok","evaluationTime":0.002,"lastEvaluation":"2026-03-01T12:00:00Z",
    "type":"alerting","signal":"logs"},
   {"state":"inactive","name":"NoCheckoutLogs","query":"service:checkout",
    "duration":0,"keepFiringFor":0,
    "labels":{"severity":"ticket","team":"payments"},"annotations":{},"alerts":[],
    "health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z",
    "type":"alerting","signal":"logs"}],
  "interval":60,"limit":10,"evaluationTime":0.002,"lastEvaluation":"2026-03-01T12:00:00Z"}
]}`

// amStub stands in for the embedded Alertmanager: it says what reached it
// in a header, so a test can tell a refused request from a served one.
var amStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Stub", r.Method+" "+r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`[]`))
})

// newAlertsFixture serves the handler with rules and am (either may be
// nil) and API keys for viewer, editor and ingest.
func newAlertsFixture(t *testing.T, rules web.AlertRules, am http.Handler) *promFixture {
	t.Helper()
	a, st := openDeps(t)
	h, err := web.New(web.Options{Auth: a, Sessions: a, Logs: st, Alerts: rules, Alertmanager: am})
	if err != nil {
		t.Fatal(err)
	}
	return &promFixture{fixture: serveFixture(t, h, a, st, auth.RoleViewer, auth.RoleEditor, auth.RoleIngest), h: h}
}

func bearerOf(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// sameJSON fails unless got and want hold the same JSON value.
func sameJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", " ")
		wb, _ := json.MarshalIndent(w, "", " ")
		t.Fatalf("%s:\ngot  %s\nwant %s", what, gb, wb)
	}
}

func TestRulesShape(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			code, pr := f.query(t, method, "/api/v1/rules", nil)
			if code != 200 || pr.Status != "success" {
				t.Fatalf("%s /api/v1/rules = %d %+v, want 200 success", method, code, pr)
			}
			sameJSON(t, method+" /api/v1/rules", pr.Data, wantRules)
		})
	}
	t.Run("exclude_alerts", func(t *testing.T) {
		// Prometheus leaves "alerts" null rather than empty.
		_, pr := f.query(t, "GET", "/api/v1/rules", form("exclude_alerts", "true", "rule_group[]", "api", "type", "alert"))
		rules := ruleList(t, pr)
		if len(rules) != 1 {
			t.Fatalf("rules %v, want HighErrorRate alone", rules)
		}
		if a, ok := rules[0]["alerts"]; !ok || a != nil {
			t.Fatalf("alerts with exclude_alerts=true = %v (present %v), want null", a, ok)
		}
		_, pr = f.query(t, "GET", "/api/v1/rules", form("exclude_alerts", "False", "rule_group[]", "api", "type", "alert"))
		if a, _ := ruleList(t, pr)[0]["alerts"].([]any); len(a) != 2 {
			t.Fatalf("alerts with exclude_alerts=False = %v, want both", a)
		}
	})
}

// ruleList flattens the groups of a /api/v1/rules answer.
func ruleList(t *testing.T, pr promResponse) []map[string]any {
	t.Helper()
	d := decode[struct {
		Groups []struct {
			Rules []map[string]any `json:"rules"`
		} `json:"groups"`
	}](t, pr.Data)
	var out []map[string]any
	for _, g := range d.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// ruleNames lists "group/rule" for each rule of a /api/v1/rules answer.
func ruleNames(t *testing.T, pr promResponse) []string {
	t.Helper()
	d := decode[struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name string `json:"name"`
			} `json:"rules"`
		} `json:"groups"`
	}](t, pr.Data)
	if d.Groups == nil {
		t.Fatalf("groups is null in %s, want a list", pr.Data)
	}
	out := []string{}
	for _, g := range d.Groups {
		for _, r := range g.Rules {
			out = append(out, g.Name+"/"+r.Name)
		}
	}
	return out
}

func TestRulesFilters(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	const (
		high   = "api/HighErrorRate"
		rec    = "api/service:http_requests:rate5m"
		pay    = "checkout-logs/PaymentFailures"
		nologs = "checkout-logs/NoCheckoutLogs"
	)
	cases := []struct {
		name string
		form url.Values
		want []string
	}{
		{"no filter", nil, []string{high, rec, pay, nologs}},
		{"type=alert", form("type", "alert"), []string{high, pay, nologs}},
		{"type=record", form("type", "record"), []string{rec}},
		{"type is case-insensitive", form("type", "RECORD"), []string{rec}},
		{"rule_name[]", form("rule_name[]", "HighErrorRate", "rule_name[]", "NoCheckoutLogs"), []string{high, nologs}},
		{"rule_group[]", form("rule_group[]", "checkout-logs"), []string{pay, nologs}},
		{"file[]", form("file[]", "/etc/lookout/rules/api.yml"), []string{high, rec}},
		{"empty group is never listed", form("rule_group[]", "empty"), []string{}},
		{"match[] on rule labels", form("match[]", `{severity="page"}`), []string{high}},
		{"match[] sets are ORed", form("match[]", `{severity="page"}`, "match[]", `{team="payments"}`), []string{high, pay, nologs}},
		{"matchers in a set are ANDed", form("match[]", `{team=~"api|payments", severity!="page"}`), []string{pay, nologs}},
		{"match[] excludes unlabelled rules", form("match[]", `{team=~".+"}`), []string{high, pay, nologs}},
		{"filters combine", form("type", "alert", "file[]", "/etc/lookout/rules/logs.yml", "rule_name[]", "PaymentFailures"), []string{pay}},
		{"nothing left", form("type", "record", "rule_group[]", "checkout-logs"), []string{}},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+c.name, func(t *testing.T) {
				code, pr := f.query(t, method, "/api/v1/rules", c.form)
				if code != 200 {
					t.Fatalf("%s /api/v1/rules?%s = %d %+v, want 200", method, c.form.Encode(), code, pr)
				}
				if got := ruleNames(t, pr); !slices.Equal(got, c.want) {
					t.Fatalf("%s /api/v1/rules?%s = %v, want %v", method, c.form.Encode(), got, c.want)
				}
			})
		}
	}
}

func TestRulesPagination(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	page := func(form url.Values) ([]string, string) {
		t.Helper()
		code, pr := f.query(t, "GET", "/api/v1/rules", form)
		if code != 200 {
			t.Fatalf("/api/v1/rules?%s = %d %+v", form.Encode(), code, pr)
		}
		return ruleNames(t, pr), decode[struct {
			Next string `json:"groupNextToken"`
		}](t, pr.Data).Next
	}
	first, token := page(form("group_limit", "1"))
	if !slices.Equal(first, []string{"api/HighErrorRate", "api/service:http_requests:rate5m"}) || token == "" {
		t.Fatalf("first page %v, token %q; want group api and a token", first, token)
	}
	second, token := page(form("group_limit", "1", "group_next_token", token))
	// The empty group after checkout-logs is not listed, so no page follows.
	if !slices.Equal(second, []string{"checkout-logs/PaymentFailures", "checkout-logs/NoCheckoutLogs"}) || token != "" {
		t.Fatalf("second page %v, token %q; want group checkout-logs and no token", second, token)
	}
}

func TestRulesBadInput(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	cases := []struct {
		form    url.Values
		wantMsg string
	}{
		{form("type", "both"), `invalid parameter "type": not supported value "both"`},
		{form("exclude_alerts", "maybe"), `invalid parameter "exclude_alerts": error converting exclude_alerts`},
		{form("match[]", `{severity=~".*"}`), "match[] must contain at least one non-empty matcher"},
		{form("match[]", `{severity=`), "unexpected end of input"},
		{form("group_next_token", "abc"), "group_limit needs to be present in order to paginate over the groups"},
		{form("group_limit", "0"), "group_limit needs to be greater than 0"},
		{form("group_limit", "many"), "group_limit needs to be a valid number"},
		{form("group_limit", "1", "group_next_token", "nope"), "invalid group_next_token 'nope'. were rule groups changed?"},
	}
	for _, c := range cases {
		t.Run(c.form.Encode(), func(t *testing.T) {
			code, pr := f.query(t, "GET", "/api/v1/rules", c.form)
			if code != 400 || pr.Status != "error" || pr.ErrorType != "bad_data" || !strings.Contains(pr.Error, c.wantMsg) {
				t.Fatalf("/api/v1/rules?%s = %d %+v, want 400 bad_data with %q", c.form.Encode(), code, pr, c.wantMsg)
			}
		})
	}
}

func TestAlertsList(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	// Every active alert of every alerting rule, metric and log, in rule
	// order, as Prometheus' AlertDiscovery.
	const want = `{"alerts":[
	  {"labels":{"alertname":"HighErrorRate","service":"checkout","severity":"page","team":"api"},
	   "annotations":{"summary":"checkout is failing"},"state":"firing",
	   "activeAt":"2026-03-01T11:50:00Z","keepFiringSince":"2026-03-01T11:59:30Z","value":"2.5e+00"},
	  {"labels":{"alertname":"HighErrorRate","service":"cart","severity":"page","team":"api"},
	   "annotations":{"summary":"cart is failing"},"state":"pending",
	   "activeAt":"2026-03-01T11:59:00Z","value":"1.25e+00"},
	  {"labels":{"alertname":"PaymentFailures","severity":"ticket","team":"payments"},
	   "annotations":{"summary":"payments are being declined"},"state":"firing",
	   "activeAt":"2026-03-01T11:55:00Z","value":"7e+00"}]}`
	for _, method := range []string{"GET", "POST"} {
		code, pr := f.query(t, method, "/api/v1/alerts", nil)
		if code != 200 || pr.Status != "success" {
			t.Fatalf("%s /api/v1/alerts = %d %+v, want 200 success", method, code, pr)
		}
		sameJSON(t, method+" /api/v1/alerts", pr.Data, want)
	}

	t.Run("no rules", func(t *testing.T) {
		f := newAlertsFixture(t, &fakeRules{}, nil)
		_, pr := f.query(t, "GET", "/api/v1/alerts", nil)
		sameJSON(t, "/api/v1/alerts without rules", pr.Data, `{"alerts":[]}`)
		_, pr = f.query(t, "GET", "/api/v1/rules", nil)
		sameJSON(t, "/api/v1/rules without rules", pr.Data, `{"groups":[]}`)
	})
}

func TestAlertingDisabled(t *testing.T) {
	f := newFixture(t) // neither Alerts nor Alertmanager
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "admin-password-1") }
	cases := []struct{ method, path, wantMsg string }{
		{"GET", "/api/v1/rules", "alerting is not enabled"},
		{"POST", "/api/v1/rules", "alerting is not enabled"},
		{"GET", "/api/v1/alerts", "alerting is not enabled"},
		{"POST", "/api/v1/alerts", "alerting is not enabled"},
		{"POST", "/-/reload", "alerting is not enabled"},
		{"GET", "/alertmanager/api/v2/alerts", "the Alertmanager is not enabled"},
		{"POST", "/alertmanager/api/v2/silences", "the Alertmanager is not enabled"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			code, body, _ := f.do(t, c.method, c.path, admin)
			if strings.HasPrefix(c.path, "/alertmanager/") {
				// The Alertmanager API's error shape.
				if code != 404 || body["code"] != float64(404) || body["message"] != c.wantMsg {
					t.Fatalf("%s %s = %d %v, want 404 {\"code\":404,\"message\":%q}", c.method, c.path, code, body, c.wantMsg)
				}
				return
			}
			if code != 404 || body["status"] != "error" || body["errorType"] != "not_found" || body["error"] != c.wantMsg {
				t.Fatalf("%s %s = %d %v, want 404 not_found %q", c.method, c.path, code, body, c.wantMsg)
			}
		})
	}
}

func TestReload(t *testing.T) {
	rules := &fakeRules{groups: testRuleGroups()}
	f := newAlertsFixture(t, rules, nil)
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "admin-password-1") }

	t.Run("success", func(t *testing.T) {
		before := rules.count()
		for _, method := range []string{"POST", "PUT"} {
			if code, body, _ := f.do(t, method, "/-/reload", admin); code != 200 || body["status"] != "success" {
				t.Fatalf("%s /-/reload = %d %v, want 200 success", method, code, body)
			}
		}
		if n := rules.count() - before; n != 2 {
			t.Fatalf("Reload called %d times, want 2", n)
		}
	})
	t.Run("failure names the file and line", func(t *testing.T) {
		const msg = `/etc/lookout/rules/api.yml:12:11: group "api", rule 1, "HighErrorRate": could not parse expression: 1:8: parse error: unexpected "}"`
		rules.set(errors.New(msg))
		defer rules.set(nil)
		code, body, _ := f.do(t, "POST", "/-/reload", admin)
		if code != 500 || body["status"] != "error" || body["errorType"] != "bad_data" || body["error"] != "failed to reload config: "+msg {
			t.Fatalf("failing /-/reload = %d %v, want 500 bad_data with the reason", code, body)
		}
	})
	t.Run("roles", func(t *testing.T) {
		cases := []struct {
			name string
			set  func(*http.Request)
			want int
		}{
			{"anonymous", nil, 401},
			{"ingest", bearerOf(f.tokensFor(auth.RoleIngest)), 403},
			{"viewer", bearerOf(f.tokensFor(auth.RoleViewer)), 403},
			{"editor", bearerOf(f.tokensFor(auth.RoleEditor)), 200},
		}
		for _, c := range cases {
			before := rules.count()
			code, body, _ := f.do(t, "POST", "/-/reload", c.set)
			if code != c.want {
				t.Fatalf("%s POST /-/reload = %d %v, want %d", c.name, code, body, c.want)
			}
			if called := rules.count() > before; called != (c.want == 200) {
				t.Fatalf("%s POST /-/reload: Reload called %v, want %v", c.name, called, c.want == 200)
			}
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		if code, _, _ := f.do(t, "GET", "/-/reload", admin); code != http.StatusMethodNotAllowed {
			t.Fatalf("GET /-/reload = %d, want 405", code)
		}
	})
}

func TestAlertmanagerRoles(t *testing.T) {
	f := newAlertsFixture(t, nil, amStub)
	viewer := bearerOf(f.tokensFor(auth.RoleViewer))
	editor := bearerOf(f.tokensFor(auth.RoleEditor))
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "admin-password-1") }
	cases := []struct {
		name, method, path string
		set                func(*http.Request)
		want               int
	}{
		{"anonymous read", "GET", "/alertmanager/api/v2/alerts", nil, 401},
		{"anonymous write", "POST", "/alertmanager/api/v2/silences", nil, 401},
		{"ingest read", "GET", "/alertmanager/api/v2/alerts", bearerOf(f.tokensFor(auth.RoleIngest)), 403},
		{"viewer reads alerts", "GET", "/alertmanager/api/v2/alerts?active=true", viewer, 200},
		{"viewer HEAD", "HEAD", "/alertmanager/api/v2/status", viewer, 200},
		{"viewer may not silence", "POST", "/alertmanager/api/v2/silences", viewer, 403},
		{"viewer may not expire", "DELETE", "/alertmanager/api/v2/silence/6f1b", viewer, 403},
		{"viewer may not post alerts", "POST", "/alertmanager/api/v2/alerts", viewer, 403},
		{"editor silences", "POST", "/alertmanager/api/v2/silences", editor, 200},
		{"editor expires", "DELETE", "/alertmanager/api/v2/silence/6f1b", editor, 200},
		{"admin basic posts alerts", "POST", "/alertmanager/api/v2/alerts", admin, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, hdr := f.do(t, c.method, c.path, c.set)
			if code != c.want {
				t.Fatalf("%s %s = %d %v, want %d", c.method, c.path, code, body, c.want)
			}
			stub := hdr.Get("X-Stub")
			if c.want == 200 {
				// The handler sees the path and query as sent; HEAD as
				// GET, whose body net/http then drops.
				method := c.method
				if method == "HEAD" {
					method = "GET"
				}
				if stub != method+" "+c.path {
					t.Fatalf("%s %s reached the Alertmanager as %q", c.method, c.path, stub)
				}
				return
			}
			if stub != "" {
				t.Fatalf("refused %s %s reached the Alertmanager (%q)", c.method, c.path, stub)
			}
			// The Alertmanager API's own error shape (go-openapi's), with
			// the reason, which Grafana shows.
			if msg, _ := body["message"].(string); body["code"] != float64(code) || msg == "" {
				t.Fatalf("refused %s %s answered %v, want {\"code\":%d,\"message\":...}", c.method, c.path, body, code)
			}
			if code == 403 && !strings.Contains(body["message"].(string), "may not do this") {
				t.Fatalf("refused %s %s says %q, not why", c.method, c.path, body["message"])
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Fatalf("401 without WWW-Authenticate, which amtool's Basic auth needs")
			}
		})
	}
}

func TestAlertsAPIRoles(t *testing.T) {
	f := newAlertsFixture(t, &fakeRules{groups: testRuleGroups()}, nil)
	for _, path := range []string{"/api/v1/rules", "/api/v1/alerts"} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+path, func(t *testing.T) {
				if code, body, _ := f.do(t, method, path, nil); code != 401 || body["errorType"] != "unauthorized" {
					t.Fatalf("anonymous %s %s = %d %v, want 401", method, path, code, body)
				}
				if code, body, _ := f.do(t, method, path, bearerOf(f.tokensFor(auth.RoleIngest))); code != 403 {
					t.Fatalf("ingest %s %s = %d %v, want 403", method, path, code, body)
				}
				if code, body, _ := f.do(t, method, path, bearerOf(f.tokensFor(auth.RoleViewer))); code != 200 || body["status"] != "success" {
					t.Fatalf("viewer %s %s = %d %v, want 200", method, path, code, body)
				}
			})
		}
	}
}
