package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
)

// The metrics explorer: a PromQL query over a time range, drawn as a line
// chart by explore.js (from /api/v1/query_range, with exemplars from
// /api/v1/query_exemplars) or shown as a table the server renders (an
// instant query at the end of the range), which is also what a browser
// without JavaScript gets.
const (
	// exploreDefaultRange is the range when the URL has none.
	exploreDefaultRange = "now-1h"
	// explorePoints is about how many points each charted series has.
	explorePoints = 250
	// exploreMaxRows bounds the table's rows.
	exploreMaxRows = 500
	// exploreMaxSeries bounds the series the chart draws (explore.js).
	exploreMaxSeries = 200
	// exploreMaxNames bounds the metric names offered for completion.
	exploreMaxNames = 2000
)

// exploreView is the metrics explorer's view model.
type exploreView struct {
	Chrome chrome
	// Query, View and Range are the page's state, as in its URL. View is
	// "graph" or "table".
	Query string
	View  string
	Range pageRange
	// Step is the chart's resolution: about explorePoints over the range.
	Step time.Duration
	// GraphURL and TableURL are the tabs: this page in either view.
	GraphURL, TableURL string
	// MetricNames are offered for completion; NamesCut says there were
	// more than exploreMaxNames.
	MetricNames []string
	NamesCut    bool
	// Error is what was wrong with the range or the query; the table and
	// the chart are not shown then.
	Error string
	// Ran says the query was evaluated at EvalTime: Rows holds at most
	// exploreMaxRows of its Total series.
	Ran      bool
	EvalTime time.Time
	Rows     []exploreRow
	Total    int
}

// exploreRow is one series of the table, as PromQL writes it
// (name{label="value", ...}), and its value at the evaluation time.
type exploreRow struct {
	Series string
	Value  string
}

// cut reports whether the table shows fewer series than the query gave.
func (v exploreView) cut() bool { return len(v.Rows) < v.Total }

// chartStart, chartEnd and chartStep are the chart container's data
// attributes: Unix seconds and whole seconds.
func (v exploreView) chartStart() string { return unixSeconds(v.Range.Start) }
func (v exploreView) chartEnd() string   { return unixSeconds(v.Range.End) }
func (v exploreView) chartStep() string  { return strconv.FormatInt(int64(v.Step/time.Second), 10) }

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// exploreURL is the explorer's address for a state: a relative range as
// the range picker sends it (range=now-1h), an absolute one as from and to.
func exploreURL(query string, tr pageRange, view string) string {
	q := url.Values{}
	if query != "" {
		q.Set("query", query)
	}
	if tr.isRelative() {
		q.Set("range", tr.From)
	} else {
		q.Set("from", tr.From)
		q.Set("to", tr.To)
	}
	q.Set("view", view)
	return "/explore?" + q.Encode()
}

// explore serves GET /explore?query=&range=&from=&to=&view=graph|table.
func (h *Handler) explore(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	v := exploreView{Query: r.FormValue("query"), View: r.FormValue("view")}
	if v.View != "table" {
		v.View = "graph"
	}
	c := h.chrome(r, "Metrics", "Metrics")
	c.Charts = v.View == "graph"
	c.PageCSS = h.assets.url("explore.css")
	c.PageJS = h.assets.url("explore.js")
	v.Chrome = c

	status := http.StatusOK
	tr, err := parseTimeRange(r, now, exploreDefaultRange)
	if err != nil {
		v.Error = "Bad time range: " + err.Error() + "."
		status = http.StatusBadRequest
	}
	v.Range = tr
	v.Step = tr.step(explorePoints)
	v.GraphURL = exploreURL(v.Query, tr, "graph")
	v.TableURL = exploreURL(v.Query, tr, "table")

	if h.prom == nil {
		v.Error = "Metrics are not enabled on this lookout."
		h.render(w, r, http.StatusNotFound, explorePage(v))
		return
	}
	v.MetricNames, v.NamesCut, err = h.metricNames(r.Context(), tr)
	if err != nil {
		// Completion is a help, not the page: go on without it.
		h.log.Warn("explore_metric_names", "err", err)
	}
	if v.Error == "" && v.Query != "" {
		var cause error
		status, cause = h.exploreQuery(r.Context(), &v)
		switch status {
		case http.StatusInternalServerError:
			h.uiInternal(w, r, cause)
			return
		case statusClientClosed:
			return // nobody is waiting for the page
		}
	}
	h.render(w, r, status, explorePage(v))
}

// exploreQuery checks v.Query and evaluates it at the end of the range
// for the table (which the graph view shows too, to browsers without
// JavaScript). It answers the page's status; on an error v.Error says
// what went wrong, except for a 500, whose cause is returned to be
// logged, not shown.
func (h *Handler) exploreQuery(ctx context.Context, v *exploreView) (int, error) {
	expr, err := h.prom.parser.ParseExpr(v.Query)
	if err != nil {
		v.Error = err.Error()
		return http.StatusBadRequest, nil
	}
	switch t := expr.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	default:
		// What the range query would say; the table would fail too.
		v.Error = fmt.Sprintf("invalid expression type %q for range query, must be Scalar or instant Vector", parser.DocumentedType(t))
		return http.StatusBadRequest, nil
	}
	vec, err := h.instantQuery(ctx, v.Query, v.Range.End)
	if err != nil {
		// Classified as the API answers it; the page says it its own way.
		switch c := classifyPromError(err); c.status {
		case http.StatusInternalServerError:
			return c.status, err
		case http.StatusServiceUnavailable:
			v.Error = "The query timed out; narrow the time range or the query."
			return c.status, nil
		default:
			v.Error = err.Error()
			return c.status, nil
		}
	}
	if !exploreKeepsOrder(expr) {
		slices.SortFunc(vec, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
	}
	v.Ran, v.EvalTime, v.Total = true, v.Range.End, len(vec)
	n := min(len(vec), exploreMaxRows)
	v.Rows = make([]exploreRow, n)
	for i, s := range vec[:n] {
		v.Rows[i] = exploreRow{Series: formatSeries(s.Metric), Value: formatSampleValue(s)}
	}
	return http.StatusOK, nil
}

// exploreKeepsOrder reports whether expr orders its result (sort() and
// its kin), which the table keeps; other results come in no particular
// order, and the table sorts them by their labels.
func exploreKeepsOrder(expr parser.Expr) bool {
	for {
		p, ok := expr.(*parser.ParenExpr)
		if !ok {
			break
		}
		expr = p.Expr
	}
	call, ok := expr.(*parser.Call)
	if !ok {
		return false
	}
	switch call.Func.Name {
	case "sort", "sort_desc", "sort_by_label", "sort_by_label_desc":
		return true
	}
	return false
}

// formatSeries writes a series as PromQL selects it:
// name{label="value", ...}.
func formatSeries(ls labels.Labels) string {
	var b strings.Builder
	b.WriteString(ls.Get(model.MetricNameLabel))
	b.WriteByte('{')
	first := true
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	})
	b.WriteByte('}')
	return b.String()
}

// formatSampleValue writes a sample's value as Prometheus' API does
// (NaN, +Inf, -Inf, as strconv writes them; native histograms in their
// text form).
func formatSampleValue(s promql.Sample) string {
	if s.H != nil {
		return s.H.String()
	}
	return strconv.FormatFloat(s.F, 'f', -1, 64)
}

// metricNames are the first exploreMaxNames metric names with data in the
// range, for the query input's completion; cut says there were more.
func (h *Handler) metricNames(ctx context.Context, tr pageRange) (names []string, cut bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.QueryTimeout)
	defer cancel()
	q, err := h.prom.queryable.Querier(timestamp.FromTime(tr.Start), timestamp.FromTime(tr.End))
	if err != nil {
		return nil, false, err
	}
	defer q.Close()
	names, _, err = q.LabelValues(ctx, model.MetricNameLabel, &storage.LabelHints{Limit: exploreMaxNames + 1})
	if err != nil {
		return nil, false, err
	}
	if len(names) > exploreMaxNames {
		return names[:exploreMaxNames], true, nil
	}
	return names, false, nil
}
