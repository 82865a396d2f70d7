package logstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/private"
	"github.com/lookout-dev/lookout/logstore/internal/logql"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/whitespace"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// Field names a query can name, in the group documents and in record views.
// Nothing is stored in bleve: records are read from group blocks.
const (
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
	wsAnalyzer   = "lookout_words"
)

const (
	optKeyword = index.IndexField | index.SkipFreqNorm
	optNumeric = index.IndexField | index.SkipFreqNorm
	optTime    = index.IndexField | index.DocValues | index.SkipFreqNorm
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
	if err := m.AddCustomAnalyzer(wsAnalyzer, map[string]any{
		"type":      custom.Name,
		"tokenizer": whitespace.Name,
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false
	dm := bleve.NewDocumentStaticMapping()
	body := bleve.NewTextFieldMapping()
	body.Analyzer = wsAnalyzer
	body.Store = false
	dm.AddFieldMappingsAt(fieldBody, body)
	m.DefaultMapping = dm
	return m, nil
}

// partition is one day of one signal's index: the bleve index of its
// groups and the file of their bloom filters.
type partition struct {
	day int64 // days since the Unix epoch, UTC
	dir string
	idx bleve.Index

	bmu       sync.Mutex
	bloom     *os.File
	bloomSize int64
}

// openPartition opens the partition in dir, or creates it with mapping m
// when m is not nil, together with its bloom file.
func openPartition(day int64, dir string, m mapping.IndexMapping) (*partition, error) {
	cfg := map[string]any{"unsafe_batch": true}
	var idx bleve.Index
	var err error
	if m != nil {
		idx, err = bleve.NewUsing(dir, m, scorch.Name, scorch.Name, cfg)
	} else {
		idx, err = bleve.OpenUsing(dir, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open partition %q: %w", dir, err)
	}
	// bleve creates index_meta.json 0666 less the umask (its other files
	// are owner-only); the data directory's files are all 0600.
	if err := private.Tighten(filepath.Join(dir, "index_meta.json")); err != nil {
		idx.Close()
		return nil, fmt.Errorf("open partition: %w", err)
	}
	f, err := os.OpenFile(dir+".bloom", os.O_RDWR|os.O_CREATE, 0o600)
	var fi os.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			f.Close()
		}
	}
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("open bloom filters of %q: %w", dir, err)
	}
	return &partition{day: day, dir: dir, idx: idx, bloom: f, bloomSize: fi.Size()}, nil
}

// appendBloom stores a group's bloom filter and returns where. The file is
// derived data like the index: synced before the checkpoint moves, and
// whatever a crash leaves after it is unreferenced.
func (p *partition) appendBloom(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.bmu.Lock()
	defer p.bmu.Unlock()
	off := p.bloomSize
	if _, err := p.bloom.WriteAt(b, off); err != nil {
		return 0, fmt.Errorf("write bloom filter: %w", err)
	}
	p.bloomSize += int64(len(b))
	return off, nil
}

// bloomChecker returns a membership test against a group's stored bloom
// filter; each test reads one 64-byte block.
func (p *partition) bloomChecker(off int64, size int) func(uint64) bool {
	var block [bloomBlock]byte
	n := uint64(size / bloomBlock)
	return func(h uint64) bool {
		if n == 0 {
			return false
		}
		blk, pos := bloomProbe(h, n)
		if _, err := p.bloom.ReadAt(block[:], off+int64(blk*bloomBlock)); err != nil {
			return true // cannot rule it out
		}
		return bloomBlockHas(block[:], pos)
	}
}

func (p *partition) close() error {
	return errors.Join(p.idx.Close(), p.bloom.Close())
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

// signalIndex is the set of daily partitions of one signal, and where that
// signal's blocks live.
type signalIndex struct {
	signal     string
	sig        int    // sigLogs or sigSpans
	table      string // request blocks
	groupTable string // group blocks
	magic      byte   // block format
	dir        string
	mapping    *mapping.IndexMappingImpl
	text       analysis.Analyzer
	ws         analysis.Analyzer
	keyword    analysis.Analyzer
	mu         sync.RWMutex
	parts      map[int64]*partition
	minDay     int64 // partitions before this day are refused (retention)

	gmu    sync.RWMutex
	groups map[int64]*groupMeta // every group block, by id
	lastID int64                // the highest id added to groups
}

func openSignalIndex(dir string, sig int, log *slog.Logger) (*signalIndex, error) {
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("build mapping: %w", err)
	}
	text := m.AnalyzerNamed(textAnalyzer)
	if text == nil {
		return nil, fmt.Errorf("analyzer %s missing", textAnalyzer)
	}
	signal := [2]string{"logs", "spans"}[sig]
	si := &signalIndex{
		signal:     signal,
		sig:        sig,
		table:      [2]string{tableLogs, tableSpans}[sig],
		groupTable: [2]string{tableLogGroups, tableSpanGroups}[sig],
		magic:      [2]byte{blockMagicLogs, blockMagicSpans}[sig],
		dir:        filepath.Join(dir, signal),
		mapping:    m,
		text:       text,
		ws:         m.AnalyzerNamed(wsAnalyzer),
		keyword:    m.AnalyzerNamed(keyword.Name),
		parts:      map[int64]*partition{},
		groups:     map[int64]*groupMeta{},
	}
	if err := private.MkdirAll(si.dir); err != nil {
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
		path := filepath.Join(si.dir, e.Name())
		p, oerr := openPartition(day, path, nil)
		if oerr != nil {
			// A partition is written through bleve's unsafe batches, its
			// mapping included: one that does not open never persisted,
			// so the checkpoint never passed any of its groups and a
			// replay rebuilds them. A crash right after it was created
			// leaves such a directory.
			log.Warn("remove_unopenable_partition", "signal", si.signal, "dir", path, "err", oerr)
			if rerr := errors.Join(os.RemoveAll(path), removeIfExists(path+".bloom")); rerr != nil {
				si.close()
				return nil, fmt.Errorf("remove unopenable partition: %w", rerr)
			}
			continue
		}
		si.parts[day] = p
	}
	return si, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
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
	p, err := openPartition(day, dir, si.mapping)
	if err != nil {
		return nil, err
	}
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
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, err)
		}
		if err := removeIfExists(p.dir + ".bloom"); err != nil {
			errs = append(errs, err)
		}
	}
	return len(drop), errors.Join(errs...)
}

// group returns a group's metadata and partition, or false if retention
// has dropped it.
func (si *signalIndex) group(id int64) (*groupMeta, *partition, bool) {
	si.gmu.RLock()
	g := si.groups[id]
	si.gmu.RUnlock()
	if g == nil {
		return nil, nil, false
	}
	si.mu.RLock()
	p := si.parts[g.day]
	si.mu.RUnlock()
	return g, p, p != nil
}

func (si *signalIndex) addGroups(gs []*groupMeta) {
	si.gmu.Lock()
	for _, g := range gs {
		si.groups[g.id] = g
		si.lastID = max(si.lastID, g.id)
	}
	si.gmu.Unlock()
}

// lastGroupID returns the highest group id added so far. Group ids grow
// with each indexing step, so a query that ignores groups past it sees the
// groups as they were when it started.
func (si *signalIndex) lastGroupID() int64 {
	si.gmu.RLock()
	defer si.gmu.RUnlock()
	return si.lastID
}

func (si *signalIndex) forgetGroups(drop func(*groupMeta) bool) {
	si.gmu.Lock()
	for id, g := range si.groups {
		if drop(g) {
			delete(si.groups, id)
		}
	}
	si.gmu.Unlock()
}

// syncBlooms makes every partition's bloom filters durable.
func (si *signalIndex) syncBlooms() error {
	si.mu.RLock()
	defer si.mu.RUnlock()
	var errs []error
	for _, p := range si.parts {
		if err := p.bloom.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropAfter deletes the group documents built from blocks after cp. They
// may be only partly persisted; replay from cp rebuilds them, and deleting
// them first keeps a replay that groups records differently from leaving
// copies behind.
func (si *signalIndex) dropAfter(ctx context.Context, cp int64) (int, error) {
	si.mu.RLock()
	parts := make([]*partition, 0, len(si.parts))
	for _, p := range si.parts {
		parts = append(parts, p)
	}
	si.mu.RUnlock()
	lo, incl := float64(cp+1), true
	dropped := 0
	for _, p := range parts {
		for {
			q := query.NewNumericRangeInclusiveQuery(&lo, nil, &incl, nil)
			q.SetField(fieldFirstBlock)
			req := bleve.NewSearchRequestOptions(q, 1000, 0, false)
			req.Score = "none"
			res, err := p.idx.SearchInContext(ctx, req)
			if err != nil {
				return dropped, fmt.Errorf("find groups after the checkpoint in %s: %w", p.dir, err)
			}
			if len(res.Hits) == 0 {
				break
			}
			b := p.idx.NewBatch()
			for _, h := range res.Hits {
				b.Delete(h.ID)
			}
			if err := p.idx.Batch(b); err != nil {
				return dropped, fmt.Errorf("delete groups after the checkpoint in %s: %w", p.dir, err)
			}
			dropped += len(res.Hits)
		}
	}
	return dropped, nil
}

func (si *signalIndex) close() error {
	si.mu.Lock()
	defer si.mu.Unlock()
	var errs []error
	for d, p := range si.parts {
		if err := p.close(); err != nil {
			errs = append(errs, fmt.Errorf("close partition %s: %w", p.dir, err))
		}
		delete(si.parts, d)
	}
	return errors.Join(errs...)
}

// QuoteValue writes v as a value of the log query language (a phrase in
// double quotes), for queries built from stored values such as a service
// name.
func QuoteValue(v string) string { return logql.Quote(v) }

// SeverityName names the range an OTLP severity number falls in
// (https://opentelemetry.io/docs/specs/otel/logs/data-model/#field-severitynumber):
// trace, debug, info, warn, error or fatal, or "" outside 1 to 24. The
// store files log records under it and the query language's severity
// field matches it.
func SeverityName(n int32) string {
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

// indexer applies stored blocks of one signal to its index, in block order,
// and advances the durable checkpoint when bleve reports a batch persisted.
type indexer struct {
	s       *Store
	si      *signalIndex
	applied int64 // highest block id handed to bleve
	// dups marks the log groups that may hold copies of a record; nil for
	// spans.
	dups *dupTracker

	mu        sync.Mutex
	pending   []*pendingBatch // batches handed to bleve, oldest first
	persisted int64           // highest block id whose batches have all persisted

	// failed holds the error of the last step when it failed, for Ping:
	// the index's own files (bloom filters, bleve partitions) can fail
	// while the block database takes writes. A failed step is retried
	// every second while records wait, so it clears on its own.
	failed atomic.Pointer[stepFailure]
}

type stepFailure struct{ err error }

type pendingBatch struct {
	upTo        int64
	outstanding int
	err         error
}

// Indexing waits for records to gather, so that groups are large when
// traffic is light: a step runs once minStepRecords are waiting or the
// oldest waiting record has waited maxIndexDelay.
const (
	minStepRecords = 4096
	maxIndexDelay  = time.Second
)

// run indexes until ctx is done. wake is signalled after every commit.
func (ix *indexer) run(ctx context.Context, wake <-chan struct{}) {
	const maxDocs = 8192
	sig := ix.si.sig
	var since time.Time // when records started waiting
	for {
		lag := ix.s.lag(sig)
		var wait time.Duration
		switch {
		case lag <= 0:
			since, wait = time.Time{}, time.Second
		case lag < minStepRecords:
			if since.IsZero() {
				since = time.Now()
			}
			wait = maxIndexDelay - time.Since(since)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		err := ix.step(ctx, maxDocs)
		if err == nil && ix.failed.Load() != nil {
			ix.failed.Store(nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ix.failed.Store(&stepFailure{err: err})
			ix.s.log.Error("index_blocks", "signal", ix.si.signal, "err", err)
			ix.s.m.indexErrs[ix.si.sig].Inc()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		if ix.s.lag(sig) <= 0 {
			since = time.Time{}
		}
	}
}

// groupKey is what the records of one group share.
type groupKey struct {
	day      int64
	service  string
	severity string
}

// step indexes the next run of stored request blocks: it sorts their
// records into groups, stores each group's records as one block (so a
// search reads one block per group), writes the groups' bloom filters and
// hands their documents to bleve.
func (ix *indexer) step(ctx context.Context, maxDocs int) error {
	blocks, err := ix.s.db.blocksAfter(ctx, ix.si.table, ix.applied, maxDocs)
	if err != nil {
		return err
	}
	if len(blocks) == 0 {
		ix.s.resyncLag(ix.si.sig)
		return nil
	}
	spans := ix.si.sig == sigSpans
	open := map[groupKey]*group{}
	var done []*group
	firstBlock := blocks[0].id
	records := 0
	minDay := ix.si.minDayValue()
	maxDay := dayOf(ix.s.now().UnixNano()) + 1
	upTo := ix.applied
	var dups *dupStep
	if ix.dups != nil {
		dups = ix.dups.step()
	}
	for _, blk := range blocks {
		records += blk.count
		upTo = blk.id
		raw, derr := ix.s.decompress(blk.data)
		var h *blockHeader
		if derr == nil {
			h, derr = decodeHeader(raw, ix.si.magic)
		}
		if derr != nil {
			ix.s.log.Error("decode_block", "signal", ix.si.signal, "block", blk.id, "err", derr)
			ix.s.m.indexErrs[ix.si.sig].Inc()
			continue
		}
		for i := range h.offsets {
			var v *view
			var k groupKey
			if spans {
				sp, err := decodeSpan(h, i)
				if err != nil {
					ix.s.m.indexErrs[ix.si.sig].Inc()
					continue
				}
				v = spanView(&sp, ix.si.text)
				k = groupKey{service: sp.Service}
			} else {
				r, err := decodeLog(h, i)
				if err != nil {
					ix.s.m.indexErrs[ix.si.sig].Inc()
					continue
				}
				v = logView(&r, ix.si.text)
				k = groupKey{service: r.Service, severity: SeverityName(r.SeverityNumber)}
				if k.severity == "" {
					k.severity = normSeverity(r.SeverityText)
				}
			}
			k.day = dayOf(v.ts)
			if k.day < minDay {
				continue // already past retention
			}
			// A clock far ahead must not open a partition per day it
			// names: records stamped after tomorrow are filed under
			// tomorrow (their own timestamps are kept and searched).
			k.day = min(k.day, maxDay)
			g := open[k]
			if g == nil {
				g = newGroup(k.day, ix.si.magic)
				g.key = k
				open[k] = g
			}
			if err := g.add(v, h, i); err != nil {
				ix.s.m.indexErrs[ix.si.sig].Inc()
				continue
			}
			if dups != nil {
				dups.add(g, dupKey{k.service, k.severity}, v.ts, logDigest(h, i))
			}
			if g.n >= maxGroupRecords {
				done = append(done, g)
				delete(open, k)
			}
		}
	}
	for _, g := range open {
		done = append(done, g)
	}

	req := &writeReq{}
	if dups != nil {
		ix.si.gmu.RLock()
		cold := dups.coldSpanning(ix.si.groups)
		ix.si.gmu.RUnlock()
		dups.resolveLate(cold, func(g *groupMeta) ([]uint64, error) {
			h, err := ix.s.blockHeader(ctx, ix.si.groupTable, ix.si.magic, g.id)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil // deleted by retention
			}
			if err != nil {
				return nil, err
			}
			ds := make([]uint64, len(h.offsets))
			for i := range h.offsets {
				ds[i] = logDigest(h, i)
			}
			return ds, nil
		})
		req.dupGroups = dups.markedIDs()
	}

	// Store the group blocks and bloom filters first: a group document
	// must never point at a block that is not there.
	metas := make([]*groupMeta, len(done))
	parts := make([]*partition, len(done))
	for i, g := range done {
		p, err := ix.si.partitionFor(g.day)
		if err != nil {
			return err
		}
		parts[i] = p
		bloom := bloomBuild(g.hashes)
		off, err := p.appendBloom(bloom)
		if err != nil {
			return err
		}
		metas[i] = &groupMeta{firstBlock: firstBlock, day: g.day, minTs: g.minTs, maxTs: g.maxTs, count: g.n, bloomOff: off, bloomLen: len(bloom),
			service: g.key.service, severity: g.key.severity, keyed: !spans}
		metas[i].dup.Store(g.dup || spans)
		req.blocks = append(req.blocks, storedBlock{
			table: ix.si.groupTable,
			data:  ix.s.enc.EncodeAll(g.recs.bytes(), nil),
			count: g.n,
			minTs: g.minTs,
			maxTs: g.maxTs,
			group: metas[i],
		})
	}
	if len(req.blocks) > 0 {
		if err := ix.s.db.append(ctx, req); err != nil {
			return fmt.Errorf("store group blocks: %w", err)
		}
	}
	batches := map[*partition]*bleve.Batch{}
	for i, g := range done {
		metas[i].id = req.ids[i]
		batch := batches[parts[i]]
		if batch == nil {
			batch = parts[i].idx.NewBatch()
			batches[parts[i]] = batch
		}
		if err := batch.IndexAdvanced(g.document(groupDocID(metas[i].id), firstBlock, ix.si.ws, ix.si.keyword)); err != nil {
			return fmt.Errorf("index group: %w", err)
		}
	}
	if dups != nil {
		dups.commit(done, metas)
	}
	ix.si.addGroups(metas)

	pb := &pendingBatch{upTo: upTo, outstanding: len(batches)}
	ix.mu.Lock()
	ix.pending = append(ix.pending, pb)
	ix.mu.Unlock()
	if len(batches) == 0 {
		ix.persistedBatch(pb, nil)
	}
	for p, batch := range batches {
		batch.SetPersistedCallback(func(err error) { ix.persistedBatch(pb, err) })
		if err := p.idx.Batch(batch); err != nil {
			// The batch is lost from this partition; the checkpoint will
			// not pass it, so the blocks are replayed on the next start.
			ix.persistedBatch(pb, err)
			return fmt.Errorf("index batch into %s: %w", p.dir, err)
		}
	}
	ix.applied = upTo
	ix.s.m.indexedDocs[ix.si.sig].Add(records)
	ix.s.m.groupDocs[ix.si.sig].Add(len(done))
	ix.s.indexedRec[ix.si.sig].Add(int64(records))
	return nil
}

func groupDocID(id int64) string { return strconv.FormatInt(id, 36) }

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
