package logstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lookout-dev/lookout/logstore/internal/logql"
)

// CountQuery counts log records matching Query in [Start, End], per
// distinct values of GroupBy.
type CountQuery struct {
	Query      string
	Start, End time.Time
	// GroupBy names fields as the query language does (service, severity,
	// trace_id, http.route, attributes.x, resource.host.name), so that a
	// group's values can be searched for again as field:value.
	GroupBy []string
	// Samples is how many of the newest matching records to keep per
	// group, at most 10.
	Samples int
	// MaxGroups bounds the groups returned: 100 by default and at most.
	MaxGroups int
}

// CountResult is the groups of a count, the largest first.
type CountResult struct {
	Groups []GroupCount
	// Exact is false when a bound stopped counting (the records read, the
	// distinct groups tracked, or MaxGroups): counts are then lower bounds.
	Exact bool
}

// GroupCount is the matches of one distinct set of GroupBy values.
type GroupCount struct {
	// Values holds one value per GroupBy field, "" where a record lacks it;
	// nil without GroupBy.
	Values  []string
	Count   uint64
	Samples []LogRecord // newest first
}

const (
	// countBudget bounds the records a count reads. A count, unlike a
	// search, has no page that settles early, and alert rules run one per
	// rule every interval: a broad rule over a busy window must cost a
	// bounded scan (a record costs ~3 µs to decode and match on the 2-core
	// machine of BENCHMARKS.md, so ~3 s), with lower-bound counts past it.
	countBudget = 1_000_000
	// maxCountSamples bounds the sample records kept per group.
	maxCountSamples = 10
	// maxCountGroups bounds the groups a count returns.
	maxCountGroups = 100
	// maxTrackedGroups bounds the distinct groups counted, so that grouping
	// by a high-cardinality field (trace_id) costs bounded memory; records
	// of groups first seen past it are left out (Exact false).
	maxTrackedGroups = 10_000
	// maxGroupBy bounds the fields of a GroupBy.
	maxGroupBy = 8
)

// ValidateQuery reports whether q is a valid log query, as an *InputError,
// without a store: for configuration checks such as log alert rules.
func ValidateQuery(q string) error {
	m, err := newMapping()
	if err != nil {
		return fmt.Errorf("build mapping: %w", err)
	}
	_, err = compileQuery(q, m.AnalyzerNamed(textAnalyzer))
	return err
}

// ValidateGroupBy reports whether records can be counted per the given
// fields, as an *InputError, without a store.
func ValidateGroupBy(fields []string) error {
	_, err := groupFields(fields)
	return err
}

// CountLogs counts the records matching q.Query in [q.Start, q.End] per
// distinct values of q.GroupBy. Re-delivered records count once. Groups are
// read newest first, so when the record budget stops a count, the counts
// cover the newest part of the range.
func (s *Store) CountLogs(ctx context.Context, q CountQuery) (CountResult, error) {
	return s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups})
}

// countLimits are the bounds of one count, set apart so that tests can
// reach them with a few records.
type countLimits struct {
	records int // read, at most (give or take a group)
	groups  int // distinct groups tracked, at most
}

func (s *Store) countLogs(ctx context.Context, q CountQuery, lim countLimits) (CountResult, error) {
	p, err := compileQuery(q.Query, s.logs.text)
	if err != nil {
		return CountResult{}, err
	}
	fields, err := groupFields(q.GroupBy)
	if err != nil {
		return CountResult{}, err
	}
	start, end, err := s.timeRange(sigLogs, q.Start, q.End)
	if err != nil {
		return CountResult{}, err
	}
	samples := min(max(q.Samples, 0), maxCountSamples)
	maxGroups := q.MaxGroups
	if maxGroups <= 0 || maxGroups > maxCountGroups {
		maxGroups = maxCountGroups
	}
	m := s.newLogMatcher(p, start, end)
	groups := map[string]*countGroup{}
	var key []byte
	read := 0
	exact := true
	err = s.scanGroups(ctx, s.logs, p.candidate(), start, end, false, func(g *groupMeta, has func(uint64) bool) (bool, error) {
		if read >= lim.records {
			exact = false
			return true, nil
		}
		if !p.maybe(has) {
			return false, nil
		}
		read += g.count
		// A group that starts or ends outside the range (an alert rule's
		// window cuts many) is read for the records inside it only.
		partial := g.minTs < start || g.maxTs > end
		return false, s.eachRecord(ctx, s.logs, g, func(h *blockHeader, i int) error {
			rec := h.recordBytes(i)
			if partial {
				if ts, ok := logTimestamp(rec); ok && (ts < start || ts > end) {
					return nil
				}
			}
			r, v, ok, err := m.match(h, i)
			if !ok || err != nil {
				return err
			}
			key = key[:0]
			for _, f := range fields {
				val := groupValue(v, f)
				key = binary.AppendUvarint(key, uint64(len(val)))
				key = append(key, val...)
			}
			cg := groups[string(key)]
			if cg == nil {
				if len(groups) >= lim.groups {
					exact = false
					return nil
				}
				cg = &countGroup{top: newTopK[LogRecord](samples, false)}
				if len(fields) > 0 {
					cg.values = make([]string, len(fields))
					for j, f := range fields {
						cg.values[j] = groupValue(v, f)
					}
				}
				groups[string(key)] = cg
			}
			cg.count++
			if samples > 0 {
				cg.top.push(v.ts, r)
			}
			return nil
		})
	})
	if err != nil {
		return CountResult{}, err
	}
	if len(fields) == 0 && len(groups) == 0 {
		// Without GroupBy there is always the one group, if only to say 0.
		groups[""] = &countGroup{top: newTopK[LogRecord](samples, false)}
	}
	out := make([]GroupCount, 0, len(groups))
	for _, cg := range groups {
		out = append(out, GroupCount{Values: cg.values, Count: cg.count, Samples: cg.top.sorted()})
	}
	slices.SortFunc(out, func(a, b GroupCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return slices.Compare(a.Values, b.Values)
	})
	if len(out) > maxGroups {
		out, exact = out[:maxGroups], false
	}
	return CountResult{Groups: out, Exact: exact}, nil
}

type countGroup struct {
	values []string
	count  uint64
	top    *topK[LogRecord]
}

// logTimestamp reads the timestamp of an encoded log record without
// decoding it (see encodeLogs); 0 when it has none, which no range holds.
func logTimestamp(rec []byte) (int64, bool) {
	d := decoder{buf: rec}
	d.uvarint() // resource
	d.uvarint() // scope
	ts := d.varint()
	return ts, d.err == nil
}

// groupFields resolves GroupBy names to the fields of a record's view, the
// way a query's field:value does.
func groupFields(names []string) ([]string, error) {
	if len(names) > maxGroupBy {
		return nil, inputErrorf("cannot group by %d fields, at most %d", len(names), maxGroupBy)
	}
	out := make([]string, 0, len(names))
	for _, name := range names {
		// A name the query language reads as a field, unquoted, so that a
		// group can be searched for again as name:"value".
		n, err := logql.Parse(name + ":*")
		if e, ok := n.(*logql.Exists); err != nil || !ok || e.Field != name {
			return nil, inputErrorf("cannot group by %q: not a field name (letters, digits, _ and - separated by dots)", name)
		}
		f, kind := resolveField(name)
		switch {
		case kind == kindText || kind == kindTime:
			return nil, inputErrorf("cannot group by %q: only by fields with few distinct values, not the body or the timestamp", name)
		case spanField(f):
			return nil, inputErrorf("cannot group by %q: log records have no such field", name)
		case slices.Contains(out, f):
			return nil, inputErrorf("cannot group by %q twice", name)
		}
		out = append(out, f)
	}
	return out, nil
}

// spanField reports whether f is a field only spans have.
func spanField(f string) bool {
	switch f {
	case fieldParentID, fieldSpanKind, fieldStatus, fieldDuration, fieldRoot, fieldEvent:
		return true
	}
	return false
}

// groupValue is the value a record is grouped by for field f: its first
// value (a list attribute has several), "" if it has none.
func groupValue(v *view, f string) string {
	vals := v.strs[f]
	switch {
	case len(vals) == 0:
		if nums := v.nums[f]; len(nums) > 0 {
			return strconv.FormatFloat(nums[0], 'g', -1, 64)
		}
		return ""
	case f == fieldSeverity:
		// logView lists the severity text first and, when it differs, the
		// name of the range its number falls in (error, warn) last: group
		// by the name, so that ERR and Error from two services fall
		// together, and severity:<name> finds the group again.
		return vals[len(vals)-1]
	}
	return vals[0]
}
