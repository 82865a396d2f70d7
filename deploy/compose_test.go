package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeCommand is Compose v2 (docker compose) where the plugin is
// there, else the standalone docker-compose.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if _, err := dockerOut(30*time.Second, nil, "compose", "version"); err == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("neither docker compose nor docker-compose is installed (CI's machines have it)")
	}
	t.Skip("neither docker compose nor docker-compose is installed")
	return nil
}

// TestCompose brings compose.yaml up with the built image (LOOKOUT_IMAGE,
// so that nothing is pulled or built again), waits for lookout to be
// healthy, starts the demo profile and finds the demo's services, and
// takes it all down with its volume.
func TestCompose(t *testing.T) {
	img := image(t)
	compose := composeCommand(t)
	project := "lookout-test-" + run
	env := append([]string{
		"LOOKOUT_IMAGE=" + img,
		"LOOKOUT_HTTP_PORT=" + freePort(t),
		"LOOKOUT_OTLP_GRPC_PORT=" + freePort(t),
		"LOOKOUT_OTLP_HTTP_PORT=" + freePort(t),
	}, secrets...)
	do := func(args ...string) string {
		t.Helper()
		args = append([]string{"--file", filepath.Join(repoRoot(), "compose.yaml"), "--project-name", project}, args...)
		out, err := command(5*time.Minute, env, compose[0], append(compose[1:], args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Cleanup(func() {
		args := []string{"--file", filepath.Join(repoRoot(), "compose.yaml"), "--project-name", project, "--profile", "demo", "down", "--volumes", "--remove-orphans"}
		if t.Failed() {
			logs, _ := command(time.Minute, env, compose[0], append(compose[1:], "--file", filepath.Join(repoRoot(), "compose.yaml"), "--project-name", project, "--profile", "demo", "logs", "--tail", "30")...)
			t.Logf("compose logs:\n%s", logs)
		}
		command(5*time.Minute, env, compose[0], append(compose[1:], args...)...)
	})

	do("up", "--detach", "--no-build")
	id := do("ps", "--quiet", "lookout")
	waitHealthy(t, id)
	c := &container{name: id, http: hostPort(t, id, "8080")}

	do("--profile", "demo", "up", "--detach", "--no-build", "demo")
	eventually(t, "the demo's storefront service", func() bool {
		var r struct{ Services []struct{ Name string } }
		code, err := api(c.http, "/api/v1/services", &r)
		if err != nil || code != 200 {
			return false
		}
		for _, s := range r.Services {
			if s.Name == "storefront" {
				return true
			}
		}
		return false
	})

	do("--profile", "demo", "down", "--volumes")
	if left := docker(t, "ps", "--all", "--quiet", "--filter", "label=com.docker.compose.project="+project); left != "" {
		t.Errorf("containers left after down: %s", left)
	}
	if left := docker(t, "volume", "ls", "--quiet", "--filter", "label=com.docker.compose.project="+project); strings.TrimSpace(left) != "" {
		t.Errorf("volumes left after down --volumes: %s", left)
	}
}
