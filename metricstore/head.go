package metricstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// samplesPerChunk is where a float chunk is cut, as in Prometheus' head.
const samplesPerChunk = 120

// histogramChunkBytes is where a histogram chunk is cut.
const histogramChunkBytes = 1024

// dict is the label pair dictionary: every distinct (name, value) gets a
// dense id, so series rows and postings store small integers.
type dict struct {
	mu     sync.RWMutex
	ids    map[labels.Label]uint32
	pairs  []labels.Label      // by id; pairs[0] is unused
	byName map[string][]uint32 // pair ids by label name
}

func newDict() *dict {
	return &dict{ids: map[labels.Label]uint32{}, pairs: make([]labels.Label, 1), byName: map[string][]uint32{}}
}

func (d *dict) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT id, name, value FROM label_pairs ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var l labels.Label
		if err := rows.Scan(&id, &l.Name, &l.Value); err != nil {
			return err
		}
		for int64(len(d.pairs)) <= id {
			d.pairs = append(d.pairs, labels.Label{})
		}
		d.pairs[id] = l
		d.ids[l] = uint32(id)
		d.byName[l.Name] = append(d.byName[l.Name], uint32(id))
	}
	return rows.Err()
}

// id returns the pair's id, allocating one if it is new.
func (d *dict) id(l labels.Label) uint32 {
	d.mu.RLock()
	id, ok := d.ids[l]
	d.mu.RUnlock()
	if ok {
		return id
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[l]; ok {
		return id
	}
	id = uint32(len(d.pairs))
	d.pairs = append(d.pairs, l)
	d.ids[l] = id
	d.byName[l.Name] = append(d.byName[l.Name], id)
	return id
}

// lookup returns the pair's id if it exists.
func (d *dict) lookup(name, value string) (uint32, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.ids[labels.Label{Name: name, Value: value}]
	return id, ok
}

// matching returns the ids of the pairs of label name whose value m
// matches.
func (d *dict) matching(m *labels.Matcher) []uint32 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []uint32
	for _, id := range d.byName[m.Name] {
		if m.Matches(d.pairs[id].Value) {
			out = append(out, id)
		}
	}
	return out
}

func (d *dict) pair(id uint32) labels.Label {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if int(id) >= len(d.pairs) {
		return labels.Label{}
	}
	return d.pairs[id]
}

// labels decodes a series row's pair ids.
func (d *dict) labels(b *labels.ScratchBuilder, pairs []uint32) labels.Labels {
	b.Reset()
	d.mu.RLock()
	for _, id := range pairs {
		if int(id) < len(d.pairs) {
			l := d.pairs[id]
			b.Add(l.Name, l.Value)
		}
	}
	d.mu.RUnlock()
	return b.Labels()
}

func encodePairs(ids []uint32) []byte {
	b := make([]byte, 0, len(ids)*3)
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

func decodePairs(b []byte) ([]uint32, error) {
	var ids []uint32
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("corrupt series labels")
		}
		ids = append(ids, uint32(v))
		b = b[n:]
	}
	return ids, nil
}

// headChunk is a chunk in memory: open for appends, or cut and waiting for
// the next checkpoint to write it.
type headChunk struct {
	chunk      chunkenc.Chunk
	app        chunkenc.Appender
	minT, maxT int64
	n          uint64 // store-wide chunk number
	// saved is the max_t of the version last written to the chunks table;
	// savedOK says there is one.
	saved   int64
	savedOK bool
}

func (c *headChunk) full() bool {
	if c.chunk.Encoding() == chunkenc.EncXOR {
		return c.chunk.NumSamples() >= samplesPerChunk
	}
	return len(c.chunk.Bytes()) >= histogramChunkBytes || c.chunk.NumSamples() >= samplesPerChunk
}

// memSeries is a series the head holds: its labels, open chunks and chunks
// cut since the last checkpoint. Only the writer goroutine changes it; mu
// keeps readers consistent.
type memSeries struct {
	id    uint64
	hash  uint64
	lset  labels.Labels
	pairs []uint32

	mu     sync.Mutex
	head   *headChunk // in-order samples
	ooo    *headChunk // samples older than the head's newest
	frozen []*headChunk

	// Writer-only state.
	dirty    bool
	lastSeen time.Time
	evicted  bool
}

// head is the in-memory half of the store: the series that have been
// written to since start (or recently), by hash and by id.
type head struct {
	db   *sql.DB // readers, to find series the head has evicted
	dict *dict

	mu      sync.RWMutex
	byHash  map[uint64][]*memSeries
	byID    map[uint64]*memSeries
	pending []*memSeries // in the head, not yet known to be on disk
	nextID  uint64

	chunkN atomic.Uint64
	dirty  []*memSeries // writer-only

	stats struct {
		duplicates, outOfOrder, histogramErrors atomic.Int64
	}
}

func newHead(db *sql.DB, d *dict) *head {
	return &head{db: db, dict: d, byHash: map[uint64][]*memSeries{}, byID: map[uint64]*memSeries{}}
}

func (h *head) numSeries() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byID)
}

func (h *head) get(hash uint64, lset labels.Labels) *memSeries {
	for _, s := range h.byHash[hash] {
		if labels.Equal(s.lset, lset) {
			return s
		}
	}
	return nil
}

// byRef returns the series with id ref if the head holds it.
func (h *head) byRef(ref uint64) *memSeries {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.byID[ref]
}

// getOrCreate returns the series for lset: from the head, else from disk,
// else a new one with a new id.
func (h *head) getOrCreate(ctx context.Context, lset labels.Labels) (*memSeries, error) {
	hash := lset.Hash()
	h.mu.RLock()
	s := h.get(hash, lset)
	h.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	id, pairs, err := h.find(ctx, hash, lset)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.get(hash, lset); s != nil {
		return s, nil
	}
	if id == 0 {
		h.nextID++
		id = h.nextID
		pairs = make([]uint32, 0, lset.Len())
		lset.Range(func(l labels.Label) { pairs = append(pairs, h.dict.id(l)) })
	}
	s = &memSeries{id: id, hash: hash, lset: lset, pairs: pairs}
	h.insert(s)
	// Written (again, idempotently) with the next commit: retention may
	// have deleted the row of a series it found idle.
	h.pending = append(h.pending, s)
	return s, nil
}

func (h *head) insert(s *memSeries) {
	h.byHash[s.hash] = append(h.byHash[s.hash], s)
	h.byID[s.id] = s
}

func (h *head) remove(s *memSeries) {
	list := h.byHash[s.hash]
	for i, o := range list {
		if o == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(h.byHash, s.hash)
	} else {
		h.byHash[s.hash] = list
	}
	delete(h.byID, s.id)
}

// find looks a series up on disk by its labels.
func (h *head) find(ctx context.Context, hash uint64, lset labels.Labels) (uint64, []uint32, error) {
	rows, err := h.db.QueryContext(ctx, "SELECT id, pairs FROM series WHERE hash = ?", int64(hash))
	if err != nil {
		return 0, nil, fmt.Errorf("find series: %w", err)
	}
	defer rows.Close()
	b := labels.NewScratchBuilder(lset.Len())
	for rows.Next() {
		var id int64
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return 0, nil, err
		}
		pairs, err := decodePairs(raw)
		if err != nil {
			return 0, nil, err
		}
		if labels.Equal(h.dict.labels(&b, pairs), lset) {
			return uint64(id), pairs, nil
		}
	}
	return 0, nil, rows.Err()
}

// load returns the series with id, from the head or from disk (replay).
func (h *head) load(ctx context.Context, id uint64) (*memSeries, error) {
	if s := h.byRef(id); s != nil {
		return s, nil
	}
	var hash int64
	var raw []byte
	err := h.db.QueryRowContext(ctx, "SELECT hash, pairs FROM series WHERE id = ?", int64(id)).Scan(&hash, &raw)
	if err != nil {
		return nil, fmt.Errorf("load series %d: %w", id, err)
	}
	pairs, err := decodePairs(raw)
	if err != nil {
		return nil, err
	}
	b := labels.NewScratchBuilder(len(pairs))
	s := &memSeries{id: id, hash: uint64(hash), lset: h.dict.labels(&b, pairs), pairs: pairs}
	h.mu.Lock()
	h.insert(s)
	h.mu.Unlock()
	return s, nil
}

// unpersisted returns the series the next commit must write.
func (h *head) unpersisted() []*memSeries {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.pending
}

// persisted drops the first len(done) pending series after a commit wrote
// them.
func (h *head) persisted(done []*memSeries) {
	if len(done) == 0 {
		return
	}
	h.mu.Lock()
	h.pending = append(h.pending[:0:0], h.pending[len(done):]...)
	h.mu.Unlock()
}

// revive puts an evicted series back, or returns the series that replaced
// it.
func (h *head) revive(s *memSeries) *memSeries {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.byID[s.id]; o != nil {
		return o
	}
	s.evicted = false
	h.insert(s)
	h.pending = append(h.pending, s)
	return s
}

// sample is one sample of a batch: a float, or a histogram.
type sample struct {
	s  *memSeries
	t  int64
	v  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// apply appends a committed batch to the series' chunks. Writer only.
func (h *head) apply(b *batch, now time.Time) {
	for i := range b.samples {
		sm := &b.samples[i]
		s := sm.s
		if s.evicted {
			s = h.revive(s)
			sm.s = s
		}
		s.lastSeen = now
		s.mu.Lock()
		h.append(s, sm)
		s.mu.Unlock()
		if !s.dirty {
			s.dirty = true
			h.dirty = append(h.dirty, s)
		}
	}
}

func valueType(sm *sample) chunkenc.ValueType {
	switch {
	case sm.fh != nil:
		return chunkenc.ValFloatHistogram
	case sm.h != nil:
		return chunkenc.ValHistogram
	}
	return chunkenc.ValFloat
}

// append adds one sample to s: to the head chunk when it is newer than the
// head's newest, else to the out-of-order chunk; a sample at a timestamp
// already there is a duplicate and dropped.
func (h *head) append(s *memSeries, sm *sample) {
	if c := s.head; c == nil || sm.t > c.maxT {
		h.appendTo(s, &s.head, sm)
		return
	}
	if sm.t == s.head.maxT {
		h.stats.duplicates.Add(1)
		return
	}
	h.stats.outOfOrder.Add(1)
	if c := s.ooo; c != nil && sm.t <= c.maxT {
		if sm.t == c.maxT {
			h.stats.duplicates.Add(1)
			return
		}
		s.frozen = append(s.frozen, c)
		s.ooo = nil
	}
	h.appendTo(s, &s.ooo, sm)
}

func (h *head) appendTo(s *memSeries, pc **headChunk, sm *sample) {
	typ := valueType(sm)
	enc := typ.ChunkEncoding(false, false)
	c := *pc
	if c != nil && (c.chunk.Encoding() != enc || c.full()) {
		s.frozen = append(s.frozen, c)
		c = nil
	}
	if c == nil {
		chk, err := chunkenc.NewEmptyChunk(enc)
		if err != nil {
			h.stats.histogramErrors.Add(1)
			*pc = nil
			return
		}
		app, err := chk.Appender()
		if err != nil {
			h.stats.histogramErrors.Add(1)
			*pc = nil
			return
		}
		c = &headChunk{chunk: chk, app: app, minT: sm.t, n: h.chunkN.Add(1)}
	}
	*pc = c
	switch typ {
	case chunkenc.ValFloat:
		c.app.Append(0, sm.t, sm.v)
	case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
		var (
			nc      chunkenc.Chunk
			recoded bool
			app     chunkenc.Appender
			err     error
		)
		if typ == chunkenc.ValHistogram {
			nc, recoded, app, err = c.app.AppendHistogram(nil, 0, sm.t, sm.h, false)
		} else {
			nc, recoded, app, err = c.app.AppendFloatHistogram(nil, 0, sm.t, sm.fh, false)
		}
		if err != nil {
			h.stats.histogramErrors.Add(1)
			return
		}
		if nc != nil {
			if recoded {
				c.chunk = nc
			} else {
				s.frozen = append(s.frozen, c)
				c = &headChunk{chunk: nc, minT: sm.t, n: h.chunkN.Add(1)}
				*pc = c
			}
		}
		c.app = app
	}
	if sm.t < c.minT {
		c.minT = sm.t
	}
	c.maxT = sm.t
}
