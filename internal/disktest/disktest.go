// Package disktest gives tests a real file system that fills up: a small
// tmpfs mounted for the test, and a filler file that takes its last byte.
// Mounting needs root (or CAP_SYS_ADMIN), as on the machines and in the CI
// that run lookout's tests; elsewhere the test is skipped, saying why.
package disktest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (such as "32m") on a new temporary directory
// and unmounts it when the test ends, after the cleanups registered later
// (a server using it) have run.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system has no space left and
// returns a function that removes it again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	// Large writes first, then smaller ones for what a short write left.
	for _, n := range []int{len(buf), 64 << 10, 4 << 10, 1} {
		for {
			_, err := f.Write(buf[:n])
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// FillTo writes a file in dir until the file system has about free bytes
// left for an unprivileged writer, and returns a function that removes it
// again.
func FillTo(t testing.TB, dir string, free int64) (remove func()) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	n := int64(st.Bavail)*int64(st.Bsize) - free
	if n <= 0 {
		t.Fatalf("%s has %d bytes free, not more than %d", dir, int64(st.Bavail)*int64(st.Bsize), free)
	}
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n > 0 {
		w, err := f.Write(buf[:min(n, int64(len(buf)))])
		if err != nil {
			t.Fatal(err)
		}
		n -= int64(w)
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}
