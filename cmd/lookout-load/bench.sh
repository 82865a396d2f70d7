#!/usr/bin/env bash
# Reproduces the numbers in BENCHMARKS.md: builds lookout and lookout-load,
# starts lookout on a fresh data directory, sends N log records and then N
# spans, waits until everything is indexed, and reports ingest rates, peak
# resident memory, disk per item and search latency; then restarts lookout
# and times start-up to ready.
#
# The metrics phase then starts lookout on a fresh data directory for each
# fleet size, sends SAMPLES samples (15 s rounds of simulated time ending
# before now), and reports the durable ingest rate (lookout acknowledges only
# after fsync), peak resident memory with the fleet's series active, disk per
# sample of <data-dir>/metrics after a graceful stop (chunks are written
# behind the acknowledgement, so du before the stop undercounts), start-up to
# ready, and PromQL latency (lookout-load queries -kind promql).
#
#   cmd/lookout-load/bench.sh [records] [data-dir]
#
# Environment:
#   SIGNALS  phases to run, default "logs traces metrics"; SIGNALS=metrics runs
#            the metrics phase alone
#   SAMPLES  samples per fleet size, default 10 × records
#   SERIES   fleet sizes in Prometheus series, default "10000 100000"
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
DIR=${2:-$(mktemp -d)/data}
SIGNALS=${SIGNALS:-logs traces metrics}
SAMPLES=${SAMPLES:-$((10 * N))}
SERIES=${SERIES:-10000 100000}
BIN=$(mktemp -d)
go build -o "$BIN/lookout" ./cmd/lookout
go build -o "$BIN/lookout-load" ./cmd/lookout-load
export LOOKOUT_INGEST_TOKEN=bench-token-0123456789
export LOOKOUT_ADMIN_PASSWORD=bench-admin-password
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"

selected() { case " $SIGNALS " in *" $1 "*) return 0 ;; esac; return 1; }
start_server() {
	"$BIN/lookout" --data-dir "$1" --log-format text >>"$1.log" 2>&1 &
	PID=$!
	until curl -sf localhost:8080/readyz >/dev/null; do sleep 0.05; done
}
stop_server() { kill "$PID"; wait "$PID" || true; }
metric() { curl -s localhost:8080/metrics | awk -v m="$1" '$1==m {print $2}'; }
wait_indexed() {
	until [ "$(metric "lookout_logstore_index_lag_records{signal=\"$1\"}")" = "0" ]; do sleep 0.5; done
}
# sample_rss records the peak resident memory, sampled each second, in $RSS.
sample_rss() {
	local peak=0
	echo 0 >"$RSS"
	while kill -0 "$PID" 2>/dev/null; do
		r=$(metric process_resident_memory_bytes || echo 0)
		r=${r%.*}
		if [ -n "$r" ] && [ "$r" -gt "$peak" ]; then peak=$r; echo "$peak" >"$RSS"; fi
		sleep 1
	done
}
mib() { echo $(( ${1%.*} / 1048576 )); }
# json_num prints the first number named $1 in the JSON file $2.
json_num() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }

if selected logs || selected traces; then
	start_server "$DIR"
	RSS="$DIR.rss"
	sample_rss &
	SAMPLER=$!
	before=$(du -sb "$DIR/logs" | cut -f1)
	stored=0
	for signal in logs traces; do
		selected "$signal" || continue
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
		stored=$((stored + N))
	done
	kill "$SAMPLER" 2>/dev/null || true
	echo "peak resident memory: $(mib "$(cat "$RSS")") MiB sampled each second, $(mib "$(metric process_resident_memory_peak_bytes)") MiB high-water mark"
	for signal in logs traces; do
		if selected "$signal"; then
			"$BIN/lookout-load" -measure-json-size -signal "$signal" -total 20000 | grep JSON
		fi
	done
	"$BIN/lookout-load" queries
	stop_server
	t0=$(date +%s.%N)
	start_server "$DIR"
	t1=$(date +%s.%N)
	echo "restart to ready with $stored items stored: $(echo "$t1 - $t0" | bc) s"
	stop_server
fi

if selected metrics; then
	"$BIN/lookout-load" -measure-json-size -signal metrics -total 200000 | grep -E 'JSON|protobuf'
	for series in $SERIES; do
		MDIR="$DIR-metrics-$series"
		rm -rf "$MDIR"
		start_server "$MDIR"
		RSS="$MDIR.rss"
		sample_rss &
		SAMPLER=$!
		"$BIN/lookout-load" -signal metrics -series "$series" -total "$SAMPLES" -concurrency 8 -batch 2000 -report json >"$MDIR.load.json"
		acked=$(json_num items_acked "$MDIR.load.json")
		echo "metrics, $series series: $acked samples acknowledged durably in $(json_num elapsed_seconds "$MDIR.load.json") s =" \
			"$(printf %.0f "$(json_num items_per_second "$MDIR.load.json")") samples/s," \
			"$(printf %.0f "$(json_num data_points_per_second "$MDIR.load.json")") data points/s" \
			"($(json_num rounds "$MDIR.load.json") rounds, $(json_num errors "$MDIR.load.json") errors, $(json_num refused_429 "$MDIR.load.json") × 429)"
		kill "$SAMPLER" 2>/dev/null || true
		echo "metrics, $series series: peak resident memory $(mib "$(cat "$RSS")") MiB sampled each second," \
			"$(mib "$(metric process_resident_memory_peak_bytes)") MiB high-water mark"
		stop_server
		bytes=$(du -sb "$MDIR/metrics" | cut -f1)
		echo "metrics, $series series: disk $bytes bytes = $(echo "scale=2; $bytes / $acked" | bc) B per sample (series index included)"
		t0=$(date +%s.%N)
		start_server "$MDIR"
		t1=$(date +%s.%N)
		echo "metrics, $series series: restart to ready with $acked samples stored: $(echo "$t1 - $t0" | bc) s"
		"$BIN/lookout-load" queries -kind promql -series "$series"
		echo "metrics, $series series: resident memory high-water mark after the queries $(mib "$(metric process_resident_memory_peak_bytes)") MiB"
		stop_server
	done
fi
