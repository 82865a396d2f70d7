package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// run names everything these tests make on the Docker engine (images,
// containers, volumes, a compose project), which other people's builds and
// tests may share: unique per test process, and removed at the end.
var run = fmt.Sprintf("%d%03d", os.Getpid(), time.Now().UnixNano()%1000)

// built is the image the tests run, built once per test process.
var built struct {
	once  sync.Once
	image string // the tag of the built image
	base  string // a build-stage base these tests made, or ""
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.image != "" || built.base != "" {
		if err := removeImages(built.image, built.base); err != nil {
			fmt.Fprintf(os.Stderr, "deploy: clean up images: %v\n", err)
		}
	}
	os.Exit(code)
}

// requireDocker skips a test where no Docker engine answers, except in CI,
// whose machines have one: there a missing engine fails rather than
// passing on tests that never ran.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the Docker tests build and run the image")
	}
	out, err := dockerOut(30*time.Second, nil, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		msg := fmt.Sprintf("no Docker engine answers: %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI's machines have one, so this is a broken machine, not a reason to skip)")
		}
		t.Skip(msg)
	}
	_ = out
}

// image is the repository's Dockerfile built into an image, once.
func image(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	built.once.Do(func() { built.err = buildImage(t) })
	if built.err != nil {
		t.Fatalf("build the image: %v", built.err)
	}
	return built.image
}

// docker runs the docker command and returns its standard output, failing
// the test with everything it printed.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerOut(5*time.Minute, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerOut runs docker with env added to this process's environment.
func dockerOut(timeout time.Duration, env []string, args ...string) (string, error) {
	return command(timeout, env, "docker", args...)
}

func command(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// repoRoot is the repository, where the Dockerfile is.
func repoRoot() string {
	root, _ := filepath.Abs("..")
	return root
}

// goImageArg is the default of the Dockerfile's GO_IMAGE build argument,
// the image its build stage starts from.
func goImageArg() (string, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Dockerfile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^ARG GO_IMAGE=(\S+)$`).FindSubmatch(b)
	if m == nil {
		return "", errors.New("Dockerfile has no ARG GO_IMAGE=<image> line")
	}
	return string(m[1]), nil
}

// buildImage builds the Dockerfile as a user would, with two differences
// that only replace what this machine cannot download, from this machine:
//   - where the build stage's Go image is not in the engine (no registry
//     here), a base image holding this host's Go toolchain, made by
//     docker import, is passed as GO_IMAGE;
//   - modules come through GOPROXY from a proxy these tests serve from
//     this host's module cache, so the build reaches no network.
func buildImage(t *testing.T) error {
	goImage, err := goImageArg()
	if err != nil {
		return err
	}
	if _, err := dockerOut(time.Minute, nil, "image", "inspect", goImage); err != nil {
		if runtime.GOOS != "linux" {
			return fmt.Errorf("%s is not in the engine, and a local one is made from this host's files on Linux only: docker pull %s", goImage, goImage)
		}
		base := "lookout-test-go:" + run
		t.Logf("%s is not in the engine (there is no registry here): making %s from this host's Go toolchain", goImage, base)
		start := time.Now()
		if err := importGoImage(base); err != nil {
			return fmt.Errorf("make a local Go base image: %w", err)
		}
		built.base, goImage = base, base
		t.Logf("made %s in %v", base, time.Since(start).Round(time.Second))
	}

	proxy, err := serveModuleCache()
	if err != nil {
		return err
	}
	defer proxy.Close()

	commit, _ := command(time.Minute, nil, "git", "-C", repoRoot(), "rev-parse", "HEAD")
	tag := "lookout-test:" + run
	start := time.Now()
	out, err := dockerOut(15*time.Minute, nil, "build",
		// The build's RUN steps reach the module proxy on this host's
		// loopback.
		"--network", "host",
		"--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "GOPROXY=http://"+proxy.Addr().String(),
		"--build-arg", "VERSION=test-"+run,
		"--build-arg", "COMMIT="+commit,
		"--tag", tag,
		repoRoot())
	if err != nil {
		return err
	}
	built.image = tag
	t.Logf("built %s in %v", tag, time.Since(start).Round(time.Second))
	_ = out
	return nil
}

// serveModuleCache serves this host's module download cache as a Go
// module proxy (the GOPROXY protocol is plain files), after filling it
// with whatever of go.mod's modules it lacks.
func serveModuleCache() (net.Listener, error) {
	if _, err := command(10*time.Minute, nil, "go", "-C", repoRoot(), "mod", "download"); err != nil {
		return nil, err
	}
	modcache, err := command(time.Minute, nil, "go", "env", "GOMODCACHE")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(modcache, "cache", "download")))}
	go srv.Serve(ln)
	return ln, nil
}

// importGoImage makes an image named tag with this host's Go toolchain at
// /usr/local/go and GOPATH /go, as the official Go image has them, CA
// certificates, and the few programs (and their libraries) the
// Dockerfile's RUN steps call: sh, mkdir, chown, chmod.
func importGoImage(tag string) error {
	goroot, err := command(time.Minute, nil, "go", "env", "GOROOT")
	if err != nil {
		return err
	}
	files := map[string]string{ // path in the image -> path on the host
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
	for _, prog := range []string{"sh", "mkdir", "chown", "chmod"} {
		path, err := exec.LookPath(prog)
		if err != nil {
			return err
		}
		files["/bin/"+prog] = path
		libs, err := sharedLibraries(path)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			files[lib] = lib
		}
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeGoRootFS(pw, goroot, files)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "import",
		"--change", "ENV PATH=/usr/local/go/bin:/go/bin:/bin",
		"--change", "ENV GOPATH=/go",
		"--change", "ENV HOME=/root",
		"--change", "ENV GOTOOLCHAIN=local",
		"--change", "WORKDIR /go",
		"-", tag)
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.CloseWithError(io.EOF)
	if err != nil {
		return fmt.Errorf("docker import: %v: %s", err, out)
	}
	return nil
}

// sharedLibraries lists the libraries ldd says prog loads, the dynamic
// loader among them.
func sharedLibraries(prog string) ([]string, error) {
	out, err := command(time.Minute, nil, "ldd", prog)
	if err != nil {
		if strings.Contains(err.Error(), "not a dynamic executable") {
			return nil, nil
		}
		return nil, err
	}
	var libs []string
	for line := range strings.Lines(out) {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	return libs, nil
}

// writeGoRootFS writes the base image's root file system as a tar stream.
func writeGoRootFS(w io.Writer, goroot string, files map[string]string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	dirs := map[string]bool{}
	var mkdir func(dir string, mode int64) error
	mkdir = func(dir string, mode int64) error {
		if dir == "/" || dir == "." || dirs[dir] {
			return nil
		}
		if err := mkdir(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		dirs[dir] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: mode})
	}
	addFile := func(name, host string) error {
		if err := mkdir(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := os.Open(host) // follows symbolic links: the image gets the file
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(name, "/"), Mode: int64(fi.Mode().Perm()), Size: fi.Size()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}

	for _, d := range []string{"/tmp", "/root", "/go/bin", "/go/pkg"} {
		mode := int64(0o755)
		if d == "/tmp" {
			mode = 0o1777
		}
		if err := mkdir(d, mode); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := addFile(name, files[name]); err != nil {
			return err
		}
	}
	// The toolchain, less what a build never reads.
	skip := map[string]bool{"test": true, "api": true, "doc": true, "misc": true}
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		if d.IsDir() && skip[rel] {
			return filepath.SkipDir
		}
		name := "/usr/local/go/" + filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return mkdir(strings.TrimSuffix(name, "/."), 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(name, "/"), Linkname: target, Mode: 0o777})
		case d.Type().IsRegular():
			return addFile(name, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// removeImages removes the test image, and the base image these tests
// made together with the classic builder's intermediate images made from
// it (which would otherwise keep it).
func removeImages(image, base string) error {
	var errs []error
	if image != "" {
		if _, err := dockerOut(time.Minute, nil, "rmi", "--force", image); err != nil {
			errs = append(errs, err)
		}
	}
	if base == "" {
		return errors.Join(errs...)
	}
	baseID, err := dockerOut(time.Minute, nil, "image", "inspect", "--format", "{{.Id}}", base)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	ids, err := dockerOut(time.Minute, nil, "image", "ls", "--all", "--quiet", "--no-trunc")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	parent := map[string]string{}
	if ids != "" {
		out, err := dockerOut(time.Minute, nil, append([]string{"image", "inspect", "--format", "{{.Id}} {{.Parent}}"}, strings.Fields(ids)...)...)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for line := range strings.Lines(out) {
			if id, p, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
				parent[id] = p
			}
		}
	}
	// Descendants of the base, children before their parents.
	depth := func(id string) int {
		n := 0
		for ; id != "" && id != baseID; id = parent[id] {
			n++
		}
		if id != baseID {
			return -1
		}
		return n
	}
	var mine []string
	for id := range parent {
		if id != baseID && depth(id) > 0 {
			mine = append(mine, id)
		}
	}
	slices.SortFunc(mine, func(a, b string) int { return depth(b) - depth(a) })
	for _, id := range append(mine, baseID) {
		if _, err := dockerOut(time.Minute, nil, "rmi", "--force", id); err != nil && !strings.Contains(err.Error(), "No such image") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inspect decodes docker inspect's answer for one object.
func inspect(t *testing.T, kind, name string, v any) {
	t.Helper()
	out := docker(t, kind, "inspect", name)
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("docker %s inspect %s: %v in %s", kind, name, err, out)
	}
	if err := json.Unmarshal(list[0], v); err != nil {
		t.Fatalf("docker %s inspect %s: %v", kind, name, err)
	}
}
