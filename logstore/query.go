package logstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
)

// InputError is the store's one kind of bad-input error: a query that does
// not parse, a bad trace id, an impossible time range. Its message is safe to
// show to the user.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

const (
	// MaxLimit bounds the records one search returns.
	MaxLimit = 5000
	// maxTraceSpans bounds the spans fetched for one trace.
	maxTraceSpans = 10000
)

// LogQuery selects log records.
type LogQuery struct {
	Query      string
	Start, End time.Time
	Limit      int
	// Forward returns the oldest records first; the default is newest first.
	Forward bool
}

// LogResult is one page of log records and how many matched in all.
type LogResult struct {
	Records []LogRecord `json:"records"`
	Total   uint64      `json:"total"`
}

// SearchLogs returns the records matching q.
func (s *Store) SearchLogs(ctx context.Context, q LogQuery) (LogResult, error) {
	bq, err := compileQuery(q.Query, false)
	if err != nil {
		return LogResult{}, err
	}
	start, end, err := s.timeRange(sigLogs, q.Start, q.End)
	if err != nil {
		return LogResult{}, err
	}
	limit := clampLimit(q.Limit, 100)
	hits, total, err := s.search(ctx, s.logs, bq, start, end, limit, q.Forward)
	if err != nil {
		return LogResult{}, err
	}
	out := LogResult{Records: make([]LogRecord, 0, len(hits)), Total: total}
	err = s.fetch(ctx, tableLogs, blockMagicLogs, hits, func(h *blockHeader, i int) error {
		r, _, err := decodeLog(h, i)
		if err == nil {
			out.Records = append(out.Records, r)
		}
		return err
	})
	return out, err
}

func clampLimit(n, def int) int {
	if n <= 0 {
		return def
	}
	return min(n, MaxLimit)
}

// timeRange clamps a query's range to what retention keeps; zero times mean
// "from the oldest kept" and "to now".
func (s *Store) timeRange(sig int, start, end time.Time) (int64, int64, error) {
	lo := s.cutoff(sig)
	hi := s.now().Add(24 * time.Hour).UnixNano() // allow for clock skew of senders
	if !start.IsZero() && start.UnixNano() > lo {
		lo = start.UnixNano()
	}
	if !end.IsZero() {
		hi = end.UnixNano()
	}
	if hi < lo {
		if !start.IsZero() && !end.IsZero() && end.Before(start) {
			return 0, 0, inputErrorf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
		}
	}
	return lo, hi, nil
}

// hit is one search result: where the record is stored and its document id.
type hit struct {
	loc uint64
	id  string
}

// search runs q over the partitions of [start, end] and returns the first
// limit hits in time order, and the total number of matches.
func (s *Store) search(ctx context.Context, si *signalIndex, q query.Query, start, end int64, limit int, forward bool) ([]hit, uint64, error) {
	if end < start {
		return nil, 0, nil
	}
	t0 := time.Now()
	defer s.m.searchDuration.UpdateDuration(t0)
	parts := si.partitions(start, end)
	if len(parts) == 0 {
		return nil, 0, nil
	}
	incl := true
	tq := query.NewDateRangeInclusiveQuery(time.Unix(0, start), time.Unix(0, end), &incl, &incl)
	tq.SetField(fieldTimestamp)
	full := query.NewConjunctionQuery([]query.Query{q, tq})
	req := bleve.NewSearchRequestOptions(full, limit, 0, false)
	order := "-" + fieldTimestamp
	if forward {
		order = fieldTimestamp
	}
	req.SortBy([]string{order, "_id"})
	req.Fields = []string{fieldLoc}
	req.Score = "none"
	idx := make([]bleve.Index, len(parts))
	for i, p := range parts {
		idx[i] = p.idx
	}
	alias := bleve.NewIndexAlias(idx...)
	res, err := alias.SearchInContext(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, fmt.Errorf("search %s: %w", si.signal, err)
	}
	return hitsOf(res.Hits), res.Total, nil
}

func hitsOf(dm search.DocumentMatchCollection) []hit {
	out := make([]hit, 0, len(dm))
	for _, h := range dm {
		v, ok := h.Fields[fieldLoc].(string)
		if !ok || len(v) != 8 {
			continue
		}
		out = append(out, hit{loc: binary.BigEndian.Uint64([]byte(v)), id: h.ID})
	}
	return out
}

// fetch reads the records of hits from the block store, in hit order.
// Records whose block retention has already deleted are skipped.
func (s *Store) fetch(ctx context.Context, table string, magic byte, hits []hit, each func(h *blockHeader, i int) error) error {
	for _, ht := range hits {
		id, i := splitLoc(ht.loc)
		h, err := s.blockHeader(ctx, table, magic, id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		if err := each(h, i); err != nil {
			return fmt.Errorf("decode record %d of block %d: %w", i, id, err)
		}
	}
	return nil
}

func (s *Store) blockHeader(ctx context.Context, table string, magic byte, id int64) (*blockHeader, error) {
	ref := blockRef{table, id}
	if h := s.cache.get(ref); h != nil {
		return h, nil
	}
	data, err := s.db.block(ctx, table, id)
	if err != nil {
		return nil, err
	}
	raw, err := s.decompress(data)
	if err != nil {
		return nil, fmt.Errorf("decompress block %d: %w", id, err)
	}
	h, err := decodeHeader(raw, magic)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", id, err)
	}
	s.cache.put(ref, h, len(raw))
	return h, nil
}

// ParseTraceID checks a trace id in hex and returns it lower-cased.
func ParseTraceID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return "", inputErrorf("trace id %q is not 32 hex digits", s)
	}
	return s, nil
}

// Trace returns every span of a trace, ordered by start time. It returns
// nil when the trace is unknown.
func (s *Store) Trace(ctx context.Context, traceID string) ([]Span, error) {
	id, err := ParseTraceID(traceID)
	if err != nil {
		return nil, err
	}
	spans, err := s.traceSpans(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return spans[id], nil
}

// traceSpans fetches the spans of the given traces in one search.
func (s *Store) traceSpans(ctx context.Context, ids []string) (map[string][]Span, error) {
	qs := make([]query.Query, len(ids))
	for i, id := range ids {
		tq := query.NewTermQuery(id)
		tq.SetField(fieldTraceID)
		qs[i] = tq
	}
	var q query.Query = query.NewDisjunctionQuery(qs)
	if len(qs) == 1 {
		q = qs[0]
	}
	start, end, _ := s.timeRange(sigSpans, time.Time{}, time.Time{})
	hits, _, err := s.search(ctx, s.spans, q, start, end, maxTraceSpans, true)
	if err != nil {
		return nil, err
	}
	out := map[string][]Span{}
	err = s.fetch(ctx, tableSpans, blockMagicSpans, hits, func(h *blockHeader, i int) error {
		sp, err := decodeSpan(h, i)
		if err == nil {
			out[sp.TraceID] = append(out[sp.TraceID], sp)
		}
		return err
	})
	for _, spans := range out {
		slices.SortStableFunc(spans, compareSpans)
	}
	return out, err
}

// compareSpans orders spans by start; among spans that start together, the
// longer first (a parent usually encloses its children) and roots first.
func compareSpans(a, b Span) int {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	if a.DurationNS != b.DurationNS {
		if a.DurationNS > b.DurationNS {
			return -1
		}
		return 1
	}
	ar, br := a.ParentSpanID == "", b.ParentSpanID == ""
	switch {
	case ar && !br:
		return -1
	case br && !ar:
		return 1
	}
	return strings.Compare(a.SpanID, b.SpanID)
}

// TraceQuery selects traces by their spans: a trace matches when one of its
// spans matches every condition.
type TraceQuery struct {
	Service     string
	Operation   string
	MinDuration time.Duration
	MaxDuration time.Duration
	// Error: "true" for traces with an error span, "false" for spans that
	// are not errors, "" for either.
	Error      string
	Query      string
	Start, End time.Time
	Limit      int
}

// TraceSummary describes one trace in search results.
type TraceSummary struct {
	TraceID     string    `json:"trace_id"`
	RootService string    `json:"root_service"`
	RootName    string    `json:"root_name"`
	Start       time.Time `json:"start"`
	DurationNS  int64     `json:"duration_ns"`
	SpanCount   int       `json:"span_count"`
	ErrorCount  int       `json:"error_count"`
	Services    []string  `json:"services"`
}

// SearchTraces returns summaries of the newest traces matching q.
func (s *Store) SearchTraces(ctx context.Context, q TraceQuery) ([]TraceSummary, error) {
	bq, err := compileQuery(q.Query, true)
	if err != nil {
		return nil, err
	}
	conds := []query.Query{bq}
	term := func(field, v string) {
		tq := query.NewTermQuery(v)
		tq.SetField(field)
		conds = append(conds, tq)
	}
	if q.Service != "" {
		term(fieldService, q.Service)
	}
	if q.Operation != "" {
		term(fieldName, q.Operation)
	}
	switch q.Error {
	case "true":
		term(fieldStatus, "error")
	case "false":
		errq := query.NewTermQuery("error")
		errq.SetField(fieldStatus)
		conds = append(conds, query.NewBooleanQuery(nil, nil, []query.Query{errq}))
	case "":
	default:
		return nil, inputErrorf("error must be true or false, not %q", q.Error)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 || (q.MaxDuration > 0 && q.MaxDuration < q.MinDuration) {
		return nil, inputErrorf("duration bounds %s..%s are not a range", q.MinDuration, q.MaxDuration)
	}
	if q.MinDuration > 0 || q.MaxDuration > 0 {
		var lo, hi *float64
		t := true
		if q.MinDuration > 0 {
			v := float64(q.MinDuration.Nanoseconds())
			lo = &v
		}
		if q.MaxDuration > 0 {
			v := float64(q.MaxDuration.Nanoseconds())
			hi = &v
		}
		nq := query.NewNumericRangeInclusiveQuery(lo, hi, &t, &t)
		nq.SetField(fieldDuration)
		conds = append(conds, nq)
	}
	start, end, err := s.timeRange(sigSpans, q.Start, q.End)
	if err != nil {
		return nil, err
	}
	limit := clampLimit(q.Limit, 20)
	limit = min(limit, 1000)
	// Collect distinct trace ids from the newest matching spans. Spans of
	// one trace cluster in time, so a few spans per wanted trace suffice.
	var ids []string
	seen := map[string]bool{}
	want := min(limit*20, maxTraceSpans)
	hits, _, err := s.search(ctx, s.spans, query.NewConjunctionQuery(conds), start, end, want, false)
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		id := traceIDOfDoc(h.id)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
			if len(ids) == limit {
				break
			}
		}
	}
	if len(ids) == 0 {
		return []TraceSummary{}, nil
	}
	spans, err := s.traceSpans(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]TraceSummary, 0, len(ids))
	for _, id := range ids {
		if sp := spans[id]; len(sp) > 0 {
			out = append(out, summarize(id, sp))
		}
	}
	slices.SortStableFunc(out, func(a, b TraceSummary) int { return b.Start.Compare(a.Start) })
	return out, nil
}

// summarize describes a trace from its spans, sorted by start.
func summarize(id string, spans []Span) TraceSummary {
	ts := TraceSummary{TraceID: id, SpanCount: len(spans)}
	var root *Span
	ids := make(map[string]bool, len(spans))
	for i := range spans {
		ids[spans[i].SpanID] = true
	}
	var first, last int64 = math.MaxInt64, math.MinInt64
	svcs := map[string]bool{}
	for i := range spans {
		sp := &spans[i]
		if root == nil && (sp.ParentSpanID == "" || !ids[sp.ParentSpanID]) {
			root = sp
		}
		if st := sp.Start.UnixNano(); st < first {
			first = st
		}
		if en := sp.End.UnixNano(); en > last {
			last = en
		}
		if sp.Status.Code == "error" {
			ts.ErrorCount++
		}
		if !svcs[sp.Service] {
			svcs[sp.Service] = true
			ts.Services = append(ts.Services, sp.Service)
		}
	}
	slices.Sort(ts.Services)
	if root == nil {
		root = &spans[0]
	}
	ts.RootService, ts.RootName = root.Service, root.Name
	ts.Start = time.Unix(0, first).UTC()
	if last > first {
		ts.DurationNS = last - first
	}
	return ts
}

// Services returns every service seen within retention and its operations.
func (s *Store) Services(ctx context.Context) ([]Service, error) {
	return s.cat.services(), nil
}
