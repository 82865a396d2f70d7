package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/lookout-dev/lookout/logstore"
)

// The services pages read the RED metrics lookout derives from every span
// (internal/spanmetrics, named like the collector's spanmetrics connector)
// and the saturation metrics lookout's SDK sends.
const (
	svcCallsMetric   = "traces_span_metrics_calls_total"
	svcBucketsMetric = "traces_span_metrics_duration_milliseconds_bucket"
	// svcServedKinds keeps the spans that stand for work a service served
	// (requests and consumed messages), not the calls it made.
	svcServedKinds = `span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"`
	svcErrorStatus = `status_code="STATUS_CODE_ERROR"`
	// svcInFlightMetrics are the SDK's in-flight request gauges (HTTP and
	// gRPC servers).
	svcInFlightMetrics = `__name__=~"http_server_active_requests|rpc_server_active_requests"`

	// svcSparkPoints is about how many points a sparkline has.
	svcSparkPoints = 60
	// svcMaxServices and svcMaxOperations bound the rows of each page.
	svcMaxServices   = 500
	svcMaxOperations = 200
	// svcQueryParallel bounds the PromQL queries one page runs at once.
	svcQueryParallel = 4
)

// svcDefaultRange is the range of both pages without one in the URL.
const svcDefaultRange = "now-1h"

// svcSortRule is how both pages order their rows; the pages say it.
const svcSortRule = "Sorted by trouble: highest error rate first, then slowest p99."

// svcSignals are the golden signals of one service or operation over a
// range. Latencies are in milliseconds; NaN means unknown.
type svcSignals struct {
	HasData       bool // span metrics exist for it in the range
	Calls, Errors float64
	P50, P95, P99 float64
	RateSpark     []promql.FPoint
	ErrSpark      []promql.FPoint
	P99Spark      []promql.FPoint
}

func newSvcSignals() *svcSignals {
	return &svcSignals{P50: math.NaN(), P95: math.NaN(), P99: math.NaN()}
}

// errRatio is the fraction of calls that failed; 0 without calls.
func (s *svcSignals) errRatio() float64 {
	if s == nil || s.Calls <= 0 {
		return 0
	}
	return s.Errors / s.Calls
}

// svcSaturation is what a service's SDK reports of how full it is; NaN
// means not reported.
type svcSaturation struct {
	InFlight, Goroutines, Memory float64
}

func newSvcSaturation() *svcSaturation {
	return &svcSaturation{InFlight: math.NaN(), Goroutines: math.NaN(), Memory: math.NaN()}
}

// svcQueries runs a page's PromQL queries, a few at a time, and keeps the
// first error.
type svcQueries struct {
	h      *Handler
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	mu     sync.Mutex
	err    error
	tr     pageRange
	step   time.Duration
	rng    string // the whole range as a PromQL duration
	sprng  string // a sparkline point's rate window
}

func (h *Handler) svcQueries(ctx context.Context, tr pageRange) *svcQueries {
	step := tr.step(svcSparkPoints)
	// A rate needs two samples in its window; span metrics are flushed
	// every 15s, SDK metrics about as often.
	win := max(step, time.Minute)
	// One deadline for the whole page, not one per query: a page runs
	// about twenty.
	ctx, cancel := context.WithTimeout(ctx, h.opts.QueryTimeout)
	return &svcQueries{
		h: h, ctx: ctx, cancel: cancel, sem: make(chan struct{}, svcQueryParallel), tr: tr, step: step,
		rng: promDuration(max(tr.End.Sub(tr.Start), time.Second)), sprng: promDuration(max(win, time.Second)),
	}
}

// fail keeps the first error and cancels the other queries: the page
// shows the error, not their answers.
func (q *svcQueries) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
		q.cancel()
	}
}

// instant evaluates expr at the end of the range and hands each sample to
// each, under the lock.
func (q *svcQueries) instant(expr string, each func(promql.Sample)) {
	svcRun(q, expr, func() ([]promql.Sample, error) { return q.h.instantQuery(q.ctx, expr, q.tr.End) }, each)
}

// series evaluates expr over the range for sparklines.
func (q *svcQueries) series(expr string, each func(promql.Series)) {
	svcRun(q, expr, func() ([]promql.Series, error) { return q.h.rangeQuery(q.ctx, expr, q.tr.Start, q.tr.End, q.step) }, each)
}

// svcRun queues a query: run, at most svcQueryParallel at once, evaluates
// expr, and each gets its result's items under the lock.
func svcRun[T any](q *svcQueries, expr string, run func() ([]T, error), each func(T)) {
	q.wg.Go(func() {
		q.sem <- struct{}{}
		defer func() { <-q.sem }()
		items, err := run()
		if err != nil {
			q.fail(fmt.Errorf("query %s: %w", expr, err))
			return
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		for _, it := range items {
			each(it)
		}
	})
}

func (q *svcQueries) wait() error {
	q.wg.Wait()
	q.cancel()
	return q.err
}

// red queues the queries of the golden signals grouped by the label by,
// over the span metrics that match sel (matchers without braces), into
// out, keyed by that label's value.
func (q *svcQueries) red(by, sel string, out map[string]*svcSignals) {
	all := svcSelector(sel, svcServedKinds)
	errs := svcSelector(sel, svcServedKinds, svcErrorStatus)
	get := func(m labels.Labels) *svcSignals {
		k := m.Get(by)
		s := out[k]
		if s == nil {
			s = newSvcSignals()
			out[k] = s
		}
		return s
	}
	q.instant(fmt.Sprintf(`sum by (%s) (increase(%s%s[%s]))`, by, svcCallsMetric, all, q.rng), func(s promql.Sample) {
		sig := get(s.Metric)
		sig.HasData, sig.Calls = true, s.F
	})
	q.instant(fmt.Sprintf(`sum by (%s) (increase(%s%s[%s]))`, by, svcCallsMetric, errs, q.rng), func(s promql.Sample) {
		get(s.Metric).Errors = s.F
	})
	for _, p := range []struct {
		q   string
		dst func(*svcSignals) *float64
	}{
		{"0.5", func(s *svcSignals) *float64 { return &s.P50 }},
		{"0.95", func(s *svcSignals) *float64 { return &s.P95 }},
		{"0.99", func(s *svcSignals) *float64 { return &s.P99 }},
	} {
		q.instant(svcQuantile(p.q, by, all, q.rng), func(s promql.Sample) {
			*p.dst(get(s.Metric)) = s.F
		})
	}
	rate := fmt.Sprintf(`sum by (%s) (rate(%s%s[%s]))`, by, svcCallsMetric, all, q.sprng)
	q.series(rate, func(s promql.Series) { get(s.Metric).RateSpark = s.Floats })
	errRate := fmt.Sprintf(`sum by (%s) (rate(%s%s[%s]))`, by, svcCallsMetric, errs, q.sprng)
	q.series(fmt.Sprintf(`(%s or 0 * %s) / %s`, errRate, rate, rate), func(s promql.Series) { get(s.Metric).ErrSpark = s.Floats })
	q.series(svcQuantile("0.99", by, all, q.sprng), func(s promql.Series) { get(s.Metric).P99Spark = s.Floats })
}

// svcQuantile is the PromQL of a latency quantile by the label by.
func svcQuantile(quantile, by, sel, window string) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (%s, le) (rate(%s%s[%s])))`, quantile, by, svcBucketsMetric, sel, window)
}

// saturation queues the queries of the SDK's saturation metrics of the
// services whose job matches sel into out, keyed by service name.
func (q *svcQueries) saturation(sel string, out map[string]*svcSaturation) {
	get := func(m labels.Labels) *svcSaturation {
		k := svcJobService(m.Get("job"))
		s := out[k]
		if s == nil {
			s = newSvcSaturation()
			out[k] = s
		}
		return s
	}
	q.instant(fmt.Sprintf(`max_over_time((sum by (job) (%s))[%s:%s])`, svcSelector(svcInFlightMetrics, sel), q.rng, promDuration(max(q.step, time.Second))),
		func(s promql.Sample) { get(s.Metric).InFlight = s.F })
	q.instant(fmt.Sprintf(`max by (job) (max_over_time(go_goroutine_count%s[%s]))`, svcSelector(sel), q.rng),
		func(s promql.Sample) { get(s.Metric).Goroutines = s.F })
	q.instant(fmt.Sprintf(`max by (job) (max_over_time(go_memory_used_bytes%s[%s]))`, svcSelector(sel), q.rng),
		func(s promql.Sample) { get(s.Metric).Memory = s.F })
}

// svcJobService is the service a job label names: Prometheus' OTLP
// translation writes service.namespace/service.name.
func svcJobService(job string) string {
	if i := strings.LastIndexByte(job, '/'); i >= 0 {
		return job[i+1:]
	}
	return job
}

// svcSelector joins matchers into a selector's braces.
func svcSelector(matchers ...string) string {
	var nonEmpty []string
	for _, m := range matchers {
		if m != "" {
			nonEmpty = append(nonEmpty, m)
		}
	}
	return "{" + strings.Join(nonEmpty, ", ") + "}"
}

// svcEq is a matcher of label equal to value, quoted for PromQL.
func svcEq(label, value string) string {
	return label + "=" + strconv.Quote(value)
}

// svcJobEq matches the job of service name, with or without a namespace.
func svcJobEq(name string) string {
	return "job=~" + strconv.Quote("(.+/)?"+regexp.QuoteMeta(name))
}

// svcTrouble orders rows by trouble: rows with data first, then by error
// rate, then by p99 (unknown last), then by name.
func svcTrouble(a, b *svcSignals, an, bn string) int {
	if a.HasData != b.HasData {
		if a.HasData {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.errRatio(), a.errRatio()); c != 0 {
		return c
	}
	ap, bp := a.P99, b.P99
	if math.IsNaN(ap) {
		ap = -1
	}
	if math.IsNaN(bp) {
		bp = -1
	}
	if c := cmp.Compare(bp, ap); c != 0 {
		return c
	}
	return cmp.Compare(an, bn)
}

// --- view models ---

// servicesView is the view model of the services overview.
type servicesView struct {
	Chrome chrome
	Range  pageRange
	// Error is a bad-input message; nothing else is shown with it.
	Error      string
	MetricsOff bool
	SortRule   string
	Rows       []svcRow
	// Seen is how many services there are; Rows holds at most
	// svcMaxServices of them.
	Seen int
}

// svcRow is one service or operation with its signals, formatted.
type svcRow struct {
	Name          string
	Href          templ.SafeURL
	LastSeen      string // "" when unknown
	LastSeenTitle string
	svcCells
	// Operation rows only.
	TracesHref, SlowHref templ.SafeURL
}

// svcCells are the formatted golden signals of a row.
type svcCells struct {
	HasData              bool
	Calls                string
	Rate, ErrRate        string
	ErrClass             string // "", "warn" or "error"
	P50, P95, P99        string
	RateSpark, ErrSpark  svcSparkLine
	P99Spark             svcSparkLine
	InFlight, Goroutines string
	Memory               string
}

// svcSparkLine is an inline SVG line: its polylines' points, in a viewBox of
// svcSparkWidth x svcSparkHeight (services.templ's svcSpark says the same).
type svcSparkLine struct {
	Segments []string
	Title    string
}

const (
	svcSparkWidth  = 120
	svcSparkHeight = 28
)

// serviceView is the view model of one service's page.
type serviceView struct {
	Chrome  chrome
	Range   pageRange
	Error   string
	Name    string
	Summary svcRow
	// MetricsOff: the metric store is not enabled.
	MetricsOff bool
	SortRule   string
	Ops        []svcRow
	// OpsSeen is how many operations there are; Ops holds at most
	// svcMaxOperations, the busiest.
	OpsSeen                          int
	LogsHref, ErrorsHref, TracesHref templ.SafeURL
	ExploreRateHref, ExploreErrHref  templ.SafeURL
	ExploreP99Href, BackHref         templ.SafeURL
	// Path is the page's own path, where its form goes.
	Path string
}

// --- handlers ---

// servicesUI serves GET /{$}: every service seen, with its golden
// signals over the range, most troubled first.
func (h *Handler) servicesUI(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	v := servicesView{Chrome: h.svcChrome(r, "Services"), SortRule: svcSortRule}
	tr, err := parseTimeRange(r, now, svcDefaultRange)
	v.Range = tr
	if err != nil {
		v.Error = "Bad time range: " + err.Error()
		h.renderPage(w, r, http.StatusBadRequest, servicesPage(v), servicesBody(v))
		return
	}
	ctx := r.Context()
	seen, err := h.opts.Logs.Services(ctx)
	if err != nil {
		h.uiInternal(w, r, err)
		return
	}
	sigs := map[string]*svcSignals{}
	sat := map[string]*svcSaturation{}
	if h.prom == nil {
		v.MetricsOff = true
	} else {
		q := h.svcQueries(ctx, tr)
		q.red("service_name", "", sigs)
		q.saturation("", sat)
		if err := q.wait(); err != nil {
			h.svcFail(w, r, err)
			return
		}
	}

	lastSeen := map[string]time.Time{}
	for _, s := range seen {
		lastSeen[s.Name] = s.LastSeen
		if sigs[s.Name] == nil {
			sigs[s.Name] = newSvcSignals()
		}
	}
	delete(sigs, "") // spans without service.name
	names := make([]string, 0, len(sigs))
	for n := range sigs {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return svcTrouble(sigs[a], sigs[b], a, b) })
	v.Seen = len(names)
	if len(names) > svcMaxServices {
		names = names[:svcMaxServices]
	}
	for _, n := range names {
		row := svcRow{
			Name:     n,
			Href:     templ.SafeURL(serviceHref(n, tr)),
			svcCells: svcFormat(sigs[n], sat[n], tr),
		}
		if t, ok := lastSeen[n]; ok && !t.IsZero() {
			row.LastSeen, row.LastSeenTitle = formatWhen(t, now)
		}
		v.Rows = append(v.Rows, row)
	}
	h.renderPage(w, r, http.StatusOK, servicesPage(v), servicesBody(v))
}

// serviceUI serves GET /services/{name}: one service's signals and the
// same per operation.
func (h *Handler) serviceUI(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	name := r.PathValue("name")
	v := serviceView{Chrome: h.svcChrome(r, name), Name: name, SortRule: svcSortRule}
	tr, err := parseTimeRange(r, now, svcDefaultRange)
	if err != nil {
		v.Error = "Bad time range: " + err.Error()
	}
	v.Range = tr
	h.svcLinks(&v, tr)
	if v.Error != "" {
		h.renderPage(w, r, http.StatusBadRequest, servicePage(v), serviceBody(v))
		return
	}
	ctx := r.Context()
	seen, err := h.opts.Logs.Services(ctx)
	if err != nil {
		h.uiInternal(w, r, err)
		return
	}
	var known *logstore.Service
	for i := range seen {
		if seen[i].Name == name {
			known = &seen[i]
		}
	}

	total := map[string]*svcSignals{}
	ops := map[string]*svcSignals{}
	sat := map[string]*svcSaturation{}
	if h.prom == nil {
		v.MetricsOff = true
	} else {
		q := h.svcQueries(ctx, tr)
		svc := svcEq("service_name", name)
		q.red("service_name", svc, total)
		q.red("span_name", svc, ops)
		q.saturation(svcJobEq(name), sat)
		if err := q.wait(); err != nil {
			h.svcFail(w, r, err)
			return
		}
	}
	if known == nil && len(total) == 0 {
		v.Error = fmt.Sprintf("No service named %q has been seen.", name)
		h.renderPage(w, r, http.StatusNotFound, servicePage(v), serviceBody(v))
		return
	}
	sig := total[name]
	if sig == nil {
		sig = newSvcSignals()
	}
	v.Summary = svcRow{Name: name, svcCells: svcFormat(sig, sat[name], tr)}
	if known != nil && !known.LastSeen.IsZero() {
		v.Summary.LastSeen, v.Summary.LastSeenTitle = formatWhen(known.LastSeen, now)
	}

	// Operations the catalogue knows but without served-span metrics
	// (client or internal spans, or quiet in the range) are listed after
	// the busy ones, for their traces.
	if known != nil {
		for _, op := range known.Operations {
			if ops[op] == nil {
				ops[op] = newSvcSignals()
			}
		}
	}
	delete(ops, "")
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	v.OpsSeen = len(names)
	if len(names) > svcMaxOperations {
		// Keep the busiest.
		slices.SortFunc(names, func(a, b string) int {
			if c := cmp.Compare(ops[b].Calls, ops[a].Calls); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		names = names[:svcMaxOperations]
	}
	slices.SortFunc(names, func(a, b string) int { return svcTrouble(ops[a], ops[b], a, b) })
	for _, op := range names {
		s := ops[op]
		row := svcRow{Name: op, svcCells: svcFormat(s, nil, tr)}
		q := rangeQuery(tr)
		q.Set("service", name)
		q.Set("operation", op)
		row.TracesHref = templ.SafeURL(withQuery("/traces", q))
		if !math.IsNaN(s.P95) && s.P95 > 0 {
			q.Set("min_duration", svcGoDuration(s.P95))
			row.SlowHref = templ.SafeURL(withQuery("/traces", q))
		}
		v.Ops = append(v.Ops, row)
	}
	h.renderPage(w, r, http.StatusOK, servicePage(v), serviceBody(v))
}

// svcLinks sets the links of a service's page to the other views of it.
func (h *Handler) svcLinks(v *serviceView, tr pageRange) {
	name := v.Name
	v.BackHref = templ.SafeURL(withQuery("/", rangeQuery(tr)))
	v.Path = serviceHref(name, pageRange{})
	v.LogsHref = templ.SafeURL(logsHref("service:"+svcLogQuoted(name), tr))

	q := rangeQuery(tr)
	q.Set("service", name)
	v.TracesHref = templ.SafeURL(withQuery("/traces", q))
	q.Set("error", "true")
	v.ErrorsHref = templ.SafeURL(withQuery("/traces", q))

	all := svcSelector(svcEq("service_name", name), svcServedKinds)
	errs := svcSelector(svcEq("service_name", name), svcServedKinds, svcErrorStatus)
	explore := func(expr string) templ.SafeURL { return templ.SafeURL(exploreHref(expr, tr)) }
	v.ExploreRateHref = explore(fmt.Sprintf(`sum by (span_name) (rate(%s%s[5m]))`, svcCallsMetric, all))
	v.ExploreErrHref = explore(fmt.Sprintf(`sum by (span_name) (rate(%s%s[5m])) / sum by (span_name) (rate(%s%s[5m]))`, svcCallsMetric, errs, svcCallsMetric, all))
	v.ExploreP99Href = explore(svcQuantile("0.99", "span_name", all, "5m"))
}

// svcLogQuoted quotes a value for the log query language when it is not a
// plain word.
func svcLogQuoted(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return logstore.QuoteValue(s)
}

func (h *Handler) svcChrome(r *http.Request, title string) chrome {
	c := h.chrome(r, title, "Services")
	c.PageCSS = h.assets.url("services.css")
	return c
}

// svcFail answers a failed metric query: a timeout says to narrow the
// range; anything else is an internal error.
func (h *Handler) svcFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		h.renderError(w, r, http.StatusServiceUnavailable, "Query timed out",
			"The golden signals took too long to compute. Choose a shorter time range.")
		return
	}
	h.uiInternal(w, r, err)
}

// --- formatting ---

// svcFormat formats a row's signals; sat may be nil.
func svcFormat(s *svcSignals, sat *svcSaturation, tr pageRange) svcCells {
	c := svcCells{HasData: s.HasData, Rate: "—", ErrRate: "—", P50: "—", P95: "—", P99: "—", Calls: "—",
		InFlight: "—", Goroutines: "—", Memory: "—"}
	if sat != nil {
		if !math.IsNaN(sat.InFlight) {
			c.InFlight = svcCount(sat.InFlight)
		}
		if !math.IsNaN(sat.Goroutines) {
			c.Goroutines = svcCount(sat.Goroutines)
		}
		if !math.IsNaN(sat.Memory) {
			c.Memory = svcBytes(sat.Memory)
		}
	}
	if !s.HasData {
		return c
	}
	secs := tr.End.Sub(tr.Start).Seconds()
	c.Calls = svcCount(s.Calls)
	c.Rate = svcRate(s.Calls / secs)
	ratio := s.errRatio()
	c.ErrRate = svcPercent(ratio)
	switch {
	case ratio >= 0.05:
		c.ErrClass = "error"
	case ratio >= 0.01:
		c.ErrClass = "warn"
	}
	c.P50, c.P95, c.P99 = svcMillis(s.P50), svcMillis(s.P95), svcMillis(s.P99)
	c.RateSpark = svcDrawSpark(s.RateSpark, tr, func(v float64) string { return svcRate(v) + " requests/s" }, "Requests per second")
	c.ErrSpark = svcDrawSpark(s.ErrSpark, tr, svcPercent, "Error rate")
	c.P99Spark = svcDrawSpark(s.P99Spark, tr, svcMillis, "p99 latency")
	return c
}

// svcDrawSpark draws points as polylines over the range, from zero to the
// highest point; a gap (a missing or NaN step) breaks the line.
func svcDrawSpark(pts []promql.FPoint, tr pageRange, format func(float64) string, what string) svcSparkLine {
	start, end := tr.Start.UnixMilli(), tr.End.UnixMilli()
	hi := 0.0
	n := 0
	for _, p := range pts {
		if !math.IsNaN(p.F) && !math.IsInf(p.F, 0) {
			hi = max(hi, p.F)
			n++
		}
	}
	sp := svcSparkLine{Title: what + ": no points"}
	if n == 0 || end <= start {
		return sp
	}
	sp.Title = what + " over the range, peak " + format(hi)
	// Two steps apart or more is a gap.
	step := float64(end-start) / svcSparkPoints
	var seg []string
	var prevT int64
	flush := func() {
		if len(seg) == 1 {
			seg = append(seg, seg[0]) // a lone point still shows as a dot
		}
		if len(seg) > 0 {
			sp.Segments = append(sp.Segments, strings.Join(seg, " "))
		}
		seg = nil
	}
	for _, p := range pts {
		if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
			flush()
			continue
		}
		if len(seg) > 0 && float64(p.T-prevT) > 1.5*step {
			flush()
		}
		prevT = p.T
		x := float64(p.T-start) / float64(end-start) * svcSparkWidth
		y := svcSparkHeight - 2.0
		if hi > 0 {
			y -= p.F / hi * (svcSparkHeight - 4)
		}
		seg = append(seg, strconv.FormatFloat(x, 'f', 1, 64)+","+strconv.FormatFloat(y, 'f', 1, 64))
	}
	flush()
	return sp
}

func svcRate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v >= 0.001:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return "<0.001"
}

func svcPercent(ratio float64) string {
	switch {
	case ratio == 0:
		return "0%"
	case ratio < 0.0001:
		return "<0.01%"
	}
	return strconv.FormatFloat(ratio*100, 'f', 2, 64) + "%"
}

// svcMillis formats a latency in milliseconds.
func svcMillis(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "—"
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
}

// svcGoDuration writes milliseconds as a Go duration, to the nearest
// millisecond (microsecond under one), for a min_duration link.
func svcGoDuration(ms float64) string {
	if ms >= 1 {
		return strconv.FormatFloat(math.Round(ms), 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(math.Round(ms*1000), 'f', 0, 64) + "us"
}

func svcCount(v float64) string {
	if v >= 1e6 {
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	}
	if v >= 1e4 {
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

func svcBytes(v float64) string {
	const mib = 1 << 20
	if v >= 1<<30 {
		return strconv.FormatFloat(v/(1<<30), 'f', 2, 64) + " GiB"
	}
	return strconv.FormatFloat(v/mib, 'f', 1, 64) + " MiB"
}
