package logstore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/lookout-dev/lookout/logstore/internal/logql"
)

// fieldKind says how a field is compared.
type fieldKind int

const (
	kindText    fieldKind = iota // the body: words
	kindKeyword                  // exact values
	kindLower                    // exact values without case
	kindNumber                   // numbers only
	kindTime                     // the timestamp
	kindMixed                    // attributes: strings, and numbers where the value was numeric
)

// resolveField maps a field as a user writes it to the indexed field.
// Unknown bare names are taken as attribute names, so that
// `http.status_code:500` means `attributes.http.status_code:500`.
func resolveField(name string) (string, fieldKind) {
	switch strings.ToLower(name) {
	case "", "body", "message", "msg", "_msg":
		return fieldBody, kindText
	case "severity", "level", "severity_text", "lvl":
		return fieldSeverity, kindLower
	case "severity_number":
		return fieldSevNum, kindNumber
	case "service", "service.name", "service_name":
		return fieldService, kindKeyword
	case "trace_id", "traceid", "trace":
		return fieldTraceID, kindLower
	case "span_id", "spanid":
		return fieldSpanID, kindLower
	case "parent_span_id", "parent", "parent_id":
		return fieldParentID, kindLower
	case "scope", "scope.name":
		return fieldScope, kindKeyword
	case "name", "operation", "span_name", "event_name":
		return fieldName, kindKeyword
	case "kind", "span.kind":
		return fieldSpanKind, kindLower
	case "status", "status_code", "status.code":
		return fieldStatus, kindLower
	case "duration", "duration_ns":
		return fieldDuration, kindNumber
	case "root":
		return fieldRoot, kindLower
	case "event", "events":
		return fieldEvent, kindKeyword
	case "timestamp", "time", "ts", "_time", "start":
		return fieldTimestamp, kindTime
	}
	switch {
	case strings.HasPrefix(name, "attributes."), strings.HasPrefix(name, "resource."):
		return name, kindMixed
	case strings.HasPrefix(name, "attr."):
		return "attributes." + name[len("attr."):], kindMixed
	case strings.HasPrefix(name, "res."):
		return "resource." + name[len("res."):], kindMixed
	}
	return "attributes." + name, kindMixed
}

// pred is a compiled query: the same tree answers three questions, from
// coarse to exact. candidate is the bleve query that finds every group
// that may hold a match; maybe rules groups out by their bloom filter;
// match decides for one record.
type pred interface {
	candidate() query.Query
	maybe(has func(uint64) bool) bool
	match(v *view) bool
}

// compileQuery parses a user query and compiles it. A syntax error, or a
// value that cannot be compared with its field, comes back as an
// *InputError.
func compileQuery(q string, text analysis.Analyzer) (pred, error) {
	n, err := logql.Parse(q)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return compileNode(n, text)
}

func compileNode(n logql.Node, text analysis.Analyzer) (pred, error) {
	switch n := n.(type) {
	case *logql.MatchAll:
		return matchAll{}, nil
	case *logql.And:
		return compileBool(n.Children, false, text)
	case *logql.Or:
		return compileBool(n.Children, true, text)
	case *logql.Not:
		if nn, ok := n.Child.(*logql.Not); ok {
			// NOT NOT x is x, and x may be narrowed by the index where a
			// negation never is.
			return compileNode(nn.Child, text)
		}
		c, err := compileNode(n.Child, text)
		if err != nil {
			return nil, err
		}
		return notPred{c}, nil
	case *logql.Term:
		return compileTerm(n, text)
	case *logql.Exists:
		f, _ := resolveField(n.Field)
		return existsPred{field: f}, nil
	case *logql.Range:
		return compileRange(n)
	}
	return nil, &InputError{Err: fmt.Errorf("unsupported query element %T", n)}
}

func compileBool(kids []logql.Node, or bool, text analysis.Analyzer) (pred, error) {
	b := &boolPred{or: or}
	for _, c := range kids {
		p, err := compileNode(c, text)
		if err != nil {
			return nil, err
		}
		b.kids = append(b.kids, p)
	}
	return b, nil
}

// maxWildcards bounds the * and ? of one pattern: a pattern of many is no
// narrower than a few, and each costs a scan of every value it is tried on.
const maxWildcards = 8

func compileTerm(t *logql.Term, text analysis.Analyzer) (pred, error) {
	if t.Wildcard && strings.Count(t.Value, "*")+strings.Count(t.Value, "?") > maxWildcards {
		return nil, inputErrorf("the pattern %q has more than %d wildcards; write fewer, or a word the index can find", t.Value, maxWildcards)
	}
	f, kind := resolveField(t.Field)
	switch kind {
	case kindText:
		if t.Wildcard {
			return &globPred{field: f, pattern: strings.ToLower(t.Value), lower: true}, nil
		}
		toks := tokens(text, t.Value)
		if len(toks) == 0 {
			return existsPred{field: f}, nil
		}
		return &wordsPred{toks: toks, phrase: t.Phrase}, nil
	case kindNumber, kindTime:
		b := logql.NewBound(t.Value)
		p, err := compileRange(&logql.Range{Field: t.Field, Min: b, Max: b, MinInclusive: true, MaxInclusive: true})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	if t.Wildcard {
		return &globPred{field: f, pattern: normValue(f, t.Value), lower: kind == kindLower}, nil
	}
	return &termPred{field: f, value: normValue(f, t.Value), lower: kind == kindLower}, nil
}

// severityNumbers maps severity names to the lowest OTLP severity number of
// each range, so `severity:>=warn` is a range on severity_number.
var severityNumbers = map[string]float64{
	"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21,
}

func compileRange(r *logql.Range) (pred, error) {
	f, kind := resolveField(r.Field)
	if f == fieldSeverity {
		return severityRange(r)
	}
	if kind == kindTime {
		return timeRange(r)
	}
	p := &rangePred{field: f, minIncl: r.MinInclusive, maxIncl: r.MaxInclusive, lo: math.Inf(-1), hi: math.Inf(1)}
	switch kind {
	case kindNumber, kindMixed:
		duration := f == fieldDuration
		conv := func(b *logql.Bound, _ bool) (float64, error) {
			switch {
			case duration && b.IsDur:
				return float64(b.Dur.Nanoseconds()), nil
			case b.IsNum:
				return b.Num, nil
			case duration:
				return 0, &InputError{Err: fmt.Errorf("at position %d: %q is not a duration (e.g. 250ms, 1.5s) or a number of nanoseconds", r.Pos()+1, b.Raw)}
			}
			return 0, &InputError{Err: fmt.Errorf("at position %d: %q is not a number", r.Pos()+1, b.Raw)}
		}
		err := p.bounds(r, conv)
		if err == nil {
			return p, nil
		}
		if kind == kindNumber {
			return nil, err
		}
	}
	// Compare as strings.
	sp := &strRangePred{field: f, minIncl: r.MinInclusive, maxIncl: r.MaxInclusive}
	if r.Min != nil {
		sp.lo, sp.hasLo = normValue(f, r.Min.Raw), true
	}
	if r.Max != nil {
		sp.hi, sp.hasHi = normValue(f, r.Max.Raw), true
	}
	return sp, nil
}

func timeRange(r *logql.Range) (pred, error) {
	p := &timeRangePred{lo: math.MinInt64, hi: math.MaxInt64, minIncl: true, maxIncl: true}
	ns := func(b *logql.Bound) (int64, error) {
		if !b.IsTime {
			return 0, &InputError{Err: fmt.Errorf("at position %d: %q is not an RFC 3339 time or a date", r.Pos()+1, b.Raw)}
		}
		return unixNano(b.Time), nil
	}
	var err error
	if r.Min != nil {
		if p.lo, err = ns(r.Min); err != nil {
			return nil, err
		}
		p.minIncl = r.MinInclusive
	}
	if r.Max != nil {
		if p.hi, err = ns(r.Max); err != nil {
			return nil, err
		}
		p.maxIncl = r.MaxInclusive
	}
	return p, nil
}

func severityRange(r *logql.Range) (pred, error) {
	p := &rangePred{field: fieldSevNum, minIncl: r.MinInclusive, maxIncl: r.MaxInclusive, lo: math.Inf(-1), hi: math.Inf(1)}
	err := p.bounds(r, func(b *logql.Bound, upper bool) (float64, error) {
		if b.IsNum {
			return b.Num, nil
		}
		n, ok := severityNumbers[strings.ToLower(b.Raw)]
		if !ok {
			return 0, &InputError{Err: fmt.Errorf("at position %d: unknown severity %q (want trace, debug, info, warn, error, fatal or a number)", r.Pos()+1, b.Raw)}
		}
		if upper && r.MaxInclusive {
			n += 3 // the whole range of that name: warn is 13-16
		}
		return n, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func fieldsTerm(f string) query.Query {
	q := query.NewTermQuery(f)
	q.SetField(fieldFields)
	return q
}

func termQuery(field, v string) query.Query {
	q := query.NewTermQuery(v)
	q.SetField(field)
	return q
}

type matchAll struct{}

func (matchAll) candidate() query.Query       { return query.NewMatchAllQuery() }
func (matchAll) maybe(func(uint64) bool) bool { return true }
func (matchAll) match(*view) bool             { return true }

type boolPred struct {
	or   bool
	kids []pred
}

func (b *boolPred) candidate() query.Query {
	qs := make([]query.Query, len(b.kids))
	for i, k := range b.kids {
		qs[i] = k.candidate()
	}
	if b.or {
		return query.NewDisjunctionQuery(qs)
	}
	return query.NewConjunctionQuery(qs)
}

func (b *boolPred) maybe(has func(uint64) bool) bool {
	for _, k := range b.kids {
		if k.maybe(has) == b.or {
			return b.or
		}
	}
	return !b.or
}

func (b *boolPred) match(v *view) bool {
	for _, k := range b.kids {
		if k.match(v) == b.or {
			return b.or
		}
	}
	return !b.or
}

// notPred cannot narrow groups: a group that holds x may hold records
// without it.
type notPred struct{ p pred }

func (notPred) candidate() query.Query       { return query.NewMatchAllQuery() }
func (notPred) maybe(func(uint64) bool) bool { return true }
func (n notPred) match(v *view) bool         { return !n.p.match(v) }

// existsPred is field:*.
type existsPred struct{ field string }

func (e existsPred) maybe(func(uint64) bool) bool { return true }

func (e existsPred) candidate() query.Query {
	if e.field == fieldTimestamp {
		return query.NewMatchAllQuery()
	}
	return fieldsTerm(e.field)
}

func (e existsPred) match(v *view) bool {
	switch e.field {
	case fieldBody:
		return v.body != ""
	case fieldTimestamp:
		return v.ts != 0
	}
	return len(v.strs[e.field]) > 0 || len(v.nums[e.field]) > 0
}

// termPred is field:value on a keyword field.
type termPred struct {
	field, value string
	lower        bool
}

func (t *termPred) candidate() query.Query {
	if inBloom(t.field, t.value) {
		return fieldsTerm(t.field)
	}
	return termQuery(t.field, t.value)
}

func (t *termPred) maybe(has func(uint64) bool) bool {
	if !inBloom(t.field, t.value) {
		return true
	}
	return has(bloomHash(t.field, t.value))
}

func (t *termPred) match(v *view) bool {
	for _, s := range v.strs[t.field] {
		if s == t.value || (t.lower && strings.EqualFold(s, t.value)) {
			return true
		}
	}
	return false
}

// wordsPred is body text: every word present, or the words as a phrase.
type wordsPred struct {
	toks   []string
	phrase bool
}

func (w *wordsPred) candidate() query.Query {
	var qs []query.Query
	for _, t := range w.toks {
		if inBloom(fieldBody, t) {
			continue
		}
		qs = append(qs, termQuery(fieldBody, t))
	}
	if len(qs) < len(w.toks) {
		qs = append(qs, fieldsTerm(fieldBody))
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewConjunctionQuery(qs)
}

func (w *wordsPred) maybe(has func(uint64) bool) bool {
	for _, t := range w.toks {
		if inBloom(fieldBody, t) && !has(bloomHash(fieldBody, t)) {
			return false
		}
	}
	return true
}

func (w *wordsPred) match(v *view) bool {
	if v.body == "" {
		return false
	}
	// Every word of the body is a substring of the lower-cased body: a
	// cheap test rules most records out before the body is split.
	lower := v.lowerBody()
	for _, t := range w.toks {
		if !strings.Contains(lower, t) {
			return false
		}
	}
	body := v.bodyTokens()
	if w.phrase {
		for i := 0; i+len(w.toks) <= len(body); i++ {
			ok := true
			for j, t := range w.toks {
				if body[i+j] != t {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, t := range w.toks {
		found := false
		for _, b := range body {
			if b == t {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// globPred is a wildcard on a field's values, or on the body's words.
type globPred struct {
	field, pattern string
	lower          bool
}

func (g *globPred) candidate() query.Query       { return fieldsTerm(g.field) }
func (g *globPred) maybe(func(uint64) bool) bool { return true }

func (g *globPred) match(v *view) bool {
	if g.field == fieldBody {
		for _, t := range v.bodyTokens() {
			if glob(g.pattern, t) {
				return true
			}
		}
		return false
	}
	for _, s := range v.strs[g.field] {
		if g.lower {
			s = strings.ToLower(s)
		}
		if glob(g.pattern, s) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern where * is any run and ? any one
// character.
func glob(pattern, s string) bool {
	p, si := []rune(pattern), []rune(s)
	pi, sj := 0, 0
	star, mark := -1, 0
	for sj < len(si) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == si[sj]):
			pi++
			sj++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, sj
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			sj = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// rangePred is a numeric range.
type rangePred struct {
	field            string
	lo, hi           float64
	minIncl, maxIncl bool
}

// bounds sets the range from lr, converting each bound with conv (told
// whether it is the upper one); an open end is inclusive of infinity.
func (r *rangePred) bounds(lr *logql.Range, conv func(b *logql.Bound, upper bool) (float64, error)) error {
	if lr.Min != nil {
		v, err := conv(lr.Min, false)
		if err != nil {
			return err
		}
		r.lo = v
	} else {
		r.minIncl = true
	}
	if lr.Max != nil {
		v, err := conv(lr.Max, true)
		if err != nil {
			return err
		}
		r.hi = v
	} else {
		r.maxIncl = true
	}
	return nil
}

func (r *rangePred) in(x float64) bool {
	if x < r.lo || (x == r.lo && !r.minIncl) {
		return false
	}
	return x < r.hi || (x == r.hi && r.maxIncl)
}

func ptr[T any](v T) *T { return &v }

func (r *rangePred) candidate() query.Query {
	var lo, hi *float64
	if !math.IsInf(r.lo, 0) {
		lo = ptr(r.lo)
	}
	if !math.IsInf(r.hi, 0) {
		hi = ptr(r.hi)
	}
	if r.field == fieldDuration {
		var qs []query.Query
		if lo != nil {
			q := query.NewNumericRangeInclusiveQuery(lo, nil, ptr(r.minIncl), nil)
			q.SetField(fieldDurMax)
			qs = append(qs, q)
		}
		if hi != nil {
			q := query.NewNumericRangeInclusiveQuery(nil, hi, nil, ptr(r.maxIncl))
			q.SetField(fieldDurMin)
			qs = append(qs, q)
		}
		if len(qs) == 0 {
			return fieldsTerm(r.field)
		}
		return query.NewConjunctionQuery(qs)
	}
	if lo == nil && hi == nil {
		return fieldsTerm(r.field)
	}
	q := query.NewNumericRangeInclusiveQuery(lo, hi, ptr(r.minIncl), ptr(r.maxIncl))
	q.SetField(r.field)
	return q
}

func (r *rangePred) maybe(func(uint64) bool) bool { return true }

func (r *rangePred) match(v *view) bool {
	for _, x := range v.nums[r.field] {
		if r.in(x) {
			return true
		}
	}
	return false
}

// timeRangePred is a range of record timestamps, kept in Unix nanoseconds
// (a float64 holds today's only to about 256 ns); an open end is
// math.MinInt64 or math.MaxInt64, inclusive.
type timeRangePred struct {
	lo, hi           int64
	minIncl, maxIncl bool
}

func (r *timeRangePred) maybe(func(uint64) bool) bool { return true }

func (r *timeRangePred) match(v *view) bool {
	if v.ts == 0 || v.ts < r.lo || (v.ts == r.lo && !r.minIncl) {
		return false
	}
	return v.ts < r.hi || (v.ts == r.hi && r.maxIncl)
}

// candidate matches the groups whose span overlaps the range; bleve keeps
// dates in nanoseconds, so the bounds are exact.
func (r *timeRangePred) candidate() query.Query {
	var qs []query.Query
	// bleve refuses a date outside 1677-12-01..2262-04-11T11:59:59Z, which
	// a bound saturated by unixNano can be; no record is stamped out there,
	// so the nearest date bleve takes selects the same groups.
	bleveMin, bleveMax := query.MinRFC3339CompatibleTime.UnixNano(), query.MaxRFC3339CompatibleTime.UnixNano()
	if r.lo != math.MinInt64 {
		lo := min(max(r.lo, bleveMin), bleveMax)
		q := query.NewDateRangeInclusiveQuery(time.Unix(0, lo), time.Time{}, ptr(r.minIncl), nil)
		q.SetField(fieldMaxTs)
		qs = append(qs, q)
	}
	if r.hi != math.MaxInt64 {
		hi := min(max(r.hi, bleveMin), bleveMax)
		q := query.NewDateRangeInclusiveQuery(time.Time{}, time.Unix(0, hi), nil, ptr(r.maxIncl))
		q.SetField(fieldMinTs)
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return query.NewMatchAllQuery()
	}
	return query.NewConjunctionQuery(qs)
}

// strRangePred compares a field's values as strings.
type strRangePred struct {
	field            string
	lo, hi           string
	hasLo, hasHi     bool
	minIncl, maxIncl bool
}

func (r *strRangePred) candidate() query.Query       { return fieldsTerm(r.field) }
func (r *strRangePred) maybe(func(uint64) bool) bool { return true }

func (r *strRangePred) match(v *view) bool {
	for _, s := range v.strs[r.field] {
		if r.hasLo && (s < r.lo || (s == r.lo && !r.minIncl)) {
			continue
		}
		if r.hasHi && (s > r.hi || (s == r.hi && !r.maxIncl)) {
			continue
		}
		return true
	}
	return false
}

// requiredWords returns body words every match must contain, for a test on
// a record's raw bytes before it is decoded (see logBody).
func requiredWords(p pred) []string {
	switch p := p.(type) {
	case *wordsPred:
		var out []string
		for _, t := range p.toks {
			if isASCII(t) {
				out = append(out, t)
			}
		}
		return out
	case *globPred:
		// Every literal run of a body pattern is within one of the words
		// it matches.
		if p.field != fieldBody {
			return nil
		}
		var out []string
		for _, lit := range strings.FieldsFunc(p.pattern, func(r rune) bool { return r == '*' || r == '?' }) {
			if isASCII(lit) {
				out = append(out, lit)
			}
		}
		return out
	case *boolPred:
		if p.or {
			return nil
		}
		var out []string
		for _, k := range p.kids {
			out = append(out, requiredWords(k)...)
		}
		return out
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the lower-case ASCII word w,
// ignoring the case of ASCII letters in b.
func containsFold(b []byte, w string) bool {
	if len(w) == 0 {
		return true
	}
	lower := func(c byte) byte {
		if c >= 'A' && c <= 'Z' {
			return c + ('a' - 'A')
		}
		return c
	}
	first := w[0]
	for i := 0; i+len(w) <= len(b); i++ {
		if lower(b[i]) != first {
			continue
		}
		j := 1
		for ; j < len(w); j++ {
			if lower(b[i+j]) != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// requiredValues returns, for each attribute value every match must hold,
// the byte strings of which one must appear in a record's raw encoding: a
// string attribute is stored verbatim, a bytes attribute (which queries see
// as hex) as its bytes. Numbers and booleans are stored binary, so values
// that read as one are left out, as are resource attributes, which live in
// the block's header.
func requiredValues(p pred) [][][]byte {
	switch p := p.(type) {
	case *termPred:
		if !strings.HasPrefix(p.field, "attributes.") || p.value == "" {
			return nil
		}
		if _, err := strconv.ParseFloat(p.value, 64); err == nil {
			return nil
		}
		if _, err := strconv.ParseBool(p.value); err == nil {
			return nil
		}
		alts := [][]byte{[]byte(p.value)}
		if b, err := hex.DecodeString(p.value); err == nil && len(b) > 0 && strings.ToLower(p.value) == p.value {
			alts = append(alts, b)
		}
		return [][][]byte{alts}
	case *boolPred:
		if p.or {
			return nil
		}
		var out [][][]byte
		for _, k := range p.kids {
			out = append(out, requiredValues(k)...)
		}
		return out
	}
	return nil
}

// hasRequired reports whether rec holds one of the alternatives of every
// required value.
func hasRequired(rec []byte, req [][][]byte) bool {
	for _, alts := range req {
		found := false
		for _, a := range alts {
			if bytes.Contains(rec, a) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
