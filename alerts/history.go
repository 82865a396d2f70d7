package alerts

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/prometheus/model/labels"
)

// historySize is how many notifications the history keeps: the newest.
const historySize = 500

// historyNames is how many distinct alert names one notification keeps.
const historyNames = 10

// Notification is one notification the embedded Alertmanager sent or tried
// to send: one integration (Slack, a webhook, ...) of one receiver, for one
// flush of one alert group. Retries of the same flush are counted in
// Attempts rather than listed again.
type Notification struct {
	// Time is when the first attempt finished.
	Time     time.Time
	Receiver string
	// Integration is the integration's kind ("slack", "webhook", ...) and
	// Index its place among the receiver's integrations of that kind.
	Integration string
	Index       int
	// GroupLabels are the labels the route groups by.
	GroupLabels labels.Labels
	// Firing and Resolved count the alerts sent.
	Firing, Resolved int
	// AlertNames are the distinct alert names sent, sorted; at most ten,
	// with OtherNames counting the rest.
	AlertNames []string
	OtherNames int
	Attempts   int
	// Err is why the last attempt failed, with URLs redacted; "" when it
	// was delivered.
	Err string
}

// flushKey tells one flush of one alert group to one integration from
// another, so that retries update their entry.
type flushKey struct {
	group       string // the aggregation group's id
	flush       uint64
	receiver    string
	integration string
	index       int
}

// history is a bounded ring of the newest notifications, kept in memory
// only: a restart starts it empty (the notification log, which Alertmanager
// keeps on disk, holds what it needs to deduplicate, not what was sent).
type history struct {
	mu   sync.Mutex
	ring []Notification
	keys []flushKey
	next int // where the next entry goes once the ring is full
	size int
}

func newHistory(size int) *history {
	return &history{size: size}
}

// record adds an attempt to deliver alerts through an integration of
// receiver, or counts it against the entry of an earlier attempt of the
// same flush.
func (h *history) record(ctx context.Context, receiver string, i *notify.Integration, alerts []*alert.Alert, err error, now time.Time) {
	n := Notification{
		Time:        now,
		Receiver:    receiver,
		Integration: i.Name(),
		Index:       i.Index(),
		Attempts:    1,
	}
	if err != nil {
		n.Err = redactURLs(err).Error()
	}
	key, keyed := flushKey{receiver: receiver, integration: n.Integration, index: n.Index}, false
	if id, ok := notify.AggrGroupID(ctx); ok {
		if flush, ok := notify.FlushID(ctx); ok {
			key.group, key.flush, keyed = id, flush, true
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if keyed {
		if j := slices.Index(h.keys, key); j >= 0 {
			h.ring[j].Attempts++
			h.ring[j].Err = n.Err
			return
		}
	}
	// Built outside the scan above only when it is a new entry.
	resolvedAt := now
	if t, ok := notify.Now(ctx); ok {
		resolvedAt = t
	}
	if gl, ok := notify.GroupLabels(ctx); ok {
		m := make(map[string]string, len(gl))
		for k, v := range gl {
			m[string(k)] = string(v)
		}
		n.GroupLabels = labels.FromMap(m)
	}
	var names []string
	for _, a := range alerts {
		if a.ResolvedAt(resolvedAt) {
			n.Resolved++
		} else {
			n.Firing++
		}
		if name := string(a.Labels[labels.AlertName]); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) > historyNames {
		n.OtherNames = len(names) - historyNames
		names = names[:historyNames]
	}
	n.AlertNames = names
	if !keyed {
		key = flushKey{} // never matched: AggrGroupID is never empty
	}
	if len(h.ring) < h.size {
		h.ring = append(h.ring, n)
		h.keys = append(h.keys, key)
		return
	}
	h.ring[h.next], h.keys[h.next] = n, key
	h.next = (h.next + 1) % h.size
}

// list returns up to limit notifications, newest first; limit <= 0 means
// all that are kept.
func (h *history) list(limit int) []Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	if limit <= 0 || limit > len(h.ring) {
		limit = len(h.ring)
	}
	out := make([]Notification, 0, limit)
	// The newest is just before next (or last, while the ring fills).
	for k := 1; k <= limit; k++ {
		j := (h.next - k + len(h.ring)) % len(h.ring)
		out = append(out, h.ring[j])
	}
	return out
}

// wrap returns receivers with each integration recording its attempts
// here. The integrations keep their names and indexes, so Alertmanager's
// notification log and metrics see no difference.
func (h *history) wrap(receivers map[string][]notify.Integration) map[string][]notify.Integration {
	out := make(map[string][]notify.Integration, len(receivers))
	for name, integrations := range receivers {
		wrapped := make([]notify.Integration, len(integrations))
		for j := range integrations {
			orig := &integrations[j]
			rn := &recordingNotifier{integration: orig, receiver: name, history: h}
			wrapped[j] = notify.NewIntegration(rn, orig, orig.Name(), orig.Index(), name)
		}
		out[name] = wrapped
	}
	return out
}

// recordingNotifier is an integration that records every attempt in the
// history. Alertmanager's retry stage calls it once per attempt.
type recordingNotifier struct {
	integration *notify.Integration
	receiver    string
	history     *history
}

func (r *recordingNotifier) Notify(ctx context.Context, alerts ...*alert.Alert) (bool, error) {
	retry, err := r.integration.Notify(ctx, alerts...)
	r.history.record(ctx, r.receiver, r.integration, alerts, err, time.Now())
	return retry, err
}

// Notifications returns up to limit of the newest notifications the
// embedded Alertmanager sent or tried to send, newest first (limit <= 0:
// all it keeps, the last 500). They are kept in memory only, so the list
// starts empty when lookout starts.
func (m *Manager) Notifications(limit int) []Notification {
	return m.am.history.list(limit)
}
