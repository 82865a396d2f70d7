//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "time"

// cpuTime returns -1: process CPU time is not read on this platform.
func cpuTime() time.Duration { return -1 }
