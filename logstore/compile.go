package logstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/lookout-dev/lookout/logstore/internal/logql"
)

// fieldKind says how a field is indexed, which decides the bleve query a
// term or range on it becomes.
type fieldKind int

const (
	kindText    fieldKind = iota // analysed body text
	kindKeyword                  // exact values
	kindLower                    // exact values, lower-cased at index time
	kindNumber                   // numbers only
	kindTime                     // the timestamp
	kindMixed                    // attributes: keywords, and numbers where the value was numeric
)

// resolveField maps a field as a user writes it to the indexed field.
// Unknown bare names are taken as attribute names, so that
// `http.status_code:500` means `attributes.http.status_code:500`.
func resolveField(name string, spans bool) (string, fieldKind) {
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

// compileQuery parses a user query and builds the bleve query for it. A
// syntax error comes back as an *InputError.
func compileQuery(q string, spans bool) (query.Query, error) {
	n, err := logql.Parse(q)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return compileNode(n, spans)
}

func compileNode(n logql.Node, spans bool) (query.Query, error) {
	switch n := n.(type) {
	case *logql.MatchAll:
		return query.NewMatchAllQuery(), nil
	case *logql.And:
		var qs []query.Query
		for _, c := range n.Children {
			q, err := compileNode(c, spans)
			if err != nil {
				return nil, err
			}
			qs = append(qs, q)
		}
		return query.NewConjunctionQuery(qs), nil
	case *logql.Or:
		var qs []query.Query
		for _, c := range n.Children {
			q, err := compileNode(c, spans)
			if err != nil {
				return nil, err
			}
			qs = append(qs, q)
		}
		return query.NewDisjunctionQuery(qs), nil
	case *logql.Not:
		c, err := compileNode(n.Child, spans)
		if err != nil {
			return nil, err
		}
		return query.NewBooleanQuery([]query.Query{query.NewMatchAllQuery()}, nil, []query.Query{c}), nil
	case *logql.Term:
		return compileTerm(n, spans)
	case *logql.Exists:
		f, _ := resolveField(n.Field, spans)
		q := query.NewWildcardQuery("*")
		q.SetField(f)
		return q, nil
	case *logql.Range:
		return compileRange(n, spans)
	}
	return nil, &InputError{Err: fmt.Errorf("unsupported query element %T", n)}
}

func compileTerm(t *logql.Term, spans bool) (query.Query, error) {
	f, kind := resolveField(t.Field, spans)
	v := t.Value
	switch kind {
	case kindText:
		v = strings.ToLower(v)
		if t.Wildcard {
			q := query.NewWildcardQuery(v)
			q.SetField(f)
			return q, nil
		}
		if t.Phrase {
			q := query.NewMatchPhraseQuery(v)
			q.SetField(f)
			q.Analyzer = textAnalyzer
			return q, nil
		}
		q := query.NewMatchQuery(v)
		q.SetField(f)
		q.Analyzer = textAnalyzer
		q.SetOperator(query.MatchQueryOperatorAnd)
		return q, nil
	case kindNumber, kindTime:
		b := &logql.Bound{Raw: v}
		rq, err := compileRange(&logql.Range{Field: t.Field, Min: b, Max: b, MinInclusive: true, MaxInclusive: true}, spans)
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("at position %d: %s needs a number: %w", t.Pos()+1, t.Field, err)}
		}
		return rq, nil
	case kindLower:
		v = strings.ToLower(v)
	}
	if t.Wildcard {
		q := query.NewWildcardQuery(v)
		q.SetField(f)
		return q, nil
	}
	if len(v) > maxKeywordLen {
		// Long values were indexed as analysed text.
		q := query.NewMatchPhraseQuery(v)
		q.SetField(f)
		q.Analyzer = textAnalyzer
		return q, nil
	}
	q := query.NewTermQuery(v)
	q.SetField(f)
	return q, nil
}

// severityNumbers maps severity names to the lowest OTLP severity number of
// each range, so `severity:>=warn` is a range on severity_number.
var severityNumbers = map[string]float64{
	"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21,
}

func compileRange(r *logql.Range, spans bool) (query.Query, error) {
	f, kind := resolveField(r.Field, spans)
	if f == fieldSeverity {
		return severityRange(r)
	}
	switch kind {
	case kindTime:
		lo, hi, err := timeBounds(r)
		if err != nil {
			return nil, err
		}
		q := query.NewDateRangeInclusiveQuery(lo, hi, &r.MinInclusive, &r.MaxInclusive)
		q.SetField(f)
		return q, nil
	case kindNumber, kindMixed:
		lo, hi, err := numBounds(r, f == fieldDuration)
		if err != nil {
			if kind == kindMixed {
				break // compare as strings
			}
			return nil, err
		}
		q := query.NewNumericRangeInclusiveQuery(lo, hi, &r.MinInclusive, &r.MaxInclusive)
		q.SetField(f)
		return q, nil
	}
	var lo, hi string
	if r.Min != nil {
		lo = r.Min.Raw
	}
	if r.Max != nil {
		hi = r.Max.Raw
	}
	if kind == kindLower {
		lo, hi = strings.ToLower(lo), strings.ToLower(hi)
	}
	q := query.NewTermRangeInclusiveQuery(lo, hi, &r.MinInclusive, &r.MaxInclusive)
	q.SetField(f)
	return q, nil
}

func severityRange(r *logql.Range) (query.Query, error) {
	bound := func(b *logql.Bound, upper, inclusive bool) (*float64, error) {
		if b == nil {
			return nil, nil
		}
		if b.IsNum {
			return &b.Num, nil
		}
		n, ok := severityNumbers[strings.ToLower(b.Raw)]
		if !ok {
			return nil, &InputError{Err: fmt.Errorf("at position %d: unknown severity %q (want trace, debug, info, warn, error, fatal or a number)", r.Pos()+1, b.Raw)}
		}
		if upper && inclusive {
			n += 3 // the whole range of that name: warn is 13-16
		}
		return &n, nil
	}
	lo, err := bound(r.Min, false, r.MinInclusive)
	if err != nil {
		return nil, err
	}
	hi, err := bound(r.Max, true, r.MaxInclusive)
	if err != nil {
		return nil, err
	}
	q := query.NewNumericRangeInclusiveQuery(lo, hi, &r.MinInclusive, &r.MaxInclusive)
	q.SetField(fieldSevNum)
	return q, nil
}

func numBounds(r *logql.Range, duration bool) (lo, hi *float64, err error) {
	conv := func(b *logql.Bound) (*float64, error) {
		if b == nil {
			return nil, nil
		}
		switch {
		case duration && b.IsDur:
			v := float64(b.Dur.Nanoseconds())
			return &v, nil
		case b.IsNum:
			v := b.Num
			return &v, nil
		}
		if duration {
			return nil, &InputError{Err: fmt.Errorf("at position %d: %q is not a duration (e.g. 250ms, 1.5s) or a number of nanoseconds", r.Pos()+1, b.Raw)}
		}
		return nil, &InputError{Err: fmt.Errorf("at position %d: %q is not a number", r.Pos()+1, b.Raw)}
	}
	if lo, err = conv(r.Min); err != nil {
		return nil, nil, err
	}
	if hi, err = conv(r.Max); err != nil {
		return nil, nil, err
	}
	return lo, hi, nil
}

func timeBounds(r *logql.Range) (lo, hi time.Time, err error) {
	conv := func(b *logql.Bound) (time.Time, error) {
		if b == nil {
			return time.Time{}, nil
		}
		if !b.IsTime {
			return time.Time{}, &InputError{Err: fmt.Errorf("at position %d: %q is not an RFC 3339 time or a date", r.Pos()+1, b.Raw)}
		}
		return b.Time, nil
	}
	if lo, err = conv(r.Min); err != nil {
		return lo, hi, err
	}
	hi, err = conv(r.Max)
	return lo, hi, err
}
