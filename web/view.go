package web

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/logstore"
)

// The view helpers every page shares: how durations, times, severities and
// attribute values read, the addresses pages link each other by, and
// rendering a whole page or its htmx fragment. Shared components are in
// view.templ.

// renderPage renders the whole page, or for htmx (isFragment) the fragment
// alone: the part of the page its form swaps, which full renders too.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, full, fragment templ.Component) {
	if isFragment(r) {
		h.render(w, r, status, fragment)
		return
	}
	h.render(w, r, status, full)
}

// --- time ---

// Layouts of the times pages show, always in UTC.
const (
	// layoutMillis is a record's or a span's time.
	layoutMillis = "2006-01-02 15:04:05.000"
	// layoutSeconds is an axis label or a bound of a range.
	layoutSeconds = "2006-01-02 15:04:05"
	// layoutUTC is a time on its own, saying its zone.
	layoutUTC = layoutSeconds + " UTC"
	// layoutMinutesUTC is a time that a minute's precision tells well
	// enough: when an account was made, when a silence ends.
	layoutMinutesUTC = "2006-01-02 15:04 UTC"
)

// formatDuration is a duration with three significant digits at most
// (850ns, 12.5µs, 340ms, 1.25s) and from a minute up to the second, as
// Prometheus writes durations (2m5s, 1h, 1d2h). Negative is 0s.
func formatDuration(d time.Duration) string {
	num := func(x float64, unit string) string {
		prec := 0
		switch {
		case x < 10:
			prec = 2
		case x < 100:
			prec = 1
		}
		s := strconv.FormatFloat(x, 'f', prec, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s + unit
	}
	switch {
	case d < 0:
		return "0s"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return num(float64(d)/1e3, "µs")
	case d < time.Second:
		return num(float64(d)/1e6, "ms")
	case d < time.Minute:
		return num(float64(d)/1e9, "s")
	}
	return promDuration(d.Round(time.Second))
}

// promDuration writes d as a Prometheus duration (30s, 1m30s, 1h, 1d),
// the form PromQL and the range picker read, to the millisecond.
func promDuration(d time.Duration) string {
	return model.Duration(d.Round(time.Millisecond)).String()
}

// formatWhen is t relative to now ("3m20s ago", "in 2h", "now") and
// absolute (for a title), or "never" for the zero time.
func formatWhen(t, now time.Time) (rel, abs string) {
	if t.IsZero() {
		return "never", ""
	}
	abs = t.UTC().Format(layoutUTC)
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now", abs
	case d > 0:
		return roundDuration(d) + " ago", abs
	default:
		return "in " + roundDuration(-d), abs
	}
}

// roundDuration is d in its largest unit or two: 45s, 3m20s, 2h5m, 3d4h.
func roundDuration(d time.Duration) string {
	two := func(n1 time.Duration, u1 string, n2 time.Duration, u2 string) string {
		if n2 == 0 {
			return fmt.Sprintf("%d%s", n1, u1)
		}
		return fmt.Sprintf("%d%s%d%s", n1, u1, n2, u2)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		d = d.Round(time.Second)
		return two(d/time.Minute, "m", d%time.Minute/time.Second, "s")
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return two(d/time.Hour, "h", d%time.Hour/time.Minute, "m")
	}
	d = d.Round(time.Hour)
	return two(d/(24*time.Hour), "d", d%(24*time.Hour)/time.Hour, "h")
}

// --- severity ---

// severityClasses are the colour classes of log severities, in the order
// the logs histogram stacks them (bottom first) and its legend lists them;
// each has a --sev-* colour in lookout.css, "other" (no or an unknown
// severity) is muted.
func severityClasses() [6]string {
	return [...]string{"fatal", "error", "warn", "info", "debug", "other"}
}

// severityClass is the colour class of a log record's severity: that of
// its OTLP number's range when it has one, as the store's severity field
// groups records, else that of its text.
func severityClass(number int32, text string) string {
	if name := logstore.SeverityName(number); name != "" {
		return severityNameClass(name)
	}
	return severityNameClass(text)
}

// severityText is what a record's severity reads: its text, else the name
// of its number's range (what the query language's severity field
// matches), else nothing.
func severityText(number int32, text string) string {
	if text != "" {
		return text
	}
	return logstore.SeverityName(number)
}

// severityNameClass maps a severity name (the store's name of a number's
// range, or a record's text, in any case) to its class.
func severityNameClass(name string) string {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "fatal", "critical", "crit", "panic", "emerg", "emergency", "alert":
		return "fatal"
	case "error", "err":
		return "error"
	case "warn", "warning":
		return "warn"
	case "info", "information", "informational", "notice":
		return "info"
	case "debug", "trace":
		return "debug"
	}
	return "other"
}

// --- attributes ---

// attrValueMax bounds the bytes of an attribute value a page shows, so
// that one huge value cannot make a page of a hundred records or spans
// heavy.
const attrValueMax = 2000

// keyValue is an attribute as text.
type keyValue struct{ Key, Value string }

// keyValues lists attributes sorted by key, each value as text cut at
// attrValueMax.
func keyValues(m map[string]any) []keyValue {
	out := make([]keyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, keyValue{k, cutText(valueText(m[k]), attrValueMax)})
	}
	return out
}

// valueText renders a body or attribute value: strings as they are,
// bytes as bytes(hex:…), anything structured as JSON.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case logstore.Bytes:
		// Hex, because that is what the query language matches a bytes
		// value by (digest:deadbeef); marked, so it is not read as text.
		return "bytes(hex:" + hex.EncodeToString(x) + ")"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// cutText cuts s to at most limit bytes, at a character's start, and marks
// the cut with "…".
func cutText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// --- links ---

// rangeQuery is a page's range as a link carries it: from and to as the
// URL had them; to is left out when it is now, the default, and both when
// tr has none.
func rangeQuery(tr pageRange) url.Values {
	q := url.Values{}
	if tr.From != "" {
		q.Set("from", tr.From)
	}
	if tr.To != "" && tr.To != "now" {
		q.Set("to", tr.To)
	}
	return q
}

// withQuery is path with q as its query string, if q has any.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// serviceHref is a service's page over tr (the zero pageRange for its
// default range).
func serviceHref(name string, tr pageRange) string {
	return withQuery("/services/"+url.PathEscape(name), rangeQuery(tr))
}

// logsHref is the logs explorer searching query over tr.
func logsHref(query string, tr pageRange) string {
	q := rangeQuery(tr)
	if query != "" {
		q.Set("query", query)
	}
	return withQuery("/logs", q)
}

// exploreHref is the metrics explorer running the PromQL query over tr.
func exploreHref(query string, tr pageRange) string {
	q := rangeQuery(tr)
	if query != "" {
		q.Set("query", query)
	}
	return withQuery("/explore", q)
}

// traceHref is a trace's page; with a span id, scrolled to that span with
// its details open.
func traceHref(id, span string) string {
	href := "/traces/" + url.PathEscape(id)
	if span != "" {
		href += "?span=" + url.QueryEscape(span) + "#span-" + url.PathEscape(span)
	}
	return href
}
