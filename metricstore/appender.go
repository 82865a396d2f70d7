package metricstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// maxFuture is how far ahead of the clock a sample may be.
const maxFuture = 24 * time.Hour

// txn collects one transaction's samples, exemplars and metadata; Commit
// makes them durable in one WAL row.
type txn struct {
	s   *Store
	ctx context.Context
	b   batch
	ex  []exemplarRow
	md  []metadataRow
	// minT and maxT are the timestamps a sample may have (Store.window).
	minT, maxT int64
	// family is the metric family whose metadata was checked last: the
	// translator appends a family's samples together.
	family string
	done   bool
}

func (s *Store) newTxn(ctx context.Context) *txn {
	oldest, newest := s.window()
	return &txn{s: s, ctx: ctx, minT: oldest.UnixMilli(), maxT: newest.UnixMilli()}
}

// window is the time range a sample may have: within the retention, and
// at most maxFuture ahead of the clock.
func (s *Store) window() (oldest, newest time.Time) {
	now := s.now()
	return now.Add(-s.cfg.Retention), now.Add(maxFuture)
}

// add appends one sample (a float, or h or fh) for ls and returns its
// series id.
func (a *txn) add(ref storage.SeriesRef, ls labels.Labels, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, *memSeries, error) {
	if a.done {
		return 0, nil, fmt.Errorf("appender already committed or rolled back")
	}
	var ms *memSeries
	if ref != 0 {
		if o := a.s.head.byRef(uint64(ref)); o != nil && labels.Equal(o.lset, ls) {
			ms = o
		}
	}
	if ms == nil {
		ls = ls.WithoutEmpty()
		if ls.IsEmpty() {
			return 0, nil, errors.New("invalid series: no labels")
		}
		if name, dup := ls.HasDuplicateLabelNames(); dup {
			return 0, nil, fmt.Errorf("invalid series %s: label %q appears twice", ls, name)
		}
		var err error
		if ms, err = a.s.head.getOrCreate(a.ctx, ls); err != nil {
			return 0, nil, err
		}
	}
	if t < a.minT || t > a.maxT {
		a.s.m.samplesRejected.Inc()
		return storage.SeriesRef(ms.id), ms, nil
	}
	a.b.samples = append(a.b.samples, sample{s: ms, t: t, v: v, h: h, fh: fh})
	return storage.SeriesRef(ms.id), ms, nil
}

func (a *txn) exemplar(ms *memSeries, e exemplar.Exemplar) {
	if !e.HasTs {
		return
	}
	var b []byte
	e.Labels.Range(func(l labels.Label) {
		b = appendUvarintString(b, l.Name)
		b = appendUvarintString(b, l.Value)
	})
	a.ex = append(a.ex, exemplarRow{series: ms.id, t: e.Ts, value: e.Value, labels: b})
}

func (a *txn) metadata(family string, md metadata.Metadata) {
	if family == "" || md.Type == "" || family == a.family {
		return
	}
	a.family = family
	if !a.s.meta.changed(family, md) {
		return
	}
	for _, r := range a.md {
		if r.metric == family {
			return
		}
	}
	a.md = append(a.md, metadataRow{metric: family, typ: string(md.Type), unit: md.Unit, help: md.Help})
}

func (a *txn) commit() error {
	if a.done {
		return fmt.Errorf("appender already committed or rolled back")
	}
	a.done = true
	if len(a.b.samples) == 0 && len(a.ex) == 0 && len(a.md) == 0 {
		return nil
	}
	req := &writeReq{batch: &a.b, exemplars: a.ex, metadata: a.md}
	if len(a.b.samples) > 0 {
		req.wal = encodeWAL(&a.b, nil)
	}
	if err := a.s.submit(a.ctx, req); err != nil {
		return err
	}
	for _, r := range a.md {
		a.s.meta.set(r.metric, metadata.Metadata{Type: model.MetricType(r.typ), Unit: r.unit, Help: r.help})
	}
	a.s.m.samplesAppended.Add(len(a.b.samples))
	return nil
}

func (a *txn) rollback() error {
	a.done = true
	a.b.samples = nil
	return nil
}

// Appender returns an appender in Prometheus' first appender interface, the
// one the rules manager uses.
func (s *Store) Appender(ctx context.Context) storage.Appender {
	return &appenderV1{txn: s.newTxn(ctx)}
}

// AppenderV2 returns an appender in Prometheus' second appender interface,
// the one its OTLP translator writes to.
func (s *Store) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &appenderV2{txn: s.newTxn(ctx)}
}

type appenderV2 struct{ *txn }

func (a *appenderV2) Append(ref storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	ref, ms, err := a.add(ref, ls, t, v, h, fh)
	if err != nil {
		return 0, err
	}
	for _, e := range opts.Exemplars {
		a.exemplar(ms, e)
	}
	family := opts.MetricFamilyName
	if family == "" {
		family = ls.Get(model.MetricNameLabel)
	}
	a.metadata(family, opts.Metadata)
	return ref, nil
}

func (a *appenderV2) Commit() error   { return a.commit() }
func (a *appenderV2) Rollback() error { return a.rollback() }

type appenderV1 struct{ *txn }

func (a *appenderV1) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	ref, _, err := a.add(ref, l, t, v, nil, nil)
	return ref, err
}

func (a *appenderV1) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, _, err := a.add(ref, l, t, 0, h, fh)
	return ref, err
}

func (a *appenderV1) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	ms := a.s.head.byRef(uint64(ref))
	if ms == nil {
		var err error
		if ms, err = a.s.head.getOrCreate(a.ctx, l.WithoutEmpty()); err != nil {
			return 0, err
		}
	}
	a.exemplar(ms, e)
	return storage.SeriesRef(ms.id), nil
}

func (a *appenderV1) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	a.metadata(l.Get(model.MetricNameLabel), m)
	return ref, nil
}

// SetOptions is a no-op: out-of-order samples are always accepted.
func (a *appenderV1) SetOptions(*storage.AppendOptions) {}

// AppendSTZeroSample is a no-op: start timestamps are not stored.
func (a *appenderV1) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}

// AppendHistogramSTZeroSample is a no-op: start timestamps are not stored.
func (a *appenderV1) AppendHistogramSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}

func (a *appenderV1) Commit() error   { return a.commit() }
func (a *appenderV1) Rollback() error { return a.rollback() }

// decodeExemplarLabels reverses txn.exemplar's encoding.
func decodeExemplarLabels(b []byte) labels.Labels {
	sb := labels.NewScratchBuilder(2)
	next := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	for len(b) > 0 {
		name, ok1 := next()
		value, ok2 := next()
		if !ok1 || !ok2 {
			break
		}
		sb.Add(name, value)
	}
	sb.Sort()
	return sb.Labels()
}
