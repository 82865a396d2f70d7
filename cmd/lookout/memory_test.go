package main

import (
	"io/fs"
	"testing"
)

func TestMemoryBudget(t *testing.T) {
	f := func(name string, files map[string]string, configured, maxInflight, wantBudget, wantIngest int64) {
		t.Helper()
		cgroup, err := cgroupMemoryLimit(func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		budget := memoryBudget(configured, cgroup)
		ingest := ingestBudget(budget, maxInflight)
		if budget != wantBudget || ingest != wantIngest {
			t.Errorf("%s: budget %d, ingest %d; want %d and %d", name, budget, ingest, wantBudget, wantIngest)
		}
	}
	const mi, gi = 1 << 20, 1 << 30
	v2, v1 := "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	f("no cgroup: the default", nil, 0, 0, 768*mi, 768*mi*2/5)
	f("cgroup v2 unlimited", map[string]string{v2: "max\n"}, 0, 0, 768*mi, 768*mi*2/5)
	f("cgroup v1 unlimited", map[string]string{v1: "9223372036854771712\n"}, 0, 0, 768*mi, 768*mi*2/5)
	f("1 GiB container: the default fits", map[string]string{v2: "1073741824\n"}, 0, 0, 768*mi, 768*mi*2/5)
	f("512 MiB container wins over the default", map[string]string{v2: "536870912\n"}, 0, 0, 384*mi, 384*mi*2/5)
	f("cgroup v1 limit", map[string]string{v1: "536870912\n"}, 0, 0, 384*mi, 384*mi*2/5)
	f("set below the cgroup", map[string]string{v2: "4294967296"}, 2*gi, 0, 2*gi, 858993459)
	f("set above the cgroup: the cgroup wins", map[string]string{v2: "1073741824"}, 4*gi, 0, 768*mi, 768*mi*2/5)
	f("set without a cgroup", nil, 4*gi, 0, 4*gi, 1717986918)
	f("--max-inflight sets ingest's share", nil, 0, 100*mi, 768*mi, 100*mi)
	f("--max-inflight no more than the budget", nil, 0, 2*gi, 768*mi, 768*mi)

	if _, err := cgroupMemoryLimit(func(string) ([]byte, error) { return []byte("lots"), nil }); err == nil {
		t.Error("a cgroup limit of \"lots\" was read without an error")
	}
}

func TestQuerySampleLimit(t *testing.T) {
	f := func(budget int64, concurrent, want int) {
		t.Helper()
		if got := querySampleLimit(budget, concurrent); got != want {
			t.Errorf("querySampleLimit(%d, %d) = %d, want %d", budget, concurrent, got, want)
		}
	}
	f(768<<20, 4, 3_774_873) // the default budget on 2 cores: 30% over 4 queries, 16 B a sample
	f(768<<20, 8, 1_887_436)
	f(64<<30, 4, 50_000_000) // never above Prometheus' default
}
