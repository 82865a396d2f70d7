package main

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// promVector is the Prometheus API's answer to an instant query.
type promVector struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// promQuery runs an instant PromQL query (at ts, when not empty) and returns
// the single value it gives.
func promQuery(t *testing.T, base, q, ts string) (float64, bool) {
	t.Helper()
	v := url.Values{"query": {q}}
	if ts != "" {
		v.Set("time", ts)
	}
	var r promVector
	if code := apiGet(t, base, "/api/v1/query?"+v.Encode(), &r); code != 200 || len(r.Data.Result) != 1 {
		return 0, false
	}
	f, err := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
	return f, err == nil
}

// metricsApp is an app instrumented with the OpenTelemetry Go SDK: a
// counter, a histogram and a gauge, exported when the test says so.
type metricsApp struct {
	reader   *sdkmetric.ManualReader
	exporter sdkmetric.Exporter
	orders   metric.Int64Counter
	latency  metric.Float64Histogram
	depth    metric.Int64Gauge
}

func newMetricsApp(t *testing.T, transport, endpoint, service string) *metricsApp {
	t.Helper()
	ctx := context.Background()
	headers := map[string]string{"Authorization": "Bearer " + e2eToken}
	var exp sdkmetric.Exporter
	var err error
	switch transport {
	case "grpc":
		exp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(endpoint), otlpmetricgrpc.WithInsecure(), otlpmetricgrpc.WithHeaders(headers))
	case "http":
		exp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(endpoint), otlpmetrichttp.WithInsecure(), otlpmetrichttp.WithHeaders(headers), otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
	}
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceNamespace("shop"), semconv.ServiceInstanceID(service+"-1"))),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.server.request.duration"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: []float64{0.1, 0.25, 0.5, 1}}},
		)),
	)
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m := mp.Meter("e2e")
	a := &metricsApp{reader: reader, exporter: exp}
	if a.orders, err = m.Int64Counter("shop.orders"); err != nil {
		t.Fatal(err)
	}
	if a.latency, err = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s")); err != nil {
		t.Fatal(err)
	}
	if a.depth, err = m.Int64Gauge("queue.depth"); err != nil {
		t.Fatal(err)
	}
	return a
}

// export collects the SDK's current state and sends it, as a periodic
// reader would.
func (a *metricsApp) export(t *testing.T) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := a.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if err := a.exporter.Export(context.Background(), &rm); err != nil {
		t.Fatalf("export: %v", err)
	}
}

// record adds one round of traffic: n orders and n requests whose latencies
// are 50% 0.05s, 30% 0.2s, 15% 0.4s and 5% 0.8s.
func (a *metricsApp) record(n int) {
	ctx := context.Background()
	route := metric.WithAttributes(attribute.String("http.route", "/checkout"))
	a.orders.Add(ctx, int64(n))
	for i := 0; i < n; i++ {
		v := 0.05
		switch p := i % 20; {
		case p >= 19:
			v = 0.8
		case p >= 16:
			v = 0.4
		case p >= 10:
			v = 0.2
		}
		a.latency.Record(ctx, v, route)
	}
	a.depth.Record(ctx, 7)
}

// The OpenTelemetry Go SDK exports a counter, a histogram and a gauge over
// both transports; PromQL over the HTTP API gives the rate of the counter
// and the quantiles of the histogram.
func TestEndToEndMetrics(t *testing.T) {
	s := startServer(t, t.TempDir())
	for _, transport := range []string{"grpc", "http"} {
		t.Run(transport, func(t *testing.T) {
			endpoint := s.addr.OTLPGRPC
			if transport == "http" {
				endpoint = s.addr.OTLPHTTP
			}
			svc := "orders-" + transport
			app := newMetricsApp(t, transport, endpoint, svc)
			app.record(20) // 20 orders, 20 requests
			app.export(t)
			app.record(60) // 80 orders, 80 requests
			app.export(t)

			labels := fmt.Sprintf(`job="shop/%s", instance="%s-1"`, svc, svc)
			sel := "{" + labels + "}"
			// The newest sample's time, to evaluate at.
			var last float64
			eventually(t, "orders of "+svc, func() bool {
				v, ok := promQuery(t, s.addr.HTTP, "timestamp(shop_orders_total"+sel+")", "")
				n, ok2 := promQuery(t, s.addr.HTTP, "shop_orders_total"+sel, "")
				last = v
				return ok && ok2 && n == 80
			})
			at := strconv.FormatFloat(last, 'f', 3, 64)
			// Two samples, 20 then 80, evaluated at the second: the
			// increase extrapolates back to the counter's zero, 80 over
			// the hour.
			rate, ok := promQuery(t, s.addr.HTTP, "rate(shop_orders_total"+sel+"[1h])", at)
			if !ok || math.Abs(rate-80.0/3600) > 1e-9 {
				t.Errorf("rate = %v (%v), want %v", rate, ok, 80.0/3600)
			}
			for q, want := range map[string]float64{
				"0.5": 0.1,                     // rank 40 of 80: the top of the first bucket (40 requests <= 0.1)
				"0.9": 0.25 + 0.25*(72-64)/12., // rank 72: in (0.25, 0.5], which holds 12 after 64
			} {
				got, ok := promQuery(t, s.addr.HTTP, "histogram_quantile("+q+", sum by (le) (http_server_request_duration_seconds_bucket"+sel+"))", at)
				if !ok || math.Abs(got-want) > 1e-9 {
					t.Errorf("p%s = %v (%v), want %v", q, got, ok, want)
				}
			}
			if got, ok := promQuery(t, s.addr.HTTP, "queue_depth"+sel, at); !ok || got != 7 {
				t.Errorf("queue_depth = %v (%v), want 7", got, ok)
			}
			if got, ok := promQuery(t, s.addr.HTTP, `http_server_request_duration_seconds_count{http_route="/checkout", `+labels+"}", at); !ok || got != 80 {
				t.Errorf("request count = %v (%v), want 80", got, ok)
			}
		})
	}

	// Spans become RED metrics named like the collector's spanmetrics
	// connector; the first flush comes within its 15s interval.
	emit(t, "http", s.addr.OTLPHTTP, "red-svc")
	eventually(t, "span metrics", func() bool {
		v, ok := promQuery(t, s.addr.HTTP, `sum(traces_span_metrics_calls_total{service_name="red-svc", status_code="STATUS_CODE_ERROR"})`, "")
		return ok && v == 1
	})
	if v, ok := promQuery(t, s.addr.HTTP, `sum(traces_span_metrics_duration_milliseconds_count{service_name="red-svc", span_kind="SPAN_KIND_SERVER", span_name="POST /checkout"})`, ""); !ok || v != 1 {
		t.Errorf("server span duration count = %v (%v), want 1", v, ok)
	}

	// lookout scrapes itself: its own ingest counters are queryable.
	eventually(t, "self-scrape", func() bool {
		v, ok := promQuery(t, s.addr.HTTP, `up{job="lookout"}`, "")
		return ok && v == 1
	})
}
