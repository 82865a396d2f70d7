package logstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
)

// Field names in the bleve documents. Everything a query can name is indexed;
// nothing is stored but the record's location in the block store.
const (
	fieldLoc       = "loc"
	fieldTimestamp = "timestamp"
	fieldBody      = "body"
	fieldSeverity  = "severity"
	fieldSevNum    = "severity_number"
	fieldService   = "service"
	fieldTraceID   = "trace_id"
	fieldSpanID    = "span_id"
	fieldParentID  = "parent_span_id"
	fieldScope     = "scope"
	fieldName      = "name"
	fieldSpanKind  = "kind"
	fieldStatus    = "status"
	fieldDuration  = "duration"
	fieldRoot      = "root"
	fieldEvent     = "event"

	textAnalyzer = "lookout_text"

	// maxKeywordLen bounds one keyword term; longer strings are indexed as
	// analysed text instead, so a stack trace in an attribute does not become
	// one giant term.
	maxKeywordLen = 256
)

const (
	optKeyword = index.IndexField | index.SkipFreqNorm
	optText    = index.IndexField | index.IncludeTermVectors
	optNumeric = index.IndexField | index.SkipFreqNorm
	optTime    = index.IndexField | index.DocValues | index.SkipFreqNorm
	optStored  = index.StoreField
)

// newMapping is the explicit mapping of a partition. Documents are built by
// hand (IndexAdvanced), so the mapping's job is to name analyzers for queries
// and to keep bleve from indexing anything dynamically.
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	dm := bleve.NewDocumentStaticMapping()
	body := bleve.NewTextFieldMapping()
	body.Analyzer = textAnalyzer
	body.Store = false
	dm.AddFieldMappingsAt(fieldBody, body)
	m.DefaultMapping = dm
	return m, nil
}

// partition is one day of one signal's index.
type partition struct {
	day int64 // days since the Unix epoch, UTC
	dir string
	idx bleve.Index
}

const nsPerDay = int64(24 * time.Hour)

func dayOf(ns int64) int64 {
	d := ns / nsPerDay
	if ns < 0 && ns%nsPerDay != 0 {
		d--
	}
	return d
}

func dayName(day int64) string { return time.Unix(day*86400, 0).UTC().Format("20060102") }

// signalIndex is the set of daily partitions of one signal.
type signalIndex struct {
	signal   string
	dir      string
	mapping  *mapping.IndexMappingImpl
	text     analysis.Analyzer
	keyword  analysis.Analyzer
	mu       sync.RWMutex
	parts    map[int64]*partition
	minDay   int64 // partitions before this day are refused (retention)
}

func openSignalIndex(dir, signal string) (*signalIndex, error) {
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("build mapping: %w", err)
	}
	text := m.AnalyzerNamed(textAnalyzer)
	if text == nil {
		return nil, fmt.Errorf("analyzer %s missing", textAnalyzer)
	}
	si := &signalIndex{
		signal:  signal,
		dir:     filepath.Join(dir, signal),
		mapping: m,
		text:    text,
		keyword: m.AnalyzerNamed(keyword.Name),
		parts:   map[int64]*partition{},
	}
	if err := os.MkdirAll(si.dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(si.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		t, perr := time.Parse("20060102", e.Name())
		if perr != nil {
			continue
		}
		day := t.Unix() / 86400
		p := filepath.Join(si.dir, e.Name())
		idx, oerr := bleve.OpenUsing(p, map[string]any{"unsafe_batch": true})
		if oerr != nil {
			si.close()
			return nil, fmt.Errorf("open partition %q: %w", p, oerr)
		}
		si.parts[day] = &partition{day: day, dir: p, idx: idx}
	}
	return si, nil
}

// partitionFor returns the partition of a day, creating it on first use.
func (si *signalIndex) partitionFor(day int64) (*partition, error) {
	si.mu.RLock()
	p := si.parts[day]
	si.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	si.mu.Lock()
	defer si.mu.Unlock()
	if p := si.parts[day]; p != nil {
		return p, nil
	}
	dir := filepath.Join(si.dir, dayName(day))
	// A directory left by a crash between mkdir and the first persist is
	// not a usable index; start it afresh (the blocks are replayed anyway).
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	idx, err := bleve.NewUsing(dir, si.mapping, scorch.Name, scorch.Name, map[string]any{"unsafe_batch": true})
	if err != nil {
		return nil, fmt.Errorf("create partition %q: %w", dir, err)
	}
	p = &partition{day: day, dir: dir, idx: idx}
	si.parts[day] = p
	return p, nil
}

// partitions returns the partitions overlapping [from, to] (unix ns),
// newest first.
func (si *signalIndex) partitions(from, to int64) []*partition {
	si.mu.RLock()
	defer si.mu.RUnlock()
	lo, hi := dayOf(from), dayOf(to)
	var out []*partition
	for d, p := range si.parts {
		if d >= lo && d <= hi {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *partition) int { return int(b.day - a.day) })
	return out
}

// dropBefore closes and removes every partition of a day before minDay.
func (si *signalIndex) dropBefore(minDay int64) (int, error) {
	si.mu.Lock()
	var drop []*partition
	for d, p := range si.parts {
		if d < minDay {
			drop = append(drop, p)
			delete(si.parts, d)
		}
	}
	si.mu.Unlock()
	var errs []error
	for _, p := range drop {
		if err := p.idx.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return len(drop), errors.Join(errs...)
}

func (si *signalIndex) close() error {
	si.mu.Lock()
	defer si.mu.Unlock()
	var errs []error
	for d, p := range si.parts {
		if err := p.idx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close partition %s: %w", p.dir, err))
		}
		delete(si.parts, d)
	}
	return errors.Join(errs...)
}

// docBuilder builds bleve documents for one signal with the analyzers of its
// mapping.
type docBuilder struct {
	text    analysis.Analyzer
	keyword analysis.Analyzer
	doc     *document.Document
}

func (b *docBuilder) kw(name, v string) {
	if v == "" {
		return
	}
	if len(v) > maxKeywordLen {
		b.doc.AddField(document.NewTextFieldCustom(name, nil, []byte(v), optKeyword, b.text))
		return
	}
	b.doc.AddField(document.NewTextFieldCustom(name, nil, []byte(v), optKeyword, b.keyword))
}

func (b *docBuilder) num(name string, v float64) {
	b.doc.AddField(document.NewNumericFieldWithIndexingOptions(name, nil, v, optNumeric))
}

func (b *docBuilder) time(ns int64) {
	f, err := document.NewDateTimeFieldWithIndexingOptions(fieldTimestamp, nil, time.Unix(0, ns), time.RFC3339Nano, optTime)
	if err == nil {
		b.doc.AddField(f)
	}
}

// attrs indexes a map under prefix, flattening nested maps with dots and
// indexing each element of a list. Numbers are indexed both as keywords (for
// field:value) and as numbers (for ranges).
func (b *docBuilder) attrs(prefix string, m map[string]any) {
	for k, v := range m {
		b.attr(prefix+k, v, 0)
	}
}

func (b *docBuilder) attr(name string, v any, depth int) {
	if depth > 8 {
		return
	}
	switch x := v.(type) {
	case string:
		b.kw(name, x)
	case int64:
		b.kw(name, strconv.FormatInt(x, 10))
		b.num(name, float64(x))
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			b.kw(name, strconv.FormatFloat(x, 'g', -1, 64))
			b.num(name, x)
		}
	case bool:
		b.kw(name, strconv.FormatBool(x))
	case []any:
		for _, e := range x {
			b.attr(name, e, depth+1)
		}
	case map[string]any:
		for k, e := range x {
			b.attr(name+"."+k, e, depth+1)
		}
	case []byte:
		b.kw(name, hex.EncodeToString(x))
	}
}

func locBytes(loc uint64) []byte { return binary.BigEndian.AppendUint64(nil, loc) }

func makeLoc(blockID int64, i int) uint64 { return uint64(blockID)<<16 | uint64(i) }

func splitLoc(loc uint64) (int64, int) { return int64(loc >> 16), int(loc & 0xffff) }

// severityName maps an OTLP severity number to its short name.
func severityName(n int32) string {
	switch {
	case n >= 1 && n <= 4:
		return "trace"
	case n >= 5 && n <= 8:
		return "debug"
	case n >= 9 && n <= 12:
		return "info"
	case n >= 13 && n <= 16:
		return "warn"
	case n >= 17 && n <= 20:
		return "error"
	case n >= 21 && n <= 24:
		return "fatal"
	}
	return ""
}

func buildLogDoc(b *docBuilder, h *blockHeader, i int, loc uint64) (*document.Document, int64, error) {
	r, key, err := decodeLog(h, i)
	if err != nil {
		return nil, 0, err
	}
	ts := r.Timestamp.UnixNano()
	if r.Timestamp.IsZero() {
		ts = 0
	}
	b.doc = document.NewDocument(string(key[:]))
	b.doc.AddField(document.NewTextFieldWithIndexingOptions(fieldLoc, nil, locBytes(loc), optStored))
	b.time(ts)
	body := stringify(r.Body)
	if body != "" {
		b.doc.AddField(document.NewTextFieldCustom(fieldBody, nil, []byte(body), optText, b.text))
	}
	sev := normSeverity(r.SeverityText)
	b.kw(fieldSeverity, sev)
	if n := severityName(r.SeverityNumber); n != "" && n != sev {
		b.kw(fieldSeverity, n)
	}
	if r.SeverityNumber != 0 {
		b.num(fieldSevNum, float64(r.SeverityNumber))
	}
	b.kw(fieldService, r.Service)
	b.kw(fieldTraceID, r.TraceID)
	b.kw(fieldSpanID, r.SpanID)
	b.kw(fieldScope, r.Scope.Name)
	b.kw(fieldName, r.EventName)
	b.attrs("attributes.", r.Attributes)
	b.attrs("resource.", r.Resource)
	return b.doc, ts, nil
}

func buildSpanDoc(b *docBuilder, h *blockHeader, i int, loc uint64) (*document.Document, int64, error) {
	s, err := decodeSpan(h, i)
	if err != nil {
		return nil, 0, err
	}
	ts := s.Start.UnixNano()
	if s.Start.IsZero() {
		ts = 0
	}
	b.doc = document.NewDocument(spanDocID(s.TraceID, s.SpanID))
	b.doc.AddField(document.NewTextFieldWithIndexingOptions(fieldLoc, nil, locBytes(loc), optStored))
	b.time(ts)
	b.kw(fieldTraceID, s.TraceID)
	b.kw(fieldSpanID, s.SpanID)
	b.kw(fieldParentID, s.ParentSpanID)
	if s.ParentSpanID == "" {
		b.kw(fieldRoot, "true")
	}
	b.kw(fieldService, s.Service)
	b.kw(fieldName, s.Name)
	b.kw(fieldSpanKind, s.Kind)
	b.kw(fieldStatus, s.Status.Code)
	b.kw(fieldScope, s.Scope.Name)
	b.num(fieldDuration, float64(s.DurationNS))
	if s.Status.Message != "" {
		b.doc.AddField(document.NewTextFieldCustom(fieldBody, nil, []byte(s.Status.Message), optText, b.text))
	}
	for _, ev := range s.Events {
		b.kw(fieldEvent, ev.Name)
		b.attrs("attributes.", ev.Attributes)
	}
	b.attrs("attributes.", s.Attributes)
	b.attrs("resource.", s.Resource)
	return b.doc, ts, nil
}

// spanDocID is the document id of a span: its trace id and span id, which is
// what makes a re-delivered span replace itself instead of adding a copy.
func spanDocID(traceID, spanID string) string { return traceID + ":" + spanID }

// traceIDOfDoc recovers the trace id from a span document id.
func traceIDOfDoc(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[:i]
		}
	}
	return id
}

// indexer applies stored blocks of one signal to its index, in block order,
// and advances the durable checkpoint when bleve reports a batch persisted.
type indexer struct {
	s       *Store
	si      *signalIndex
	table   string
	build   func(b *docBuilder, h *blockHeader, i int, loc uint64) (*document.Document, int64, error)
	magic   byte
	applied int64 // highest block id handed to bleve

	mu        sync.Mutex
	pending   []*pendingBatch // batches handed to bleve, oldest first
	persisted int64           // highest block id whose batches have all persisted
}

type pendingBatch struct {
	upTo        int64
	outstanding int
	err         error
}

// run indexes until ctx is done. wake is signalled after every commit.
func (ix *indexer) run(ctx context.Context, wake <-chan struct{}) {
	const maxDocs = 8192
	for {
		n, err := ix.step(ctx, maxDocs)
		if err != nil && ctx.Err() == nil {
			ix.s.log.Error("index_blocks", "signal", ix.si.signal, "err", err)
			ix.s.m.indexErrors(ix.si.signal).Inc()
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(time.Second):
		}
	}
}

// step indexes the next run of stored blocks; it returns how many blocks it
// applied.
func (ix *indexer) step(ctx context.Context, maxDocs int) (int, error) {
	blocks, err := ix.s.db.blocksAfter(ctx, ix.table, ix.applied, maxDocs)
	if err != nil || len(blocks) == 0 {
		return 0, err
	}
	batches := map[int64]*bleve.Batch{}
	b := &docBuilder{text: ix.si.text, keyword: ix.si.keyword}
	docs, records := 0, 0
	upTo := ix.applied
	for _, blk := range blocks {
		records += blk.count
		raw, derr := ix.s.decompress(blk.data)
		if derr != nil {
			ix.s.log.Error("decode_block", "signal", ix.si.signal, "block", blk.id, "err", derr)
			ix.s.m.indexErrors(ix.si.signal).Inc()
			upTo = blk.id
			continue
		}
		h, herr := decodeHeader(raw, ix.magic)
		if herr != nil {
			ix.s.log.Error("decode_block", "signal", ix.si.signal, "block", blk.id, "err", herr)
			ix.s.m.indexErrors(ix.si.signal).Inc()
			upTo = blk.id
			continue
		}
		for i := range h.offsets {
			doc, ts, berr := ix.build(b, h, i, makeLoc(blk.id, i))
			if berr != nil {
				ix.s.m.indexErrors(ix.si.signal).Inc()
				continue
			}
			day := dayOf(ts)
			if day < ix.si.minDayValue() {
				continue // already past retention
			}
			p, perr := ix.si.partitionFor(day)
			if perr != nil {
				return 0, perr
			}
			batch := batches[day]
			if batch == nil {
				batch = p.idx.NewBatch()
				batches[day] = batch
			}
			if err := batch.IndexAdvanced(doc); err != nil {
				ix.s.m.indexErrors(ix.si.signal).Inc()
				continue
			}
			docs++
		}
		upTo = blk.id
	}
	pb := &pendingBatch{upTo: upTo, outstanding: len(batches)}
	ix.mu.Lock()
	ix.pending = append(ix.pending, pb)
	ix.mu.Unlock()
	if len(batches) == 0 {
		ix.persistedBatch(pb, nil)
	}
	for day, batch := range batches {
		p, err := ix.si.partitionFor(day)
		if err != nil {
			return 0, err
		}
		batch.SetPersistedCallback(func(err error) { ix.persistedBatch(pb, err) })
		if err := p.idx.Batch(batch); err != nil {
			// The batch is lost from this partition; the checkpoint will
			// not pass it, so the blocks are replayed on the next start.
			ix.persistedBatch(pb, err)
			return 0, fmt.Errorf("index batch into %s: %w", p.dir, err)
		}
	}
	ix.applied = upTo
	ix.s.m.indexed(ix.si.signal).Add(docs)
	ix.s.indexedUpTo(ix.si.signal, upTo, records)
	return len(blocks), nil
}

// persistedBatch is bleve's callback: when every partition of a batch has
// persisted it, the checkpoint can move past the batch's blocks, provided
// every earlier batch has persisted too.
func (ix *indexer) persistedBatch(pb *pendingBatch, err error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err != nil && pb.err == nil {
		pb.err = err
	}
	pb.outstanding--
	for len(ix.pending) > 0 && ix.pending[0].outstanding <= 0 {
		head := ix.pending[0]
		if head.err != nil {
			// Leave the checkpoint where it is: a restart replays from it.
			ix.s.log.Error("persist_index_batch", "signal", ix.si.signal, "err", head.err)
			ix.pending = ix.pending[1:]
			ix.persisted = -1 // sticky: never advance past a failed batch
			continue
		}
		if ix.persisted >= 0 {
			ix.persisted = head.upTo
		}
		ix.pending = ix.pending[1:]
	}
}

func (ix *indexer) checkpoint() int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.persisted
}

func (si *signalIndex) minDayValue() int64 {
	si.mu.RLock()
	defer si.mu.RUnlock()
	return si.minDay
}

func (si *signalIndex) setMinDay(d int64) {
	si.mu.Lock()
	si.minDay = d
	si.mu.Unlock()
}
