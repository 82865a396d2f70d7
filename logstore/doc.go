// Package logstore keeps log records and spans and answers searches over
// them. It sits after ingest in the data path: ingest calls ConsumeLogs and
// ConsumeTraces, and the web API (later alerts) call the search methods.
//
// # Durability
//
// Writes are acknowledged only once they are on disk. Each Consume call
// encodes its records into request blocks (lookout's own compact encoding,
// see codec.go), compresses them with zstd and hands them to a single writer
// goroutine that appends everything queued into SQLite (blocks.db) in one
// transaction (WAL, synchronous=FULL): one fsync acknowledges every request
// that arrived while the previous commit ran. Nothing else happens before the
// acknowledgement.
//
// # Indexing, behind the acknowledgement
//
// An indexer per signal reads committed request blocks in id order and sorts
// their records into groups: up to 512 records of one day and one service
// (for logs, one severity too). For each group it
//
//   - stores the group's records together as one group block (same codec,
//     zstd) in blocks.db, through the same writer;
//   - writes a bloom filter of the group's high-cardinality values (any
//     value or body word with a digit, or longer than 48 bytes: ids,
//     numbers, addresses) to the day's bloom file;
//   - indexes one bleve document with the group's distinct words and
//     low-cardinality values, its numeric values, its time span and the id
//     of the request block it started from, with unsafe (non-fsynced) bleve
//     batches.
//
// Each bleve batch carries a persisted callback. When every partition of a
// batch has persisted it, the signal's checkpoint (the last request block
// fully indexed) advances; the writer fsyncs the bloom files, records the
// checkpoint and deletes the request blocks it covers, in one transaction.
// On start, group blocks and documents built after the checkpoint are
// deleted and the request blocks after it are indexed again, so a crash at
// any point loses nothing acknowledged and leaves no copies. If indexing
// falls more than Config.MaxIndexLag records behind, Consume returns
// ErrOverloaded so that clients back off.
//
// Why groups: a term dictionary cannot store a random id in fewer bytes than
// its length, so indexing every record on its own cost ~950 bytes per record
// of index. Words shared by a group's records are stored once per group, and
// a random id costs ~1.25 bytes in a bloom filter; the index is now ~25
// bytes per record and the whole store ~0.17x the OTLP/JSON size.
//
// # Searching
//
// A query (the language of internal/logql) is compiled to three tests, from
// coarse to exact: a bleve query that finds every group that may hold a
// match, a bloom test that rules groups out by their high-cardinality
// values, and an exact match on each record of the remaining groups, made on
// the same flattened view of the record the index was built from. Groups are
// visited newest first (by their newest record), so a page of the newest
// results settles early; totals count up to 10,000 matches. One search
// reads at most 1,000,000 records, for its page and its count together, so
// the count does not depend on the page size and a query the index cannot
// narrow (NOT, wildcards) costs a bounded scan (TotalExact false beyond, and
// Partial if the page was not settled).
// Re-delivered records are dropped at query time: log records by a digest of
// their content, spans by (trace_id, span_id).
//
// A count of log records that asks only about service and severity (the
// logs explorer's histogram) mostly reads no record: each group keeps its
// service, severity, time span and number of records, and the indexer marks
// the groups that may hold a copy of a record stored elsewhere (see
// dedup.go); an unmarked group within the range adds its number, one that
// straddles an end is counted by its records' timestamps.
//
// # Partitions and retention
//
// Each signal's index is split into one bleve index per UTC day of the
// record's timestamp (index/<signal>/YYYYMMDD, with YYYYMMDD.bloom beside
// it). A search touches only the partitions of its time range. Retention
// closes and deletes whole partitions once their day has expired and deletes
// group blocks whose newest record has, giving pages back with incremental
// vacuum.
package logstore
