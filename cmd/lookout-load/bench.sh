#!/usr/bin/env bash
# Reproduces the numbers in BENCHMARKS.md: builds lookout and lookout-load,
# starts lookout on a fresh data directory, sends N log records and then N
# spans, waits until everything is indexed, and reports ingest rates, peak
# resident memory, disk per item and search latency; then restarts lookout
# and times start-up to ready.
#
#   cmd/lookout-load/bench.sh [records] [data-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
DIR=${2:-$(mktemp -d)/data}
BIN=$(mktemp -d)
go build -o "$BIN/lookout" ./cmd/lookout
go build -o "$BIN/lookout-load" ./cmd/lookout-load
export LOOKOUT_INGEST_TOKEN=bench-token-0123456789
export LOOKOUT_ADMIN_PASSWORD=bench-admin-password
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"

start_server() {
	"$BIN/lookout" --data-dir "$DIR" --log-format text >>"$DIR.log" 2>&1 &
	PID=$!
	until curl -sf localhost:8080/readyz >/dev/null; do sleep 0.05; done
}
metric() { curl -s localhost:8080/metrics | awk -v m="$1" '$1==m {print $2}'; }
wait_indexed() {
	until [ "$(metric "lookout_logstore_index_lag_records{signal=\"$1\"}")" = "0" ]; do sleep 0.5; done
}
peak=0
sample_rss() {
	while kill -0 "$PID" 2>/dev/null; do
		r=$(metric process_resident_memory_bytes || echo 0)
		r=${r%.*}
		if [ -n "$r" ] && [ "$r" -gt "$peak" ]; then peak=$r; echo "$peak" >"$DIR.rss"; fi
		sleep 1
	done
}

start_server
sample_rss &
SAMPLER=$!
before=$(du -sb "$DIR/logs" | cut -f1)
for signal in logs traces; do
	t0=$(date +%s.%N)
	"$BIN/lookout-load" -signal "$signal" -total "$N" -concurrency 8 -batch 1000
	sig=$signal; [ "$signal" = traces ] && sig=spans
	wait_indexed "$sig"
	t1=$(date +%s.%N)
	echo "$signal: $N acknowledged and indexed in $(echo "$t1 - $t0" | bc) s = $(echo "$N / ($t1 - $t0)" | bc) per second"
	# Let the checkpoint delete the indexed request blocks, then weigh.
	sleep 3
	after=$(du -sb "$DIR/logs" | cut -f1)
	echo "$signal: disk $((after - before)) bytes = $(echo "scale=1; ($after - $before) / $N" | bc) B per item"
	before=$after
done
kill "$SAMPLER" 2>/dev/null || true
echo "peak resident memory: $(( $(cat "$DIR.rss") / 1048576 )) MiB sampled each second, $(( $(metric process_resident_memory_peak_bytes) / 1048576 )) MiB high-water mark"
"$BIN/lookout-load" -measure-json-size -signal logs -total 20000 | grep JSON
"$BIN/lookout-load" -measure-json-size -signal traces -total 20000 | grep JSON
"$BIN/lookout-load" queries
kill "$PID"; wait "$PID" || true
t0=$(date +%s.%N)
start_server
t1=$(date +%s.%N)
echo "restart to ready with $((2*N)) items stored: $(echo "$t1 - $t0" | bc) s"
kill "$PID"; wait "$PID" || true
