package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// Metrics are sent the way a fleet of SDKs sends them: every series has one sample per round of 15 s
// of simulated time, a round is cut into requests of -batch samples whose data points share the
// round's timestamp, and the rounds follow each other as fast as the server acknowledges. The
// simulated clock starts in the past (-start) so that the whole run lands before now.
//
// A slice of the round is locked from the moment a worker claims it until its request is answered,
// so each series' samples reach the server in order. A run therefore has at most as many requests in
// flight as a round has slices (-series / -batch, rounded up).

const (
	// metricsRetention is lookout's default --retention-metrics: samples older than this may be
	// dropped on arrival.
	metricsRetention = 30 * 24 * time.Hour
	// assumedMaxRate is the sample rate a -duration run's default start allows for (the fastest
	// peer measured does 1.9M/s). A faster server catches the simulated clock up with the wall
	// clock, and requests then wait for it.
	assumedMaxRate = 2_000_000
)

// metricsSource hands out the slices of successive rounds.
type metricsSource struct {
	gen   *otlpgen.MetricsGenerator
	slots []*metricsSlot

	mu      sync.Mutex
	seq     int   // slices claimed so far
	claimed int64 // samples claimed so far, for -total

	pointsAcked atomic.Int64
	lastRound   atomic.Int64 // highest round prepared
	waits       atomic.Int64 // requests that waited for the wall clock
}

type metricsSlot struct {
	mu sync.Mutex
	s  *otlpgen.MetricsSlice
}

func newMetricsSource(cfg config) (*metricsSource, error) {
	g, err := otlpgen.NewMetricsGenerator(otlpgen.MetricsConfig{Seed: cfg.seed, Series: cfg.series, Batch: cfg.batch, Start: cfg.start})
	if err != nil {
		return nil, err
	}
	m := &metricsSource{gen: g}
	m.lastRound.Store(-1)
	for _, s := range g.Slices() {
		m.slots = append(m.slots, &metricsSlot{s: s})
	}
	return m, nil
}

// claim returns the next slice, locked, or false when -total samples have been claimed or the run
// is over.
func (m *metricsSource) claim(stop context.Context, total int64) (job, bool) {
	m.mu.Lock()
	if total > 0 && m.claimed >= total {
		m.mu.Unlock()
		return job{}, false
	}
	slot := m.slots[m.seq%len(m.slots)]
	m.seq++
	m.claimed += int64(slot.s.Samples())
	m.mu.Unlock()
	// Whoever takes the lock first sends the earlier round, so a slice's rounds go out in order
	// whatever order the workers claimed them in.
	slot.mu.Lock()
	if stop.Err() != nil {
		slot.mu.Unlock()
		return job{}, false
	}
	return job{m: slot, items: slot.s.Samples(), points: slot.s.DataPoints()}, true
}

// prepareMetrics moves the slice to its next round and encodes it. A round in the future waits for
// the wall clock: a sample is never stamped later than now.
func (w *worker) prepareMetrics(stop context.Context, r *runner, slot *metricsSlot) ([]byte, int, bool) {
	start := time.Now()
	t := slot.s.Next()
	spent := time.Since(start)
	for rd := int64(slot.s.Round()); ; {
		last := r.metrics.lastRound.Load()
		if rd <= last || r.metrics.lastRound.CompareAndSwap(last, rd) {
			break
		}
	}
	if d := time.Until(t); d > 0 {
		r.metrics.waits.Add(1)
		if !sleep(stop, d) {
			return nil, 0, false
		}
	}
	start = time.Now()
	var raw []byte
	if r.cfg.json {
		var err error
		if raw, err = pmetricotlp.NewExportRequestFromMetrics(slot.s.Metrics()).MarshalJSON(); err != nil {
			r.fail(job{items: slot.s.Samples()}, "marshal metrics request: "+err.Error())
			return nil, 0, false
		}
	} else if r.cfg.gzip {
		w.scratch = slot.s.AppendProto(w.scratch[:0])
		raw = w.scratch
	} else {
		raw = slot.s.AppendProto(nil)
	}
	body := raw
	if r.cfg.gzip {
		body = w.compress(raw)
	}
	r.prepared.Add(1)
	r.prepareNs.Add(int64(spent + time.Since(start)))
	return body, len(raw), true
}

// metricsReport describes the metrics a run sent.
type metricsReport struct {
	Series           int       `json:"series"`    // Prometheus series, target_info not counted
	Instances        int       `json:"instances"` // OTLP resources, one target_info series each
	RequestsPerRound int       `json:"requests_per_round"`
	IntervalSeconds  float64   `json:"interval_seconds"`
	Rounds           int64     `json:"rounds"`          // rounds begun
	SimulatedStart   time.Time `json:"simulated_start"` // timestamp of the first round
	SimulatedEnd     time.Time `json:"simulated_end"`   // timestamp of the last round begun
	WallClockWaits   int64     `json:"wall_clock_waits"`
	// RateSelector picks about a hundred app_requests_total series of this fleet, for
	// `lookout-load queries -kind promql`.
	RateSelector       string `json:"rate_selector"`
	RateSelectorSeries int    `json:"rate_selector_series"`
}

func (m *metricsSource) report() *metricsReport {
	f := m.gen.Fleet()
	sel, n := f.RateSelector()
	rounds := m.lastRound.Load() + 1
	return &metricsReport{
		Series:             f.Series(),
		Instances:          f.Instances(),
		RequestsPerRound:   len(m.slots),
		IntervalSeconds:    otlpgen.MetricsInterval.Seconds(),
		Rounds:             rounds,
		SimulatedStart:     m.gen.Start().UTC(),
		SimulatedEnd:       m.gen.Start().Add(time.Duration(max(rounds-1, 0)) * otlpgen.MetricsInterval).UTC(),
		WallClockWaits:     m.waits.Load(),
		RateSelector:       sel,
		RateSelectorSeries: n,
	}
}

func (m *metricsReport) text(w io.Writer) {
	fmt.Fprintf(w, "  simulated     %d rounds of %gs from %s to %s; %s samples in %d requests per round\n",
		m.Rounds, m.IntervalSeconds, m.SimulatedStart.Format(time.RFC3339), m.SimulatedEnd.Format(time.RFC3339),
		thousands(int64(m.Series)), m.RequestsPerRound)
	if m.WallClockWaits > 0 {
		fmt.Fprintf(w, "  wall clock    %d requests waited for their round's time to come (set -start earlier)\n", m.WallClockWaits)
	}
	fmt.Fprintf(w, "  selector      {%s} picks %d app_requests_total series\n", m.RateSelector, m.RateSelectorSeries)
}

// resolveStart sets cfg.start from the -start flag, or by default so that the run ends before now:
// -total samples need ceil(total / series) rounds; a -duration run allows for assumedMaxRate.
func resolveStart(cfg *config, flag string, now time.Time) error {
	if flag != "" {
		t, err := parseTime(flag, now)
		if err != nil {
			return fmt.Errorf("-start %q: %w", flag, err)
		}
		cfg.start = t
		return nil
	}
	series := int64(otlpgen.NewMetricsFleet(cfg.series).Series())
	var rounds int64
	maxRounds := int64((metricsRetention - time.Hour) / otlpgen.MetricsInterval)
	if cfg.total > 0 {
		rounds = (cfg.total + series - 1) / series
		if rounds > maxRounds {
			return fmt.Errorf("-total %d at %d series needs %d rounds of %v, more than the %v retention: raise -series, lower -total or set -start",
				cfg.total, series, rounds, otlpgen.MetricsInterval, metricsRetention)
		}
	} else {
		rounds = min(int64(cfg.duration.Seconds()*assumedMaxRate)/series+1, maxRounds)
	}
	cfg.start = now.Truncate(otlpgen.MetricsInterval).Add(-time.Duration(rounds) * otlpgen.MetricsInterval)
	return nil
}

// parseTime reads a time as RFC 3339, Unix seconds, or a duration before now ("6h", "90m", "2d").
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return now.Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want RFC 3339, Unix seconds, or a duration ago such as 6h or 2d")
}

// measureMetricsSize is -measure-json-size for metrics: rounds of the fleet until -total samples.
func measureMetricsSize(cfg config) (*sizeReport, error) {
	g, err := otlpgen.NewMetricsGenerator(otlpgen.MetricsConfig{Seed: cfg.seed, Series: cfg.series, Batch: cfg.batch, Start: cfg.start})
	if err != nil {
		return nil, err
	}
	s := &sizeReport{Signal: cfg.signal, Batch: cfg.batch, Series: g.Fleet().Series()}
	var jsonN, jsonGz, pbN, pbGz int64
	for i := 0; s.Items < cfg.total; i++ {
		sl := g.Slices()[i%len(g.Slices())]
		sl.Next()
		pb := sl.AppendProto(nil)
		js, err := pmetricotlp.NewExportRequestFromMetrics(sl.Metrics()).MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("marshal request: %w", err)
		}
		s.Items += int64(sl.Samples())
		s.DataPoints += int64(sl.DataPoints())
		jsonN += int64(len(js))
		pbN += int64(len(pb))
		jsonGz += gzipSize(js)
		pbGz += gzipSize(pb)
	}
	per := func(b int64) float64 { return float64(b) / float64(s.Items) }
	s.JSONBytes, s.JSONGzipBytes, s.ProtobufBytes, s.ProtobufGzipBytes = per(jsonN), per(jsonGz), per(pbN), per(pbGz)
	s.JSONBytesPerPoint = float64(jsonN) / float64(s.DataPoints)
	return s, nil
}
