package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/lookout-dev/lookout/query"
)

// defaultMaxMemory is the memory budget when none is set: three quarters of
// a 1 GiB container, leaving the rest to what the Go runtime does not
// count (the index's memory-mapped segments, the page cache charged to the
// container, fragmentation).
const defaultMaxMemory = 768 << 20

// cgroupShare is the part of a cgroup memory limit used as the budget, for
// the same reason.
const cgroupShare = 0.75

// ingestShare is the part of the budget ingest may hold in requests being
// decoded and stored; the rest is for queries, the stores' caches and the
// indexer.
const ingestShare = 0.4

// queryShare is the part of the budget PromQL queries may hold at once,
// split evenly between the queries the engine runs concurrently: it sets
// each query's sample limit (16 bytes a float sample).
const queryShare = 0.3

// querySampleLimit is the samples one query may hold within its part of
// the budget, at most Prometheus' own default of 50 million.
func querySampleLimit(budget int64, concurrent int) int {
	return int(min(int64(float64(budget)*queryShare)/int64(concurrent)/16, query.DefaultMaxSamples))
}

// cgroupLimitFiles are where a container's memory limit is read: cgroup v2,
// then v1. Inside a container's cgroup namespace /sys/fs/cgroup is the
// container's own.
var cgroupLimitFiles = [...]string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// cgroupMemoryLimit reads the cgroup memory limit; 0 means none (no file,
// "max", or v1's "unlimited", a number near 2^63).
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, error) {
	for _, name := range cgroupLimitFiles {
		b, err := readFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read cgroup memory limit: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cgroup memory limit %s: %q is not a number", name, s)
		}
		if n <= 0 || n >= 1<<60 {
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}

// memoryBudget resolves --max-memory against the cgroup limit: the setting
// (the default when 0), unless a share of the cgroup limit is lower, which
// then wins: a budget above the container's limit would be met by the
// kernel's OOM killer before the Go runtime or ingest could act on it.
func memoryBudget(configured, cgroup int64) int64 {
	budget := configured
	if budget == 0 {
		budget = defaultMaxMemory
	}
	if cgroup > 0 {
		if capped := int64(float64(cgroup) * cgroupShare); capped < budget {
			budget = capped
		}
	}
	return budget
}

// ingestBudget is ingest's share of the memory budget, unless
// --max-inflight sets it.
func ingestBudget(budget, maxInflight int64) int64 {
	if maxInflight > 0 {
		return min(maxInflight, budget)
	}
	return int64(float64(budget) * ingestShare)
}
