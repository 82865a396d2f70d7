package logstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
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
//
// A query that names at most service and severity, grouped by at most
// those, without samples (the logs explorer's histogram) is answered mostly
// from the groups' metadata: a group whose records all match and none of
// which may have a copy stored elsewhere (see dupTracker) is counted from
// its metadata when it lies within the range, and from its records'
// timestamps alone, without decoding them, when it straddles an end. Only
// the groups read count against the budget; past it, groups are still
// counted from their metadata.
func (s *Store) CountLogs(ctx context.Context, q CountQuery) (CountResult, error) {
	return s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups, meta: true})
}

// countLimits are the bounds of one count, set apart so that tests can
// reach them with a few records.
type countLimits struct {
	records int // read, at most (give or take a group)
	groups  int // distinct groups tracked, at most
	// meta lets groups be counted from their metadata where the query
	// allows; without it every group is read, which tests compare with.
	meta bool
	// stats, if set, is told how the groups were counted.
	stats *countStats
}

// countStats says how a count went about its groups.
type countStats struct {
	meta  int // counted from their metadata alone
	times int // counted by their records' timestamps
	read  int // read and matched record by record
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
	stats := lim.stats
	if stats == nil {
		stats = &countStats{}
	}
	m := s.newLogMatcher(p, start, end)
	groups := map[string]*countGroup{}
	var key []byte
	read := 0
	exact := true
	// bucket returns the count of the records whose GroupBy fields have
	// the values value gives, nil past the groups tracked.
	bucket := func(value func(f string) string) *countGroup {
		key = key[:0]
		for _, f := range fields {
			val := value(f)
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
					cg.values[j] = value(f)
				}
			}
			groups[string(key)] = cg
		}
		return cg
	}
	meta := lim.meta && samples == 0 && metaFields(fields) && metaCountable(p)
	var last int64
	if meta {
		last = s.logs.lastGroupID()
	}
	err = s.scanGroups(ctx, s.logs, p.candidate(), start, end, false, func(g *groupMeta, has func(uint64) bool) (bool, error) {
		if meta && g.id > last {
			// Indexed after the count began: it may hold copies of
			// records of a group already counted from its metadata,
			// marked dup only now (see dupStep.commit).
			return false, nil
		}
		if read >= lim.records && !meta {
			exact = false
			return true, nil
		}
		if !p.maybe(has) {
			return false, nil
		}
		if meta && g.keyed && !g.dup.Load() {
			switch groupTruth(p, g.service, g.severity) {
			case truthNone:
				return false, nil
			case truthAll:
				value := func(f string) string {
					if f == fieldService {
						return g.service
					}
					return g.severity
				}
				if g.minTs >= start && g.maxTs <= end {
					stats.meta++
					if cg := bucket(value); cg != nil {
						cg.count += uint64(g.count)
					}
					return false, nil
				}
				if read >= lim.records {
					exact = false
					return false, nil
				}
				read += g.count
				stats.times++
				n, err := s.countInRange(ctx, g, start, end)
				if n > 0 {
					if cg := bucket(value); cg != nil {
						cg.count += n
					}
				}
				return false, err
			}
		}
		if read >= lim.records {
			// Past the budget, groups counted from metadata still are.
			exact = false
			return false, nil
		}
		read += g.count
		stats.read++
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
			cg := bucket(func(f string) string { return groupValue(v, f) })
			if cg == nil {
				return nil
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

// countInRange counts the records of g stamped within [start, end], by
// their timestamps alone: for a group whose every record matches and none
// of which has a copy elsewhere, that is the count a read would make. The
// timestamps are sorted once per cached block, as the bars on either side
// of an edge both count the group that straddles it.
func (s *Store) countInRange(ctx context.Context, g *groupMeta, start, end int64) (uint64, error) {
	h, err := s.blockHeader(ctx, s.logs.groupTable, s.logs.magic, g.id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // deleted by retention, as eachRecord has it
	}
	if err != nil {
		return 0, err
	}
	ts := h.times.Load()
	if ts == nil {
		sorted := make([]int64, len(h.offsets))
		for i := range h.offsets {
			// The timestamp a view has (see logView and unixTime).
			t, ok := logTimestamp(h.recordBytes(i))
			if !ok {
				return 0, fmt.Errorf("decode record %d of group %d: %w", i, g.id, errCorrupt)
			}
			sorted[i] = t
		}
		slices.Sort(sorted)
		h.times.Store(&sorted)
		ts = &sorted
	}
	times := *ts
	lo := sort.Search(len(times), func(i int) bool { return times[i] >= start })
	hi := sort.Search(len(times), func(i int) bool { return times[i] > end })
	return uint64(max(hi-lo, 0)), nil
}

// truth is what a query says of all the records of a group.
type truth int8

const (
	truthSome truth = iota // some may match, some not: read them
	truthNone              // none matches
	truthAll               // every one matches
)

// metaFields reports whether each field is one that every record of a log
// group has the same value of (see groupKey): service and severity.
func metaFields(fields []string) bool {
	for _, f := range fields {
		if f != fieldService && f != fieldSeverity {
			return false
		}
	}
	return true
}

// metaCountable reports whether p only asks what groupTruth can answer from
// a group's service and severity: everything, service:x and severity:x,
// joined by AND, OR and NOT. Anything else (words, other fields, ranges,
// wildcards, field:*) is read.
func metaCountable(p pred) bool {
	switch p := p.(type) {
	case matchAll:
		return true
	case *termPred:
		return p.value != "" && (p.field == fieldService || p.field == fieldSeverity)
	case notPred:
		return metaCountable(p.p)
	case *boolPred:
		for _, k := range p.kids {
			if !metaCountable(k) {
				return false
			}
		}
		return true
	}
	return false
}

// groupTruth answers p, which metaCountable accepts, for every record of a
// log group of the given service and severity.
//
// A record's view has its service as the one value of service, so
// service:x holds for all of a group's records or for none. Its severity
// values are its severity text (normSeverity) and, when it differs, the
// name of its severity number's range, and the group's severity is that
// name or, without one, the text: so severity:x holds for every record of
// a group of severity x, but also for records of other groups whose text
// is x (ERROR with the number of a warning): those are read.
func groupTruth(p pred, service, severity string) truth {
	switch p := p.(type) {
	case matchAll:
		return truthAll
	case *termPred:
		switch {
		case p.field == fieldService && p.value == service:
			return truthAll
		case p.field == fieldService:
			return truthNone
		case p.value == severity:
			return truthAll
		}
		return truthSome
	case notPred:
		switch groupTruth(p.p, service, severity) {
		case truthAll:
			return truthNone
		case truthNone:
			return truthAll
		}
		return truthSome
	case *boolPred:
		// AND: none if one says none, all if all say all; OR the other
		// way round.
		decisive, other := truthNone, truthAll
		if p.or {
			decisive, other = truthAll, truthNone
		}
		out := other
		for _, k := range p.kids {
			switch groupTruth(k, service, severity) {
			case decisive:
				return decisive
			case truthSome:
				out = truthSome
			}
		}
		return out
	}
	return truthSome
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
