package logstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	index "github.com/blevesearch/bleve_index_api"
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
	fieldBloom      = "bloom"
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

// bloomBuild encodes a bloom filter over hashes: 64-bit words, little endian.
func bloomBuild(hashes map[uint64]struct{}) []byte {
	if len(hashes) == 0 {
		return nil
	}
	words := (len(hashes)*bloomBitsPerItem + 63) / 64
	m := uint64(words * 64)
	bitset := make([]uint64, words)
	for h := range hashes {
		h1, h2 := h, bits.RotateLeft64(h, 32)|1
		for i := uint64(0); i < bloomHashes; i++ {
			b := (h1 + i*h2) % m
			bitset[b/64] |= 1 << (b % 64)
		}
	}
	out := make([]byte, 8*words)
	for i, w := range bitset {
		binary.LittleEndian.PutUint64(out[i*8:], w)
	}
	return out
}

// bloomHas reports whether h may be in the encoded filter; an empty filter
// holds nothing.
func bloomHas(f []byte, h uint64) bool {
	words := len(f) / 8
	if words == 0 {
		return false
	}
	m := uint64(words * 64)
	h1, h2 := h, bits.RotateLeft64(h, 32)|1
	for i := uint64(0); i < bloomHashes; i++ {
		b := (h1 + i*h2) % m
		if binary.LittleEndian.Uint64(f[(b/64)*8:])&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// group accumulates the records of one group while an indexing step runs.
type group struct {
	day    int64
	locs   []uint64
	minTs  int64
	maxTs  int64
	words  map[string]map[string]struct{}
	nums   map[string]map[float64]struct{}
	hashes map[uint64]struct{}
	fields map[string]struct{}
	durMin float64
	durMax float64
	spans  bool
}

func newGroup(day int64, spans bool) *group {
	return &group{
		day:    day,
		words:  map[string]map[string]struct{}{},
		nums:   map[string]map[float64]struct{}{},
		hashes: map[uint64]struct{}{},
		fields: map[string]struct{}{},
		durMin: math.Inf(1),
		durMax: math.Inf(-1),
		spans:  spans,
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

// add puts one record, seen through its view, into the group.
func (g *group) add(v *view, text analysis.Analyzer, loc uint64) {
	if len(g.locs) == 0 || v.ts < g.minTs {
		g.minTs = v.ts
	}
	if len(g.locs) == 0 || v.ts > g.maxTs {
		g.maxTs = v.ts
	}
	g.locs = append(g.locs, loc)
	if v.body != "" {
		g.fields[fieldBody] = struct{}{}
		for _, t := range tokens(text, v.body) {
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
	doc.AddField(document.NewTextFieldWithIndexingOptions(fieldLoc, nil, encodeLocs(g.minTs, g.maxTs, g.locs), index.StoreField))
	if b := bloomBuild(g.hashes); b != nil {
		doc.AddField(document.NewTextFieldWithIndexingOptions(fieldBloom, nil, b, index.StoreField))
	}
	return doc
}

// encodeLocs stores a group's time span and record locations compactly:
// varint times, then (block delta, record index) pairs in block order.
func encodeLocs(minTs, maxTs int64, locs []uint64) []byte {
	slices.Sort(locs)
	b := binary.AppendVarint(nil, minTs)
	b = binary.AppendVarint(b, maxTs)
	b = binary.AppendUvarint(b, uint64(len(locs)))
	var prev int64
	for _, l := range locs {
		blk, i := splitLoc(l)
		b = binary.AppendUvarint(b, uint64(blk-prev))
		b = binary.AppendUvarint(b, uint64(i))
		prev = blk
	}
	return b
}

// groupRef is a group as a search sees it.
type groupRef struct {
	minTs, maxTs int64
	locs         []uint64
	bloom        []byte
}

func decodeLocs(b []byte) (groupRef, error) {
	d := decoder{buf: b}
	g := groupRef{minTs: d.varint(), maxTs: d.varint()}
	n := d.count()
	g.locs = make([]uint64, 0, n)
	var blk int64
	for i := 0; i < n && d.err == nil; i++ {
		blk += int64(d.uvarint())
		g.locs = append(g.locs, makeLoc(blk, int(d.uvarint())))
	}
	if d.err != nil {
		return groupRef{}, fmt.Errorf("group locations: %w", d.err)
	}
	return g, nil
}
