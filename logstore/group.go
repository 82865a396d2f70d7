package logstore

import (
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/cespare/xxhash/v2"
)

// A group is the unit the index knows: up to maxGroupRecords records of one
// day and one service (and, for logs, one severity) from one indexing step.
// Its bleve document holds the distinct words and low-cardinality values of
// its records, their numeric values, the time span and the locations of the
// records; high-cardinality values (anything with a digit: ids, numbers,
// addresses) go into a bloom filter stored with the document instead of the
// term dictionary. A search finds candidate groups with bleve, drops those
// whose bloom rules a value out, then matches each record exactly. This is
// what keeps the index a small fraction of the data: words are shared by the
// records of a group, and a random id costs about 1.25 bytes in a bloom
// filter instead of its length in a term dictionary.

const (
	maxGroupRecords = 512

	fieldFields     = "_fields"
	fieldMinTs      = "min_ts"
	fieldMaxTs      = "max_ts"
	fieldFirstBlock = "first_block"
	fieldDurMin     = "duration_min"
	fieldDurMax     = "duration_max"

	bloomBitsPerItem = 10
	bloomHashes      = 7
)

// bloomHash is the hash of a field's value in a group's bloom filter.
func bloomHash(field, value string) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(field)
	d.Write([]byte{0})
	d.WriteString(value)
	return d.Sum64()
}

// The bloom filters are blocked (Putze et al.): each value sets its bits in
// one 64-byte block, so testing a value against a stored filter reads 64
// bytes, one read per group, instead of one per bit.
const bloomBlock = 64 // bytes

// bloomProbe is where a hash lands in a filter of n blocks: the block, and
// the bits within it.
func bloomProbe(h uint64, n uint64) (blk uint64, pos [bloomHashes]uint16) {
	blk = (h >> 32) % n
	x := uint32(h)
	y := uint32(bits.RotateLeft64(h*0x9e3779b97f4a7c15, 17)) | 1
	for i := range pos {
		pos[i] = uint16((x + uint32(i)*y) % (bloomBlock * 8))
	}
	return blk, pos
}

// bloomBuild encodes a bloom filter over hashes.
func bloomBuild(hashes map[uint64]struct{}) []byte {
	if len(hashes) == 0 {
		return nil
	}
	n := uint64((len(hashes)*bloomBitsPerItem + bloomBlock*8 - 1) / (bloomBlock * 8))
	out := make([]byte, n*bloomBlock)
	for h := range hashes {
		blk, pos := bloomProbe(h, n)
		b := out[blk*bloomBlock : (blk+1)*bloomBlock]
		for _, p := range pos {
			b[p/8] |= 1 << (p % 8)
		}
	}
	return out
}

// bloomBlockHas tests the bits of pos in one block.
func bloomBlockHas(b []byte, pos [bloomHashes]uint16) bool {
	for _, p := range pos {
		if b[p/8]&(1<<(p%8)) == 0 {
			return false
		}
	}
	return true
}

// group accumulates the records of one group while an indexing step runs.
type group struct {
	day    int64
	key    groupKey
	recs   *regrouper
	n      int
	minTs  int64
	maxTs  int64
	words  map[string]map[string]struct{}
	nums   map[string]map[float64]struct{}
	hashes map[uint64]struct{}
	fields map[string]struct{}
	durMin float64
	durMax float64
	// dup: a record of the group may have a copy (see dupTracker).
	dup bool
}

func newGroup(day int64, magic byte) *group {
	return &group{
		day:    day,
		recs:   newRegrouper(magic),
		words:  map[string]map[string]struct{}{},
		nums:   map[string]map[float64]struct{}{},
		hashes: map[uint64]struct{}{},
		fields: map[string]struct{}{},
		durMin: math.Inf(1),
		durMax: math.Inf(-1),
	}
}

func (g *group) word(field, v string) {
	if inBloom(field, v) {
		g.hashes[bloomHash(field, v)] = struct{}{}
		return
	}
	set := g.words[field]
	if set == nil {
		set = map[string]struct{}{}
		g.words[field] = set
	}
	set[v] = struct{}{}
}

// add puts record i of h, seen through its view, into the group.
func (g *group) add(v *view, h *blockHeader, i int) error {
	if err := g.recs.add(h, i); err != nil {
		return err
	}
	if g.n == 0 || v.ts < g.minTs {
		g.minTs = v.ts
	}
	if g.n == 0 || v.ts > g.maxTs {
		g.maxTs = v.ts
	}
	g.n++
	if v.body != "" {
		g.fields[fieldBody] = struct{}{}
		for _, t := range v.bodyTokens() {
			g.word(fieldBody, t)
		}
	}
	for f, vals := range v.strs {
		g.fields[f] = struct{}{}
		for _, s := range vals {
			g.word(f, normValue(f, s))
		}
	}
	for f, vals := range v.nums {
		g.fields[f] = struct{}{}
		if f == fieldDuration {
			for _, x := range vals {
				g.durMin = min(g.durMin, x)
				g.durMax = max(g.durMax, x)
			}
			continue
		}
		set := g.nums[f]
		if set == nil {
			set = map[float64]struct{}{}
			g.nums[f] = set
		}
		for _, x := range vals {
			set[x] = struct{}{}
		}
	}
	return nil
}

// document builds the group's bleve document.
func (g *group) document(id string, firstBlock int64, ws, kw analysis.Analyzer) *document.Document {
	doc := document.NewDocument(id)
	addKw := func(field, v string) {
		doc.AddField(document.NewTextFieldCustom(field, nil, []byte(v), optKeyword, kw))
	}
	for f := range g.fields {
		addKw(fieldFields, f)
	}
	for f, set := range g.words {
		if f == fieldBody {
			words := make([]string, 0, len(set))
			for w := range set {
				words = append(words, w)
			}
			doc.AddField(document.NewTextFieldCustom(fieldBody, nil, []byte(strings.Join(words, " ")), optKeyword, ws))
			continue
		}
		for v := range set {
			addKw(f, v)
		}
	}
	for f, set := range g.nums {
		for x := range set {
			doc.AddField(document.NewNumericFieldWithIndexingOptions(f, nil, x, optNumeric))
		}
	}
	if g.durMax >= g.durMin {
		doc.AddField(document.NewNumericFieldWithIndexingOptions(fieldDurMin, nil, g.durMin, optNumeric))
		doc.AddField(document.NewNumericFieldWithIndexingOptions(fieldDurMax, nil, g.durMax, optNumeric))
	}
	for _, t := range []struct {
		name string
		ns   int64
	}{{fieldMinTs, g.minTs}, {fieldMaxTs, g.maxTs}} {
		if f, err := document.NewDateTimeFieldWithIndexingOptions(t.name, nil, time.Unix(0, t.ns), time.RFC3339Nano, optTime); err == nil {
			doc.AddField(f)
		}
	}
	doc.AddField(document.NewNumericFieldWithIndexingOptions(fieldFirstBlock, nil, float64(firstBlock), optNumeric))
	return doc
}
