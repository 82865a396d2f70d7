package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// pageRange is the time range of a page, as its URL says it: from and to
// are "now", "now-<duration>" (relative, so a shared link shows the latest
// data), RFC 3339 or Unix seconds (absolute).
type pageRange struct {
	From, To   string // as in the URL
	Start, End time.Time
}

// maxPageRange bounds a page's range: the longest retention lookout
// defaults to, plus a day.
const maxPageRange = 31 * 24 * time.Hour

// relativeRange is a choice of the range picker.
type relativeRange struct{ From, Label string }

// relativeRanges are the choices of the range picker.
func relativeRanges() [7]relativeRange {
	return [...]relativeRange{
		{"now-5m", "Last 5 minutes"},
		{"now-15m", "Last 15 minutes"},
		{"now-1h", "Last hour"},
		{"now-3h", "Last 3 hours"},
		{"now-12h", "Last 12 hours"},
		{"now-24h", "Last 24 hours"},
		{"now-7d", "Last 7 days"},
	}
}

// parseTimeRange reads the range from r's query: range (relative, until
// now) or from and to, defaulting to def ago until now. Bad values are an
// error naming the parameter; the range is then the default one, which the
// page's form shows again beside the message.
func parseTimeRange(r *http.Request, now time.Time, def string) (pageRange, error) {
	tr, err := parseRequestRange(r, now, def)
	if err != nil {
		start, _ := parseTimePoint(def, now)
		return pageRange{From: def, To: "now", Start: start, End: now}, err
	}
	return tr, nil
}

// parseRequestRange is parseTimeRange without the fallback.
func parseRequestRange(r *http.Request, now time.Time, def string) (pageRange, error) {
	tr := pageRange{From: r.FormValue("from"), To: r.FormValue("to")}
	if rel := r.FormValue("range"); rel != "" {
		// The picker's relative choice wins over the from and to fields
		// the same form sends.
		tr.From, tr.To = rel, "now"
	}
	if tr.From == "" {
		tr.From = def
	}
	if tr.To == "" {
		tr.To = "now"
	}
	var err error
	if tr.Start, err = parseTimePoint(tr.From, now); err != nil {
		return tr, fmt.Errorf("from: %w", err)
	}
	if tr.End, err = parseTimePoint(tr.To, now); err != nil {
		return tr, fmt.Errorf("to: %w", err)
	}
	if !tr.Start.Before(tr.End) {
		return tr, fmt.Errorf("from (%s) must be before to (%s)", tr.From, tr.To)
	}
	if tr.End.Sub(tr.Start) > maxPageRange {
		return tr, fmt.Errorf("the range is longer than %d days; narrow it", maxPageRange/(24*time.Hour))
	}
	return tr, nil
}

// parseTimePoint parses "now", "now-<d>" (d a Prometheus duration such as
// 15m, 1h30m or 7d), the datetime-local form's "2006-01-02T15:04" (UTC),
// RFC 3339 or Unix seconds.
func parseTimePoint(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now-"):
		d, err := model.ParseDuration(s[len("now-"):])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return now.Add(-time.Duration(d)), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} { // datetime-local, UTC
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := parsePromTime(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not now, now-<duration>, RFC 3339 or Unix seconds", s)
}

// step is a query step that gives about points points over the range,
// rounded to a whole second and at least one.
func (tr pageRange) step(points int) time.Duration {
	d := tr.End.Sub(tr.Start) / time.Duration(points)
	if d < time.Second {
		return time.Second
	}
	return d.Round(time.Second)
}

// isRelative reports whether the range follows now (a relative from and to
// "now"); the picker then shows it selected.
func (tr pageRange) isRelative() bool {
	return strings.HasPrefix(tr.From, "now-") && tr.To == "now"
}

// isListed reports whether the range is one of the picker's choices.
func (tr pageRange) isListed() bool {
	for _, rr := range relativeRanges() {
		if rr.From == tr.From {
			return true
		}
	}
	return false
}

// absolute is what the picker's from or to field shows: the time, when
// the range is absolute, else nothing (a relative range follows now).
func (tr pageRange) absolute(v string, t time.Time) string {
	if tr.isRelative() {
		return ""
	}
	if v == "now" {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}
