package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
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

// apSilencer stands in for the embedded Alertmanager's silences: matchers
// without "=" are bad input, as Alertmanager's parser would say.
type apSilencer struct {
	mu       sync.Mutex
	silences []alerts.Silence
	created  []alerts.SilenceInput
	expired  []string
	notes    []alerts.Notification
}

func (s *apSilencer) Silences(context.Context) ([]alerts.Silence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.silences), nil
}

func (s *apSilencer) CreateSilence(_ context.Context, in alerts.SilenceInput) (string, error) {
	if !strings.Contains(in.Matchers, "=") {
		return "", &alerts.InputError{Err: fmt.Errorf("matchers: %q: bad matcher format", in.Matchers)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created = append(s.created, in)
	return "sil-new", nil
}

func (s *apSilencer) ExpireSilence(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.ContainsFunc(s.silences, func(x alerts.Silence) bool { return x.ID == id }) {
		return alerts.ErrSilenceNotFound
	}
	s.expired = append(s.expired, id)
	return nil
}

func (s *apSilencer) Notifications(limit int) []alerts.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit <= 0 || limit > len(s.notes) {
		limit = len(s.notes)
	}
	return slices.Clone(s.notes[:limit])
}

func (s *apSilencer) calls() (created []alerts.SilenceInput, expired []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created), slices.Clone(s.expired)
}

// apRuleGroups are testRuleGroups with links on the log alert: its logs,
// its trace, and a runbook address that is not a web address.
func apRuleGroups() []alerts.RuleGroup {
	groups := testRuleGroups()
	a := &groups[1].Rules[0].Alerts[0]
	a.Annotations = labels.FromStrings(
		"summary", "payments are being declined",
		"logs_url", "http://lookout.example/logs?query=service%3Acheckout",
		"trace_url", "http://lookout.example/traces/4bf92f3577b34da6a3ce929d0e0e4736",
		"runbook_url", "javascript:alert(1)",
		"sample_lines", "ERROR payment declined\nERROR retry failed",
	)
	return groups
}

func apTestSilencer() *apSilencer {
	t0 := time.Now()
	return &apSilencer{
		silences: []alerts.Silence{{
			ID: "sil-1", State: "active", MatcherSets: [][]string{{`alertname="DiskFull"`, `env!="dev"`}},
			StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(2 * time.Hour), CreatedBy: "ann", Comment: "disk swap tonight",
		}},
		notes: []alerts.Notification{
			{Time: t0.Add(-time.Minute), Receiver: "team", Integration: "slack", GroupLabels: labels.FromStrings("alertname", "HighErrorRate"),
				Firing: 2, AlertNames: []string{"HighErrorRate"}, Attempts: 1},
			{Time: t0.Add(-2 * time.Minute), Receiver: "pager", Integration: "webhook", Index: 1, GroupLabels: labels.FromStrings("alertname", "DiskFull"),
				Firing: 1, Resolved: 1, AlertNames: []string{"DiskFull"}, Attempts: 3, Err: "unexpected status code 400: bad token"},
		},
	}
}

// apFixture serves the handler with rules and silences (either may be nil)
// and users ed (editor) and vera (viewer) besides admin.
func apFixture(t *testing.T, rules web.AlertRules, sil web.Silencer) *fixture {
	t.Helper()
	a, st := openDeps(t)
	h, err := web.New(web.Options{Auth: a, Sessions: a, Logs: st, Alerts: rules, Silences: sil})
	if err != nil {
		t.Fatal(err)
	}
	f := serveFixture(t, h, a, st)
	ctx := context.Background()
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"ed", auth.RoleEditor}, {"vera", auth.RoleViewer}} {
		if err := a.CreateUser(ctx, u.name, u.name+"-password-1", u.role); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// apSignIn signs user in and returns the browser and the session's CSRF
// token, read from the alerts page.
func apSignIn(t *testing.T, f *fixture, user string) (*browser, string) {
	t.Helper()
	b := newBrowser(t, f.srv.URL)
	password := user + "-password-1"
	b.signIn(user, password)
	_, page := b.do("GET", "/alerts", nil, nil)
	return b, formToken(t, page)
}

func TestAlertsPageRenders(t *testing.T) {
	sil := apTestSilencer()
	f := apFixture(t, &fakeRules{groups: apRuleGroups()}, sil)
	b, _ := apSignIn(t, f, "admin")
	resp, page := b.do("GET", "/alerts", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /alerts: %d\n%s", resp.StatusCode, page)
	}
	noInlineCode(t, page)

	// Firing before pending, the longest firing first.
	var got []string
	for _, tag := range testIDTags(page, "alert-row") {
		rule, _ := attr(tag, "data-rule")
		state, _ := attr(tag, "data-state")
		got = append(got, rule+"/"+state)
	}
	if want := []string{"HighErrorRate/firing", "PaymentFailures/firing", "HighErrorRate/pending"}; !slices.Equal(got, want) {
		t.Errorf("alert rows = %v, want %v", got, want)
	}
	for _, want := range []string{
		`service=&#34;checkout&#34;`, "checkout is failing", "payments are being declined", ">2.5<", ">1.25<",
		"ERROR payment declined", // an annotation
		"vector contains metrics with the same labelset after applying rule labels", // a rule's last error
		`data-rule="NoCheckoutLogs"`, "never", // a rule never evaluated
		"1.5ms",                                                                    // a group's evaluation time
		"/etc/lookout/rules/logs.yml",                                              // a group's file
		`data-silence="sil-1"`, "disk swap tonight", ">ann<", `env!=&#34;dev&#34;`, // the silence
		"unexpected status code 400: bad token", "3 attempts", "1 resolved", // notifications
		"kept in memory only", // the history does not survive a restart
		`action="/alerts/silences/sil-1/expire"`,
		"Firing 2 · pending 1",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Rule states and health.
	rules := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)data-testid="rule-row" data-rule="([^"]+)">.*?data-testid="rule-state">(.*?)</td>\s*<td data-testid="rule-health">(.*?)</td>`).FindAllStringSubmatch(page, -1) {
		rules[m[1]] = regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[2]+"|"+m[3], "")
	}
	for rule, want := range map[string]string{
		"HighErrorRate":                "firing2 active|ok",
		"service:http_requests:rate5m": "|error",
		"PaymentFailures":              "firing1 active|ok",
		"NoCheckoutLogs":               "inactive|unknown",
	} {
		if got := strings.Join(strings.Fields(rules[rule]), ""); got != strings.ReplaceAll(want, " ", "") {
			t.Errorf("rule %s state|health = %q, want %q", rule, got, want)
		}
	}

	// Links: the metric alert's query, the log alert's logs and trace; a
	// runbook that is not a web address is shown, not linked.
	links := map[string][]string{}
	for _, id := range []string{"alert-query-link", "alert-logs-link", "alert-trace-link", "alert-runbook-link"} {
		for _, tag := range testIDTags(page, id) {
			href, _ := attr(tag, "href")
			links[id] = append(links[id], href)
		}
	}
	if q := links["alert-query-link"]; len(q) != 2 || !strings.HasPrefix(q[0], "/explore?query=sum+by+%28service%29") {
		t.Errorf("query links = %v, want /explore?query=... for both HighErrorRate alerts", q)
	}
	if l := links["alert-logs-link"]; len(l) != 1 || l[0] != "http://lookout.example/logs?query=service%3Acheckout" {
		t.Errorf("logs links = %v", l)
	}
	if l := links["alert-trace-link"]; len(l) != 1 || l[0] != "http://lookout.example/traces/4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace links = %v", l)
	}
	if l := links["alert-runbook-link"]; len(l) != 0 || strings.Contains(page, `href="javascript:`) {
		t.Errorf("a javascript: runbook is linked: %v", l)
	}

	// The silence button of the checkout alert carries its labels as matchers.
	buttons := testIDTags(page, "alert-silence")
	if len(buttons) != 3 {
		t.Fatalf("%d silence buttons, want one per alert", len(buttons))
	}
	href, _ := attr(buttons[0], "href")
	u, err := url.Parse(href)
	if err != nil || u.Path != "/alerts/silences/new" {
		t.Fatalf("silence button href %q", href)
	}
	wantMatchers := "alertname=\"HighErrorRate\"\nservice=\"checkout\"\nseverity=\"page\"\nteam=\"api\"\n"
	if got := u.Query().Get("matchers"); got != wantMatchers {
		t.Errorf("silence button matchers = %q, want %q", got, wantMatchers)
	}
	_, form := b.do("GET", u.RequestURI(), nil, nil)
	noInlineCode(t, form)
	if !strings.Contains(form, html.EscapeString(wantMatchers)) && !strings.Contains(form, strings.ReplaceAll(wantMatchers, `"`, "&#34;")) {
		t.Errorf("the form is not prefilled with %q:\n%s", wantMatchers, form)
	}
	if !strings.Contains(form, "Created by <strong>admin</strong>") {
		t.Errorf("the form does not say the silence is made by admin")
	}
}

func TestAlertsPageNotConfigured(t *testing.T) {
	f := apFixture(t, nil, nil)
	b, token := apSignIn(t, f, "admin")
	resp, page := b.do("GET", "/alerts", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `data-testid="alerts-off"`) || !strings.Contains(page, "Alerting is not configured") {
		t.Fatalf("GET /alerts without alerting: %d, want 200 saying alerting is not configured:\n%s", resp.StatusCode, page)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/alerts/silences/new"},
		{"POST", "/alerts/silences"},
		{"POST", "/alerts/silences/x/expire"},
	} {
		var form url.Values
		if c.method == "POST" {
			form = url.Values{"_csrf": {token}, "matchers": {`a="b"`}, "comment": {"x"}}
		}
		if resp, body := b.do(c.method, c.path, form, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s without alerting: %d, want 404\n%s", c.method, c.path, resp.StatusCode, body)
		}
	}
}

// TestAlertsPageViewer: a viewer reads the page without the buttons that
// change silences, and is refused (403) when posting them anyway.
func TestAlertsPageViewer(t *testing.T) {
	sil := apTestSilencer()
	f := apFixture(t, &fakeRules{groups: apRuleGroups()}, sil)
	b, token := apSignIn(t, f, "vera")
	resp, page := b.do("GET", "/alerts", nil, nil)
	if resp.StatusCode != 200 || len(testIDTags(page, "alert-row")) != 3 || len(testIDTags(page, "silence-row")) != 1 {
		t.Fatalf("viewer GET /alerts: %d, want 200 with 3 alerts and 1 silence", resp.StatusCode)
	}
	for _, id := range []string{"alert-silence", "silence-expire", "new-silence"} {
		if n := len(testIDTags(page, id)); n != 0 {
			t.Errorf("the viewer sees %d %s buttons, want none", n, id)
		}
	}
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/alerts/silences/new", nil},
		{"POST", "/alerts/silences", url.Values{"_csrf": {token}, "matchers": {`alertname="X"`}, "comment": {"x"}}},
		{"POST", "/alerts/silences/sil-1/expire", url.Values{"_csrf": {token}}},
	} {
		if resp, _ := b.do(c.method, c.path, c.form, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", c.method, c.path, resp.StatusCode)
		}
	}
	if created, expired := sil.calls(); len(created) != 0 || len(expired) != 0 {
		t.Errorf("a viewer changed silences: created %v, expired %v", created, expired)
	}
}

func TestAlertsPageCreateSilence(t *testing.T) {
	sil := apTestSilencer()
	f := apFixture(t, &fakeRules{groups: apRuleGroups()}, sil)
	b, token := apSignIn(t, f, "ed")

	// Without the CSRF token, or with another, nothing happens.
	for _, tok := range []string{"", "forged"} {
		resp, _ := b.do("POST", "/alerts/silences", url.Values{"_csrf": {tok}, "matchers": {`alertname="X"`}, "comment": {"x"}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("create with CSRF token %q: %d, want 403", tok, resp.StatusCode)
		}
	}
	if created, _ := sil.calls(); len(created) != 0 {
		t.Fatalf("created without a CSRF token: %v", created)
	}

	bad := []struct {
		name string
		form url.Values
		want string
	}{
		{"bad matcher", url.Values{"matchers": {"nonsense"}, "comment": {"keep me"}}, "bad matcher format"},
		{"bad duration", url.Values{"matchers": {`a="b"`}, "duration": {"soon"}, "comment": {"keep me"}}, "is not a duration"},
		{"both ends", url.Values{"matchers": {`a="b"`}, "duration": {"1h"}, "ends_at": {"2099-01-01T00:00"}, "comment": {"keep me"}}, "not both"},
		{"past end", url.Values{"matchers": {`a="b"`}, "ends_at": {"2001-01-01T00:00"}, "comment": {"keep me"}}, "not in the future"},
		{"bad end", url.Values{"matchers": {`a="b"`}, "ends_at": {"tomorrow"}, "comment": {"keep me"}}, "is not a date and time"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			c.form.Set("_csrf", token)
			resp, page := b.do("POST", "/alerts/silences", c.form, nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), c.want) {
				t.Fatalf("POST %v: %d, want 400 with %q:\n%s", c.form, resp.StatusCode, c.want, page)
			}
			// The form comes back as it was sent.
			if !strings.Contains(page, "keep me") || !strings.Contains(page, `data-testid="silence-form"`) {
				t.Errorf("POST %v: the form is not shown again with its input", c.form)
			}
		})
	}

	// A good one, with a form field that claims another creator.
	before := time.Now()
	resp, _ := b.do("POST", "/alerts/silences", url.Values{
		"_csrf": {token}, "matchers": {"alertname=\"HighErrorRate\"\nservice=\"checkout\""}, "duration": {"90m"},
		"comment": {"  deploying checkout  "}, "created_by": {"mallory"}, "createdBy": {"mallory"},
	}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts?silence_created=sil-new#silences" {
		t.Fatalf("create: %d to %q, want 303 to /alerts?silence_created=sil-new#silences", resp.StatusCode, resp.Header.Get("Location"))
	}
	created, _ := sil.calls()
	if len(created) != 1 {
		t.Fatalf("created %v, want one silence", created)
	}
	in := created[0]
	if in.CreatedBy != "ed" || in.Comment != "deploying checkout" || in.Matchers != "alertname=\"HighErrorRate\"\nservice=\"checkout\"" {
		t.Errorf("created %+v, want ed's silence with the form's matchers and comment", in)
	}
	if d := in.EndsAt.Sub(before); d < 90*time.Minute || d > 90*time.Minute+time.Minute {
		t.Errorf("silence ends %v after the request, want 90m", d)
	}
	_, page := b.do("GET", "/alerts?silence_created=sil-new", nil, nil)
	if !strings.Contains(page, "Silence sil-new created.") {
		t.Errorf("the page after creating does not say so")
	}

	// An end time instead of a duration: the form's datetime-local, UTC.
	b.do("POST", "/alerts/silences", url.Values{"_csrf": {token}, "matchers": {`a="b"`}, "ends_at": {"2099-01-02T03:04"}, "comment": {"x"}}, nil)
	// Neither: the default two hours.
	b.do("POST", "/alerts/silences", url.Values{"_csrf": {token}, "matchers": {`a="b"`}, "comment": {"x"}}, nil)
	created, _ = sil.calls()
	if len(created) != 3 {
		t.Fatalf("created %d silences, want 3", len(created))
	}
	if want := time.Date(2099, 1, 2, 3, 4, 0, 0, time.UTC); !created[1].EndsAt.Equal(want) {
		t.Errorf("ends_at 2099-01-02T03:04: silence ends %v, want %v", created[1].EndsAt, want)
	}
	if d := time.Until(created[2].EndsAt); d < 119*time.Minute || d > 2*time.Hour {
		t.Errorf("no duration: silence ends in %v, want 2h", d)
	}
}

func TestAlertsPageExpireSilence(t *testing.T) {
	sil := apTestSilencer()
	f := apFixture(t, &fakeRules{groups: apRuleGroups()}, sil)
	b, token := apSignIn(t, f, "ed")
	if resp, _ := b.do("POST", "/alerts/silences/sil-1/expire", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expire without a CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, _ := b.do("POST", "/alerts/silences/sil-1/expire", url.Values{"_csrf": {token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts?silence_expired=sil-1#silences" {
		t.Fatalf("expire: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, expired := sil.calls(); !slices.Equal(expired, []string{"sil-1"}) {
		t.Errorf("expired %v, want [sil-1]", expired)
	}
	if resp, page := b.do("POST", "/alerts/silences/nope/expire", url.Values{"_csrf": {token}}, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "There is no silence nope") {
		t.Errorf("expire an unknown silence: %d, want 404 saying so", resp.StatusCode)
	}
	_, page := b.do("GET", "/alerts?silence_expired=sil-1", nil, nil)
	if !strings.Contains(page, "Silence sil-1 expired.") {
		t.Error("the page after expiring does not say so")
	}
}

// TestAlertsPageQuery: the filter, the state, the limits and their "more"
// links are in the query string; htmx gets the body alone; bad values are
// a 400 that says which.
func TestAlertsPageQuery(t *testing.T) {
	f := apFixture(t, &fakeRules{groups: apRuleGroups()}, apTestSilencer())
	b, _ := apSignIn(t, f, "vera")
	rowsOf := func(page, id, name string) []string {
		var out []string
		for _, tag := range testIDTags(page, id) {
			v, _ := attr(tag, name)
			out = append(out, v)
		}
		return out
	}
	cases := []struct {
		query       string
		alerts      []string
		rules       []string
		fragment    bool
		wantContain string
	}{
		{"q=checkout", []string{"HighErrorRate", "PaymentFailures"}, []string{"HighErrorRate", "PaymentFailures", "NoCheckoutLogs"}, false, ""},
		{"state=pending", []string{"HighErrorRate"}, nil, false, "No rules matching the filter"},
		{"state=inactive", nil, []string{"NoCheckoutLogs"}, true, "No alert is firing or pending matching the filter"},
		{"alerts=1&rules=2", []string{"HighErrorRate"}, []string{"HighErrorRate", "service:http_requests:rate5m"}, false, "Showing 1 of 3 alerts"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			var hdr map[string]string
			if c.fragment {
				hdr = map[string]string{"HX-Request": "true"}
			}
			resp, page := b.do("GET", "/alerts?"+c.query, nil, hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /alerts?%s: %d", c.query, resp.StatusCode)
			}
			if got := rowsOf(page, "alert-row", "data-rule"); !slices.Equal(got, c.alerts) {
				t.Errorf("GET /alerts?%s: alerts %v, want %v", c.query, got, c.alerts)
			}
			if got := rowsOf(page, "rule-row", "data-rule"); !slices.Equal(got, c.rules) {
				t.Errorf("GET /alerts?%s: rules %v, want %v", c.query, got, c.rules)
			}
			if c.fragment == strings.Contains(page, "<html") {
				t.Errorf("GET /alerts?%s (htmx %v): whole page %v", c.query, c.fragment, strings.Contains(page, "<html"))
			}
			if !strings.Contains(page, c.wantContain) {
				t.Errorf("GET /alerts?%s: lacks %q", c.query, c.wantContain)
			}
		})
	}
	_, page := b.do("GET", "/alerts?alerts=1&q=a", nil, nil)
	if !strings.Contains(page, `href="/alerts?alerts=2&amp;q=a#active"`) {
		t.Errorf("no link to more alerts keeping the filter:\n%s", page)
	}
	for query, want := range map[string]string{
		"state=bogus":      `state must be firing, pending, inactive or empty, not "bogus"`,
		"alerts=0":         `alerts must be a positive whole number, not "0"`,
		"notifications=xx": `notifications must be a positive whole number`,
	} {
		resp, page := b.do("GET", "/alerts?"+query, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("GET /alerts?%s: %d, want 400 with %q", query, resp.StatusCode, want)
		}
	}
}
