package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

type sendResolved bool

func (s sendResolved) SendResolved() bool { return bool(s) }

// flushCtx is the context the dispatcher gives one flush of a group.
func flushCtx(group string, flush uint64, now time.Time) context.Context {
	ctx := notify.WithAggrGroupID(context.Background(), group)
	ctx = notify.WithFlushID(ctx, flush)
	ctx = notify.WithNow(ctx, now)
	return notify.WithGroupLabels(ctx, model.LabelSet{"alertname": "DiskFull"})
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	i := notify.NewIntegration(nil, sendResolved(true), "webhook", 0, "team")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	firing := &alert.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": "DiskFull"}, StartsAt: t0.Add(-time.Hour)}}
	for n := range 5 {
		h.record(flushCtx("g", uint64(n), t0), "team", &i, []*alert.Alert{firing}, nil, t0.Add(time.Duration(n)*time.Minute))
	}
	got := h.list(0)
	var minutes []int
	for _, n := range got {
		minutes = append(minutes, int(n.Time.Sub(t0)/time.Minute))
	}
	if want := []int{4, 3, 2}; !slices.Equal(minutes, want) {
		t.Fatalf("after 5 records in a ring of 3, list(0) holds minutes %v, want %v (newest first)", minutes, want)
	}
	if got := h.list(2); len(got) != 2 || !got[0].Time.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("list(2) = %+v, want the newest two", got)
	}
	if got := h.list(10); len(got) != 3 {
		t.Errorf("list(10) holds %d, want the 3 kept", len(got))
	}
	n := got[0]
	if n.Receiver != "team" || n.Integration != "webhook" || n.Firing != 1 || n.Resolved != 0 || n.Err != "" || n.Attempts != 1 ||
		!slices.Equal(n.AlertNames, []string{"DiskFull"}) || n.GroupLabels.Get("alertname") != "DiskFull" {
		t.Errorf("entry = %+v", n)
	}
}

// TestHistoryRetries: the attempts of one flush are one entry whose error
// is the last attempt's; another flush is another entry.
func TestHistoryRetries(t *testing.T) {
	h := newHistory(10)
	i := notify.NewIntegration(nil, sendResolved(true), "slack", 1, "team")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	resolved := &alert.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": "B"}, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(-time.Minute)}}
	firing := &alert.Alert{Alert: model.Alert{Labels: model.LabelSet{"alertname": "A"}, StartsAt: t0.Add(-time.Hour)}}
	as := []*alert.Alert{resolved, firing}
	ctx := flushCtx("g", 7, t0)
	h.record(ctx, "team", &i, as, errors.New(`Post "https://hooks.slack.com/services/T/B/secret": dial tcp: refused`), t0)
	if got := h.list(0); len(got) != 1 || got[0].Attempts != 1 || strings.Contains(got[0].Err, "secret") || !strings.Contains(got[0].Err, "refused") {
		t.Fatalf("after a failed attempt: %+v, want one entry with the error, its URL redacted", got)
	}
	h.record(ctx, "team", &i, as, nil, t0.Add(time.Second))
	got := h.list(0)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].Err != "" || !got[0].Time.Equal(t0) {
		t.Fatalf("after a retry that worked: %+v, want one entry, 2 attempts, no error, the first attempt's time", got)
	}
	if n := got[0]; n.Firing != 1 || n.Resolved != 1 || !slices.Equal(n.AlertNames, []string{"A", "B"}) || n.Index != 1 {
		t.Errorf("entry = %+v, want 1 firing, 1 resolved, names A and B", n)
	}
	h.record(flushCtx("g", 8, t0), "team", &i, as, nil, t0.Add(time.Minute))
	if got := h.list(0); len(got) != 2 {
		t.Errorf("the next flush: %d entries, want 2", len(got))
	}
}

// TestHistoryRecordsNotifications: what the embedded Alertmanager sends is
// recorded, delivered or not, with retries counted.
func TestHistoryRecordsNotifications(t *testing.T) {
	ok := newAMReceiver(t, "webhook")
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad token for http://hooks.example/secret-token", http.StatusBadRequest)
	}))
	t.Cleanup(refused.Close)
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(flaky.Close)
	a := startAM(t, fmt.Sprintf(`
route:
  receiver: team
  group_by: [alertname]
  group_wait: 50ms
  group_interval: 1h
  repeat_interval: 4h
  routes:
    - receiver: flaky
      matchers: [alertname="Flaky"]
receivers:
  - name: team
    webhook_configs:
      - url: %s/hook
      - url: %s/hook
  - name: flaky
    webhook_configs:
      - url: %s/hook
`, ok.srv.URL, refused.URL, flaky.URL), "")

	sent := []*model.Alert{amTestAlert("HighErrorRate", "pod", "a"), amTestAlert("HighErrorRate", "pod", "b"), amTestAlert("Flaky")}
	for _, al := range sent {
		// Starting now, both HighErrorRate alerts wait group_wait together
		// (one that started earlier is flushed at once, alone).
		al.StartsAt = time.Time{}
	}
	if err := a.am.send(context.Background(), sent...); err != nil {
		t.Fatal(err)
	}
	var got []Notification
	amWaitFor(t, "three notifications, the flaky one delivered", func() bool {
		got = a.am.history.list(0)
		return len(got) == 3 && !slices.ContainsFunc(got, func(n Notification) bool { return n.Receiver == "flaky" && n.Err != "" })
	})
	byKey := map[string]Notification{}
	for _, n := range got {
		byKey[fmt.Sprintf("%s/%s[%d]", n.Receiver, n.Integration, n.Index)] = n
	}
	delivered, failed, retried := byKey["team/webhook[0]"], byKey["team/webhook[1]"], byKey["flaky/webhook[0]"]
	if delivered.Err != "" || delivered.Firing != 2 || delivered.Resolved != 0 || delivered.Attempts != 1 ||
		!slices.Equal(delivered.AlertNames, []string{"HighErrorRate"}) || !labels.Equal(delivered.GroupLabels, labels.FromStrings("alertname", "HighErrorRate")) {
		t.Errorf("delivered notification = %+v", delivered)
	}
	if !strings.Contains(failed.Err, "400") || strings.Contains(failed.Err, "secret-token") || failed.Attempts != 1 || failed.Firing != 2 {
		t.Errorf("refused notification = %+v, want a 400 error, its URL redacted, one attempt", failed)
	}
	if retried.Err != "" || retried.Attempts != 2 || !slices.Equal(retried.AlertNames, []string{"Flaky"}) {
		t.Errorf("retried notification = %+v, want delivered on the second attempt", retried)
	}
}
