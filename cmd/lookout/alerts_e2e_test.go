package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// chatServer stands in for Slack, Discord or a webhook receiver: it keeps
// every body posted to it.
type chatServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newChatServer(t *testing.T) *chatServer {
	c := &chatServer{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
		io.WriteString(w, "ok") // what Slack answers; the others ignore the body
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *chatServer) received() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bodies)
}

// webhookMessage is Alertmanager's webhook payload.
type webhookMessage struct {
	Status      string `json:"status"`
	ExternalURL string `json:"externalURL"`
	Alerts      []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
}

func (c *chatServer) webhooks(t *testing.T) []webhookMessage {
	t.Helper()
	var out []webhookMessage
	for _, b := range c.received() {
		var m webhookMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("webhook body %s: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// promAlerts is /api/v1/alerts.
type promAlerts struct {
	Data struct {
		Alerts []struct {
			Labels   map[string]string `json:"labels"`
			State    string            `json:"state"`
			ActiveAt time.Time         `json:"activeAt"`
		} `json:"alerts"`
	} `json:"data"`
}

// alertState returns the state and activeAt of the alert with these
// labels, or "" when it is not active.
func alertState(t *testing.T, base string, match map[string]string) (string, time.Time) {
	t.Helper()
	var r promAlerts
	apiGet(t, base, "/api/v1/alerts", &r)
next:
	for _, a := range r.Data.Alerts {
		for k, v := range match {
			if a.Labels[k] != v {
				continue next
			}
		}
		return a.State, a.ActiveAt
	}
	return "", time.Time{}
}

const alertRules = `groups:
  - name: shop
    interval: 1s
    rules:
      - alert: QueueBacklog
        expr: queue_depth{queue!="stuck"} > 10
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "queue {{ $labels.queue }} is {{ $value }} deep"
      - alert: QueueStuck
        expr: queue_depth{queue="stuck"} > 100
        for: 1m
`

const alertLogRules = `groups:
  - name: payments
    interval: 1s
    rules:
      - alert: PaymentsDeclined
        query: declined
        window: 5m
        group_by: [service]
        above: 0
        labels:
          severity: ticket
        annotations:
          summary: "{{ $value }} declined payments in {{ $labels.service }}"
`

// TestEndToEndAlerts: metrics sent over OTLP make a rule fire; Slack,
// Discord and a webhook each get one grouped notification with the labels,
// annotations and links; a silence made through the Alertmanager API
// suppresses an alert; resolution sends a resolved message; a log rule
// fires with sample lines and the trace link; a restart during for keeps
// the pending time.
func TestEndToEndAlerts(t *testing.T) {
	slack, discord, hook := newChatServer(t), newChatServer(t), newChatServer(t)
	cfgDir, data := t.TempDir(), t.TempDir()
	rules := writeFile(t, cfgDir, "rules.yml", alertRules)
	moreRules := writeFile(t, cfgDir, "more-rules.yml", `groups:
  - name: derived
    interval: 1s
    rules:
      - record: job:queue_depth:max
        expr: max by (job) (queue_depth)
      - alert: RequestsSeen
        expr: sum(http_server_request_duration_seconds_bucket) > 0
`)
	logRules := writeFile(t, cfgDir, "log-rules.yml", alertLogRules)
	amConfig := writeFile(t, cfgDir, "alertmanager.yml", fmt.Sprintf(`route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    slack_configs:
      - api_url: %s
        channel: "#alerts"
        send_resolved: true
    discord_configs:
      - webhook_url: %s
        send_resolved: true
    webhook_configs:
      - url: %s
        send_resolved: true
`, slack.URL, discord.URL, hook.URL))
	args := []string{"--rules", rules + "," + moreRules, "--log-rules", logRules, "--alertmanager-config", amConfig,
		"--evaluation-interval", "1s", "--rules-for-grace-period", "1s", "--rules-resend-delay", "1s",
		"--external-url", "http://lookout.example:8080", "--builtin-rules=false"}
	s := startServer(t, data, args...)

	app := newMetricsApp(t, "http", s.addr.OTLPHTTP, "worker")
	ctx := context.Background()
	depth := func(queue string, v int64) {
		app.depth.Record(ctx, v, metric.WithAttributes(attribute.String("queue", queue)))
	}
	depth("orders", 50)
	depth("payments", 70)
	app.export(t)

	// One grouped notification with both alerts, to each receiver.
	var firing webhookMessage
	eventually(t, "the firing notification", func() bool {
		for _, m := range hook.webhooks(t) {
			if m.Status == "firing" {
				firing = m
				return true
			}
		}
		return false
	})
	if len(firing.Alerts) != 2 {
		t.Fatalf("first notification has %d alerts, want both queues grouped: %+v", len(firing.Alerts), firing)
	}
	for _, a := range firing.Alerts {
		q := a.Labels["queue"]
		if a.Labels["alertname"] != "QueueBacklog" || a.Labels["severity"] != "page" || a.Labels["job"] != "shop/worker" || (q != "orders" && q != "payments") {
			t.Errorf("alert labels %v", a.Labels)
		}
		want := map[string]string{"orders": "queue orders is 50 deep", "payments": "queue payments is 70 deep"}[q]
		if a.Annotations["summary"] != want {
			t.Errorf("summary %q, want %q", a.Annotations["summary"], want)
		}
		if !strings.HasPrefix(a.GeneratorURL, "http://lookout.example:8080/explore?query=") {
			t.Errorf("generatorURL %q does not lead to the query in lookout", a.GeneratorURL)
		}
	}
	if !strings.HasPrefix(firing.ExternalURL, "http://lookout.example:8080") {
		t.Errorf("externalURL %q", firing.ExternalURL)
	}
	for name, c := range map[string]*chatServer{"slack": slack, "discord": discord} {
		eventually(t, name+" notification", func() bool { return len(c.received()) > 0 })
		body := string(c.received()[0])
		for _, want := range []string{"QueueBacklog", "queue orders is 50 deep", "queue payments is 70 deep", "http://lookout.example:8080/explore?query="} {
			if !strings.Contains(body, want) && !strings.Contains(body, strings.ReplaceAll(want, "&", `\u0026`)) {
				t.Errorf("%s message lacks %q:\n%s", name, want, body)
			}
		}
	}

	// A recording rule's output is stored like any series.
	eventually(t, "the recording rule's series", func() bool {
		v, ok := promQuery(t, s.addr.HTTP, `job:queue_depth:max{job="shop/worker"}`, "")
		return ok && v == 70
	})

	// A metric alert carries the trace of an exemplar of the series that
	// fired: a request recorded inside a sampled span.
	tracer := sdktrace.NewTracerProvider().Tracer("e2e")
	sctx, span := tracer.Start(ctx, "GET /checkout")
	app.latency.Record(sctx, 0.2, metric.WithAttributes(attribute.String("http.route", "/checkout")))
	span.End()
	app.export(t)
	var seen webhookMessage
	eventually(t, "the RequestsSeen notification", func() bool {
		for _, m := range hook.webhooks(t) {
			if len(m.Alerts) > 0 && m.Alerts[0].Labels["alertname"] == "RequestsSeen" {
				seen = m
				return true
			}
		}
		return false
	})
	traceID := span.SpanContext().TraceID().String()
	if a := seen.Alerts[0].Annotations; a["trace_id"] != traceID || a["trace_url"] != "http://lookout.example:8080/traces/"+traceID {
		t.Errorf("RequestsSeen annotations %v, want trace_id %s and its trace_url", a, traceID)
	}

	// A silence made through the Alertmanager API suppresses a new alert.
	code, body := apiSend(t, "POST", s.addr.HTTP, "/alertmanager/api/v2/silences", map[string]any{
		"matchers":  []map[string]any{{"name": "queue", "value": "refunds", "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339),
		"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"createdBy": "e2e",
		"comment":   "known refunds backlog",
	})
	if code != http.StatusOK {
		t.Fatalf("create silence: %d %s", code, body)
	}
	depth("refunds", 90)
	app.export(t)
	eventually(t, "the refunds alert suppressed in the Alertmanager", func() bool {
		_, b := apiSend(t, "GET", s.addr.HTTP, "/alertmanager/api/v2/alerts?filter=queue%3D%22refunds%22", nil)
		var as []struct {
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		return json.Unmarshal(b, &as) == nil && len(as) == 1 && as[0].Status.State == "suppressed"
	})

	// Resolution sends a resolved message.
	depth("orders", 3)
	depth("payments", 4)
	app.export(t)
	eventually(t, "the resolved notification", func() bool {
		for _, m := range hook.webhooks(t) {
			if m.Status == "resolved" && len(m.Alerts) == 2 {
				return true
			}
		}
		return false
	})
	for _, m := range hook.webhooks(t) {
		for _, a := range m.Alerts {
			if a.Labels["queue"] == "refunds" {
				t.Errorf("the silenced alert was notified: %+v", m)
			}
		}
	}

	// A log rule fires from logs sent over OTLP, with sample lines and the
	// link to the trace that wrote them.
	emit(t, "http", s.addr.OTLPHTTP, "payments")
	var logAlert map[string]string
	eventually(t, "the log alert notification", func() bool {
		for _, m := range hook.webhooks(t) {
			for _, a := range m.Alerts {
				if a.Labels["alertname"] == "PaymentsDeclined" && m.Status == "firing" {
					logAlert = a.Annotations
					return true
				}
			}
		}
		return false
	})
	var logs logsResponse
	apiGet(t, s.addr.HTTP, "/api/v1/logs?query=declined", &logs)
	if len(logs.Records) != 1 {
		t.Fatalf("%d declined log records", len(logs.Records))
	}
	if want := "1 declined payments in payments"; logAlert["summary"] != want {
		t.Errorf("log alert summary %q, want %q", logAlert["summary"], want)
	}
	if !strings.Contains(logAlert["sample_lines"], "payment declined by issuer for payments") {
		t.Errorf("sample_lines %q", logAlert["sample_lines"])
	}
	if want := "http://lookout.example:8080/traces/" + logs.Records[0].TraceID; logAlert["trace_url"] != want {
		t.Errorf("trace_url %q, want %q", logAlert["trace_url"], want)
	}
	if !strings.HasPrefix(logAlert["logs_url"], "http://lookout.example:8080/logs?") {
		t.Errorf("logs_url %q", logAlert["logs_url"])
	}

	// A restart during for keeps the pending time.
	depth("stuck", 500)
	app.export(t)
	var activeAt time.Time
	eventually(t, "QueueStuck pending", func() bool {
		var st string
		st, activeAt = alertState(t, s.addr.HTTP, map[string]string{"alertname": "QueueStuck"})
		return st == "pending"
	})
	// Pend for 10s, writing ALERTS_FOR_STATE each second, then restart.
	// Prometheus restores the alert as active since activeAt plus the
	// downtime, which runs until the restore (two evaluations after the
	// start), so "since before the restart" holds while the restore comes
	// within the ~9s of pending kept: room for a loaded CI machine.
	eventually(t, "10s of pending QueueStuck", func() bool { return time.Since(activeAt) > 10*time.Second })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	restart := time.Now()
	s = startServer(t, data, args...)
	// The rules manager restores for: state after its second evaluation
	// (the first may lack fresh data); until then the alert is new.
	eventually(t, "QueueStuck pending since before the restart", func() bool {
		st, restored := alertState(t, s.addr.HTTP, map[string]string{"alertname": "QueueStuck"})
		return st == "pending" && restored.Before(restart) && restored.After(activeAt)
	})
}

// TestAlertingReload: a bad rule file on reload keeps the old rules and the
// error names the file and line; a good one takes effect.
func TestAlertingReload(t *testing.T) {
	cfgDir := t.TempDir()
	rules := writeFile(t, cfgDir, "rules.yml", alertRules)
	s := startServer(t, t.TempDir(), "--rules", rules, "--builtin-rules=false")
	ruleNames := func() []string {
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name string `json:"name"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		apiGet(t, s.addr.HTTP, "/api/v1/rules", &r)
		var names []string
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				names = append(names, rl.Name)
			}
		}
		return names
	}
	if got := strings.Join(ruleNames(), ","); got != "QueueBacklog,QueueStuck" {
		t.Fatalf("rules %s", got)
	}

	writeFile(t, cfgDir, "rules.yml", alertRules+"      - alert: Broken\n        expr: rate(x[5m]\n")
	code, body := apiSend(t, "POST", s.addr.HTTP, "/-/reload", nil)
	if code == http.StatusOK || !strings.Contains(string(body), rules+":") {
		t.Errorf("reload of a bad file: %d %s, want an error naming %s:<line>", code, body, rules)
	}
	if got := strings.Join(ruleNames(), ","); got != "QueueBacklog,QueueStuck" {
		t.Errorf("after a bad reload, rules %s: the old ones should stay", got)
	}

	writeFile(t, cfgDir, "rules.yml", alertRules+"      - alert: Added\n        expr: vector(1)\n")
	if code, body := apiSend(t, "POST", s.addr.HTTP, "/-/reload", nil); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	if got := strings.Join(ruleNames(), ","); got != "QueueBacklog,QueueStuck,Added" {
		t.Errorf("after reload, rules %s", got)
	}
}

// TestCheckConfigFiles: check-config reports each problem of rule, log rule
// and Alertmanager files as file:line.
func TestCheckConfigFiles(t *testing.T) {
	dir := t.TempDir()
	rules := writeFile(t, dir, "rules.yml", "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: sum(\n")
	logRules := writeFile(t, dir, "log-rules.yml", "groups:\n  - name: b\n    rules:\n      - alert: Y\n        query: error\n        window: 5m\n        above: 1\n        bogus: true\n")
	syntax := writeFile(t, dir, "syntax.yml", "groups:\n  - name: a\n    rules: [\n")
	am := writeFile(t, dir, "am.yml", "route:\n  receiver: nobody\nreceivers:\n  - name: team\n")
	// rulefmt places none of these, or at line 0.
	unplaced := writeFile(t, dir, "unplaced.yml", "groups:\n  - name: d\n    rules:\n      - alert: Y\n        expr: up == 0\n        annotations:\n          summary: '{{ $value '\n  - name: d\n    rules: []\n")
	duration := writeFile(t, dir, "duration.yml", "groups:\n  - name: c\n    rules:\n      - alert: X\n        expr: up == 0\n        for: soon\n")
	var stdout, stderr bytes.Buffer
	code := run([]string{"check-config", "--rules", rules + "," + syntax + "," + unplaced + "," + duration, "--log-rules", logRules, "--alertmanager-config", am}, testEnv(nil), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("check-config exit %d, want 1; stderr %s", code, stderr.String())
	}
	for _, want := range []string{rules + ":5:15: ", syntax + ":3: ", logRules + ":8:9: ", am + ":2: ", unplaced + ":7:20: ", unplaced + ":8:11: ", duration + ":6:14: "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, stderr.String())
		}
	}

	good := writeFile(t, dir, "good.yml", alertRules)
	goodLogs := writeFile(t, dir, "good-logs.yml", alertLogRules)
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check-config", "--rules", good, "--log-rules", goodLogs}, testEnv(nil), &stdout, &stderr); code != 0 {
		t.Errorf("check-config on good files: exit %d, %s", code, stderr.String())
	}

	// The same rule twice is a warning, as in promtool check rules: the
	// files are valid.
	dup := writeFile(t, dir, "dup.yml", "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n      - alert: X\n        expr: up == 1\n")
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"check-config", "--rules", dup}, testEnv(nil), &stdout, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "warning: "+dup+":6:9: ") || !strings.Contains(stdout.String(), "configuration is valid") {
		t.Errorf("check-config on a duplicate rule: exit %d, stdout %q, stderr %q; want 0 and a warning at %s:6:9", code, stdout.String(), stderr.String(), dup)
	}
}
