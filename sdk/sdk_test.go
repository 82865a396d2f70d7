package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func TestResolveExport(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "LOOKOUT_INGEST_TOKEN", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
		t.Setenv(k, "")
	}
	cases := []struct {
		name    string
		cfg     Config
		env     map[string]string
		grpc    bool
		base    string // "" when the exporters read the environment
		headers string
		err     string
	}{
		{name: "defaults", base: "http://localhost:4318"},
		{name: "grpc default", cfg: Config{Protocol: "grpc"}, grpc: true, base: "http://localhost:4317"},
		{name: "protocol from env", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, grpc: true, base: "http://localhost:4317"},
		{name: "endpoint from env", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://lookout:4318"}},
		{name: "per-signal endpoint from env", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://lookout:4318/v1/traces"}},
		{name: "config wins", cfg: Config{Endpoint: "https://a:1/base/"}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2"}, base: "https://a:1/base/"},
		{name: "token", cfg: Config{Token: "tok"}, base: "http://localhost:4318", headers: "map[Authorization:Bearer tok]"},
		{name: "token from env keeps env headers", env: map[string]string{"LOOKOUT_INGEST_TOKEN": "t2", "OTEL_EXPORTER_OTLP_HEADERS": "X-Team=shop%20one, bad"},
			base: "http://localhost:4318", headers: "map[Authorization:Bearer t2 X-Team:shop one]"},
		{name: "bad protocol", cfg: Config{Protocol: "http/json"}, err: `protocol "http/json"`},
		{name: "endpoint without scheme", cfg: Config{Endpoint: "lookout:4318"}, err: `endpoint "lookout:4318"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			ex, err := resolveExport(c.cfg)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			base := ""
			if ex.base != nil {
				base = ex.base.String()
			}
			headers := ""
			if ex.headers != nil {
				headers = fmt.Sprint(ex.headers)
			}
			if ex.grpc != c.grpc || base != c.base || headers != c.headers {
				t.Errorf("grpc %v, base %q, headers %q; want %v, %q, %q", ex.grpc, base, headers, c.grpc, c.base, c.headers)
			}
		})
	}
}

func TestSignalURL(t *testing.T) {
	ex, err := resolveExport(Config{Endpoint: "https://lookout.example/otlp/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.signalURL("/v1/traces"); got != "https://lookout.example/otlp/v1/traces" {
		t.Errorf("signal URL %q", got)
	}
}

func TestResource(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=shop,service.version=0.9")
	res, err := newResource(context.Background(), Config{ServiceVersion: "1.2", Environment: "prod", Attributes: map[string]string{"region": "eu"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"service.name": "from-env", "service.version": "1.2", "team": "shop",
		"deployment.environment.name": "prod", "region": "eu", "telemetry.sdk.language": "go"} {
		if v, _ := res.Set().Value(attribute.Key(k)); v.String() != want {
			t.Errorf("%s = %q, want %q", k, v.String(), want)
		}
	}
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	res, err = newResource(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if name := serviceName(res); !strings.HasPrefix(name, "unknown_service:") {
		t.Errorf("service.name with nothing set = %q, want unknown_service:<executable>", name)
	}
}

func TestFoldHistogram(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0.000001, 0.00001, 0.00002, 0.001, 0.5, 2, math.Inf(1)},
		Counts:  []uint64{1, 2, 3, 4, 5, 6, 7},
	}
	dp := foldHistogram(h, []float64{0.00001, 0.001, 1})
	// [-Inf,1µs) and [1µs,10µs) fold into ≤10µs; [10µs,20µs) and
	// [20µs,1ms) into ≤1ms; [1ms,0.5s) into ≤1s; [0.5s,2s) and [2s,+Inf)
	// overflow.
	if got, want := fmt.Sprint(dp.BucketCounts), "[3 7 5 13]"; got != want {
		t.Errorf("bucket counts %s, want %s", got, want)
	}
	if dp.Count != 28 {
		t.Errorf("count %d, want 28", dp.Count)
	}
	wantSum := 2*0.000001 + 3*0.00001 + 4*0.00002 + 5*0.001 + 6*0.5 + 7*2.0
	if math.Abs(dp.Sum-wantSum) > 1e-12 {
		t.Errorf("sum %v, want %v", dp.Sum, wantSum)
	}
}

func TestRuntimeProducer(t *testing.T) {
	sms, err := newRuntimeProducer().Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range sms[0].Metrics {
		names = append(names, m.Name)
	}
	if fmt.Sprint(names) != "[go.gc.pause.duration go.schedule.duration]" {
		t.Errorf("runtime histograms %v", names)
	}
}

func TestStartAndShutdown(t *testing.T) {
	tel, err := Start(context.Background(), Config{ServiceName: "x", Endpoint: "http://127.0.0.1:1", KeepGlobals: true,
		ErrorLog: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err == nil {
		t.Error("shutdown sent the last metrics to a closed port")
	}
	if err2 := tel.Shutdown(context.Background()); err2 == nil {
		t.Error("a second shutdown forgot the first one's result")
	}
}
