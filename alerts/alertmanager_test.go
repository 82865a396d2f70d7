package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// amExternalURL is lookout's external URL in these tests.
const amExternalURL = "http://lookout.example:8080"

// amReceiver stands in for Slack, Discord or a webhook: it records every
// request body and answers as the real service does.
type amReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	bodies [][]byte
}

func newAMReceiver(t *testing.T, kind string) *amReceiver {
	t.Helper()
	r := &amReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		switch kind {
		case "slack":
			// An incoming webhook answers a plain "ok".
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok")
		case "discord":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *amReceiver) received() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

// amWebhookMessage is the part of Alertmanager's webhook payload the tests
// read (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type amWebhookMessage struct {
	Receiver    string            `json:"receiver"`
	Status      string            `json:"status"`
	ExternalURL string            `json:"externalURL"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
}

func (r *amReceiver) webhookMessages(t *testing.T) []amWebhookMessage {
	t.Helper()
	var msgs []amWebhookMessage
	for _, b := range r.received() {
		var m amWebhookMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decode webhook body %s: %v", b, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// amWaitFor polls cond until it holds or ten seconds pass.
func amWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

type amTest struct {
	am     *alertmanager
	api    *httptest.Server
	reg    *prometheus.Registry
	config string // the config file, "" for the default
}

// startAM runs an alertmanager with config (written to a file; "" for the
// default configuration) on dataDir ("" for a new one) and serves its API.
func startAM(t *testing.T, config, dataDir string) *amTest {
	t.Helper()
	dir := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	var file string
	if config != "" {
		file = filepath.Join(dir, "alertmanager.yml")
		if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ext, err := url.Parse(amExternalURL)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	am, err := newAlertmanager(amOptions{
		ConfigFile:  file,
		DataDir:     dataDir,
		ExternalURL: ext,
		Logger:      slog.New(slog.DiscardHandler),
		Registerer:  reg,
	})
	if err != nil {
		t.Fatalf("newAlertmanager: %v", err)
	}
	srv := httptest.NewServer(am.handler())
	t.Cleanup(func() {
		srv.Close()
		if err := am.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &amTest{am: am, api: srv, reg: reg, config: file}
}

// get decodes the JSON answer of GET path (below /alertmanager/api/v2).
func (a *amTest) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(a.api.URL + "/alertmanager/api/v2" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, body, err)
	}
}

// silence creates a silence through the API, as amtool does, and returns its id.
func (a *amTest) silence(t *testing.T, name, value string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": name, "value": value, "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().Add(-time.Minute).Format(time.RFC3339),
		"endsAt":    time.Now().Add(time.Hour).Format(time.RFC3339),
		"createdBy": "test",
		"comment":   "maintenance",
	})
	resp, err := http.Post(a.api.URL+"/alertmanager/api/v2/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST silence: %s: %s", resp.Status, out)
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.SilenceID == "" {
		t.Fatalf("POST silence: %s: %v", out, err)
	}
	return created.SilenceID
}

// counter is the value of a counter in the registry, 0 if absent.
func (a *amTest) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// gauge is the value of an unlabelled gauge in the registry.
func (a *amTest) gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

type amAPIAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State      string   `json:"state"`
		SilencedBy []string `json:"silencedBy"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

func amTestAlert(name string, labels ...string) *model.Alert {
	a := &model.Alert{
		Labels:       model.LabelSet{"alertname": model.LabelValue(name)},
		Annotations:  model.LabelSet{},
		StartsAt:     time.Now().Add(-time.Minute),
		GeneratorURL: amExternalURL + "/explore?query=rate",
	}
	for i := 0; i+1 < len(labels); i += 2 {
		a.Labels[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return a
}

func TestAlertmanagerNotifiesOneGroup(t *testing.T) {
	slack, discord, webhook := newAMReceiver(t, "slack"), newAMReceiver(t, "discord"), newAMReceiver(t, "webhook")
	a := startAM(t, fmt.Sprintf(`
route:
  receiver: team
  group_by: [alertname, service]
  group_wait: 500ms
  group_interval: 1h
  repeat_interval: 4h
receivers:
  - name: team
    slack_configs:
      - api_url: %s/services/T000/B000/XXX
        channel: '#alerts'
    discord_configs:
      - webhook_url: %s/api/webhooks/1/token
    webhook_configs:
      - url: %s/hook
`, slack.srv.URL, discord.srv.URL, webhook.srv.URL), "")

	var alerts []*model.Alert
	for _, pod := range []string{"checkout-1", "checkout-2"} {
		al := amTestAlert("HighErrorRate", "service", "checkout", "severity", "page", "pod", pod)
		// Alertmanager flushes a group at once for an alert that started
		// longer than group_wait ago; starting now, both wait together.
		al.StartsAt = time.Time{}
		al.Annotations = model.LabelSet{
			"summary":      model.LabelValue("5xx above 5% on " + pod),
			"description":  "Checkout answers 500 to 7% of requests.",
			"sample_lines": model.LabelValue("ERROR payment failed <card declined> on " + pod + "\nERROR retry 2 failed"),
			"trace_url":    model.LabelValue(amExternalURL + "/traces/4bf92f3577b34da6a3ce929d0e0e4736?pod=" + pod),
			"logs_url":     model.LabelValue(amExternalURL + "/logs?query=service:checkout&pod=" + pod),
		}
		alerts = append(alerts, al)
	}
	if err := a.am.send(context.Background(), alerts...); err != nil {
		t.Fatalf("send: %v", err)
	}

	for name, r := range map[string]*amReceiver{"slack": slack, "discord": discord, "webhook": webhook} {
		amWaitFor(t, name+" notification", func() bool { return len(r.received()) > 0 })
		if got := r.received(); len(got) != 1 {
			t.Errorf("%s got %d notifications, want 1 for the group:\n%s", name, len(got), bytes.Join(got, []byte("\n")))
		}
	}
	const title = "[FIRING:2] HighErrorRate (checkout)"

	var sl struct {
		Channel     string `json:"channel"`
		Username    string `json:"username"`
		Attachments []struct {
			Title     string `json:"title"`
			TitleLink string `json:"title_link"`
			Text      string `json:"text"`
			Fallback  string `json:"fallback"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(slack.received()[0], &sl); err != nil {
		t.Fatalf("decode slack: %v", err)
	}
	if len(sl.Attachments) != 1 {
		t.Fatalf("slack attachments = %d, want 1: %+v", len(sl.Attachments), sl)
	}
	att := sl.Attachments[0]
	if att.Title != title || att.Fallback != title {
		t.Errorf("slack title %q fallback %q, want %q", att.Title, att.Fallback, title)
	}
	if att.TitleLink != amExternalURL+"/alerts" {
		t.Errorf("slack title_link = %q, want lookout's alerts page", att.TitleLink)
	}
	if sl.Channel != "#alerts" || sl.Username != "lookout" {
		t.Errorf("slack channel %q username %q", sl.Channel, sl.Username)
	}
	for _, want := range []string{
		"*5xx above 5% on checkout-1*\nCheckout answers 500 to 7% of requests.\n`pod=checkout-1`\n```\nERROR payment failed &lt;card declined&gt; on checkout-1\nERROR retry 2 failed\n```\n" +
			"<" + amExternalURL + "/traces/4bf92f3577b34da6a3ce929d0e0e4736?pod=checkout-1|Trace> · <" + amExternalURL + "/logs?query=service:checkout&pod=checkout-1|Logs> · <" + amExternalURL + "/explore?query=rate|Query>",
		"*5xx above 5% on checkout-2*",
		"`pod=checkout-2`",
	} {
		if !strings.Contains(att.Text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, att.Text)
		}
	}
	if strings.Contains(att.Text, "severity=page") {
		t.Errorf("slack text repeats a label common to the group:\n%s", att.Text)
	}

	var dc struct {
		Embeds []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"embeds"`
	}
	if err := json.Unmarshal(discord.received()[0], &dc); err != nil || len(dc.Embeds) != 1 {
		t.Fatalf("decode discord %s: %v", discord.received()[0], err)
	}
	if dc.Embeds[0].Title != title {
		t.Errorf("discord title = %q, want %q", dc.Embeds[0].Title, title)
	}
	for _, want := range []string{
		"**5xx above 5% on checkout-1**\nCheckout answers 500 to 7% of requests.\n`pod=checkout-1`\n```\nERROR payment failed <card declined> on checkout-1\nERROR retry 2 failed\n```\n",
		"[Trace](" + amExternalURL + "/traces/4bf92f3577b34da6a3ce929d0e0e4736?pod=checkout-2) · [Logs](" + amExternalURL + "/logs?query=service:checkout&pod=checkout-2) · [Query](" + amExternalURL + "/explore?query=rate)",
	} {
		if !strings.Contains(dc.Embeds[0].Description, want) {
			t.Errorf("discord description lacks %q:\n%s", want, dc.Embeds[0].Description)
		}
	}

	msgs := webhook.webhookMessages(t)
	m := msgs[0]
	if m.Status != "firing" || m.Receiver != "team" || m.ExternalURL != amExternalURL+"/alertmanager" {
		t.Errorf("webhook status %q receiver %q externalURL %q", m.Status, m.Receiver, m.ExternalURL)
	}
	if m.GroupLabels["alertname"] != "HighErrorRate" || m.GroupLabels["service"] != "checkout" || len(m.GroupLabels) != 2 {
		t.Errorf("webhook groupLabels = %v", m.GroupLabels)
	}
	if len(m.Alerts) != 2 {
		t.Fatalf("webhook alerts = %d, want 2", len(m.Alerts))
	}
	pods := map[string]bool{}
	for _, al := range m.Alerts {
		pod := al.Labels["pod"]
		pods[pod] = true
		if al.Status != "firing" || al.Labels["service"] != "checkout" || al.Labels["severity"] != "page" {
			t.Errorf("webhook alert %v: status %q", al.Labels, al.Status)
		}
		if al.Annotations["summary"] != "5xx above 5% on "+pod || !strings.HasPrefix(al.Annotations["sample_lines"], "ERROR payment failed <card declined>") {
			t.Errorf("webhook alert %s annotations = %v", pod, al.Annotations)
		}
		if al.GeneratorURL != amExternalURL+"/explore?query=rate" {
			t.Errorf("webhook alert %s generatorURL = %q", pod, al.GeneratorURL)
		}
	}
	if !pods["checkout-1"] || !pods["checkout-2"] {
		t.Errorf("webhook alerts for pods %v, want checkout-1 and checkout-2", pods)
	}
}

func TestAlertmanagerSilence(t *testing.T) {
	webhook := newAMReceiver(t, "webhook")
	a := startAM(t, fmt.Sprintf(`
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 50ms
  group_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
`, webhook.srv.URL), "")

	// A UTF-8 label name, which only parses once compat is initialised.
	id := a.silence(t, "service.name", "payments")
	ctx := context.Background()
	if err := a.am.send(ctx, amTestAlert("PaymentsDown", "service.name", "payments")); err != nil {
		t.Fatal(err)
	}
	// The silenced group's flush goes through the silence stage and stops there.
	amWaitFor(t, "the silenced notification to be suppressed", func() bool {
		return a.counter(t, "alertmanager_notifications_suppressed_total", map[string]string{"reason": "silence"}) > 0
	})
	if err := a.am.send(ctx, amTestAlert("CheckoutDown", "service.name", "checkout")); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "the unsilenced notification", func() bool { return len(webhook.received()) > 0 })
	for _, m := range webhook.webhookMessages(t) {
		for _, al := range m.Alerts {
			if al.Labels["alertname"] != "CheckoutDown" {
				t.Errorf("webhook notified of %v, which is silenced", al.Labels)
			}
		}
	}

	var alerts []amAPIAlert
	a.get(t, "/alerts?filter="+url.QueryEscape(`alertname="PaymentsDown"`), &alerts)
	if len(alerts) != 1 {
		t.Fatalf("GET alerts = %+v, want the silenced alert", alerts)
	}
	if st := alerts[0].Status; st.State != "suppressed" || len(st.SilencedBy) != 1 || st.SilencedBy[0] != id {
		t.Errorf("silenced alert status = %+v, want suppressed by %s", st, id)
	}
}

func TestAlertmanagerResolves(t *testing.T) {
	webhook := newAMReceiver(t, "webhook")
	a := startAM(t, fmt.Sprintf(`
route:
  receiver: hook
  group_wait: 50ms
  group_interval: 200ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
        send_resolved: true
`, webhook.srv.URL), "")

	ctx := context.Background()
	al := amTestAlert("DiskFull", "instance", "db-1")
	if err := a.am.send(ctx, al); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "the firing notification", func() bool { return len(webhook.received()) > 0 })
	if m := webhook.webhookMessages(t)[0]; m.Status != "firing" {
		t.Fatalf("first notification status = %q, want firing", m.Status)
	}

	al.EndsAt = time.Now().Add(-time.Second)
	if err := a.am.send(ctx, al); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "the resolved notification", func() bool {
		msgs := webhook.webhookMessages(t)
		return len(msgs) > 1 && msgs[len(msgs)-1].Status == "resolved"
	})
	msgs := webhook.webhookMessages(t)
	last := msgs[len(msgs)-1]
	if len(last.Alerts) != 1 || last.Alerts[0].Status != "resolved" || last.Alerts[0].Labels["instance"] != "db-1" {
		t.Errorf("resolved notification alerts = %+v", last.Alerts)
	}
}

func TestAlertmanagerSilencesSurviveRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "am")
	first := startAM(t, "", dataDir)
	id := first.silence(t, "alertname", "Flapping")
	first.api.Close()
	if err := first.am.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", fi, err)
	}

	second := startAM(t, "", dataDir)
	var silences []struct {
		ID     string `json:"id"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
		Comment string `json:"comment"`
	}
	second.get(t, "/silences", &silences)
	if len(silences) != 1 || silences[0].ID != id || silences[0].Status.State != "active" || silences[0].Comment != "maintenance" {
		t.Errorf("silences after restart = %+v, want active silence %s", silences, id)
	}
}

func TestAlertmanagerReload(t *testing.T) {
	oldHook, newHook := newAMReceiver(t, "webhook"), newAMReceiver(t, "webhook")
	conf := func(url string) string {
		return fmt.Sprintf(`
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 50ms
  group_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/hook
`, url)
	}
	a := startAM(t, conf(oldHook.srv.URL), "")
	ctx := context.Background()

	broken := conf(newHook.srv.URL) + `
  - name: other
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"warning|info"']
    equal: [service]
route2: {}
`
	if err := os.WriteFile(a.config, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err := a.am.reload()
	if err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if want := a.config + ":17: field route2 not found"; !strings.Contains(err.Error(), want) {
		t.Errorf("reload error = %q, want it to contain %q", err, want)
	}
	if ok := a.gauge(t, "alertmanager_config_last_reload_successful"); ok != 0 {
		t.Errorf("alertmanager_config_last_reload_successful = %v after a failed reload, want 0", ok)
	}
	if err := a.am.send(ctx, amTestAlert("AfterBrokenReload")); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "the notification to the old receiver", func() bool { return len(oldHook.received()) > 0 })

	if err := os.WriteFile(a.config, []byte(conf(newHook.srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.am.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if ok := a.gauge(t, "alertmanager_config_last_reload_successful"); ok != 1 {
		t.Errorf("alertmanager_config_last_reload_successful = %v after a reload, want 1", ok)
	}
	if err := a.am.send(ctx, amTestAlert("AfterReload")); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "the notification to the new receiver", func() bool {
		for _, m := range newHook.webhookMessages(t) {
			if m.GroupLabels["alertname"] == "AfterReload" {
				return true
			}
		}
		return false
	})
}

func TestLoadAlertmanagerConfigLocatesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	badTmpl := write("bad.tmpl", "{{ define \"x\" }}\nok\n{{ .Foo \n{{ end }}\n")

	for _, tc := range []struct {
		name, config string
		file         string // "" for the config file
		line         int
		msg          string
	}{
		{
			name:   "syntax",
			config: "route:\n  receiver: a\n  group_by: [alertname\nreceivers:\n  - name: a\n",
			line:   3, msg: "did not find expected ',' or ']'",
		},
		{
			name:   "unknown field",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_config: []\n",
			line:   5, msg: "field slack_config not found",
		},
		{
			name:   "undefined receiver",
			config: "route:\n  receiver: a\n  routes:\n    - matchers: ['service=\"checkout\"']\n      receiver: nobody\nreceivers:\n  - name: a\n",
			line:   5, msg: `undefined receiver "nobody" used in route`,
		},
		{
			name:   "invalid matcher",
			config: "route:\n  receiver: a\n  routes:\n    - receiver: a\n      matchers:\n        - service=\"checkout\"\n        - 'severity=~\"(critical\"'\nreceivers:\n  - name: a\n",
			line:   7, msg: "missing closing )",
		},
		{
			name:   "duplicate receiver",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: b\n  - name: a\n",
			line:   6, msg: `notification config name "a" is not unique`,
		},
		{
			name:   "discord without url",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: http://example.com/\n    discord_configs:\n      - username: bot\n",
			line:   8, msg: "one of webhook_url or webhook_url_file must be configured",
		},
		{
			name:   "slack without url",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: b\n    slack_configs:\n      - channel: '#x'\n",
			line:   7, msg: "no Slack API URL nor App token set",
		},
		{
			name:   "zero group_interval",
			config: "route:\n  receiver: a\n  routes:\n    - receiver: a\n    - receiver: a\n      group_interval: 0s\nreceivers:\n  - name: a\n",
			line:   6, msg: "group_interval cannot be zero",
		},
		{
			name:   "bad inhibit rule",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\ninhibit_rules:\n  - source_matchers: ['a=\"1\"']\n    target_matchers: ['b=\"2\"']\n  - source_matchers: ['a=~\"[\"']\n    target_matchers: ['b=\"2\"']\n",
			line:   8, msg: "missing closing ]",
		},
		{
			name:   "wildcard group_by",
			config: "route:\n  receiver: a\n  group_wait: 1s\n  group_by: ['...', alertname]\nreceivers:\n  - name: a\n",
			line:   4, msg: "cannot have wildcard group_by",
		},
		{
			name:   "root route matchers",
			config: "route:\n  receiver: a\n  matchers: ['a=\"b\"']\nreceivers:\n  - name: a\n",
			line:   3, msg: "root route must not have any matchers",
		},
		{
			name:   "root route mute time intervals",
			config: "route:\n  receiver: a\n  mute_time_intervals: [night]\nreceivers:\n  - name: a\ntime_intervals:\n  - name: night\n",
			line:   3, msg: "root route must not have any mute time intervals",
		},
		{
			name:   "bad equal label",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\ninhibit_rules:\n  - source_matchers: ['a=\"1\"']\n    target_matchers: ['b=\"2\"']\n    equal: ['']\n",
			line:   8, msg: `invalid label name "" in equal list`,
		},
		{
			name:   "bad weekday",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n  - name: work\n    time_intervals:\n      - weekdays: [monday, funday]\n",
			line:   8, msg: "funday is not a valid weekday",
		},
		{
			name:   "template",
			config: "route:\n  receiver: a\nreceivers:\n  - name: a\ntemplates: [bad.tmpl]\n",
			file:   badTmpl, line: 4, msg: `unexpected "{" in operand`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "_")+".yml", tc.config)
			_, err := loadAlertmanagerConfig(path)
			if err == nil {
				t.Fatalf("loaded:\n%s", tc.config)
			}
			file := tc.file
			if file == "" {
				file = path
			}
			want := fmt.Sprintf("%s:%d: ", file, tc.line)
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error = %q, want %q...%q for:\n%s", err, want, tc.msg, tc.config)
			}
		})
	}

	t.Run("good", func(t *testing.T) {
		conf, err := loadAlertmanagerConfig(write("good.yml", "route:\n  receiver: a\n  routes:\n    - matchers: ['service.name=\"checkout\"']\n      receiver: a\nreceivers:\n  - name: a\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := conf.Route.Routes[0].Matchers[0].Name; got != "service.name" {
			t.Errorf("matcher name = %q, want service.name", got)
		}
	})
}

func TestAlertmanagerDefaultConfig(t *testing.T) {
	a := startAM(t, "", "")
	ctx := context.Background()

	invalid := &model.Alert{Labels: model.LabelSet{"alertname": "Backwards"}, StartsAt: time.Now(), EndsAt: time.Now().Add(-time.Hour)}
	err := a.am.send(ctx, amTestAlert("QueueBacklog", "service", "worker"), invalid)
	if err == nil || !strings.Contains(err.Error(), `alertname="Backwards"`) || !strings.Contains(err.Error(), "start time must be before end time") {
		t.Errorf("send with an invalid alert: err = %v, want it named", err)
	}

	var alerts []amAPIAlert
	amWaitFor(t, "the alert in the API", func() bool {
		a.get(t, "/alerts", &alerts)
		return len(alerts) > 0
	})
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != "QueueBacklog" {
		t.Fatalf("GET alerts = %+v, want QueueBacklog only", alerts)
	}
	if st := alerts[0].Status.State; st != "active" {
		t.Errorf("alert state = %q, want active", st)
	}
	if len(alerts[0].Receivers) != 1 || alerts[0].Receivers[0].Name != "lookout-ui" {
		t.Errorf("alert receivers = %+v, want lookout-ui", alerts[0].Receivers)
	}

	var groups []struct {
		Labels   map[string]string `json:"labels"`
		Receiver struct {
			Name string `json:"name"`
		} `json:"receiver"`
		Alerts []amAPIAlert `json:"alerts"`
	}
	amWaitFor(t, "the alert's group", func() bool {
		a.get(t, "/alerts/groups", &groups)
		return len(groups) > 0
	})
	if g := groups[0]; g.Labels["alertname"] != "QueueBacklog" || g.Receiver.Name != "lookout-ui" || len(g.Alerts) != 1 {
		t.Errorf("alert group = %+v", g)
	}

	var status struct {
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
		Cluster struct {
			Status string `json:"status"`
		} `json:"cluster"`
	}
	a.get(t, "/status", &status)
	if !strings.Contains(status.Config.Original, "lookout-ui") || status.Cluster.Status != "disabled" {
		t.Errorf("status = %+v", status)
	}
	var receivers []struct {
		Name string `json:"name"`
	}
	a.get(t, "/receivers", &receivers)
	if len(receivers) != 1 || receivers[0].Name != "lookout-ui" {
		t.Errorf("receivers = %+v", receivers)
	}
	if n := a.counter(t, "alertmanager_notifications_total", nil); n != 0 {
		t.Errorf("notifications sent = %v, want none", n)
	}
	if err := a.am.reload(); err != nil {
		t.Errorf("reload without a file: %v", err)
	}
	if !strings.Contains(amDefaultNote, "--alertmanager-config") {
		t.Errorf("amDefaultNote does not say how to configure notifications: %q", amDefaultNote)
	}
}

// TestLookoutTemplates renders the receivers' default messages that the tests
// above do not send: Telegram's HTML and Teams' Markdown.
func TestLookoutTemplates(t *testing.T) {
	c, err := loadAMConfig("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.tmpl.ExternalURL, _ = url.Parse(amExternalURL + "/alertmanager")
	now := time.Now()
	mk := func(pod string, resolved bool) *alert.Alert {
		a := &alert.Alert{Alert: *amTestAlert("HighErrorRate", "service", "checkout", "pod", pod)}
		a.Annotations = model.LabelSet{
			"summary":      model.LabelValue("errors on " + pod),
			"sample_lines": "GET /cart 500 <html>",
			"trace_url":    "javascript:alert(1)",
		}
		a.EndsAt = now.Add(time.Hour)
		if resolved {
			a.EndsAt = now.Add(-time.Minute)
		}
		return a
	}
	data := c.tmpl.Data("team", model.LabelSet{"alertname": "HighErrorRate", "service": "checkout"}, nil, "", mk("a", false), mk("b", true))

	tg, err := c.tmpl.ExecuteHTMLString(`{{ template "telegram.default.message" . }}`, data)
	if err != nil {
		t.Fatalf("telegram: %v", err)
	}
	for _, want := range []string{
		"<b>[FIRING:1] HighErrorRate (checkout)</b>",
		"<b>Firing</b>\n\n<b>errors on a</b>\n<code>pod=a</code>\n<pre>GET /cart 500 &lt;html&gt;</pre>\n",
		`<a href="#ZgotmplZ">Trace</a>`,
		"<b>Resolved</b>\n\n<b>errors on b</b>",
	} {
		if !strings.Contains(tg, want) {
			t.Errorf("telegram message lacks %q:\n%s", want, tg)
		}
	}

	for _, name := range []string{"msteams", "msteamsv2"} {
		title, err := c.tmpl.ExecuteTextString(`{{ template "`+name+`.default.title" . }}`, data)
		if err != nil || title != "[FIRING:1] HighErrorRate (checkout)" {
			t.Errorf("%s title = %q, %v", name, title, err)
		}
		text, err := c.tmpl.ExecuteTextString(`{{ template "`+name+`.default.text" . }}`, data)
		if err != nil {
			t.Fatalf("%s text: %v", name, err)
		}
		for _, want := range []string{"**Firing**\n\n**errors on a**\n\n`pod=a`\n\n`GET /cart 500 <html>`", "**Resolved**\n\n**errors on b**"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s text lacks %q:\n%s", name, want, text)
			}
		}
	}
}

func TestAlertmanagerCloseStopsGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	a := startAM(t, `
route:
  receiver: ui
  group_wait: 10ms
receivers:
  - name: ui
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
`, "")
	if err := a.am.send(context.Background(), amTestAlert("Down", "severity", "critical")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.am.reload(); err != nil {
			t.Fatal(err)
		}
	}
	a.api.Close()
	if err := a.am.close(); err != nil {
		t.Fatal(err)
	}
	amWaitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
	if err := a.am.send(context.Background(), amTestAlert("Late")); err == nil {
		t.Error("send after close succeeded")
	}
}

// TestAlertmanagerConfigErrorsHideURLs: a webhook URL is a secret, and
// Alertmanager's parse errors quote it; the error lookout shows does not.
func TestAlertmanagerConfigErrorsHideURLs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	body := "route:\n  receiver: team\nreceivers:\n  - name: team\n    slack_configs:\n      - api_url: https://hooks.slack.com/services/T0/B0/SUPERSECRET%zz\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadAlertmanagerConfig(path)
	if err == nil {
		t.Fatal("a bad URL loaded")
	}
	if strings.Contains(err.Error(), "SUPERSECRET") || !strings.Contains(err.Error(), path+":") {
		t.Errorf("error %q: want file:line and no secret", err)
	}
}

// loadAlertmanagerConfig is loadAMConfig as CheckFiles runs it, quiet, for
// the configuration alone.
func loadAlertmanagerConfig(path string) (*config.Config, error) {
	c, err := loadAMConfig(path, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return c.conf, nil
}
