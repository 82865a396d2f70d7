package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/disktest"
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

// TestReadyWhileDiskFull runs lookout on a small tmpfs, fills it, and
// checks that ingest is refused retryably (503, not 500), that /readyz
// answers 503 naming each store whose writes fail, and that it answers 200
// again once space is freed, without any client writing in between: a load
// balancer sends nothing to an instance that is not ready, so readiness has
// to find out by itself.
func TestReadyWhileDiskFull(t *testing.T) {
	mnt := disktest.Mount(t, "32m")
	// The free-space floor off: this is the stores' own last line of
	// defence, for when something else fills the disk faster than the
	// floor can be kept (TestMinFreeDisk tests the floor).
	s := startServer(t, filepath.Join(mnt, "data"), "--min-free-disk", "0")
	if code, body := readyz(t, s.addr.HTTP); code != 200 {
		t.Fatalf("readyz after start = %d %s, want 200", code, body)
	}

	free := disktest.Fill(t, mnt)
	logs, spans := crashBatch(1)
	for _, req := range []struct {
		path string
		body []byte
	}{{"/v1/logs", logs}, {"/v1/traces", spans}, {"/v1/metrics", crashMetrics(1)}} {
		// A write can still land in space SQLite had already (its WAL
		// file); keep sending until the disk says no.
		var codes []int
		eventually(t, "POST "+req.path+" to be refused on a full disk", func() bool {
			code, err := postOTLP(s.addr.OTLPHTTP, req.path, req.body)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, code)
			switch code {
			case 200:
				return false
			case 503:
				return true
			}
			t.Fatalf("POST %s on a full disk: %v, want 200s then 503 (retryable)", req.path, codes)
			return false
		})
	}
	var reasons map[string]string
	eventually(t, "readyz to answer 503 naming the stores", func() bool {
		code, body := readyz(t, s.addr.HTTP)
		var r struct{ Reasons map[string]string }
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("readyz: %v in %s", err, body)
		}
		reasons = r.Reasons
		return code == 503 && strings.Contains(reasons["logstore"], "full") && strings.Contains(reasons["metricstore"], "full")
	})
	t.Logf("readyz reasons on a full disk: %v", reasons)

	free()
	// Nothing is sent now: readiness must come back by itself.
	eventually(t, "readyz to answer 200 once space is freed", func() bool {
		code, _ := readyz(t, s.addr.HTTP)
		return code == 200
	})
	if code, err := postOTLP(s.addr.OTLPHTTP, "/v1/logs", logs); err != nil || code != 200 {
		t.Errorf("POST /v1/logs once space is freed = %d, %v; want 200", code, err)
	}
}

func readyz(t *testing.T, addr string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}
