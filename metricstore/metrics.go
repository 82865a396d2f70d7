package metricstore

import (
	"os"
	"path/filepath"

	"github.com/VictoriaMetrics/metrics"
)

type storeMetrics struct {
	samplesAppended   *metrics.Counter
	samplesRejected   *metrics.Counter
	seriesSelected    *metrics.Counter
	chunksWritten     *metrics.Counter
	checkpointErrors  *metrics.Counter
	retentionRuns     *metrics.Counter
	commitSeconds     *metrics.Histogram
	checkpointSeconds *metrics.Histogram
}

func newStoreMetrics(set *metrics.Set, s *Store) *storeMetrics {
	m := &storeMetrics{
		samplesAppended:   set.NewCounter("lookout_metricstore_samples_appended_total"),
		samplesRejected:   set.NewCounter("lookout_metricstore_samples_rejected_total"),
		seriesSelected:    set.NewCounter("lookout_metricstore_series_selected_total"),
		chunksWritten:     set.NewCounter("lookout_metricstore_chunks_written_total"),
		checkpointErrors:  set.NewCounter("lookout_metricstore_checkpoint_errors_total"),
		retentionRuns:     set.NewCounter("lookout_metricstore_retention_runs_total"),
		commitSeconds:     set.NewHistogram("lookout_metricstore_commit_seconds"),
		checkpointSeconds: set.NewHistogram("lookout_metricstore_checkpoint_seconds"),
	}
	h := s.head
	set.NewGauge("lookout_metricstore_head_series", func() float64 { return float64(h.numSeries()) })
	set.NewGauge("lookout_metricstore_samples_duplicate_total", func() float64 { return float64(h.stats.duplicates.Load()) })
	set.NewGauge("lookout_metricstore_samples_out_of_order_total", func() float64 { return float64(h.stats.outOfOrder.Load()) })
	set.NewGauge("lookout_metricstore_histogram_errors_total", func() float64 { return float64(h.stats.histogramErrors.Load()) })
	set.NewGauge("lookout_metricstore_write_queue", func() float64 { return float64(len(s.reqs)) })
	set.NewGauge("lookout_metricstore_disk_bytes", func() float64 { return float64(dirSize(s.cfg.Dir)) })
	return m
}

func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}
