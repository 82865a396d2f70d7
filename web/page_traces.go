package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/logstore"
)

// The traces pages: GET /traces searches traces (a duration scatter over
// the range and a table), GET /traces/{trace_id} shows one trace as a
// waterfall with its critical path and its log lines under the spans that
// wrote them. Both are server-rendered and work without JavaScript:
// subtrees and span details collapse with nested <details> elements.

const (
	// traceSearchDefaultRange is the range of a search whose URL names none.
	traceSearchDefaultRange = "now-1h"
	// traceSearchLimit is how many traces a search shows unless the URL
	// asks for more, up to traceSearchMaxLimit (the "more" link doubles it).
	traceSearchLimit    = 20
	traceSearchMaxLimit = 500
	// traceMaxSpans bounds the spans one trace view renders; the store
	// returns up to 10,000.
	traceMaxSpans = 5000
	// traceLogLimit bounds the log lines fetched for one trace.
	traceLogLimit = 1000
	// traceLogWindow is how far before the first span and after the last
	// one a trace's log lines are looked for.
	traceLogWindow = time.Hour
	// traceNestDepth bounds how deep subtrees nest as <details>: browsers
	// cap the depth of the DOM (Chromium at 512), so spans deeper than
	// this follow their parent at the same level, still indented.
	traceNestDepth = 64
	// traceIndentStep is the indent per depth in pixels, up to
	// traceIndentMax levels.
	traceIndentStep = 14
	traceIndentMax  = 24
	// traceLogBodyMax bounds the characters of a log body shown inline.
	traceLogBodyMax = 500
	// traceInlineDetails is the most spans whose details are all in the
	// page; in a wider trace a span's details are a link to the page with
	// that span's open, which keeps the page to ~1 KB a span.
	traceInlineDetails = 500
)

// traceSearchView is the view model of the trace search page.
type traceSearchView struct {
	Chrome chrome
	Range  pageRange
	Form   traceSearchForm
	// Services are the choices of the service select; Operations those of
	// the operation datalist (the chosen service's, or every service's).
	Services   []string
	Operations []string
	// Error is a message about bad input; the search did not run.
	Error string
	// Limit is how many traces were asked for; Results has at most that.
	Limit   int
	Results []traceSearchRow
	Scatter traceScatter
	// MoreHref raises the limit; empty when there is nothing more to show.
	MoreHref string
	// Partial: the search stopped at its budget of spans read.
	Partial bool
}

// traceSearchForm is the search form's fields as the URL has them.
type traceSearchForm struct {
	Service, Operation, MinDuration, MaxDuration, Error, Query, TraceID string
}

// traceSearchRow is one trace in the results table.
type traceSearchRow struct {
	ID, Href              string
	Start, StartISO       string
	RootService, RootName string
	ServiceHref           string
	Duration              string
	Spans, Errors         int
	Services              []string
}

// traceScatter is the duration scatter: an SVG of Width by Height user
// units with the plot inside the margins.
type traceScatter struct {
	Width, Height string
	// Plot area corners, for the axes.
	Left, Right, Top, Bottom string
	XTicks, YTicks           []traceTick
	Points                   []traceScatterPoint
}

// traceTick is an axis label at a position (user units or percent).
type traceTick struct {
	Pos, Label string
	// Anchor is the SVG text-anchor of the label.
	Anchor string
}

// traceScatterPoint is one trace in the scatter.
type traceScatterPoint struct {
	X, Y    string
	Href    string
	TraceID string
	Title   string
	Err     bool
}

// traceSearchPage serves GET /traces: the search form and its results.
// The form is a plain GET form, so its state is the URL; with htmx only
// the results are fetched and swapped in.
func (h *Handler) traceSearchPage(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, http.StatusBadRequest, "Bad request", "The query string could not be read.")
		return
	}
	now := time.Now()
	v := traceSearchView{
		Chrome: h.chrome(r, "Traces", "Traces"),
		Form: traceSearchForm{
			Service:     r.Form.Get("service"),
			Operation:   r.Form.Get("operation"),
			MinDuration: r.Form.Get("min_duration"),
			MaxDuration: r.Form.Get("max_duration"),
			Error:       strings.ToLower(r.Form.Get("error")),
			Query:       r.Form.Get("query"),
			TraceID:     r.Form.Get("trace_id"),
		},
	}
	v.Chrome.PageCSS = h.assets.url("traces.css")
	if v.Form.TraceID != "" {
		id, err := logstore.ParseTraceID(v.Form.TraceID)
		if err == nil {
			http.Redirect(w, r, traceHref(id, ""), http.StatusSeeOther)
			return
		}
		v.Error = "Trace id: " + err.Error() + "."
	}
	tr, err := parseTimeRange(r, now, traceSearchDefaultRange)
	if err != nil {
		v.Error = cmp.Or(v.Error, "Time range: "+err.Error()+".")
	}
	v.Range = tr
	var p params
	q := p.traceQuery(r)
	q.Start, q.End = tr.Start, tr.End
	if p.err != "" {
		v.Error = cmp.Or(v.Error, strings.ToUpper(p.err[:1])+p.err[1:]+".")
	}
	v.Limit = min(cmp.Or(q.Limit, traceSearchLimit), traceSearchMaxLimit)
	q.Limit = v.Limit

	services, err := h.opts.Logs.Services(r.Context())
	if err != nil {
		h.uiInternal(w, r, err)
		return
	}
	v.Services, v.Operations = traceChoices(services, v.Form.Service)

	status := http.StatusOK
	if v.Error != "" {
		status = http.StatusBadRequest
	} else {
		ctx, cancel := h.queryContext(r)
		res, err := h.opts.Logs.SearchTraces(ctx, q)
		cancel()
		var in *logstore.InputError
		switch {
		case errors.As(err, &in):
			status, v.Error = http.StatusBadRequest, in.Error()
		case errors.Is(err, context.DeadlineExceeded):
			status, v.Error = http.StatusServiceUnavailable, "The search timed out. Narrow the time range or add filters."
		case err != nil:
			h.uiInternal(w, r, err)
			return
		}
		v.Results = traceSearchRows(res.Traces)
		v.Scatter = newTraceScatter(res.Traces, tr)
		v.Partial = res.Partial
		if len(res.Traces) >= v.Limit && v.Limit < traceSearchMaxLimit {
			u := r.URL.Query()
			u.Set("limit", strconv.Itoa(min(2*v.Limit, traceSearchMaxLimit)))
			v.MoreHref = "/traces?" + u.Encode()
		}
	}
	h.renderPage(w, r, status, traceSearchPage(v), traceSearchResults(v))
}

// traceChoicesMax bounds the operations offered in the datalist.
const traceChoicesMax = 500

// traceChoices are the service names and the operations to offer: the
// chosen service's, or else every service's, sorted and capped.
func traceChoices(services []logstore.Service, chosen string) (names, ops []string) {
	seen := map[string]bool{}
	for _, s := range services {
		names = append(names, s.Name)
		if chosen != "" && s.Name != chosen {
			continue
		}
		for _, op := range s.Operations {
			if !seen[op] {
				seen[op] = true
				ops = append(ops, op)
			}
		}
	}
	slices.Sort(names)
	if chosen != "" && !slices.Contains(names, chosen) {
		names = append([]string{chosen}, names...)
	}
	slices.Sort(ops)
	if len(ops) > traceChoicesMax {
		ops = ops[:traceChoicesMax]
	}
	return names, ops
}

func traceSearchRows(res []logstore.TraceSummary) []traceSearchRow {
	rows := make([]traceSearchRow, len(res))
	for i, t := range res {
		rows[i] = traceSearchRow{
			ID:          t.TraceID,
			Href:        traceHref(t.TraceID, ""),
			Start:       t.Start.UTC().Format(layoutMillis),
			StartISO:    t.Start.UTC().Format(time.RFC3339Nano),
			RootService: t.RootService,
			RootName:    t.RootName,
			ServiceHref: serviceHref(t.RootService, pageRange{}),
			Duration:    formatDuration(time.Duration(t.DurationNS)),
			Spans:       t.SpanCount,
			Errors:      t.ErrorCount,
			Services:    t.Services,
		}
	}
	return rows
}

// The scatter's geometry in SVG user units: the SVG scales to the width
// of the page and keeps this aspect.
const (
	traceScatterW, traceScatterH                = 900.0, 220.0
	traceScatterLeft, traceScatterRight         = 64.0, 888.0
	traceScatterTop, traceScatterBottom         = 10.0, 190.0
	traceScatterMinNS                   float64 = 1000 // durations below 1µs sit on the floor
)

// newTraceScatter places each trace at its start (x, over the range) and
// its duration (y, log scale over whole decades).
func newTraceScatter(res []logstore.TraceSummary, tr pageRange) traceScatter {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
	s := traceScatter{
		Width: f(traceScatterW), Height: f(traceScatterH),
		Left: f(traceScatterLeft), Right: f(traceScatterRight), Top: f(traceScatterTop), Bottom: f(traceScatterBottom),
	}
	if len(res) == 0 {
		return s
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range res {
		d := max(float64(t.DurationNS), traceScatterMinNS)
		lo, hi = min(lo, d), max(hi, d)
	}
	loDec, hiDec := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if hiDec <= loDec {
		hiDec = loDec + 1
	}
	y := func(d float64) float64 {
		frac := (math.Log10(max(d, traceScatterMinNS)) - loDec) / (hiDec - loDec)
		return traceScatterBottom - frac*(traceScatterBottom-traceScatterTop)
	}
	for dec := loDec; dec <= hiDec; dec++ {
		s.YTicks = append(s.YTicks, traceTick{Pos: f(y(math.Pow(10, dec))), Label: formatDuration(time.Duration(math.Pow(10, dec))), Anchor: "end"})
	}
	span := tr.End.Sub(tr.Start)
	x := func(t time.Time) float64 {
		frac := float64(t.Sub(tr.Start)) / float64(span)
		return traceScatterLeft + min(max(frac, 0), 1)*(traceScatterRight-traceScatterLeft)
	}
	layout := "15:04"
	switch {
	case span > 24*time.Hour:
		layout = "01-02 15:04"
	case span <= 10*time.Minute:
		layout = "15:04:05"
	}
	const ticks = 5
	for i := range ticks {
		t := tr.Start.Add(span * time.Duration(i) / (ticks - 1))
		a := "middle"
		switch i {
		case 0:
			a = "start"
		case ticks - 1:
			a = "end"
		}
		s.XTicks = append(s.XTicks, traceTick{Pos: f(x(t)), Label: t.UTC().Format(layout), Anchor: a})
	}
	for _, t := range res {
		title := fmt.Sprintf("%s: %s · %s · %d spans", t.RootService, t.RootName, formatDuration(time.Duration(t.DurationNS)), t.SpanCount)
		if t.ErrorCount > 0 {
			title += fmt.Sprintf(" · %d errors", t.ErrorCount)
		}
		title += " · " + t.Start.UTC().Format(layoutMillis) + " UTC"
		s.Points = append(s.Points, traceScatterPoint{
			X: f(x(t.Start)), Y: f(y(float64(t.DurationNS))),
			Href: traceHref(t.TraceID, ""), TraceID: t.TraceID, Title: title, Err: t.ErrorCount > 0,
		})
	}
	return s
}

// traceView is the view model of one trace.
type traceView struct {
	Chrome                chrome
	ID                    string
	RootService, RootName string
	Start                 string
	Duration              string
	SpanCount, Shown      int
	ErrorCount            int
	Services              []string
	// LogsHref opens the trace's log lines in the logs explorer.
	LogsHref string
	// LogCount lines are shown; LogNote says when there were more.
	LogCount int
	LogNote  string
	Ruler    []traceTick
	Roots    []*traceNode
	// CritCount is how many spans the critical path goes through.
	CritCount int
	// ExpandHref and CollapseHref re-render with every subtree open, or
	// only the top levels.
	ExpandHref, CollapseHref string
}

// traceNode is a span in the waterfall with the spans below it.
type traceNode struct {
	Span     traceSpanRow
	Logs     []traceLogLine
	Children []*traceNode
	// Open renders the subtree expanded.
	Open bool
	// Nest is false past traceNestDepth: children then follow the node
	// instead of nesting in it.
	Nest bool
}

// collapsible reports whether the node has anything to fold away.
func (n *traceNode) collapsible() bool { return len(n.Children) > 0 || len(n.Logs) > 0 }

// traceSpanRow is one span's row and details.
type traceSpanRow struct {
	ID, ParentID        string
	Service, Name, Kind string
	ServiceHref         string
	LogsHref            string
	Depth               int
	DepthAttr           string
	Indent              string // indent in pixels
	BarX, BarW          string // percent of the trace's duration
	Crit                []traceSeg
	EventMarks          []string // x of each event, percent
	Offset, Duration    string
	StartTime, EndTime  string
	StatusCode          string
	StatusMessage       string
	Error               bool
	Critical            bool
	Selected            bool
	// Details says whether the span's details are in the page; if not,
	// DetailsHref shows them.
	Details     bool
	DetailsHref string
	TraceState  string
	Scope       string
	Attributes  []keyValue
	Resource    []keyValue
	Events      []traceEventRow
	Links       []traceLinkRow
}

// status is the span's status code and message.
func (s traceSpanRow) status() string {
	if s.StatusMessage == "" {
		return s.StatusCode
	}
	return s.StatusCode + ": " + s.StatusMessage
}

// traceSeg is a part of a bar, in percent of the trace's duration.
type traceSeg struct{ X, W string }

// traceEventRow is a span event.
type traceEventRow struct {
	Offset, Name string
	Attributes   []keyValue
}

// traceLinkRow is a span link.
type traceLinkRow struct {
	TraceID, SpanID, Href string
	Attributes            []keyValue
}

// traceLogLine is a log line written under a span.
type traceLogLine struct {
	Offset, Time string
	Severity     string
	SevClass     string
	Body         string
	Href         string
}

// traceViewPage serves GET /traces/{trace_id}: the waterfall.
func (h *Handler) traceViewPage(w http.ResponseWriter, r *http.Request) {
	id, err := logstore.ParseTraceID(r.PathValue("trace_id"))
	if err != nil {
		h.renderError(w, r, http.StatusBadRequest, "Bad trace id", "The "+err.Error()+". A trace id is 32 hexadecimal digits.")
		return
	}
	ctx, cancel := h.queryContext(r)
	defer cancel()
	spans, err := h.opts.Logs.Trace(ctx, id)
	if err != nil {
		h.traceStoreError(w, r, err)
		return
	}
	if len(spans) == 0 {
		h.renderError(w, r, http.StatusNotFound, "Trace not found",
			"No trace "+id+" is stored. It may be older than the retention period, or not have arrived yet.")
		return
	}
	first, last := traceBounds(spans)
	logs, err := h.opts.Logs.SearchLogs(ctx, logstore.LogQuery{
		Query:   "trace_id:" + id,
		Start:   first.Add(-traceLogWindow),
		End:     last.Add(traceLogWindow),
		Limit:   traceLogLimit,
		Forward: true,
	})
	if err != nil {
		h.traceStoreError(w, r, err)
		return
	}
	open := -1
	if s := r.URL.Query().Get("open"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			open = n
		}
	}
	v := buildTraceView(id, spans, logs, traceViewOptions{open: open, selected: strings.ToLower(r.URL.Query().Get("span"))})
	v.Chrome = h.chrome(r, "Trace "+id[:8]+"…", "Traces")
	v.Chrome.PageCSS = h.assets.url("traces.css")
	h.render(w, r, http.StatusOK, traceViewPage(v))
}

// traceStoreError answers a store error on the trace view.
func (h *Handler) traceStoreError(w http.ResponseWriter, r *http.Request, err error) {
	var in *logstore.InputError
	switch {
	case errors.As(err, &in):
		h.renderError(w, r, http.StatusBadRequest, "Bad request", in.Error())
	case errors.Is(err, context.DeadlineExceeded):
		h.renderError(w, r, http.StatusServiceUnavailable, "Timed out", "Reading the trace took too long. Try again in a moment.")
	default:
		h.uiInternal(w, r, err)
	}
}

// traceViewOptions are what the URL says about how to show a trace.
type traceViewOptions struct {
	open     int    // subtrees open to this depth; < 0 opens all
	selected string // a span id to open and mark
}

// traceBounds is when the trace's first span starts and its last ends.
func traceBounds(spans []logstore.Span) (time.Time, time.Time) {
	first, last := spans[0].Start, spans[0].End
	for _, s := range spans {
		if s.Start.Before(first) {
			first = s.Start
		}
		if s.End.After(last) {
			last = s.End
		}
	}
	if last.Before(first) {
		last = first
	}
	return first, last
}

// traceTree arranges spans (sorted by start) as a tree: each span under
// its parent, spans whose parent is missing at the root, children in
// start order. A cycle of parent ids is broken where it is first met.
func traceTree(spans []logstore.Span) (roots []int, kids [][]int) {
	byID := make(map[string]int, len(spans))
	for i, s := range spans {
		if _, dup := byID[s.SpanID]; !dup {
			byID[s.SpanID] = i
		}
	}
	all := make([][]int, len(spans))
	var top []int
	for i, s := range spans {
		if p, ok := byID[s.ParentSpanID]; ok && s.ParentSpanID != "" && p != i {
			all[p] = append(all[p], i)
		} else {
			top = append(top, i)
		}
	}
	// Keep only the edges a walk from the roots takes, so that the result
	// is a tree whatever the parent ids say.
	kids = make([][]int, len(spans))
	seen := make([]bool, len(spans))
	var visit func(i int)
	visit = func(i int) {
		seen[i] = true
		for _, k := range all[i] {
			if !seen[k] {
				kids[i] = append(kids[i], k)
				visit(k)
			}
		}
	}
	for _, i := range top {
		if !seen[i] {
			roots = append(roots, i)
			visit(i)
		}
	}
	for i := range spans {
		if !seen[i] {
			roots = append(roots, i)
			visit(i)
		}
	}
	return roots, kids
}

// critSeg is a stretch of a span's time on the critical path, in Unix
// nanoseconds.
type critSeg struct{ start, end int64 }

// criticalPath finds the critical path of a trace, the way Jaeger does:
// from the end of a span, walk back through time; the child that ends
// last (before the current point) is on the path, from its end back to its
// start (recursively through its own children), and the parent's own time
// between children is on it too. Children are clipped to their parent's
// time; a child that ends after the next one starts does not count.
// Several roots are children of the trace as a whole. The result maps a
// span's index to its stretches on the path.
func criticalPath(spans []logstore.Span, roots []int, kids [][]int) map[int][]critSeg {
	out := map[int][]critSeg{}
	if len(roots) == 0 {
		return out
	}
	type clip struct {
		i          int
		start, end int64
	}
	var walk func(owner int, children []int, lo, hi int64)
	walk = func(owner int, children []int, lo, hi int64) {
		cs := make([]clip, 0, len(children))
		for _, k := range children {
			s, e := spans[k].Start.UnixNano(), spans[k].End.UnixNano()
			if e < s {
				e = s
			}
			if s > hi || e < lo {
				continue // wholly outside its parent: not on the path
			}
			cs = append(cs, clip{k, max(s, lo), min(e, hi)})
		}
		slices.SortStableFunc(cs, func(a, b clip) int {
			if c := cmp.Compare(b.end, a.end); c != 0 {
				return c
			}
			return cmp.Compare(a.start, b.start)
		})
		add := func(a, b int64) {
			if owner >= 0 && b > a {
				out[owner] = append(out[owner], critSeg{a, b})
			}
		}
		t, j := hi, 0
		for t > lo {
			for j < len(cs) && (cs[j].end > t || cs[j].start >= t) {
				j++ // overlaps what is already on the path, or empty at t
			}
			if j == len(cs) {
				add(lo, t)
				break
			}
			c := cs[j]
			j++
			add(c.end, t)
			walk(c.i, kids[c.i], c.start, c.end)
			t = c.start
		}
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, i := range roots {
		lo = min(lo, spans[i].Start.UnixNano())
		hi = max(hi, spans[i].End.UnixNano())
	}
	walk(-1, roots, lo, max(lo, hi))
	return out
}

// buildTraceView lays out a trace: the tree in depth-first order up to
// traceMaxSpans spans, bars in percent of the trace's duration, the
// critical path, and log lines under the spans that wrote them (lines of
// spans not shown go under the first root).
func buildTraceView(id string, spans []logstore.Span, logs logstore.LogResult, o traceViewOptions) traceView {
	first, last := traceBounds(spans)
	t0, total := first.UnixNano(), float64(last.Sub(first).Nanoseconds())
	sum := traceSummary(id, spans)
	v := traceView{
		ID:          id,
		RootService: sum.RootService,
		RootName:    sum.RootName,
		Start:       first.UTC().Format(layoutMillis) + " UTC",
		Duration:    formatDuration(last.Sub(first)),
		SpanCount:   len(spans),
		ErrorCount:  sum.ErrorCount,
		Services:    sum.Services,
	}
	// The trace's log lines are looked for around it.
	logsRange := pageRange{
		From: first.Add(-traceLogWindow).UTC().Truncate(time.Second).Format(time.RFC3339),
		To:   last.Add(traceLogWindow + time.Second).UTC().Truncate(time.Second).Format(time.RFC3339),
	}
	v.LogsHref = logsHref("trace_id:"+id, logsRange)
	pct := func(ns int64) float64 {
		if total <= 0 {
			return 0
		}
		return min(max(float64(ns)/total*100, 0), 100)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) + "%" }
	for i := range 5 {
		a := "middle"
		switch i {
		case 0:
			a = "start"
		case 4:
			a = "end"
		}
		label := "0"
		if i > 0 {
			label = formatDuration(time.Duration(total * float64(i) / 4))
		}
		v.Ruler = append(v.Ruler, traceTick{Pos: f(float64(i) * 25), Label: label, Anchor: a})
	}
	v.ExpandHref = traceHref(id, "")
	v.CollapseHref = traceHref(id, "") + "?open=1"

	roots, kids := traceTree(spans)
	crit := criticalPath(spans, roots, kids)
	v.CritCount = len(crit)

	// The path from the root to the selected span opens.
	parent := make([]int, len(spans))
	for i := range parent {
		parent[i] = -1
	}
	for p, ks := range kids {
		for _, k := range ks {
			parent[k] = p
		}
	}
	onPath := map[int]bool{}
	for i, s := range spans {
		if o.selected != "" && s.SpanID == o.selected {
			for j := parent[i]; j >= 0; j = parent[j] {
				onPath[j] = true
			}
			break
		}
	}

	nodes := map[string]*traceNode{}
	row := func(i, depth int) traceSpanRow {
		s := spans[i]
		start, end := s.Start.UnixNano(), max(s.End.UnixNano(), s.Start.UnixNano())
		x := pct(start - t0)
		w := max(pct(end-t0)-x, 0.15)
		if x+w > 100 {
			w = 100 - x
		}
		r := traceSpanRow{
			ID: s.SpanID, ParentID: s.ParentSpanID,
			Service: s.Service, Name: s.Name, Kind: s.Kind,
			ServiceHref:   serviceHref(s.Service, pageRange{}),
			LogsHref:      logsHref("trace_id:"+id+" AND span_id:"+s.SpanID, logsRange),
			Depth:         depth,
			DepthAttr:     strconv.Itoa(depth),
			Indent:        strconv.Itoa(min(depth, traceIndentMax) * traceIndentStep),
			BarX:          f(x),
			BarW:          f(w),
			Offset:        "+" + formatDuration(time.Duration(start-t0)),
			Duration:      formatDuration(time.Duration(s.DurationNS)),
			StartTime:     s.Start.UTC().Format(time.RFC3339Nano),
			EndTime:       s.End.UTC().Format(time.RFC3339Nano),
			StatusCode:    cmp.Or(s.Status.Code, "unset"),
			StatusMessage: s.Status.Message,
			Error:         s.Status.Code == "error",
			Selected:      o.selected != "" && s.SpanID == o.selected,
			DetailsHref:   traceHref(id, s.SpanID),
			TraceState:    s.TraceState,
			Scope:         strings.TrimSpace(s.Scope.Name + " " + s.Scope.Version),
			Attributes:    keyValues(s.Attributes),
			Resource:      keyValues(s.Resource),
		}
		r.Details = len(spans) <= traceInlineDetails || r.Selected
		for _, c := range crit[i] {
			cx := pct(c.start - t0)
			r.Crit = append(r.Crit, traceSeg{X: f(cx), W: f(max(pct(c.end-t0)-cx, 0.15))})
			r.Critical = true
		}
		for _, e := range s.Events {
			r.EventMarks = append(r.EventMarks, f(pct(e.Time.UnixNano()-t0)))
			r.Events = append(r.Events, traceEventRow{
				Offset: "+" + formatDuration(time.Duration(e.Time.UnixNano()-t0)), Name: e.Name, Attributes: keyValues(e.Attributes),
			})
		}
		for _, l := range s.Links {
			lr := traceLinkRow{TraceID: l.TraceID, SpanID: l.SpanID, Attributes: keyValues(l.Attributes)}
			if tid, err := logstore.ParseTraceID(l.TraceID); err == nil {
				lr.Href = traceHref(tid, l.SpanID)
			}
			r.Links = append(r.Links, lr)
		}
		return r
	}
	var build func(i, depth int) *traceNode
	build = func(i, depth int) *traceNode {
		v.Shown++
		n := &traceNode{
			Span: row(i, depth),
			Open: o.open < 0 || depth < o.open || onPath[i],
			Nest: depth < traceNestDepth,
		}
		nodes[spans[i].SpanID] = n
		for _, k := range kids[i] {
			if v.Shown >= traceMaxSpans {
				break
			}
			n.Children = append(n.Children, build(k, depth+1))
		}
		return n
	}
	for _, i := range roots {
		if v.Shown >= traceMaxSpans {
			break
		}
		v.Roots = append(v.Roots, build(i, 0))
	}

	for _, rec := range logs.Records {
		n := nodes[rec.SpanID]
		if n == nil {
			n = v.Roots[0]
		}
		n.Logs = append(n.Logs, traceLogLine{
			Offset:   traceOffset(rec.Timestamp.UnixNano() - t0),
			Time:     rec.Timestamp.UTC().Format(time.RFC3339Nano),
			Severity: severityText(rec.SeverityNumber, rec.SeverityText),
			SevClass: "sev-" + severityClass(rec.SeverityNumber, rec.SeverityText),
			Body:     cutText(valueText(rec.Body), traceLogBodyMax),
			Href:     v.LogsHref,
		})
		v.LogCount++
	}
	if n := uint64(len(logs.Records)); logs.Total > n {
		more := ""
		if !logs.TotalExact {
			more = "at least "
		}
		v.LogNote = fmt.Sprintf("Showing the first %d of %s%d log lines of this trace.", n, more, logs.Total)
	}
	return v
}

// traceSummary is the root, errors and services of a trace, as the
// search results describe it.
func traceSummary(id string, spans []logstore.Span) logstore.TraceSummary {
	s := logstore.TraceSummary{TraceID: id, SpanCount: len(spans)}
	ids := make(map[string]bool, len(spans))
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	root := -1
	svcs := map[string]bool{}
	for i, sp := range spans {
		if root < 0 && (sp.ParentSpanID == "" || !ids[sp.ParentSpanID]) {
			root = i
		}
		if sp.Status.Code == "error" {
			s.ErrorCount++
		}
		if !svcs[sp.Service] {
			svcs[sp.Service] = true
			s.Services = append(s.Services, sp.Service)
		}
	}
	slices.Sort(s.Services)
	root = max(root, 0)
	s.RootService, s.RootName = spans[root].Service, spans[root].Name
	return s
}

// traceOffset is a time relative to the trace's start, signed.
func traceOffset(ns int64) string {
	if ns < 0 {
		return "-" + formatDuration(time.Duration(-ns))
	}
	return "+" + formatDuration(time.Duration(ns))
}
