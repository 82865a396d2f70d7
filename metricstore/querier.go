package metricstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// sqlBatch is how many ids go into one IN (...) list.
const sqlBatch = 500

// Querier returns a querier over samples between mint and maxt
// (milliseconds, inclusive).
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

func (q *querier) Close() error { return nil }

// seriesRef is a selected series before its chunks are read.
type seriesRef struct {
	id   uint64
	lset labels.Labels
	mem  *memSeries // nil when the head does not hold it
}

// Select returns the series matching ms with samples in the hinted range.
// Equality matchers become postings lookups in SQL, regular expressions
// lookups of the label's matching values when there is no equality; every
// matcher is then checked on the series' labels, and the time range bounds
// the chunk query.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil && (hints.Start != 0 || hints.End != 0) {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	refs, err := q.s.selectSeries(ctx, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	set, err := q.s.readChunks(ctx, refs, mint, maxt, hints != nil && hints.Func == "series")
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	if hints != nil && hints.Limit > 0 && len(set) > hints.Limit {
		set = set[:hints.Limit]
	}
	q.s.m.seriesSelected.Add(len(set))
	return &seriesSet{list: set, i: -1}
}

// selectSeries returns the series matching ms, sorted by labels.
func (s *Store) selectSeries(ctx context.Context, ms []*labels.Matcher) ([]seriesRef, error) {
	ids, err := s.postings(ctx, ms)
	if err != nil {
		return nil, err
	}
	refs, err := s.seriesLabels(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := refs[:0]
	for _, r := range refs {
		ok := true
		for _, m := range ms {
			if !m.Matches(r.lset.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].lset, out[j].lset) < 0 })
	return out, nil
}

// postings returns candidate series ids, sorted: a superset of the series
// matching ms, which selectSeries then checks label by label. Reading a
// large postings list costs more than checking labels, so only the
// smallest one or two lists of equality matchers are read (their sizes
// estimated with a capped count), or, without equality matchers, the
// values a regular expression matches.
func (s *Store) postings(ctx context.Context, ms []*labels.Matcher) ([]uint64, error) {
	type candidate struct {
		pairs []uint32
		size  int
	}
	var eqs, others []candidate
	for _, m := range ms {
		if m.Matches("") {
			continue // a series without the label matches: check later
		}
		if m.Type == labels.MatchEqual {
			id, ok := s.dict.lookup(m.Name, m.Value)
			if !ok {
				return nil, nil
			}
			n, err := s.postingsSize(ctx, id)
			if err != nil {
				return nil, err
			}
			eqs = append(eqs, candidate{pairs: []uint32{id}, size: n})
			continue
		}
		pairs := s.dict.matching(m)
		if len(pairs) == 0 {
			return nil, nil
		}
		others = append(others, candidate{pairs: pairs, size: len(pairs) * postingsSizeCap})
	}
	cands := eqs
	if len(cands) == 0 {
		cands = others
	}
	if len(cands) == 0 {
		return s.allSeries(ctx)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].size < cands[j].size })
	out, err := s.postingsOf(ctx, cands[0].pairs)
	if err != nil {
		return nil, err
	}
	if len(cands) > 1 && cands[1].size <= 4*cands[0].size {
		second, err := s.postingsOf(ctx, cands[1].pairs)
		if err != nil {
			return nil, err
		}
		out = intersect(out, second)
	}
	return out, nil
}

// postingsSizeCap bounds the count postingsSize makes.
const postingsSizeCap = 20000

// postingsSize counts the series having pair, up to postingsSizeCap.
func (s *Store) postingsSize(ctx context.Context, pair uint32) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM postings WHERE pair = ? LIMIT ?)", int64(pair), postingsSizeCap).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count postings: %w", err)
	}
	return n, nil
}

func intersect(a, b []uint64) []uint64 {
	out := a[:0:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// idArgs turns ids into arguments of an IN (...) list.
func idArgs[T uint32 | uint64](ids []T) []any {
	args := make([]any, len(ids), len(ids)+2)
	for i, id := range ids {
		args[i] = int64(id)
	}
	return args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// postingsOf returns the sorted ids of the series having any of pairs.
func (s *Store) postingsOf(ctx context.Context, pairs []uint32) ([]uint64, error) {
	var out []uint64
	for len(pairs) > 0 {
		n := min(len(pairs), sqlBatch)
		args := idArgs(pairs[:n])
		pairs = pairs[n:]
		ids, err := scanColumn[uint64](ctx, s.r, "SELECT series FROM postings WHERE pair IN ("+placeholders(n)+")", args...)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (s *Store) allSeries(ctx context.Context) ([]uint64, error) {
	return scanColumn[uint64](ctx, s.r, "SELECT id FROM series ORDER BY id")
}

// seriesLabels returns the labels of ids, from the head where it holds them.
func (s *Store) seriesLabels(ctx context.Context, ids []uint64) ([]seriesRef, error) {
	out := make([]seriesRef, 0, len(ids))
	var missing []uint64
	s.head.mu.RLock()
	for _, id := range ids {
		if ms := s.head.byID[id]; ms != nil {
			out = append(out, seriesRef{id: id, lset: ms.lset, mem: ms})
		} else {
			missing = append(missing, id)
		}
	}
	s.head.mu.RUnlock()
	b := labels.NewScratchBuilder(16)
	for len(missing) > 0 {
		n := min(len(missing), sqlBatch)
		args := idArgs(missing[:n])
		missing = missing[n:]
		rows, err := s.r.QueryContext(ctx, "SELECT id, pairs FROM series WHERE id IN ("+placeholders(n)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read series: %w", err)
		}
		for rows.Next() {
			var id int64
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			pairs, err := decodePairs(raw)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, seriesRef{id: uint64(id), lset: s.dict.labels(&b, pairs)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// memChunk is a chunk read for a query.
type memChunk struct {
	chunk      chunkenc.Chunk
	minT, maxT int64
}

// readChunks reads the chunks of refs overlapping [mint, maxt]: the head's
// first, then the table's, so a chunk a checkpoint moves in between is seen
// at least once. Series with no chunk in the range are left out. With
// labelsOnly, chunk contents are not kept.
func (s *Store) readChunks(ctx context.Context, refs []seriesRef, mint, maxt int64, labelsOnly bool) ([]*series, error) {
	out := make([]*series, len(refs))
	byID := make(map[uint64]*series, len(refs))
	inMemory := map[uint64]struct{}{} // numbers of chunks read from the head
	for i, r := range refs {
		sr := &series{lset: r.lset}
		out[i] = sr
		byID[r.id] = sr
		if r.mem == nil {
			continue
		}
		ms := r.mem
		ms.mu.Lock()
		add := func(c *headChunk, open bool) {
			if c == nil || c.maxT < mint || c.minT > maxt {
				if c != nil && c.savedOK {
					inMemory[c.n] = struct{}{}
				}
				return
			}
			if c.savedOK {
				inMemory[c.n] = struct{}{}
			}
			chk := c.chunk
			if open && !labelsOnly {
				// The writer keeps appending to an open chunk's bytes.
				b := slices.Clone(chk.Bytes())
				var err error
				if chk, err = chunkenc.FromData(chk.Encoding(), b); err != nil {
					return
				}
			}
			sr.chunks = append(sr.chunks, memChunk{chunk: chk, minT: c.minT, maxT: c.maxT})
		}
		for _, c := range ms.frozen {
			add(c, false)
		}
		add(ms.head, true)
		add(ms.ooo, true)
		ms.mu.Unlock()
	}
	for start := 0; start < len(refs); start += sqlBatch {
		end := min(start+sqlBatch, len(refs))
		args := make([]any, 0, end-start+2)
		for _, r := range refs[start:end] {
			args = append(args, int64(r.id))
		}
		args = append(args, mint, maxt)
		cols := "series, n, min_t, max_t, enc, data"
		if labelsOnly {
			cols = "series, n, min_t, max_t, enc, NULL"
		}
		rows, err := s.r.QueryContext(ctx, "SELECT "+cols+" FROM chunks WHERE series IN ("+placeholders(end-start)+") AND max_t >= ? AND min_t <= ?", args...)
		if err != nil {
			return nil, fmt.Errorf("read chunks: %w", err)
		}
		for rows.Next() {
			var id, n, minT, maxT int64
			var enc int
			var data []byte
			if err := rows.Scan(&id, &n, &minT, &maxT, &enc, &data); err != nil {
				rows.Close()
				return nil, err
			}
			if _, ok := inMemory[uint64(n)]; ok {
				continue
			}
			sr := byID[uint64(id)]
			if labelsOnly {
				sr.chunks = append(sr.chunks, memChunk{minT: minT, maxT: maxT})
				continue
			}
			chk, err := chunkenc.FromData(chunkenc.Encoding(enc), data)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("chunk %d of series %d: %w", n, id, err)
			}
			sr.chunks = append(sr.chunks, memChunk{chunk: chk, minT: minT, maxT: maxT})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	kept := out[:0]
	for _, sr := range out {
		if len(sr.chunks) > 0 {
			sort.Slice(sr.chunks, func(i, j int) bool { return sr.chunks[i].minT < sr.chunks[j].minT })
			kept = append(kept, sr)
		}
	}
	return kept, nil
}

// series is one selected series with its chunks, sorted by start.
type series struct {
	lset   labels.Labels
	chunks []memChunk
}

func (s *series) Labels() labels.Labels { return s.lset }

// Iterator iterates the series' samples in time order, one per timestamp
// (chunks may overlap after out-of-order writes or re-delivery).
func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.chunks) == 1 {
		return s.chunks[0].chunk.Iterator(it)
	}
	iterables := make([]chunkenc.Iterable, len(s.chunks))
	for i := range s.chunks {
		iterables[i] = s.chunks[i].chunk
	}
	return storage.ChainSampleIteratorFromIterables(nil, iterables)
}

// seriesSet is a Select result.
type seriesSet struct {
	list []*series
	i    int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series                { return s.list[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// LabelNames returns the label names of the series matching ms (all series
// when ms is empty), sorted.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, err := q.strings(ctx, ms, func(lset labels.Labels, add func(string)) {
		lset.Range(func(l labels.Label) { add(l.Name) })
	}, "SELECT DISTINCT name FROM label_pairs ORDER BY name")
	return limit(names, hints), nil, err
}

// LabelValues returns the values of label name on the series matching ms
// (all series when ms is empty), sorted.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	values, err := q.strings(ctx, ms, func(lset labels.Labels, add func(string)) {
		if v := lset.Get(name); v != "" {
			add(v)
		}
	}, "SELECT value FROM label_pairs WHERE name = ? ORDER BY value", name)
	return limit(values, hints), nil, err
}

// strings answers LabelNames and LabelValues: without matchers from the
// label pair dictionary (query, sorted), else by collecting what each
// matching series' labels give, sorted and without repeats.
func (q *querier) strings(ctx context.Context, ms []*labels.Matcher, collect func(labels.Labels, func(string)), query string, args ...any) ([]string, error) {
	if len(ms) == 0 {
		return scanColumn[string](ctx, q.s.r, query, args...)
	}
	set, err := q.matching(ctx, ms)
	if err != nil {
		return nil, err
	}
	seen := map[string]struct{}{}
	for _, sr := range set {
		collect(sr.lset, func(v string) { seen[v] = struct{}{} })
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// queryer is a database or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanColumn runs a query of one column and returns its values.
func scanColumn[T any](ctx context.Context, db queryer, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query metric store: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// matching returns the series matching ms with data in the querier's range.
func (q *querier) matching(ctx context.Context, ms []*labels.Matcher) ([]*series, error) {
	refs, err := q.s.selectSeries(ctx, ms)
	if err != nil {
		return nil, err
	}
	return q.s.readChunks(ctx, refs, q.mint, q.maxt, true)
}

func limit(s []string, hints *storage.LabelHints) []string {
	if hints != nil && hints.Limit > 0 && len(s) > hints.Limit {
		return s[:hints.Limit]
	}
	return s
}

// ExemplarQuerier returns a querier over stored exemplars.
func (s *Store) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	return &exemplarQuerier{s: s, ctx: ctx}, nil
}

type exemplarQuerier struct {
	s   *Store
	ctx context.Context
}

// Select returns the exemplars between start and end of the series matching
// any of the matcher sets.
func (q *exemplarQuerier) Select(start, end int64, matchers ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	seen := map[uint64]bool{}
	var refs []seriesRef
	for _, ms := range matchers {
		rs, err := q.s.selectSeries(q.ctx, ms)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if !seen[r.id] {
				seen[r.id] = true
				refs = append(refs, r)
			}
		}
	}
	var out []exemplar.QueryResult
	for _, r := range refs {
		rows, err := q.s.r.QueryContext(q.ctx, "SELECT t, value, labels FROM exemplars WHERE series = ? AND t >= ? AND t <= ? ORDER BY t", int64(r.id), start, end)
		if err != nil {
			return nil, fmt.Errorf("read exemplars: %w", err)
		}
		res := exemplar.QueryResult{SeriesLabels: r.lset}
		for rows.Next() {
			var e exemplar.Exemplar
			var raw []byte
			if err := rows.Scan(&e.Ts, &e.Value, &raw); err != nil {
				rows.Close()
				return nil, err
			}
			e.HasTs = true
			e.Labels = decodeExemplarLabels(raw)
			res.Exemplars = append(res.Exemplars, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(res.Exemplars) > 0 {
			out = append(out, res)
		}
	}
	return out, nil
}
