package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirectoryIsOwnerOnly starts lookout on a data directory that
// already exists with mode 0755, as one made by hand or by a volume mount
// is, stores logs, spans and metrics, and checks that everything in the
// data directory is for lookout's user only: the directory itself made
// 0700, every directory lookout made 0700 and every file 0600. It walks
// while serving (SQLite's -wal and -shm files exist only then) and after
// shutdown (the Alertmanager's snapshots and bleve's persisted segments are
// written then).
func TestDataDirectoryIsOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	// No admin password: lookout writes the generated one to a file.
	cfg, err := loadConfig("serve", []string{"--data-dir", dir, "--http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0"},
		testEnv(map[string]string{"LOOKOUT_ADMIN_PASSWORD": ""}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := startServerConfig(t, cfg)
	logs, spans := crashBatch(1)
	for _, req := range []struct {
		path string
		body []byte
	}{{"/v1/logs", logs}, {"/v1/traces", spans}, {"/v1/metrics", crashMetrics(1)}} {
		if code, err := postOTLP(s.addr.OTLPHTTP, req.path, req.body); err != nil || code != 200 {
			t.Fatalf("POST %s = %d, %v; want 200", req.path, code, err)
		}
	}
	waitIndexed(t, s.addr.HTTP)

	seen := map[string]bool{}
	checkModes(t, dir, seen)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	checkModes(t, dir, seen)
	// The walk must have met what lookout makes, or it proves nothing.
	for _, want := range []string{"meta.db", "meta.db-wal", "initial-admin-password", "logs/blocks.db", "logs/blocks.db-wal",
		"logs/index", "metrics/metrics.db", "metrics/metrics.db-shm", "alertmanager/nflog", "alertmanager/silences"} {
		if !seen[want] {
			t.Errorf("%s was not in the data directory", want)
		}
	}
	var index bool
	for p := range seen {
		index = index || strings.HasSuffix(p, "index_meta.json")
	}
	if !index {
		t.Errorf("no index partition (index_meta.json) was in the data directory; walked %v", seen)
	}
}

// checkModes walks dir and fails for each directory that is not 0700 or
// stricter and each file that is not 0600 or stricter; it records what it
// walked, relative to dir, in seen.
func checkModes(t *testing.T, dir string, seen map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		seen[filepath.ToSlash(rel)] = true
		perm := fi.Mode().Perm()
		switch {
		case fi.IsDir() && perm&^0o700 != 0:
			t.Errorf("directory %s is mode %04o, want 0700", rel, perm)
		case fi.Mode().IsRegular() && perm&^0o600 != 0:
			t.Errorf("file %s is mode %04o, want 0600", rel, perm)
		case !fi.IsDir() && !fi.Mode().IsRegular():
			t.Errorf("%s is a %s, want only files and directories", rel, fi.Mode().Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
