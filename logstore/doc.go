// Package logstore keeps log records and spans and answers searches over
// them. It sits after ingest in the data path: ingest calls ConsumeLogs and
// ConsumeTraces, and the web API and alerts call the search methods.
//
// # Durability and indexing
//
// Writes are acknowledged only once they are on disk. Each Consume call
// encodes its records into blocks (lookout's own compact encoding, see
// codec.go), compresses them with zstd and hands them to a single writer
// goroutine that appends everything queued into SQLite in one transaction
// (WAL, synchronous=FULL): one fsync acknowledges every request that arrived
// while the previous commit was running. The block database (blocks.db) is
// the source of truth.
//
// The bleve index is derived from the blocks, behind the acknowledgement. An
// indexer per signal reads committed blocks in id order and applies them to
// bleve with unsafe (non-fsynced) batches, which are fast. Each batch carries
// a persisted callback; when bleve reports every partition of a batch
// persisted, the signal's checkpoint (the highest fully indexed block id)
// advances and is written to blocks.db with the next commit. On start the
// store replays every block after the checkpoint. Documents have stable ids
// (a span's trace and span id, a log record's content digest), so replaying
// a block, or a client re-delivering a request, replaces documents rather than
// adding copies. If indexing falls more than Config.MaxIndexLag records
// behind, Consume returns ErrOverloaded so clients back off.
//
// # Partitions and retention
//
// Each signal's index is split into one bleve index per UTC day of the
// record's timestamp (index/<signal>/YYYYMMDD). A search opens an alias over
// only the partitions its time range touches. Retention closes and deletes
// whole partitions once their day has expired and deletes blocks whose newest
// record has, giving the pages back with incremental vacuum.
//
// # What is indexed
//
// The mapping is explicit and lean: the body is analysed (unicode words,
// lower case, with positions for phrases); ids, service, severity, span name,
// kind and status and every attribute and resource attribute value are
// keywords; numeric attributes, duration and severity number are also numeric
// fields for ranges; the timestamp has doc values for sorting. The only
// stored field is the record's location in the block store (block id and
// record number); everything shown to a user is decoded from the block.
package logstore
