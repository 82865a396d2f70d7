package logstore

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// Counting log records from a group's metadata (CountLogs) must agree with
// reading them, and a read counts a re-delivered record once (logMatcher
// drops a record whose digest it has seen). A group's count, though,
// includes every copy it holds. So the indexer marks a group (groupMeta.dup)
// once any record of it may share its digest with another stored record, in
// the same group or another, and only unmarked groups are counted from
// their metadata.
//
// Copies share their digest, so their resource (hence service), severity
// and timestamp: they are filed under the same service and severity, and
// each group that holds one spans its timestamp. The digests of the groups
// indexed last (up to dupRecent records) are kept in memory. A record whose
// timestamp falls within the span of an older group of its service and
// severity (a late or replayed record; a steady stream is newer than the
// groups that left memory) is looked for in that group's block, up to
// maxLateReads blocks a step; past them, both groups are marked unread.
// Marks are never wrong the other way: a group may be marked without
// holding a copy, never hold one unmarked.

// dupRecent bounds the digests kept in memory (~30 bytes each): the
// records of the groups indexed last.
const dupRecent = 1 << 18

// dupKey is what copies of a record share besides their timestamp.
type dupKey struct{ service, severity string }

// span is a range of timestamps, both ends inclusive; empty when lo > hi.
type span struct{ lo, hi int64 }

var emptySpan = span{lo: math.MaxInt64, hi: math.MinInt64}

func (s span) has(ts int64) bool { return ts >= s.lo && ts <= s.hi }

func (s span) with(lo, hi int64) span { return span{min(s.lo, lo), max(s.hi, hi)} }

// dupTracker is the indexer's memory of the digests it has stored. It
// belongs to the logs indexer's goroutine.
type dupTracker struct {
	// first maps the digest of each record of the recent groups to the
	// group that holds its first copy.
	first map[uint64]*groupMeta
	// recent are the groups whose digests are in first, oldest first (in
	// id order), with the digests each added.
	recent []recentGroup
	held   int
	// cold is the span of the groups that are not recent (stored before
	// this process started, or indexed before the recent ones) per
	// service and severity; coldAny that of groups whose service and
	// severity were not recorded (stored by an older lookout).
	cold    map[dupKey]span
	coldAny span
}

type recentGroup struct {
	g       *groupMeta
	digests []uint64
}

// newDupTracker starts a tracker with the groups loaded from disk, all of
// them cold.
func newDupTracker(loaded []*groupMeta) *dupTracker {
	t := &dupTracker{first: map[uint64]*groupMeta{}, cold: map[dupKey]span{}, coldAny: emptySpan}
	for _, g := range loaded {
		t.chill(g)
	}
	return t
}

// chill adds a group that is not recent to the cold spans.
func (t *dupTracker) chill(g *groupMeta) {
	if !g.keyed {
		t.coldAny = t.coldAny.with(g.minTs, g.maxTs)
		return
	}
	k := dupKey{g.service, g.severity}
	sp, ok := t.cold[k]
	if !ok {
		sp = emptySpan
	}
	t.cold[k] = sp.with(g.minTs, g.maxTs)
}

// hot reports whether g is one of the recent groups, whose digests are in
// first: recent groups are the newest, so have the highest ids.
func (t *dupTracker) hot(g *groupMeta) bool {
	return len(t.recent) > 0 && g.id >= t.recent[0].g.id
}

// dupStep checks the records of one indexing step. Nothing reaches the
// tracker until commit, after the step's groups are stored: a step that
// fails is indexed again.
type dupStep struct {
	t       *dupTracker
	first   map[uint64]*group // digests first seen in this step
	digests map[*group][]uint64
	late    map[dupKey][]lateRecord
	// marked are stored groups found to hold a copy, each once.
	marked []*groupMeta
	seen   map[*groupMeta]bool
}

// lateRecord is a record whose timestamp falls within a cold span.
type lateRecord struct {
	ts int64
	d  uint64
	g  *group
}

func (t *dupTracker) step() *dupStep {
	return &dupStep{
		t:       t,
		first:   map[uint64]*group{},
		digests: map[*group][]uint64{},
		late:    map[dupKey][]lateRecord{},
		seen:    map[*groupMeta]bool{},
	}
}

// add checks a record with digest d and timestamp ts just put into g.
func (s *dupStep) add(g *group, k dupKey, ts int64, d uint64) {
	if prev, ok := s.first[d]; ok {
		prev.dup, g.dup = true, true
		return
	}
	if prev, ok := s.t.first[d]; ok {
		s.mark(prev)
		g.dup = true
		return
	}
	s.first[d] = g
	s.digests[g] = append(s.digests[g], d)
	if sp, ok := s.t.cold[k]; (ok && sp.has(ts)) || s.t.coldAny.has(ts) {
		s.late[k] = append(s.late[k], lateRecord{ts, d, g})
	}
}

func (s *dupStep) mark(g *groupMeta) {
	if !g.dup.Load() && !s.seen[g] {
		s.seen[g] = true
		s.marked = append(s.marked, g)
	}
}

// coldSpanning returns the cold groups of groups (the stored groups; the
// recent ones are skipped) that span a late record of their service and
// severity, or of any for a group without.
func (s *dupStep) coldSpanning(groups map[int64]*groupMeta) []*groupMeta {
	if len(s.late) == 0 {
		return nil
	}
	for _, recs := range s.late {
		slices.SortFunc(recs, func(a, b lateRecord) int { return cmp.Compare(a.ts, b.ts) })
	}
	var out []*groupMeta
	for _, g := range groups {
		if s.t.hot(g) {
			continue
		}
		if !g.keyed {
			for _, recs := range s.late {
				if len(spanned(recs, g)) > 0 {
					out = append(out, g)
					break
				}
			}
		} else if len(spanned(s.late[dupKey{g.service, g.severity}], g)) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// spanned returns the records of recs, sorted by timestamp, that g spans.
func spanned(recs []lateRecord, g *groupMeta) []lateRecord {
	i := sort.Search(len(recs), func(i int) bool { return recs[i].ts >= g.minTs })
	j := sort.Search(len(recs), func(i int) bool { return recs[i].ts > g.maxTs })
	return recs[i:max(i, j)]
}

// maxLateReads bounds the cold groups a step reads to find copies of its
// late records; the groups past it are taken to hold some.
const maxLateReads = 64

// resolveLate reads the digests of each of the cold groups cands (see
// coldSpanning) and marks the group and its late records' groups if it
// holds a copy of one. A group that cannot be read, or past maxLateReads,
// is taken to hold copies of every late record it spans. A group retention
// has deleted has none.
func (s *dupStep) resolveLate(cands []*groupMeta, digests func(*groupMeta) ([]uint64, error)) {
	reads := 0
	for _, g := range cands {
		var recs []lateRecord
		if g.keyed {
			recs = spanned(s.late[dupKey{g.service, g.severity}], g)
		} else {
			for _, rs := range s.late {
				recs = append(recs, spanned(rs, g)...)
			}
		}
		var held map[uint64]bool
		if reads < maxLateReads {
			reads++
			if ds, err := digests(g); err == nil {
				held = make(map[uint64]bool, len(ds))
				for _, d := range ds {
					held[d] = true
				}
			}
		}
		found := false
		for _, r := range recs {
			if held == nil || held[r.d] {
				r.g.dup, found = true, true
			}
		}
		if found {
			s.mark(g)
		}
	}
}

// markedIDs returns the ids of the stored groups to mark in the database.
func (s *dupStep) markedIDs() []int64 {
	ids := make([]int64, len(s.marked))
	for i, g := range s.marked {
		ids[i] = g.id
	}
	return ids
}

// commit applies the step once its groups are stored as metas (metas[i]
// is done[i]) and before they are visible to queries: a query that sees a
// group of this step also sees the marks it put on older groups.
func (s *dupStep) commit(done []*group, metas []*groupMeta) {
	for _, g := range s.marked {
		g.dup.Store(true)
	}
	t := s.t
	for i, g := range done {
		m := metas[i]
		m.dup.Store(g.dup)
		ds := s.digests[g]
		for _, d := range ds {
			t.first[d] = m
		}
		t.recent = append(t.recent, recentGroup{g: m, digests: ds})
		t.held += len(ds)
	}
	for t.held > dupRecent && len(t.recent) > 1 {
		old := t.recent[0]
		t.recent[0] = recentGroup{}
		t.recent = t.recent[1:]
		t.held -= len(old.digests)
		for _, d := range old.digests {
			if t.first[d] == old.g {
				delete(t.first, d)
			}
		}
		t.chill(old.g)
	}
}
