package logstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
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
	// TotalExact is false when counting stopped (at 10,000 matches, or
	// at the search's budget of records read) and Total is a lower bound.
	TotalExact bool `json:"total_exact"`
	// Partial is true when the search stopped at its budget of records
	// read before its page was settled: older (newer, when forward)
	// matches than those returned may exist.
	Partial bool `json:"partial,omitempty"`
}

// totalCap bounds how many matches a search counts: past it, the total is
// a lower bound (TotalExact false), as Elasticsearch does by default, so a
// broad query over a large range costs a bounded scan.
const totalCap = 10000

// defaultSearchBudget bounds the records one search reads
// (Config.SearchBudget), for its page and its count alike, so that the count does not depend on the page size and a
// query the index cannot narrow (NOT, wildcards) costs a bounded scan.
// Past it the total is a lower bound, and the page is partial if it was
// not settled yet.
const defaultSearchBudget = 1_000_000

// logMatcher decides whether a stored log record matches a query: cheap
// checks on its bytes first (required attribute values, body words), then
// the decoded record; a re-delivered copy of a record already matched does
// not match again.
type logMatcher struct {
	p          pred
	words      []string
	values     [][][]byte
	start, end int64
	text       analysis.Analyzer
	seen       map[uint64]struct{}
}

func (s *Store) newLogMatcher(p pred, start, end int64) *logMatcher {
	return &logMatcher{p: p, words: requiredWords(p), values: requiredValues(p), start: start, end: end, text: s.logs.text, seen: map[uint64]struct{}{}}
}

// match decodes and returns record i of h when it matches.
func (m *logMatcher) match(h *blockHeader, i int) (LogRecord, *view, bool, error) {
	rec := h.recordBytes(i)
	if len(m.values) > 0 && !hasRequired(rec, m.values) {
		return LogRecord{}, nil, false, nil
	}
	if len(m.words) > 0 {
		if body, ok := logBody(rec); ok {
			for _, w := range m.words {
				if !containsFold(body, w) {
					return LogRecord{}, nil, false, nil
				}
			}
		}
	}
	r, err := decodeLog(h, i)
	if err != nil {
		return LogRecord{}, nil, false, err
	}
	v := logView(&r, m.text)
	if v.ts < m.start || v.ts > m.end || !m.p.match(v) {
		return LogRecord{}, nil, false, nil
	}
	key := logDigest(h, i)
	if _, dup := m.seen[key]; dup {
		return LogRecord{}, nil, false, nil
	}
	m.seen[key] = struct{}{}
	return r, v, true, nil
}

// SearchLogs returns the records matching q.
func (s *Store) SearchLogs(ctx context.Context, q LogQuery) (LogResult, error) {
	p, err := compileQuery(q.Query, s.logs.text)
	if err != nil {
		return LogResult{}, err
	}
	start, end, err := s.timeRange(sigLogs, q.Start, q.End)
	if err != nil {
		return LogResult{}, err
	}
	limit := clampLimit(q.Limit, 100)
	t0 := time.Now()
	defer s.m.searchDuration.UpdateDuration(t0)
	top := newTopK[LogRecord](limit, q.Forward)
	m := s.newLogMatcher(p, start, end)
	total, scanned := 0, 0
	exact, partial := true, false
	err = s.scanGroups(ctx, s.logs, p.candidate(), start, end, q.Forward, func(g *groupMeta, has func(uint64) bool) (bool, error) {
		if !p.maybe(has) {
			return false, nil
		}
		improve := top.canImprove(g.minTs, g.maxTs)
		if scanned >= s.cfg.SearchBudget || (!improve && total >= totalCap) {
			exact = false
			partial = improve
			return true, nil
		}
		scanned += g.count
		return false, s.eachRecord(ctx, s.logs, g, func(h *blockHeader, i int) error {
			r, v, ok, err := m.match(h, i)
			if !ok || err != nil {
				return err
			}
			if total < totalCap {
				total++
			}
			top.push(v.ts, r)
			return nil
		})
	})
	if err != nil {
		return LogResult{}, err
	}
	return LogResult{Records: top.sorted(), Total: uint64(total), TotalExact: exact && total < totalCap, Partial: partial}, nil
}

// scanGroups visits the groups that may hold matches of cand within
// [start, end], newest first (oldest first if forward): partitions in day
// order and, within one, groups by their newest (oldest) record. has tests
// the group's bloom filter. visit returns true to stop.
func (s *Store) scanGroups(ctx context.Context, si *signalIndex, cand query.Query, start, end int64, forward bool, visit func(g *groupMeta, has func(uint64) bool) (bool, error)) error {
	if end < start {
		return nil
	}
	parts := si.partitions(start, end)
	if forward {
		slices.Reverse(parts)
	}
	tq := (&timeRangePred{lo: start, hi: end, minIncl: true, maxIncl: true}).candidate()
	full := query.NewConjunctionQuery([]query.Query{cand, tq})
	order := []string{"-" + fieldMaxTs, "_id"}
	if forward {
		order = []string{fieldMinTs, "_id"}
	}
	for _, p := range parts {
		var after []string
		// Pages grow: the first is cheap when a search stops early, the
		// later ones spare re-running the query for a long scan.
		page := 256
		for {
			req := bleve.NewSearchRequestOptions(full, page, 0, false)
			req.SortBy(order)
			req.Score = "none"
			if after != nil {
				req.SearchAfter = after
			}
			res, err := p.idx.SearchInContext(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("search %s: %w", p.dir, err)
			}
			for _, h := range res.Hits {
				// A page of hits may be tens of thousands of groups: the
				// deadline is checked for each.
				if err := ctx.Err(); err != nil {
					return err
				}
				id, err := strconv.ParseInt(h.ID, 36, 64)
				if err != nil {
					continue
				}
				g, gp, ok := si.group(id)
				if !ok {
					continue // dropped by retention
				}
				stop, err := visit(g, gp.bloomChecker(g.bloomOff, g.bloomLen))
				if err != nil || stop {
					return err
				}
			}
			if len(res.Hits) < page {
				break
			}
			after = res.Hits[len(res.Hits)-1].Sort
			page = min(page*16, 65536)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// eachRecord calls f for each record of a group. A group whose block
// retention has already deleted has none.
func (s *Store) eachRecord(ctx context.Context, si *signalIndex, g *groupMeta, f func(h *blockHeader, i int) error) error {
	h, err := s.blockHeader(ctx, si.groupTable, si.magic, g.id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := range h.offsets {
		if err := f(h, i); err != nil {
			return fmt.Errorf("decode record %d of group %d: %w", i, g.id, err)
		}
	}
	return nil
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
	if !start.IsZero() && unixNano(start) > lo {
		lo = unixNano(start)
	}
	if !end.IsZero() {
		hi = unixNano(end)
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return 0, 0, inputErrorf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return lo, hi, nil
}

// unixNano is t.UnixNano, saturated: the API takes any 4-digit year, and
// UnixNano wraps outside 1678-2262 (the year 3000 read as 1831, so an end
// in 3000 found nothing and a start in 1000 read as 2169). Beyond those
// years the bound is past every timestamp a record can carry.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
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

// traceSpans fetches the spans of the given traces, each once.
func (s *Store) traceSpans(ctx context.Context, ids []string) (map[string][]Span, error) {
	want := make(map[[16]byte]bool, len(ids))
	kids := make([]pred, len(ids))
	for i, id := range ids {
		var raw [16]byte
		if _, err := hex.Decode(raw[:], []byte(id)); err == nil {
			want[raw] = true
		}
		kids[i] = &termPred{field: fieldTraceID, value: id, lower: true}
	}
	p := &boolPred{or: true, kids: kids}
	start, end, _ := s.timeRange(sigSpans, time.Time{}, time.Time{})
	out := map[string][]Span{}
	seen := map[string]bool{}
	err := s.scanGroups(ctx, s.spans, p.candidate(), start, end, true, func(g *groupMeta, has func(uint64) bool) (bool, error) {
		return false, s.eachRecord(ctx, s.spans, g, func(h *blockHeader, i int) error {
			// The trace id leads a span's encoding: test it before decoding.
			if tid, ok := spanTraceID(h.recordBytes(i)); !ok || !want[tid] {
				return nil
			}
			sp, err := decodeSpan(h, i)
			if err != nil {
				return err
			}
			k := sp.TraceID + sp.SpanID
			if seen[k] || len(out[sp.TraceID]) >= maxTraceSpans {
				return nil
			}
			seen[k] = true
			out[sp.TraceID] = append(out[sp.TraceID], sp)
			return nil
		})
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

// TraceResult is the newest traces matching a search.
type TraceResult struct {
	Traces []TraceSummary `json:"traces"`
	// Partial is true when the search stopped at its budget of spans read
	// (Config.SearchBudget, as for log searches): older matching traces
	// may exist.
	Partial bool `json:"partial,omitempty"`
}

// SearchTraces returns summaries of the newest traces matching q.
func (s *Store) SearchTraces(ctx context.Context, q TraceQuery) (TraceResult, error) {
	up, err := compileQuery(q.Query, s.spans.text)
	if err != nil {
		return TraceResult{}, err
	}
	conds := &boolPred{kids: []pred{up}}
	if q.Service != "" {
		conds.kids = append(conds.kids, &termPred{field: fieldService, value: q.Service})
	}
	if q.Operation != "" {
		conds.kids = append(conds.kids, &termPred{field: fieldName, value: q.Operation})
	}
	errSpan := &termPred{field: fieldStatus, value: "error", lower: true}
	switch q.Error {
	case "true":
		conds.kids = append(conds.kids, errSpan)
	case "false":
		conds.kids = append(conds.kids, notPred{errSpan})
	case "":
	default:
		return TraceResult{}, inputErrorf("error must be true or false, not %q", q.Error)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 || (q.MaxDuration > 0 && q.MaxDuration < q.MinDuration) {
		return TraceResult{}, inputErrorf("duration bounds %s..%s are not a range", q.MinDuration, q.MaxDuration)
	}
	if q.MinDuration > 0 || q.MaxDuration > 0 {
		r := &rangePred{field: fieldDuration, lo: math.Inf(-1), hi: math.Inf(1), minIncl: true, maxIncl: true}
		if q.MinDuration > 0 {
			r.lo = float64(q.MinDuration.Nanoseconds())
		}
		if q.MaxDuration > 0 {
			r.hi = float64(q.MaxDuration.Nanoseconds())
		}
		conds.kids = append(conds.kids, r)
	}
	start, end, err := s.timeRange(sigSpans, q.Start, q.End)
	if err != nil {
		return TraceResult{}, err
	}
	limit := min(clampLimit(q.Limit, 20), 1000)
	values := requiredValues(conds)
	// The newest matching span of each trace decides its place.
	newest := map[string]int64{}
	// kth is the limit-th newest of them, recomputed only after a change.
	var kthTs int64
	changed := true
	kth := func() int64 {
		if changed {
			ts := make([]int64, 0, len(newest))
			for _, t := range newest {
				ts = append(ts, t)
			}
			slices.Sort(ts)
			kthTs, changed = ts[len(ts)-limit], false
		}
		return kthTs
	}
	scanned, partial := 0, false
	err = s.scanGroups(ctx, s.spans, conds.candidate(), start, end, false, func(g *groupMeta, has func(uint64) bool) (bool, error) {
		if len(newest) >= limit && g.maxTs < kth() {
			return true, nil
		}
		if !conds.maybe(has) {
			return false, nil
		}
		if scanned >= s.cfg.SearchBudget {
			partial = true
			return true, nil
		}
		scanned += g.count
		return false, s.eachRecord(ctx, s.spans, g, func(h *blockHeader, i int) error {
			if len(values) > 0 && !hasRequired(h.recordBytes(i), values) {
				return nil
			}
			sp, err := decodeSpan(h, i)
			if err != nil {
				return err
			}
			v := spanView(&sp, s.spans.text)
			if v.ts < start || v.ts > end || !conds.match(v) {
				return nil
			}
			if v.ts > newest[sp.TraceID] {
				newest[sp.TraceID] = v.ts
				changed = true
			}
			return nil
		})
	})
	if err != nil {
		return TraceResult{}, err
	}
	ids := make([]string, 0, len(newest))
	for id := range newest {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(newest[b], newest[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	if len(ids) == 0 {
		return TraceResult{Traces: []TraceSummary{}, Partial: partial}, nil
	}
	spans, err := s.traceSpans(ctx, ids)
	if err != nil {
		return TraceResult{}, err
	}
	out := make([]TraceSummary, 0, len(ids))
	for _, id := range ids {
		if sp := spans[id]; len(sp) > 0 {
			out = append(out, summarize(id, sp))
		}
	}
	slices.SortStableFunc(out, func(a, b TraceSummary) int { return b.Start.Compare(a.Start) })
	return TraceResult{Traces: out, Partial: partial}, nil
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
