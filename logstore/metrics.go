package logstore

import (
	"github.com/VictoriaMetrics/metrics"
)

type storeMetrics struct {
	stored         [2]*metrics.Counter
	refused        [2]*metrics.Counter
	rawBytes       [2]*metrics.Counter
	blockBytes     [2]*metrics.Counter
	indexedDocs    [2]*metrics.Counter
	indexErrs      [2]*metrics.Counter
	groupDocs      [2]*metrics.Counter
	commitDuration *metrics.Histogram
	searchDuration *metrics.Histogram
}

func newStoreMetrics(set *metrics.Set, s *Store) *storeMetrics {
	m := &storeMetrics{}
	for i, sig := range [2]string{"logs", "spans"} {
		m.stored[i] = set.NewCounter(`lookout_logstore_stored_total{signal="` + sig + `"}`)
		m.refused[i] = set.NewCounter(`lookout_logstore_refused_total{signal="` + sig + `"}`)
		m.rawBytes[i] = set.NewCounter(`lookout_logstore_block_raw_bytes_total{signal="` + sig + `"}`)
		m.blockBytes[i] = set.NewCounter(`lookout_logstore_block_compressed_bytes_total{signal="` + sig + `"}`)
		m.indexedDocs[i] = set.NewCounter(`lookout_logstore_indexed_total{signal="` + sig + `"}`)
		m.indexErrs[i] = set.NewCounter(`lookout_logstore_index_errors_total{signal="` + sig + `"}`)
		m.groupDocs[i] = set.NewCounter(`lookout_logstore_index_groups_total{signal="` + sig + `"}`)
		i := i
		set.NewGauge(`lookout_logstore_index_lag_records{signal="`+sig+`"}`, func() float64 { return float64(s.lag(i)) })
	}
	m.commitDuration = set.NewHistogram(`lookout_logstore_commit_duration_seconds`)
	m.searchDuration = set.NewHistogram(`lookout_logstore_search_duration_seconds`)
	return m
}
