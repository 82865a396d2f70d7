package deploy

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfileGoMatchesGoMod keeps the build stage's Go image on go.mod's
// Go version.
func TestDockerfileGoMatchesGoMod(t *testing.T) {
	img, err := goImageArg()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "golang:" + string(m[1]); img != want && !strings.HasPrefix(img, want+"-") && !strings.HasPrefix(img, want+".") {
		t.Errorf("Dockerfile GO_IMAGE=%s, want %s (go.mod's go %s)", img, want, m[1])
	}
}

// TestImage checks what the image is: its configuration, and that its file
// system holds the binary, CA certificates, time zone data and /data, and
// nothing else. It logs the image's size, raw and compressed as
// docker save | gzip, for BENCHMARKS.md.
func TestImage(t *testing.T) {
	img := image(t)
	var info struct {
		Size   int64
		Config struct {
			User         string
			Env          []string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]any
			Volumes      map[string]any
			StopSignal   string
			Labels       map[string]string
			Healthcheck  struct{ Test []string }
		}
	}
	inspect(t, "image", img, &info)
	c := info.Config
	check := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("image %s = %s, want %s", what, g, w)
		}
	}
	check("user", c.User, "65532:65532")
	check("entrypoint", c.Entrypoint, []string{"/lookout"})
	check("cmd", c.Cmd, []string{"serve"})
	check("exposed ports", slices.Sorted(mapKeys(c.ExposedPorts)), []string{"4317/tcp", "4318/tcp", "8080/tcp"})
	check("volumes", slices.Sorted(mapKeys(c.Volumes)), []string{"/data"})
	check("stop signal", c.StopSignal, "SIGTERM")
	check("healthcheck", c.Healthcheck.Test, []string{"CMD", "/lookout", "healthcheck"})
	check("version label", c.Labels["org.opencontainers.image.version"], "test-"+run)
	for _, env := range []string{"LOOKOUT_DATA_DIR=/data", "TMPDIR=/data"} {
		if !slices.Contains(c.Env, env) {
			t.Errorf("image env %q lacks %s", c.Env, env)
		}
	}
	if out := docker(t, "run", "--rm", "--network", "none", img, "version"); !strings.Contains(out, "lookout test-"+run+" (commit ") {
		t.Errorf("lookout version in the image = %q, want the version and commit stamped in", out)
	}

	// The file system, layer by layer, from docker save; its gzipped size
	// is what a registry would store.
	save := filepath.Join(t.TempDir(), "image.tar")
	docker(t, "save", "--output", save, img)
	files := map[string]*tar.Header{}
	readTar(t, save, func(h *tar.Header, r io.Reader) {
		if filepath.Base(h.Name) != "layer.tar" {
			return
		}
		tr := tar.NewReader(r)
		for {
			lh, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimSuffix(lh.Name, "/")] = lh
		}
	})
	var regular []string
	for name, h := range files {
		if h.Typeflag != tar.TypeDir {
			regular = append(regular, name)
		}
	}
	check("files", slices.Sorted(slices.Values(regular)), []string{"etc/ssl/certs/ca-certificates.crt", "lookout", "usr/share/zoneinfo.zip"})
	if d := files["data"]; d == nil || d.Typeflag != tar.TypeDir || d.Uid != 65532 || d.Gid != 65532 {
		// Its mode is lookout's to set: it makes the data directory 0700 on
		// start (the classic builder's COPY does not keep the 0700).
		t.Errorf("image /data = %+v, want a directory owned by 65532:65532", d)
	}

	gz := countWriter(0)
	zw := gzip.NewWriter(&gz)
	f, err := os.Open(save)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(zw, f); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	t.Logf("image size: %.1f MB (docker image inspect), %.1f MB compressed (docker save | gzip)", float64(info.Size)/1e6, float64(gz)/1e6)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func readTar(t *testing.T, path string, f func(*tar.Header, io.Reader)) {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tr := tar.NewReader(file)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		f(h, tr)
	}
}
