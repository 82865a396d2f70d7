//go:build unix

package main

import (
	"syscall"

	"github.com/VictoriaMetrics/metrics"
)

// registerDiskMetrics exports the size and free space of the file system
// holding the data directory, which the built-in disk alert watches.
func registerDiskMetrics(set *metrics.Set, dir string) {
	statfs := func(f func(*syscall.Statfs_t) float64) func() float64 {
		return func() float64 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				return 0
			}
			return f(&st)
		}
	}
	set.NewGauge("lookout_filesystem_size_bytes", statfs(func(st *syscall.Statfs_t) float64 { return float64(st.Blocks) * float64(st.Bsize) }))
	// Avail, not Free: what lookout, not root, can still write.
	set.NewGauge("lookout_filesystem_avail_bytes", statfs(func(st *syscall.Statfs_t) float64 { return float64(st.Bavail) * float64(st.Bsize) }))
}
