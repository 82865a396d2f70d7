package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/logstore"
)

// The logs explorer: GET /logs searches log records with the query language
// over a time range and shows a volume histogram by severity and a page of
// records, newest first; GET /logs/tail streams new records as
// server-sent events for its live tail.

const (
	// logsPageLimit is the records on one page of the explorer.
	logsPageLimit = 100
	// logsDefaultRange is the range of /logs without from and to.
	logsDefaultRange = "now-15m"
	// queryHelpURL is the query language's reference.
	queryHelpURL = "https://github.com/lookout-dev/lookout#query-language"

	// histMaxBuckets bounds the bars of the volume histogram: the widest
	// nice width that gives at most this many (30 to 48 for the picker's
	// ranges).
	histMaxBuckets = 48
	// histWorkers count buckets at once (the machine has 2 cores; the
	// page's search runs beside them).
	histWorkers = 2
	// histBudget bounds the time the histogram may take. Buckets are
	// counted newest first; those not counted when it runs out are drawn
	// as "not counted" and the page says so.
	histBudget = 2 * time.Second

	// maxLiveTails bounds the live tails served at once by one process;
	// more are refused with 429.
	maxLiveTails = 16
	// maxPrincipalTails bounds the live tails of one user or API key
	// among them (a few tabs), so that one viewer cannot take every
	// place; more are refused with 429.
	maxPrincipalTails = 3
	// tailPoll is how often a live tail asks the store for new records.
	tailPoll = time.Second
	// tailHeartbeat is how often a live tail sends a comment, so that
	// proxies and browsers keep an idle stream open.
	tailHeartbeat = 15 * time.Second
	// tailMaxAge ends a live tail; the page offers to resume it.
	tailMaxAge = time.Hour
	// tailWindow is how far back of now each poll looks again for records
	// it has not sent: records become searchable a second or so after
	// they are sent (indexing runs behind the acknowledgement), and a
	// sender's clock may lag. Records that become searchable later than
	// that after their own timestamp are not tailed (the search finds
	// them).
	tailWindow = 10 * time.Second
	// tailAhead is how far past now a poll reads. Records stamped further
	// ahead (a sender whose clock runs fast) are not tailed until their
	// time comes within it; the search finds them at once, and the tail
	// says once that there are some. Without this bound they would come
	// first in every read and could hide the records arriving now.
	tailAhead = 2 * time.Second
	// tailBatch is the records one read of the store returns.
	tailBatch = 200
	// tailMaxBatches bounds the forward reads of one poll: past it the
	// tail is behind and says so, and goes on from there at the next
	// poll (skipping what falls out of tailWindow meanwhile).
	tailMaxBatches = 5
	// tailTiePad widens the read of the records that share a batch's last
	// timestamp: the store's index of record groups by time rounds a
	// query's bounds to about a tenth of a microsecond.
	tailTiePad = time.Microsecond
	// tailAheadCheck is how often a tail looks for records stamped past
	// tailAhead, until it has found some once.
	tailAheadCheck = 30 * time.Second
	// tailMaxSeen bounds the digests kept to tell sent records apart.
	tailMaxSeen = 10_000
	// tailWriteTimeout bounds one write to a client that stopped reading
	// (the server's own WriteTimeout would end every tail after it).
	tailWriteTimeout = 30 * time.Second
)

// logsView is the explorer page's view model.
type logsView struct {
	Chrome  chrome
	Query   string
	Range   pageRange
	HelpURL string
	// Error is a bad query or range, shown instead of results.
	Error   string
	Results *logsResults
}

// logsResults is what a search found: the part of the page htmx swaps.
type logsResults struct {
	Rows       []logRow
	Total      uint64
	TotalExact bool
	// Partial: the search stopped at its budget before the page was
	// settled.
	Partial bool
	// Hist is drawn with the page when HistURL is empty; otherwise the
	// page loads it from HistURL once shown (htmx), so that the rows do
	// not wait for the counting. Without JavaScript, HistInline links to
	// the page with the histogram drawn in.
	Hist                histogram
	HistURL, HistInline string
	// OlderURL pages to older records ("" on the last page); NewestURL
	// goes back to the newest ("" when this is the newest page).
	OlderURL, NewestURL string
	// TieNote explains a page cut inside records sharing one timestamp.
	TieNote string
	// TailURL opens the live tail; Since is the newest record the page
	// shows (or when it was rendered), where the tail starts.
	TailURL, Since string
	newest         time.Time
}

// logRow is one log record as the table shows it.
type logRow struct {
	TS         string // RFC 3339 with nanoseconds
	Time       string // for reading, UTC
	Severity   string
	SevClass   string // one of severityClasses
	Service    string
	Body       string
	TraceID    string
	SpanID     string
	TraceURL   string
	TraceLogs  string // the explorer filtered to the trace
	Observed   string
	Scope      string
	EventName  string
	Attributes []keyValue
	Resource   []keyValue
}

// newLogRow builds the table's view of a record.
func newLogRow(r logstore.LogRecord, tr pageRange) logRow {
	row := logRow{
		TS:         r.Timestamp.UTC().Format(time.RFC3339Nano),
		Time:       r.Timestamp.UTC().Format(layoutMillis),
		Severity:   severityText(r.SeverityNumber, r.SeverityText),
		SevClass:   severityClass(r.SeverityNumber, r.SeverityText),
		Service:    r.Service,
		Body:       valueText(r.Body),
		TraceID:    r.TraceID,
		SpanID:     r.SpanID,
		Scope:      r.Scope.Name,
		EventName:  r.EventName,
		Attributes: keyValues(r.Attributes),
		Resource:   keyValues(r.Resource),
	}
	if !r.ObservedTimestamp.IsZero() {
		row.Observed = r.ObservedTimestamp.UTC().Format(time.RFC3339Nano)
	}
	if r.TraceID != "" {
		row.TraceURL = traceHref(r.TraceID, "")
		row.TraceLogs = logsHref("trace_id:"+r.TraceID, tr)
	}
	return row
}

// logsPage serves GET /logs?query=&from=&to=.
func (h *Handler) logsPage(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	c := h.chrome(r, "Logs", "Logs")
	c.PageCSS = h.assets.url("logs.css")
	c.PageJS = h.assets.url("logs.js")
	v := logsView{Chrome: c, Query: strings.TrimSpace(r.FormValue("query")), HelpURL: queryHelpURL}
	tr, err := parseTimeRange(r, now, logsDefaultRange)
	v.Range = tr
	status := http.StatusOK
	if err != nil {
		// The form shows the default range again, the message what was
		// wrong with the one asked for.
		v.Error = "Bad time range: " + err.Error()
		status = http.StatusBadRequest
	} else {
		ctx, cancel := h.queryContext(r)
		defer cancel()
		res, err := h.logsResults(ctx, v.Query, tr, now, r.FormValue("hist") == "1")
		var in *logstore.InputError
		switch {
		case err == nil:
			v.Results = res
		case errors.As(err, &in):
			v.Error = "Bad query: " + in.Error()
			status = http.StatusBadRequest
		case errors.Is(err, context.DeadlineExceeded):
			v.Error = "The search took too long. Narrow the time range or the query."
			status = http.StatusServiceUnavailable
		case errors.Is(err, context.Canceled):
			return // the browser went away
		default:
			h.uiInternal(w, r, err)
			return
		}
	}
	h.renderPage(w, r, status, logsPage(v), logsResultsBody(v))
}

// logsHistogramPage serves GET /logs/histogram?query=&from=&to=: the
// volume histogram alone, which the logs page loads after its rows.
func (h *Handler) logsHistogramPage(w http.ResponseWriter, r *http.Request) {
	tr, err := parseTimeRange(r, time.Now().UTC(), logsDefaultRange)
	if err != nil {
		h.render(w, r, http.StatusBadRequest, errorMessage("Bad time range: "+err.Error()))
		return
	}
	ctx, cancel := h.queryContext(r)
	defer cancel()
	hist, err := h.logHistogram(ctx, strings.TrimSpace(r.FormValue("query")), tr)
	var in *logstore.InputError
	switch {
	case errors.As(err, &in):
		h.render(w, r, http.StatusBadRequest, errorMessage("Bad query: "+in.Error()))
	case errors.Is(err, context.DeadlineExceeded):
		h.render(w, r, http.StatusServiceUnavailable, errorMessage("Counting took too long. Narrow the time range or the query."))
	case errors.Is(err, context.Canceled):
	case err != nil:
		h.uiInternal(w, r, err)
	default:
		h.render(w, r, http.StatusOK, logsHistogram(hist))
	}
}

// logsResults runs the page's search and, beside it when inlineHist, the
// histogram; otherwise the page loads the histogram from /logs/histogram.
func (h *Handler) logsResults(ctx context.Context, query string, tr pageRange, now time.Time, inlineHist bool) (*logsResults, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		hist    histogram
		histErr error
		done    = make(chan struct{})
	)
	if inlineHist {
		go func() {
			defer close(done)
			hist, histErr = h.logHistogram(ctx, query, tr)
		}()
	} else {
		close(done)
	}
	page, err := h.logsPageRecords(ctx, query, tr)
	if err != nil {
		cancel()
	}
	<-done
	if err != nil {
		return nil, err
	}
	if histErr != nil {
		return nil, histErr
	}
	page.Hist = hist
	if !inlineHist {
		q := rangeQuery(tr)
		if query != "" {
			q.Set("query", query)
		}
		page.HistURL = "/logs/histogram?" + q.Encode()
		q.Set("hist", "1")
		page.HistInline = "/logs?" + q.Encode()
	}
	page.TailURL = "/logs/tail"
	if query != "" {
		page.TailURL += "?" + url.Values{"query": {query}}.Encode()
	}
	// The live tail starts after the newest record shown when the page
	// shows the newest records, so that what was indexed just after the
	// search is not missed; otherwise it starts now.
	// A newest record stamped after now (a sender whose clock runs fast)
	// would hold the tail back until then: it starts at now at the latest.
	page.Since = now.Format(time.RFC3339Nano)
	if tr.To == "now" && !page.newest.IsZero() && page.newest.Before(now) {
		page.Since = page.newest.UTC().Format(time.RFC3339Nano)
	}
	return page, nil
}

// logsPageRecords finds one page of records, newest first.
//
// Paging: records are ordered by timestamp, so the next older page is the
// same search up to (and including) a time just before the last row's.
// Records that share that last timestamp would then be cut in two: the
// page is extended with every record at that timestamp (one more search
// of exactly that instant, at most logstore.MaxLimit records), so that
// paging neither repeats nor skips any; past that bound the page says so.
func (h *Handler) logsPageRecords(ctx context.Context, query string, tr pageRange) (*logsResults, error) {
	res, err := h.opts.Logs.SearchLogs(ctx, logstore.LogQuery{Query: query, Start: tr.Start, End: tr.End, Limit: logsPageLimit})
	if err != nil {
		return nil, err
	}
	out := &logsResults{Total: res.Total, TotalExact: res.TotalExact, Partial: res.Partial}
	recs := res.Records
	full := len(recs) == logsPageLimit && !(res.TotalExact && res.Total <= uint64(len(recs)))
	if full {
		last := recs[len(recs)-1].Timestamp
		ties, err := h.opts.Logs.SearchLogs(ctx, logstore.LogQuery{Query: query, Start: last, End: last, Limit: logstore.MaxLimit})
		if err != nil {
			return nil, err
		}
		k := len(recs)
		for k > 0 && recs[k-1].Timestamp.Equal(last) {
			k--
		}
		if len(ties.Records) >= len(recs)-k {
			recs = append(recs[:k:k], ties.Records...)
		}
		if !ties.TotalExact || ties.Total > uint64(len(ties.Records)) {
			out.TieNote = fmt.Sprintf("More than %d records share the timestamp %s; only %d of them are shown, and older pages start before it.",
				len(ties.Records), last.UTC().Format(time.RFC3339Nano), len(ties.Records))
		} else if len(recs) > logsPageLimit {
			out.TieNote = fmt.Sprintf("This page has %d records: it ends with all %d that share the timestamp %s, so that the next page neither repeats nor skips any.",
				len(recs), len(ties.Records), last.UTC().Format(time.RFC3339Nano))
		}
		if to := last.Add(-time.Nanosecond); !to.Before(tr.Start) {
			out.OlderURL = logsHref(query, pageRange{From: tr.Start.UTC().Format(time.RFC3339Nano), To: to.UTC().Format(time.RFC3339Nano)})
		}
	}
	if tr.To != "now" {
		out.NewestURL = logsHref(query, pageRange{From: tr.From})
	}
	if len(recs) > 0 {
		out.newest = recs[0].Timestamp
	}
	out.Rows = make([]logRow, len(recs))
	for i, rec := range recs {
		out.Rows[i] = newLogRow(rec, tr)
	}
	return out, nil
}

// histogram is the volume of matching records over the range, by
// severity, drawn as stacked bars in an SVG whose viewBox is
// len(Buckets)*histSlot wide and histHeight high.
type histogram struct {
	Buckets []histBucket
	ViewBox string
	Legend  []histLegend
	Total   uint64
	// Exact is false when a bucket's count stopped at the store's budget
	// (a lower bound) or a bucket was not counted at all.
	Exact            bool
	Inexact, Skipped int
	Max              uint64
	Step             string // the bucket width, for reading
	From, Mid, To    string // axis labels
}

type histBucket struct {
	Href    string // the explorer zoomed to this bucket
	Title   string
	X, W    string // the bucket's slot
	BarX    string // its bars, narrower than the slot
	BarW    string
	Counted bool
	Exact   bool
	Bars    []histBar
}

type histBar struct {
	Class string
	Count uint64
	Y, H  string
}

type histLegend struct {
	Class string
	Count uint64
}

const (
	histSlot   = 10  // viewBox units per bucket
	histHeight = 100 // viewBox height
)

// niceSteps are the bucket widths the histogram chooses from, so that
// bars start on round times and a refresh keeps them in place.
func niceSteps() [22]time.Duration {
	return [...]time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second,
		30 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		15 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
		4 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	}
}

// histEdges splits [start, end] into buckets of the smallest nice width
// that makes at most n whole ones, aligned to multiples of it (UTC), so
// that a refresh keeps the bars in place: bucket i is edges[i] to
// edges[i+1], the first and last possibly partial.
func histEdges(start, end time.Time, n int) ([]time.Time, time.Duration) {
	span := end.Sub(start)
	steps := niceSteps()
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	for span/step > time.Duration(n) { // beyond the nice steps: whole days
		step += 24 * time.Hour
	}
	edges := []time.Time{start}
	// The bound on len(edges) holds for ranges longer than a Duration
	// (292 years), whose span saturates: the last bucket takes the rest.
	for t := start.Truncate(step).Add(step); t.Before(end) && len(edges) <= n+1; t = t.Add(step) {
		edges = append(edges, t)
	}
	return append(edges, end), step
}

// logHistogram counts the records matching query in each bucket of the
// range, per severity.
//
// Why CountLogs per bucket: one search returns at most logstore.MaxLimit
// records, the newest, so a histogram drawn from it would show only the
// end of any busy range. A count reads every matching record of its range
// (up to the store's budget of a million, past which it is a lower bound,
// Exact false) and, for a group of records that straddles its range, skips
// the records outside by their timestamp without decoding them, so the
// buckets together cost about what one count over the whole range costs.
// That is still a read of every match; so buckets are counted newest first
// within histBudget, and the rest are drawn as not counted, with a note.
func (h *Handler) logHistogram(ctx context.Context, query string, tr pageRange) (histogram, error) {
	edges, step := histEdges(tr.Start, tr.End, histMaxBuckets)
	n := len(edges) - 1
	type bucket struct {
		counted, exact bool
		counts         map[string]uint64
	}
	buckets := make([]bucket, n)
	hctx, cancel := context.WithTimeout(ctx, histBudget)
	defer cancel()
	jobs := make(chan int, n)
	for i := n - 1; i >= 0; i-- {
		jobs <- i
	}
	close(jobs)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(histWorkers, n) {
		wg.Go(func() {
			for i := range jobs {
				if hctx.Err() != nil {
					continue
				}
				end := edges[i+1].Add(-time.Nanosecond)
				if i == n-1 {
					end = edges[i+1] // the range's end is inclusive
				}
				res, err := h.opts.Logs.CountLogs(hctx, logstore.CountQuery{
					Query: query, Start: edges[i], End: end, GroupBy: []string{"severity"},
				})
				if err != nil {
					if ctx.Err() == nil && hctx.Err() != nil {
						continue // out of budget: not counted
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				b := bucket{counted: true, exact: res.Exact, counts: map[string]uint64{}}
				for _, g := range res.Groups {
					if len(g.Values) == 1 {
						b.counts[severityNameClass(g.Values[0])] += g.Count
					}
				}
				buckets[i] = b
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return histogram{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return histogram{}, err
	}

	hist := histogram{Exact: true, Step: promDuration(step), ViewBox: fmt.Sprintf("0 0 %d %d", n*histSlot, histHeight)}
	perClass := map[string]uint64{}
	for _, b := range buckets {
		var sum uint64
		for c, k := range b.counts {
			sum += k
			perClass[c] += k
		}
		hist.Total += sum
		hist.Max = max(hist.Max, sum)
		switch {
		case !b.counted:
			hist.Skipped++
			hist.Exact = false
		case !b.exact:
			hist.Inexact++
			hist.Exact = false
		}
	}
	for _, c := range severityClasses() {
		if perClass[c] > 0 {
			hist.Legend = append(hist.Legend, histLegend{Class: c, Count: perClass[c]})
		}
	}
	scale := 0.0
	if hist.Max > 0 {
		scale = float64(histHeight-4) / float64(hist.Max)
	}
	for i, b := range buckets {
		lo, hi := edges[i], edges[i+1]
		to := hi.Add(-time.Nanosecond)
		if i == n-1 {
			to = hi
		}
		hb := histBucket{
			Href:    logsHref(query, pageRange{From: lo.UTC().Format(time.RFC3339Nano), To: to.UTC().Format(time.RFC3339Nano)}),
			X:       strconv.Itoa(i * histSlot),
			W:       strconv.Itoa(histSlot),
			BarX:    strconv.Itoa(i*histSlot + 1),
			BarW:    strconv.Itoa(histSlot - 2),
			Counted: b.counted,
			Exact:   b.exact,
		}
		var parts []string
		y := float64(histHeight)
		for _, c := range severityClasses() {
			k := b.counts[c]
			if k == 0 {
				continue
			}
			bh := max(float64(k)*scale, 1)
			y -= bh
			hb.Bars = append(hb.Bars, histBar{Class: c, Count: k, Y: fmtFloat(y), H: fmtFloat(bh)})
			parts = append(parts, fmt.Sprintf("%d %s", k, c))
		}
		title := lo.UTC().Format(layoutSeconds) + " – " + hi.UTC().Format("15:04:05") + " UTC: "
		switch {
		case !b.counted:
			title += "not counted (the histogram ran out of time)"
		case len(parts) == 0:
			title += "no records"
		default:
			title += strings.Join(parts, ", ")
			if !b.exact {
				title += " (at least: counting stopped at the store's budget)"
			}
		}
		hb.Title = title
		hist.Buckets = append(hist.Buckets, hb)
	}
	hist.From = tr.Start.UTC().Format(layoutSeconds)
	hist.Mid = tr.Start.Add(tr.End.Sub(tr.Start) / 2).UTC().Format("15:04:05")
	hist.To = tr.End.UTC().Format(layoutUTC)
	return hist, nil
}

// exactClass marks the bars of a bucket whose count is a lower bound.
func exactClass(exact bool) string {
	if exact {
		return ""
	}
	return " hist-inexact"
}

// shortID is the start of a trace id, enough to tell traces apart.
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return id[:12] + "…"
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// logTail serves the live tail: at most maxLiveTails at once, and at most
// maxPrincipalTails of them for one user or API key, so that one viewer's
// tabs or scripts cannot take every place.
type logTail struct {
	h    *Handler
	mu   sync.Mutex
	open int               // tails open
	per  map[tailOwner]int // tails open by principal
}

// tailOwner is whose a tail is: a user or an API key, by name.
type tailOwner struct{ kind, name string }

func newLogTail(h *Handler) *logTail {
	return &logTail{h: h, per: map[tailOwner]int{}}
}

// take reserves a place for a tail of o, or says why there is none.
func (t *logTail) take(o tailOwner) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.per[o] >= maxPrincipalTails:
		return fmt.Sprintf("too many live tails of yours (at most %d at once); close one or try again later", maxPrincipalTails), false
	case t.open >= maxLiveTails:
		return fmt.Sprintf("too many live tails (at most %d at once); try again later", maxLiveTails), false
	}
	t.open++
	t.per[o]++
	return "", true
}

// release gives back a place taken for o.
func (t *logTail) release(o tailOwner) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open--
	t.per[o]--
	if t.per[o] <= 0 {
		delete(t.per, o)
	}
}

// serve answers GET /logs/tail?query=&since= with server-sent events
// (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// "row" events carry one table row as HTML (the same component the page
// renders) with the newest timestamp sent as the event id, "notice"
// events a message for the user, and a final "end" event when the tail
// stops on its own. It polls the store every tailPoll for records newer
// than since (or the Last-Event-ID a reconnecting browser sends), no later
// than now, and ends when the client goes away, when the handler closes,
// or after tailMaxAge.
func (t *logTail) serve(w http.ResponseWriter, r *http.Request) {
	select {
	case <-t.h.closing:
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	p := viewerFrom(r.Context()).principal
	owner := tailOwner{kind: p.Kind, name: p.Name}
	if msg, ok := t.take(owner); !ok {
		w.Header().Set("Retry-After", "30")
		http.Error(w, msg, http.StatusTooManyRequests)
		return
	}
	defer t.release(owner)

	// The store calls of a poll in flight end too when the handler closes.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-t.h.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	now := time.Now().UTC()
	floor := now
	// since is the newest record the page has; a browser that reconnects
	// on its own sends the id of the last event it got, which is later.
	for i, s := range []string{r.FormValue("since"), r.Header.Get("Last-Event-ID")} {
		if s == "" {
			continue
		}
		since, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			http.Error(w, fmt.Sprintf("since: %q is not an RFC 3339 time", s), http.StatusBadRequest)
			return
		}
		if i == 0 || since.After(floor) {
			floor = since
		}
	}
	// A since in the future (a record from a sender whose clock runs
	// fast, or an edited address) would hold every poll back until then.
	if floor.After(now) {
		floor = now
	}
	cur := newTailCursor(strings.TrimSpace(r.FormValue("query")), floor)

	// The first poll runs before the stream starts, so that a bad query is
	// a plain 400 the browser's EventSource reports as a failure.
	recs, notice, err := t.poll(ctx, cur, now)
	var in *logstore.InputError
	switch {
	case errors.As(err, &in):
		http.Error(w, "bad query: "+in.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, context.Canceled):
		return
	case errors.Is(err, context.DeadlineExceeded):
		notice = joinNotices(notice, "The store did not answer in time; retrying.")
	case err != nil:
		id := t.h.logInternal(r, "ui_request", err)
		http.Error(w, "internal error (request id "+id+")", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if s.comment("live tail of lookout's logs") != nil || t.send(ctx, s, recs, notice) != nil {
		return
	}

	poll := time.NewTicker(tailPoll)
	defer poll.Stop()
	beat := time.NewTicker(tailHeartbeat)
	defer beat.Stop()
	stop := time.NewTimer(tailMaxAge)
	defer stop.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.h.closing:
			// The server is stopping. No "end" event: the browser
			// reconnects on its own, with Last-Event-ID, once it is back.
			return
		case <-stop.C:
			_ = s.event("end", "", "The live tail stopped after an hour. Resume it to go on.")
			return
		case <-beat.C:
			if s.comment("heartbeat") != nil {
				return
			}
		case <-poll.C:
			recs, notice, err := t.poll(ctx, cur, time.Now().UTC())
			switch {
			case errors.Is(err, context.Canceled) && ctx.Err() != nil:
				return
			case errors.Is(err, context.DeadlineExceeded):
				notice = joinNotices(notice, "The store did not answer in time; retrying.")
			case err != nil:
				id := t.h.logInternal(r, "ui_request", err)
				_ = s.event("end", "", "The live tail stopped: internal error (request id "+id+").")
				return
			}
			if t.send(ctx, s, recs, notice) != nil {
				return
			}
		}
	}
}

// tailCursor is where a live tail is: what it has sent and where it reads
// next.
//
// After the first, each poll reads forward, oldest first, from next (just
// past the newest record read) up to tailAhead past now, in batches until
// one comes back short, at most tailMaxBatches. Because a read ends near
// now, records stamped further ahead (a sender whose clock runs fast)
// cannot fill every batch and hide the records that arrive now: they are
// tailed when their time comes, and a search finds them at once. Records
// that became searchable only after the read that passed their timestamp
// (indexing runs a second or so behind the acknowledgement, and a sender's
// clock may lag) are found by re-reading, newest first, the last tailBatch
// records between lo (tailWindow back of now) and next. Every read starts
// at lo or later, and sent has every record sent at or after lo, so that a
// record read again (a batch that ends inside records sharing a timestamp
// is followed by a read of that whole instant) is not sent twice.
type tailCursor struct {
	query string
	seed  maphash.Seed
	buf   bytes.Buffer
	sent  map[uint64]int64 // digest -> timestamp (Unix ns)
	// lo is where reads start: just after since (at most now) at first,
	// later tailWindow back of now; it never moves back.
	lo time.Time
	// next is where the next forward read starts (inclusive).
	next time.Time
	// behind is set when a poll stopped at tailMaxBatches with records
	// left to read.
	behind bool
	first  bool
	// aheadAt is when to look next for records stamped past tailAhead;
	// aheadSaid is set once the tail has told the user of some.
	aheadAt   time.Time
	aheadSaid bool
}

// newTailCursor starts a tail that sends what comes after floor.
func newTailCursor(query string, floor time.Time) *tailCursor {
	lo := floor.Add(time.Nanosecond)
	return &tailCursor{query: query, seed: maphash.MakeSeed(), sent: map[uint64]int64{}, lo: lo, next: lo, first: true}
}

// add records rec as sent, and reports whether it was not already.
func (c *tailCursor) add(rec logstore.LogRecord) bool {
	c.buf.Reset()
	_ = json.NewEncoder(&c.buf).Encode(rec)
	d := maphash.Bytes(c.seed, c.buf.Bytes())
	if _, ok := c.sent[d]; ok {
		return false
	}
	c.sent[d] = rec.Timestamp.UnixNano()
	return true
}

// prune forgets the records before lo, which no read reaches again. Past
// tailMaxSeen (more records a second than a tail can keep up with anyway)
// it moves lo up to keep the newest half.
func (c *tailCursor) prune() {
	lo := c.lo.UnixNano()
	for d, ts := range c.sent {
		if ts < lo {
			delete(c.sent, d)
		}
	}
	if len(c.sent) <= tailMaxSeen {
		return
	}
	ts := slices.Sorted(maps.Values(c.sent))
	cut := ts[len(ts)-tailMaxSeen/2]
	for d, t := range c.sent {
		if t < cut {
			delete(c.sent, d)
		}
	}
	c.lo = time.Unix(0, cut).UTC()
}

// poll asks the store for records after the cursor that were not sent
// yet: the first poll for the newest after since (what arrived while a
// tail was paused), later ones as tailCursor describes. It returns them
// oldest first and a notice for the user, if any. On an error it returns
// too what it found before, which the cursor counts as sent.
func (t *logTail) poll(ctx context.Context, cur *tailCursor, now time.Time) ([]logstore.LogRecord, string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.h.opts.QueryTimeout)
	defer cancel()
	var (
		fresh   []logstore.LogRecord
		notices []string
	)
	search := func(q logstore.LogQuery) ([]logstore.LogRecord, logstore.LogResult, error) {
		q.Query = cur.query
		res, err := t.h.opts.Logs.SearchLogs(ctx, q)
		for _, rec := range res.Records {
			if cur.add(rec) {
				fresh = append(fresh, rec)
			}
		}
		return res.Records, res, err
	}
	done := func(err error) ([]logstore.LogRecord, string, error) {
		cur.prune()
		slices.SortStableFunc(fresh, func(a, b logstore.LogRecord) int { return a.Timestamp.Compare(b.Timestamp) })
		return fresh, strings.Join(notices, " "), err
	}
	end := now.Add(tailAhead)

	if cur.first {
		cur.first = false
		limit := tailBatch * tailMaxBatches
		recs, res, err := search(logstore.LogQuery{Start: cur.lo, End: end, Limit: limit})
		if err != nil {
			return done(err)
		}
		if n := len(recs); n > 0 {
			cur.next = recs[0].Timestamp.Add(time.Nanosecond)
			if n == limit && !(res.TotalExact && res.Total <= uint64(n)) {
				more := "More"
				if res.TotalExact {
					more = strconv.FormatUint(res.Total-uint64(n), 10)
				}
				notices = append(notices, fmt.Sprintf("%s older records since %s are not shown here (the tail sends the newest %d); search the range to see them.",
					more, cur.lo.Add(-time.Nanosecond).Format(layoutSeconds), limit))
				// The tail goes on from the records it sent.
				cur.lo = recs[n-1].Timestamp.Add(time.Nanosecond)
			}
		}
	} else {
		lo := now.Add(-tailWindow)
		if lo.Before(cur.lo) {
			lo = cur.lo
		}
		if cur.behind && cur.next.Before(lo) {
			notices = append(notices, fmt.Sprintf("The live tail fell behind: records stamped from %s to %s were skipped. Pause and search to see them.",
				cur.next.Format("15:04:05.000"), lo.Format("15:04:05.000")))
		}
		cur.lo, cur.behind = lo, false
		if cur.next.Before(lo) {
			cur.next = lo
		}

		// Records that became searchable late.
		if e := cur.next.Add(-time.Nanosecond); !e.Before(lo) {
			if e.After(end) {
				e = end // the clock went back
			}
			if _, _, err := search(logstore.LogQuery{Start: lo, End: e, Limit: tailBatch}); err != nil {
				return done(err)
			}
		}

		// New records, oldest first.
		for batches := 0; !cur.next.After(end); batches++ {
			if batches == tailMaxBatches {
				cur.behind = true
				notices = append(notices, fmt.Sprintf("More than %d new records arrived in a second; the live tail is behind and may skip some. Pause and search to see them all.",
					tailBatch*tailMaxBatches))
				break
			}
			recs, res, err := search(logstore.LogQuery{Start: cur.next, End: end, Limit: tailBatch, Forward: true})
			if err != nil {
				return done(err)
			}
			n := len(recs)
			if n < tailBatch || (res.TotalExact && res.Total <= uint64(n)) {
				if n > 0 {
					cur.next = recs[n-1].Timestamp.Add(time.Nanosecond)
				}
				break
			}
			// More records than the batch holds may share the last one's
			// timestamp: read that instant whole, as the explorer's paging
			// does, and go on after it. The read reaches tailTiePad either
			// side, as the store may leave out a group of records that
			// starts or ends right at a bound; those around the instant
			// that were sent are known by digest.
			last := recs[n-1].Timestamp
			from, to := last.Add(-tailTiePad), last.Add(tailTiePad)
			if from.Before(lo) {
				from = lo
			}
			if to.After(end) {
				to = end
			}
			ties, res, err := search(logstore.LogQuery{Start: from, End: to, Limit: logstore.MaxLimit})
			if err != nil {
				return done(err)
			}
			if !res.TotalExact || res.Total > uint64(len(ties)) {
				notices = append(notices, fmt.Sprintf("More than %d records are stamped within %s of %s; the live tail sent %d of them. Search to see them all.",
					len(ties), tailTiePad, last.UTC().Format(time.RFC3339Nano), len(ties)))
			}
			cur.next = last.Add(time.Nanosecond)
		}
	}

	// Records stamped past tailAhead are not tailed until their time
	// comes: say so once, looking now and then until some turn up.
	if !cur.aheadSaid && !now.Before(cur.aheadAt) {
		cur.aheadAt = now.Add(tailAheadCheck)
		res, err := t.h.opts.Logs.SearchLogs(ctx, logstore.LogQuery{Query: cur.query, Start: end.Add(time.Nanosecond), Limit: 1, Forward: true})
		if err != nil {
			return done(err)
		}
		if len(res.Records) > 0 {
			cur.aheadSaid = true
			notices = append(notices, fmt.Sprintf("Some matching records are stamped more than %s ahead of this server's clock (the first at %s): a sender's clock may run fast. "+
				"The live tail shows them when their time comes; a search shows them now.", tailAhead, res.Records[0].Timestamp.UTC().Format(time.RFC3339)))
		}
	}
	return done(nil)
}

// joinNotices joins notices into one message.
func joinNotices(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// send writes a poll's records, oldest first (the page puts each on top),
// each as its own event, and the notice if there is one.
func (t *logTail) send(ctx context.Context, s *sseWriter, recs []logstore.LogRecord, notice string) error {
	var buf bytes.Buffer
	for _, rec := range recs {
		buf.Reset()
		if err := logRowTr(newLogRow(rec, pageRange{From: logsDefaultRange, To: "now"}), true).Render(ctx, &buf); err != nil {
			return err
		}
		// The id is the newest timestamp sent so far: where a
		// reconnecting browser resumes.
		if rec.Timestamp.After(s.newest) {
			s.newest = rec.Timestamp
		}
		if err := s.event("row", s.newest.UTC().Format(time.RFC3339Nano), buf.String()); err != nil {
			return err
		}
	}
	if notice != "" {
		return s.event("notice", "", notice)
	}
	return nil
}

// sseWriter writes server-sent events, flushing each.
type sseWriter struct {
	w      io.Writer
	rc     *http.ResponseController
	newest time.Time // the newest record sent
}

// event writes one event; data may span lines.
func (s *sseWriter) event(name, id, data string) error {
	var b strings.Builder
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return s.write(b.String())
}

// comment writes a comment line, which clients ignore.
func (s *sseWriter) comment(text string) error { return s.write(": " + text + "\n\n") }

func (s *sseWriter) write(p string) error {
	// A write deadline per event: the server's WriteTimeout would end the
	// stream, a client that stopped reading must not hold it for ever.
	_ = s.rc.SetWriteDeadline(time.Now().Add(tailWriteTimeout))
	if _, err := io.WriteString(s.w, p); err != nil {
		return err
	}
	return s.rc.Flush()
}
