package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/teststorage"
)

// openTestManager opens a Manager with no rules, the default Alertmanager
// configuration and a test metric store. It is not Run: silences and the
// Alertmanager work without rule evaluation.
func openTestManager(t *testing.T) *Manager {
	t.Helper()
	st := teststorage.New(t)
	cfg := DefaultConfig()
	cfg.BuiltinRules = false
	cfg.DataDir = t.TempDir()
	cfg.ExternalURL, _ = url.Parse(amExternalURL)
	m, err := Open(context.Background(), cfg, Options{Queryable: st, Appendable: st})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func TestSilences(t *testing.T) {
	m := openTestManager(t)
	ctx := context.Background()
	now := time.Now()

	id, err := m.CreateSilence(ctx, SilenceInput{
		Matchers:  "alertname=\"HighErrorRate\"\n service.name=~\"check.*\" , env!=\"dev\"\n\n",
		EndsAt:    now.Add(2 * time.Hour),
		CreatedBy: "ann",
		Comment:   "deploying checkout",
	})
	if err != nil {
		t.Fatalf("CreateSilence: %v", err)
	}
	later, err := m.CreateSilence(ctx, SilenceInput{
		Matchers: `{alertname="DiskFull"}`, StartsAt: now.Add(time.Hour), EndsAt: now.Add(3 * time.Hour),
		CreatedBy: "bob", Comment: "disk swap tonight",
	})
	if err != nil {
		t.Fatalf("CreateSilence pending: %v", err)
	}

	sils, err := m.Silences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sils) != 2 || sils[0].ID != id || sils[1].ID != later {
		t.Fatalf("Silences = %+v, want the active %s then the pending %s", sils, id, later)
	}
	s := sils[0]
	wantMatchers := [][]string{{`alertname="HighErrorRate"`, `service.name=~"check.*"`, `env!="dev"`}}
	if s.State != "active" || s.CreatedBy != "ann" || s.Comment != "deploying checkout" ||
		!slices.EqualFunc(s.MatcherSets, wantMatchers, slices.Equal) || s.EndsAt.Sub(now.Add(2*time.Hour)).Abs() > time.Second {
		t.Errorf("active silence = %+v, want matchers %v by ann ending in 2h", s, wantMatchers)
	}
	if sils[1].State != "pending" {
		t.Errorf("later silence state = %q, want pending", sils[1].State)
	}

	// It mutes what it matches, and shows in Alertmanager's own API.
	mutes := func(ls model.LabelSet) bool { return m.am.silencer.Mutes(ctx, ls) }
	muted := model.LabelSet{"alertname": "HighErrorRate", "service.name": "checkout", "env": "prod"}
	if !mutes(muted) || mutes(model.LabelSet{"alertname": "HighErrorRate", "service.name": "checkout", "env": "dev"}) {
		t.Errorf("the silence does not mute %v only", muted)
	}
	srv := httptest.NewServer(m.AlertmanagerAPI())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/alertmanager/api/v2/silence/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		CreatedBy string `json:"createdBy"`
	}
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || api.CreatedBy != "ann" {
		t.Errorf("GET /alertmanager/api/v2/silence/%s: %d %+v %v", id, resp.StatusCode, api, err)
	}

	if err := m.ExpireSilence(ctx, id); err != nil {
		t.Fatalf("ExpireSilence: %v", err)
	}
	if mutes(muted) {
		t.Error("the expired silence still mutes")
	}
	if err := m.ExpireSilence(ctx, later); err != nil {
		t.Fatalf("ExpireSilence pending: %v", err)
	}
	if sils, _ := m.Silences(ctx); len(sils) != 0 {
		t.Errorf("Silences after expiring both = %+v, want none", sils)
	}
	if err := m.ExpireSilence(ctx, id); err != nil {
		t.Errorf("expiring an expired silence: %v, want nil", err)
	}
	if err := m.ExpireSilence(ctx, "no-such-id"); !errors.Is(err, ErrSilenceNotFound) {
		t.Errorf("ExpireSilence(unknown) = %v, want ErrSilenceNotFound", err)
	}
}

func TestCreateSilenceBadInput(t *testing.T) {
	m := openTestManager(t)
	end := time.Now().Add(time.Hour)
	cases := []struct {
		name string
		in   SilenceInput
		want string
	}{
		{"no matchers", SilenceInput{Matchers: " \n ", EndsAt: end, CreatedBy: "ann", Comment: "x"}, "at least one matcher"},
		{"not a matcher", SilenceInput{Matchers: `alertname`, EndsAt: end, CreatedBy: "ann", Comment: "x"}, `"alertname"`},
		{"bad regex", SilenceInput{Matchers: "a=\"b\"\njob=~\"(\"", EndsAt: end, CreatedBy: "ann", Comment: "x"}, "line 2"},
		{"matches everything", SilenceInput{Matchers: `job=~".*"`, EndsAt: end, CreatedBy: "ann", Comment: "x"}, "must not match the empty string"},
		{"no comment", SilenceInput{Matchers: `a="b"`, EndsAt: end, CreatedBy: "ann", Comment: " "}, "comment"},
		{"no creator", SilenceInput{Matchers: `a="b"`, EndsAt: end, Comment: "x"}, "creator"},
		{"ended", SilenceInput{Matchers: `a="b"`, EndsAt: time.Now().Add(-time.Minute), CreatedBy: "ann", Comment: "x"}, "must end after"},
		{"no end", SilenceInput{Matchers: `a="b"`, CreatedBy: "ann", Comment: "x"}, "must end after"},
		{"invalid UTF-8", SilenceInput{Matchers: "a=\"\xff\"", EndsAt: end, CreatedBy: "ann", Comment: "x"}, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := m.CreateSilence(context.Background(), c.in)
			var in *InputError
			if !errors.As(err, &in) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CreateSilence(%+v) = %q, %v; want an *InputError with %q", c.in, id, err, c.want)
			}
		})
	}
	if sils, _ := m.Silences(context.Background()); len(sils) != 0 {
		t.Errorf("silences after bad input: %+v", sils)
	}
}

// TestSilenceMatchers: the matchers made from an alert's labels parse back
// to those labels, whatever characters they hold.
func TestSilenceMatchers(t *testing.T) {
	m := openTestManager(t) // initialises Alertmanager's matcher parser
	ls := labels.FromStrings("alertname", "Quote\"And\\Slash", "service.name", "checkout", "msg", "a, b}\nc", "{odd name}", "x")
	text := SilenceMatchers(ls)
	ms, err := parseSilenceMatchers(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	got := map[string]string{}
	for _, mt := range ms {
		got[mt.Name] = mt.Value
	}
	if want := ls.Map(); len(got) != len(want) || !func() bool {
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}() {
		t.Errorf("SilenceMatchers(%v) = %q, parsed back to %v", ls, text, got)
	}
	_ = m
}

// TestReloadMetrics: a reload rejected for any file, rule file or
// Alertmanager configuration, sets alertmanager_config_last_reload_successful
// to 0 and keeps the success timestamp; the next good one sets 1 again.
func TestReloadMetrics(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yml")
	amFile := filepath.Join(dir, "alertmanager.yml")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const goodRules = "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: vector(1)\n"
	const goodAM = "route:\n  receiver: a\nreceivers:\n  - name: a\n"
	write(rules, goodRules)
	write(amFile, goodAM)

	st := teststorage.New(t)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.BuiltinRules = false
	cfg.DataDir = t.TempDir()
	cfg.ExternalURL, _ = url.Parse(amExternalURL)
	cfg.RuleFiles = []string{rules}
	cfg.AlertmanagerConfig = amFile
	m, err := Open(context.Background(), cfg, Options{Queryable: st, Appendable: st, Registerer: reg})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	gauge := func(name string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == name {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("no gauge %s", name)
		return 0
	}
	const ok, at = "alertmanager_config_last_reload_successful", "alertmanager_config_last_reload_success_timestamp_seconds"
	if got := gauge(ok); got != 1 {
		t.Fatalf("%s = %v after Open, want 1", ok, got)
	}
	lastGood := gauge(at)

	for _, tc := range []struct{ name, rules, am string }{
		{"bad rule file", goodRules + "      - alert: Broken\n        expr: rate(x[5m]\n", goodAM},
		{"bad alertmanager config", goodRules, "route:\n  receiver: nobody\nreceivers:\n  - name: a\n"},
	} {
		write(rules, tc.rules)
		write(amFile, tc.am)
		if err := m.Reload(context.Background()); err == nil {
			t.Fatalf("%s: Reload succeeded", tc.name)
		}
		if got := gauge(ok); got != 0 {
			t.Errorf("%s: %s = %v after a rejected reload, want 0", tc.name, ok, got)
		}
		if got := gauge(at); got != lastGood {
			t.Errorf("%s: %s = %v after a rejected reload, want the last good %v", tc.name, at, got, lastGood)
		}

		write(rules, goodRules)
		write(amFile, goodAM)
		if err := m.Reload(context.Background()); err != nil {
			t.Fatalf("%s: good Reload: %v", tc.name, err)
		}
		if got := gauge(ok); got != 1 {
			t.Errorf("%s: %s = %v after a good reload, want 1", tc.name, ok, got)
		}
		if got := gauge(at); got < lastGood {
			t.Errorf("%s: %s = %v after a good reload, before the last %v", tc.name, at, got, lastGood)
		}
		lastGood = gauge(at)
	}
}
