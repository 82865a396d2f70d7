//go:build !unix

package main

import "github.com/VictoriaMetrics/metrics"

// registerDiskMetrics exports nothing where statfs is not available; the
// built-in disk alert then has no data and stays inactive.
func registerDiskMetrics(*metrics.Set, string) {}
