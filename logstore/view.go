package logstore

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
)

// view is a record (log record or span) flattened into the fields a query
// can name: string values per field and numeric values per field. The same
// view feeds the index (what a group of records contains) and the exact
// match of a query against one record, so the two never disagree.
type view struct {
	ts   int64
	body string
	strs map[string][]string
	nums map[string][]float64

	text  analysis.Analyzer // splits the body into words, once
	toks  []string
	toked bool
	lower string
	lowed bool
}

// lowerBody returns the body in lower case, computed on first use.
func (v *view) lowerBody() string {
	if !v.lowed {
		v.lower, v.lowed = strings.ToLower(v.body), true
	}
	return v.lower
}

// bodyTokens returns the body's words, splitting it on first use.
func (v *view) bodyTokens() []string {
	if !v.toked {
		v.toks, v.toked = tokens(v.text, v.body), true
	}
	return v.toks
}

func newView(text analysis.Analyzer) *view {
	return &view{text: text, strs: make(map[string][]string, 24), nums: make(map[string][]float64, 4)}
}

func (v *view) str(field, s string) {
	if s != "" {
		v.strs[field] = append(v.strs[field], s)
	}
}

func (v *view) num(field string, f float64) {
	if !math.IsNaN(f) && !math.IsInf(f, 0) {
		v.nums[field] = append(v.nums[field], f)
	}
}

// attrs flattens a map under prefix: nested maps join keys with dots and
// each element of a list is a value of the same field. Numbers are both
// strings (for field:value) and numbers (for ranges).
func (v *view) attrs(prefix string, m map[string]any) {
	for k, x := range m {
		v.attr(prefix+k, x, 0)
	}
}

func (v *view) attr(name string, x any, depth int) {
	if depth > 8 {
		return
	}
	switch x := x.(type) {
	case string:
		v.str(name, x)
	case int64:
		v.str(name, strconv.FormatInt(x, 10))
		v.num(name, float64(x))
	case float64:
		v.str(name, strconv.FormatFloat(x, 'g', -1, 64))
		v.num(name, x)
	case bool:
		v.str(name, strconv.FormatBool(x))
	case []any:
		for _, e := range x {
			v.attr(name, e, depth+1)
		}
	case map[string]any:
		for k, e := range x {
			v.attr(name+"."+k, e, depth+1)
		}
	case Bytes:
		v.str(name, hex.EncodeToString(x)) // digest:deadbeef
	}
}

func logView(r *LogRecord, text analysis.Analyzer) *view {
	v := newView(text)
	v.ts = r.Timestamp.UnixNano()
	if r.Timestamp.IsZero() {
		v.ts = 0
	}
	v.body = stringify(r.Body)
	sev := normSeverity(r.SeverityText)
	v.str(fieldSeverity, sev)
	if n := SeverityName(r.SeverityNumber); n != "" && n != sev {
		v.str(fieldSeverity, n)
	}
	if r.SeverityNumber != 0 {
		v.num(fieldSevNum, float64(r.SeverityNumber))
	}
	v.str(fieldService, r.Service)
	v.str(fieldTraceID, r.TraceID)
	v.str(fieldSpanID, r.SpanID)
	v.str(fieldScope, r.Scope.Name)
	v.str(fieldName, r.EventName)
	v.attrs("attributes.", r.Attributes)
	v.attrs("resource.", r.Resource)
	return v
}

func spanView(s *Span, text analysis.Analyzer) *view {
	v := newView(text)
	v.ts = s.Start.UnixNano()
	if s.Start.IsZero() {
		v.ts = 0
	}
	v.body = s.Status.Message
	v.str(fieldTraceID, s.TraceID)
	v.str(fieldSpanID, s.SpanID)
	v.str(fieldParentID, s.ParentSpanID)
	if s.ParentSpanID == "" {
		v.str(fieldRoot, "true")
	}
	v.str(fieldService, s.Service)
	v.str(fieldName, s.Name)
	v.str(fieldSpanKind, s.Kind)
	v.str(fieldStatus, s.Status.Code)
	v.str(fieldScope, s.Scope.Name)
	v.num(fieldDuration, float64(s.DurationNS))
	for _, ev := range s.Events {
		v.str(fieldEvent, ev.Name)
		v.attrs("attributes.", ev.Attributes)
	}
	v.attrs("attributes.", s.Attributes)
	v.attrs("resource.", s.Resource)
	return v
}

// tokens splits text into the lower-cased words the body is searched by.
func tokens(a analysis.Analyzer, text string) []string {
	if text == "" {
		return nil
	}
	ts := a.Analyze([]byte(text))
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t.Term)
	}
	return out
}

// inBloom decides where a value is indexed, the same way at index and at
// query time: values with a digit (ids, numbers, addresses) or long ones
// are high-cardinality and go to the group's bloom filter; words go to
// bleve, where they are cheap because groups share them.
func inBloom(field, value string) bool {
	if field == fieldTraceID {
		return false // trace lookups must not scan every group
	}
	if len(value) > 48 {
		return true
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c >= '0' && c <= '9' {
			return true
		}
	}
	return false
}

// lowerField reports whether a field's values are compared without case.
func lowerField(f string) bool {
	switch f {
	case fieldSeverity, fieldTraceID, fieldSpanID, fieldParentID, fieldSpanKind, fieldStatus, fieldRoot:
		return true
	}
	return false
}

// normValue is how a value of field is indexed and compared.
func normValue(field, v string) string {
	if lowerField(field) {
		return strings.ToLower(v)
	}
	return v
}
