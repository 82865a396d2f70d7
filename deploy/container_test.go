package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/lookout-dev/lookout/sdk"
)

const (
	adminPassword = "docker-admin-password"
	ingestToken   = "docker-ingest-token-0123456789"
)

// secrets is how the tests hand lookout its secrets: in the environment
// of the docker command, which passes them on by name (-e NAME), so that
// they never show on a command line.
var secrets = []string{"LOOKOUT_ADMIN_PASSWORD=" + adminPassword, "LOOKOUT_INGEST_TOKEN=" + ingestToken}

// container is one lookout container and its published ports.
type container struct {
	name                 string
	http, grpc, otlpHTTP string // 127.0.0.1:port on this host
}

// startContainer runs the image on volume read-only, with its ports
// published on loopback, and waits until Docker says it is healthy.
func startContainer(t *testing.T, img, name, volume string, extra ...string) *container {
	t.Helper()
	args := append([]string{"run", "--detach", "--name", name,
		"--read-only", "--volume", volume + ":/data",
		"--publish", "127.0.0.1::8080", "--publish", "127.0.0.1::4317", "--publish", "127.0.0.1::4318",
		"--env", "LOOKOUT_ADMIN_PASSWORD", "--env", "LOOKOUT_INGEST_TOKEN"}, extra...)
	if _, err := dockerOut(time.Minute, secrets, append(args, img)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := dockerOut(time.Minute, nil, "logs", "--tail", "50", name)
			t.Logf("docker logs %s:\n%s", name, logs)
		}
		dockerOut(time.Minute, nil, "rm", "--force", name)
	})
	waitHealthy(t, name)
	return &container{name: name, http: hostPort(t, name, "8080"), grpc: hostPort(t, name, "4317"), otlpHTTP: hostPort(t, name, "4318")}
}

// waitHealthy polls docker inspect until the container's health check
// passes.
func waitHealthy(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	start := time.Now()
	for {
		out := docker(t, "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name)
		if out == "running healthy" {
			t.Logf("%s healthy after %v", name, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if strings.HasPrefix(out, "exited") || strings.HasPrefix(out, "dead") || time.Now().After(deadline) {
			health, _ := dockerOut(time.Minute, nil, "inspect", "--format", "{{json .State.Health}}", name)
			logs, _ := dockerOut(time.Minute, nil, "logs", "--tail", "30", name)
			t.Fatalf("%s is %q, want running healthy; health: %s\nlogs:\n%s", name, out, health, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// hostPort is the loopback address a container port is published on.
func hostPort(t *testing.T, name, port string) string {
	t.Helper()
	for line := range strings.Lines(docker(t, "port", name, port+"/tcp")) {
		if addr := strings.TrimSpace(line); strings.HasPrefix(addr, "127.0.0.1:") {
			return addr
		}
	}
	t.Fatalf("%s publishes no loopback port for %s", name, port)
	return ""
}

// api calls lookout's API as admin and decodes the JSON answer into v.
func api(base, path string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return 0, fmt.Errorf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sent is what sendTelemetry sent, to find again.
type sent struct {
	marker  string // a word in the log record's body
	traceID string
	metric  string // a PromQL selector
}

// sendTelemetry sends a log record, a span and a counter through the SDK,
// over OTLP/HTTP and over gRPC, and flushes.
func sendTelemetry(t *testing.T, c *container) sent {
	t.Helper()
	s := sent{marker: "dockermarker" + run}
	for _, tr := range []struct{ protocol, endpoint string }{
		{sdk.ProtocolHTTPProtobuf, "http://" + c.otlpHTTP},
		{sdk.ProtocolGRPC, "http://" + c.grpc},
	} {
		tel, err := sdk.Start(context.Background(), sdk.Config{
			ServiceName: "docker-" + tr.protocol, ServiceVersion: "1.0.0", Environment: "test",
			Endpoint: tr.endpoint, Protocol: tr.protocol, Token: ingestToken, KeepGlobals: true,
		})
		if err != nil {
			t.Fatalf("start the SDK over %s: %v", tr.protocol, err)
		}
		ctx, span := tel.TracerProvider().Tracer("deploy").Start(context.Background(), "docker request")
		tel.Logger().InfoContext(ctx, "hello from "+s.marker, "protocol", tr.protocol)
		counter, err := tel.MeterProvider().Meter("deploy").Int64Counter("docker_test_requests", metric.WithUnit("1"))
		if err != nil {
			t.Fatal(err)
		}
		counter.Add(ctx, 3)
		span.End()
		if tr.protocol == sdk.ProtocolGRPC {
			s.traceID = span.SpanContext().TraceID().String()
		}
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatalf("SDK over %s: shutdown: %v", tr.protocol, err)
		}
		if st := tel.Stats(); st.SpansExported == 0 || st.LogsExported == 0 || st.MetricExports == 0 || st.SpansDropped+st.LogsDropped+st.MetricExportsFailed != 0 {
			t.Fatalf("SDK over %s: stats after shutdown: %+v", tr.protocol, st)
		}
	}
	// Both services' counters, whatever suffix the OTLP-to-Prometheus
	// name translation gives them.
	s.metric = `sum({__name__=~"docker_test_requests.*"})`
	return s
}

// findTelemetry polls the API until it finds what sendTelemetry sent.
func findTelemetry(t *testing.T, c *container, s sent) {
	t.Helper()
	eventually(t, "both log records with "+s.marker, func() bool {
		var r struct{ Total int }
		code, err := api(c.http, "/api/v1/logs?query="+url.QueryEscape(s.marker), &r)
		return err == nil && code == 200 && r.Total == 2
	})
	eventually(t, "trace "+s.traceID, func() bool {
		var r struct{ Spans []struct{ Name string } }
		code, err := api(c.http, "/api/v1/traces/"+s.traceID, &r)
		return err == nil && code == 200 && len(r.Spans) == 1 && r.Spans[0].Name == "docker request"
	})
	eventually(t, "metric "+s.metric, func() bool {
		var r struct {
			Data struct {
				Result []struct{ Value []any } `json:"result"`
			} `json:"data"`
		}
		code, err := api(c.http, "/api/v1/query?query="+url.QueryEscape(s.metric), &r)
		return err == nil && code == 200 && len(r.Data.Result) == 1 && len(r.Data.Result[0].Value) == 2 && r.Data.Result[0].Value[1] == "6"
	})
}

// TestContainer runs the image as a user would: on a new named volume with
// a read-only root file system, healthy by its own HEALTHCHECK, as the
// non-root user; the SDK sends it logs, spans and metrics over both OTLP
// ports and the API finds them; docker stop ends it with exit code 0; a new
// container on the same volume finds the data.
func TestContainer(t *testing.T) {
	img := image(t)
	volume := "lookout-test-" + run
	docker(t, "volume", "create", volume)
	t.Cleanup(func() { dockerOut(time.Minute, nil, "volume", "rm", "--force", volume) })

	first := startContainer(t, img, volume+"-1", volume)

	var state struct {
		Config     struct{ User string }
		HostConfig struct{ ReadonlyRootfs bool }
		State      struct {
			Pid      int
			ExitCode int
			Status   string
		}
	}
	inspect(t, "container", first.name, &state)
	if state.Config.User != "65532:65532" || !state.HostConfig.ReadonlyRootfs {
		t.Errorf("container user %q, read-only root %v; want 65532:65532 on a read-only root", state.Config.User, state.HostConfig.ReadonlyRootfs)
	}
	// The process as the host's kernel sees it (the image has no shell to
	// docker exec into).
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", state.State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
			if f[1] != "65532" || f[2] != "65532" || f[3] != "65532" || f[4] != "65532" {
				t.Errorf("lookout's process %s %v, want 65532 throughout", f[0], f[1:])
			}
		}
	}

	s := sendTelemetry(t, first)
	findTelemetry(t, first, s)

	// docker stop sends SIGTERM and SIGKILLs after 10 s: exit code 0 means
	// lookout shut down by itself in time.
	start := time.Now()
	docker(t, "stop", first.name)
	inspect(t, "container", first.name, &state)
	if state.State.Status != "exited" || state.State.ExitCode != 0 {
		logs, _ := dockerOut(time.Minute, nil, "logs", "--tail", "30", first.name)
		t.Fatalf("after docker stop: %s with exit code %d, want exited with 0; logs:\n%s", state.State.Status, state.State.ExitCode, logs)
	}
	t.Logf("docker stop took %v", time.Since(start).Round(100*time.Millisecond))

	// A new container on the same volume has it all; it checks its health
	// every second only to be quicker about it.
	second := startContainer(t, img, volume+"-2", volume, "--health-interval", "1s")
	findTelemetry(t, second, s)
}

// freePort is a loopback port nothing listens on, for now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
