package private

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMkdirAll(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing os.FileMode // 0: the directory does not exist
		want     os.FileMode
	}{
		{"created", 0, 0o700},
		{"world-readable made owner-only", 0o755, 0o700},
		{"group-readable made owner-only", 0o750, 0o700},
		{"owner-only kept", 0o700, 0o700},
		{"stricter kept", 0o500, 0o500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "data")
			if tc.existing != 0 {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := MkdirAll(dir); err != nil {
				t.Fatalf("MkdirAll on %04o: %v", tc.existing, err)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.want {
				t.Errorf("MkdirAll on %04o: mode %04o, want %04o", tc.existing, got, tc.want)
			}
		})
	}
}

func TestFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing os.FileMode // 0: the file does not exist
		want     os.FileMode
	}{
		{"created", 0, 0o600},
		{"world-readable made owner-only", 0o644, 0o600},
		{"owner-only kept", 0o600, 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			if tc.existing != 0 {
				if err := os.WriteFile(path, []byte("data"), tc.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := File(path); err != nil {
				t.Fatalf("File on %04o: %v", tc.existing, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.want {
				t.Errorf("File on %04o: mode %04o, want %04o", tc.existing, got, tc.want)
			}
			if tc.existing != 0 {
				if b, _ := os.ReadFile(path); string(b) != "data" {
					t.Errorf("File on an existing file changed its content to %q", b)
				}
			}
		})
	}
}

// TestMkdirAllRefusesWhatItCannotTighten mounts a read-only file system
// whose root is 0755: a directory whose mode cannot be changed (the same
// answer as for one owned by another user) is refused, not used.
func TestMkdirAllRefusesWhatItCannotTighten(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m,mode=0755", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a read-only tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	err = MkdirAll(dir)
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "0755") {
		t.Errorf("MkdirAll on a read-only 0755 directory = %v, want an error naming the mode and EROFS", err)
	}
}
