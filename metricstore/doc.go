// Package metricstore keeps metric samples in SQLite in Prometheus' data
// model and answers PromQL through Prometheus' own storage interfaces.
//
// It sits after ingest on the data path: ConsumeMetrics converts OTLP with
// Prometheus' own OTLP translator (names, suffixes, job/instance,
// target_info, histograms, exemplars), and the rules manager and PromQL
// engine use it as a storage.Appendable and storage.Queryable.
//
// # Write path
//
// An appender collects a request's samples, resolves each label set to a
// series (a dense id; label pairs are dictionary-coded) and hands one
// compressed WAL row to the single writer goroutine. The writer commits
// whatever has queued in one SQLite transaction (WAL mode, synchronous=FULL),
// so one fsync acknowledges many requests; new series, their postings,
// metadata and exemplars go in the same transaction. After the commit the
// writer appends the samples to each series' in-memory head chunk
// (tsdb/chunkenc XOR, or histogram chunks for native histograms) and only
// then acknowledges.
//
// A checkpoint (every Config.CheckpointInterval) writes every changed chunk,
// cut or still open, as a row of the chunks table and deletes the WAL rows it
// covers, in one transaction. Open replays the WAL rows left after the last
// checkpoint, so an acknowledged sample survives a kill -9.
//
// # Duplicates and order
//
// A sample is unique by series and timestamp. A sample at the head's last
// timestamp is dropped; an older one goes to the series' out-of-order chunk.
// Chunks may therefore overlap; reads merge them and keep one sample per
// timestamp, so re-delivering a request changes no query result.
//
// # Read path
//
// Select turns matchers into SQL over the postings table (equality through
// the pair dictionary, regular expressions over a label's values), reads the
// chunks overlapping the query's time range from SQL and the head from
// memory, and merges them per series.
package metricstore
