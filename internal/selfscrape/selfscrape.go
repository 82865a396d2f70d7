// Package selfscrape writes lookout's own metrics into its own metric store
// at a fixed interval, under job="lookout", so that ingest rates, queue
// saturation, disk use and query latency are queryable like any app's.
package selfscrape

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// Config is what a user sets.
type Config struct {
	// Interval between scrapes; 15s when zero.
	Interval time.Duration
	// Instance is the instance label, usually the HTTP listen address.
	Instance string
}

// Options is what code sets.
type Options struct {
	Logger *slog.Logger
	// Write renders the metrics in the Prometheus text format.
	Write func(w io.Writer)
	// Store receives the samples.
	Store storage.AppendableV2
	Now   func() time.Time
}

// Scraper writes lookout's metrics into its store.
type Scraper struct {
	cfg  Config
	opts Options
	buf  bytes.Buffer
}

// New returns a scraper; Run starts it.
func New(cfg Config, opts Options) *Scraper {
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scraper{cfg: cfg, opts: opts}
}

// Run scrapes every interval until ctx is done.
func (s *Scraper) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		if err := s.Scrape(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("self_scrape", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Scrape writes one scrape's samples, plus up=1.
func (s *Scraper) Scrape(ctx context.Context) error {
	s.buf.Reset()
	s.opts.Write(&s.buf)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(&s.buf)
	if err != nil {
		return fmt.Errorf("parse own metrics: %w", err)
	}
	ts := s.opts.Now().UnixMilli()
	app := s.opts.Store.AppenderV2(ctx)
	b := labels.NewBuilder(labels.EmptyLabels())
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	add := func(name string, m *dto.Metric, extra []string, v float64, md metadata.Metadata, family string) error {
		b.Reset(labels.EmptyLabels())
		for _, lp := range m.GetLabel() {
			b.Set(lp.GetName(), lp.GetValue())
		}
		for i := 0; i+1 < len(extra); i += 2 {
			b.Set(extra[i], extra[i+1])
		}
		b.Set(model.MetricNameLabel, name)
		b.Set("job", "lookout")
		b.Set("instance", s.cfg.Instance)
		_, err := app.Append(0, b.Labels(), 0, ts, v, nil, nil, storage.AOptions{Metadata: md, MetricFamilyName: family})
		return err
	}
	for _, name := range names {
		mf := families[name]
		md := metadata.Metadata{Type: model.MetricType(lowerType(mf.GetType())), Help: mf.GetHelp()}
		for _, m := range mf.GetMetric() {
			var err error
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				err = add(name, m, nil, m.GetCounter().GetValue(), md, name)
			case dto.MetricType_GAUGE:
				err = add(name, m, nil, m.GetGauge().GetValue(), md, name)
			case dto.MetricType_UNTYPED:
				err = add(name, m, nil, m.GetUntyped().GetValue(), md, name)
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				for _, q := range sm.GetQuantile() {
					if err = add(name, m, []string{"quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)}, q.GetValue(), md, name); err != nil {
						break
					}
				}
				if err == nil {
					err = add(name+"_sum", m, nil, sm.GetSampleSum(), md, name)
				}
				if err == nil {
					err = add(name+"_count", m, nil, float64(sm.GetSampleCount()), md, name)
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, bk := range h.GetBucket() {
					if math.IsInf(bk.GetUpperBound(), 1) {
						inf = true
					}
					if err = add(name+"_bucket", m, []string{"le", strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64)}, float64(bk.GetCumulativeCount()), md, name); err != nil {
						break
					}
				}
				if err == nil && !inf {
					err = add(name+"_bucket", m, []string{"le", "+Inf"}, float64(h.GetSampleCount()), md, name)
				}
				if err == nil {
					err = add(name+"_sum", m, nil, h.GetSampleSum(), md, name)
				}
				if err == nil {
					err = add(name+"_count", m, nil, float64(h.GetSampleCount()), md, name)
				}
			}
			if err != nil {
				app.Rollback()
				return err
			}
		}
	}
	if err := add("up", &dto.Metric{}, nil, 1, metadata.Metadata{Type: model.MetricTypeGauge, Help: "Whether the scrape succeeded."}, "up"); err != nil {
		app.Rollback()
		return err
	}
	return app.Commit()
}

func lowerType(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_SUMMARY:
		return "summary"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	}
	return "unknown"
}
