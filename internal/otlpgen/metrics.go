package otlpgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// The metrics generator sends what the OpenTelemetry Go SDK sends for the shop's services: the HTTP
// golden signals from otelhttp, the app's own request counter, and runtime and host gauges. The
// fleet is a number of namespaces (regions, each running the whole shop) of service instances,
// sized to a target count of Prometheus series.
//
// Series, counted as Prometheus stores them after its OTLP translation
// (https://github.com/prometheus/prometheus/tree/main/storage/remote/otlptranslator):
//
//   - per instance, route and status class (2xx, 4xx, 5xx):
//     http.server.request.duration, a cumulative histogram with the semantic-convention default
//     bounds, is 14 `_bucket` series with a finite `le`, one with le="+Inf", `_sum` and `_count`:
//     17 series; app.requests, a monotonic counter, is one more: 18 per route and class, so
//     54 × routes per instance;
//   - per instance: process.runtime.go.goroutines, process.memory.usage, system.cpu.utilization
//     (gauges) and http.server.active_requests (a non-monotonic sum, a gauge in Prometheus): 4.
//
// So an instance of a service with R routes makes 54·R + 4 series, and the fleet
// Σ over instances (54·R + 4). A full namespace has 42 instances and 10,806 series (frontend, 8
// routes, 12 instances: 5,232 of them). Prometheus adds one target_info series per instance (the
// resource's other attributes), not counted here.
//
// Every series gets one sample per round, a round being MetricsInterval of simulated time. A
// round is cut into slices of at most Batch samples (whole data points), one export request each,
// whose data points all carry the round's timestamp.

// MetricsInterval is the simulated collection interval: each series has one sample per interval.
const MetricsInterval = 15 * time.Second

// httpDurationBounds are the default explicit bucket bounds of http.server.request.duration, in
// seconds (https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration).
var httpDurationBounds = [...]float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

const (
	nBuckets           = len(httpDurationBounds) + 1 // OTLP bucket counts, the last one above 10 s
	seriesPerHistogram = nBuckets + 2                // _bucket per bound and +Inf, _sum, _count
	statusClasses      = 3                           // 2xx, 4xx, 5xx
	seriesPerRoute     = statusClasses * (seriesPerHistogram + 1)
	seriesPerInstance  = 4 // the gauges
)

// instancesPerNamespace is how many instances of each profile a full namespace runs: three per unit
// of traffic weight, at least one.
func instancesPerNamespace(p *profile) int { return max(1, int(math.Round(3*p.weight))) }

func seriesOfInstance(p *profile) int { return seriesPerRoute*len(p.routes) + seriesPerInstance }

var regions = []string{"eu-west", "us-east", "eu-central", "us-west", "ap-southeast", "eu-north", "ap-northeast", "sa-east", "ca-central", "ap-south"}

// namespaceName returns the service.namespace of the i-th namespace: shop-eu-west, shop-us-east,
// ..., then shop-eu-west-2 and so on.
func namespaceName(i int) string {
	s := "shop-" + regions[i%len(regions)]
	if i >= len(regions) {
		s += "-" + strconv.Itoa(i/len(regions)+1)
	}
	return s
}

// MetricsFleet is the shape of the fleet generated for a target series count: how many instances of
// each service run in each namespace.
type MetricsFleet struct {
	counts    [][]int // [namespace][profile]
	series    int
	instances int
}

// NewMetricsFleet returns the fleet whose series count comes closest to series: full namespaces,
// then a last one filled service by service in proportion to their weights, stopping within half an
// instance's series of the target. It depends on series alone, not on a seed.
func NewMetricsFleet(series int) MetricsFleet {
	type slot struct {
		p   int
		pos float64
	}
	// The order instances join a namespace in: interleaved so that a partial namespace has every
	// service in about the proportion a full one has.
	var order []slot
	for p := range profiles {
		n := instancesPerNamespace(&profiles[p])
		for j := range n {
			order = append(order, slot{p, (float64(j) + 0.5) / float64(n)})
		}
	}
	slices.SortStableFunc(order, func(a, b slot) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return a.p - b.p
	})
	var f MetricsFleet
	for ns := 0; ; ns++ {
		for _, s := range order {
			size := seriesOfInstance(&profiles[s.p])
			if f.instances > 0 && 2*(series-f.series) < size {
				return f
			}
			if ns == len(f.counts) {
				f.counts = append(f.counts, make([]int, len(profiles)))
			}
			f.counts[ns][s.p]++
			f.series += size
			f.instances++
		}
	}
}

// Series returns the number of Prometheus series the fleet makes, target_info not counted.
func (f MetricsFleet) Series() int { return f.series }

// Instances returns the number of service instances (OTLP resources, and target_info series).
func (f MetricsFleet) Instances() int { return f.instances }

// Namespaces returns the number of namespaces; the last one may be partial.
func (f MetricsFleet) Namespaces() int { return len(f.counts) }

// RateSelector returns label matchers (without braces) that pick about a hundred app_requests_total
// series, and how many exactly: the 2xx series of frontend in the first namespace, one per route
// (8) and instance (12 in a full namespace, so 96).
func (f MetricsFleet) RateSelector() (matchers string, series int) {
	front := 0
	for p := range profiles {
		if profiles[p].name == "frontend" {
			front = p
		}
	}
	return fmt.Sprintf(`job="%s/frontend",http_response_status_code="200"`, namespaceName(0)),
		f.counts[0][front] * len(profiles[front].routes)
}

// MetricsConfig is what NewMetricsGenerator generates.
type MetricsConfig struct {
	Seed   uint64
	Series int       // target series count, see NewMetricsFleet
	Batch  int       // samples per request at most; a histogram point (17 samples) is never split
	Start  time.Time // timestamp of the first round
}

// MetricsGenerator makes the export requests of successive rounds over the fleet. Its slices are
// independent: different slices may be advanced concurrently, one slice only by one goroutine at a
// time.
type MetricsGenerator struct {
	fleet  MetricsFleet
	start  time.Time
	slices []*MetricsSlice
}

// NewMetricsGenerator builds the fleet for cfg and the requests of one round, deterministically for
// the seed.
func NewMetricsGenerator(cfg MetricsConfig) (*MetricsGenerator, error) {
	if cfg.Series < 1 || cfg.Batch < 1 {
		return nil, fmt.Errorf("metrics generator: series %d and batch %d must be positive", cfg.Series, cfg.Batch)
	}
	g := &MetricsGenerator{fleet: NewMetricsFleet(cfg.Series), start: cfg.Start}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6a09e667f3bcc908))
	var points []point
	for ns, counts := range g.fleet.counts {
		nsp := newNamespace(r, ns)
		for p, n := range counts {
			svc := newServiceModel(r, &profiles[p])
			for range n {
				points = newInstance(r, nsp, svc, cfg.Start).appendPoints(r, cfg.Start, points)
			}
		}
	}
	// Cut the round into slices of at most Batch samples.
	for len(points) > 0 {
		n, samples := 0, 0
		for n < len(points) && (n == 0 || samples+points[n].samples() <= cfg.Batch) {
			samples += points[n].samples()
			n++
		}
		s, err := newMetricsSlice(cfg.Seed, len(g.slices), points[:n:n], cfg.Start)
		if err != nil {
			return nil, err
		}
		g.slices = append(g.slices, s)
		points = points[n:]
	}
	return g, nil
}

// Fleet returns the shape of the fleet.
func (g *MetricsGenerator) Fleet() MetricsFleet { return g.fleet }

// Start returns the timestamp of the first round.
func (g *MetricsGenerator) Start() time.Time { return g.start }

// Slices returns the slices of a round, one export request each, in the order a round sends them.
func (g *MetricsGenerator) Slices() []*MetricsSlice { return g.slices }

// namespace is one copy of the shop, in a region whose day is offset from the others'.
type namespace struct {
	name  string
	env   string
	phase float64 // of the daily traffic curve, radians
}

func newNamespace(r *rand.Rand, i int) *namespace {
	ns := &namespace{name: namespaceName(i), env: "production", phase: r.Float64() * 2 * math.Pi}
	if i%5 == 4 {
		ns.env = "staging"
	}
	return ns
}

// serviceModel is what every instance of a service in a namespace shares: its routes, their
// traffic and latency.
type serviceModel struct {
	*profile
	combos []combo // route × status class
}

// combo is a route and status class: attributes, traffic and latency distribution.
type combo struct {
	method, route string
	status        int
	rps           float64                          // requests per second per instance, at average load
	cdf           [len(httpDurationBounds)]float64 // P(latency ≤ bound)
	mean          float64                          // mean latency, seconds
}

func newServiceModel(r *rand.Rand, p *profile) *serviceModel {
	s := &serviceModel{profile: p}
	for _, rt := range p.routes {
		path := rt.route
		if p.grpc != "" {
			path = "/" + p.grpc + "/" + rt.route
		}
		// Traffic and latency are log-normal across routes: a few busy ones, most quiet; medians
		// of a few to a few hundred milliseconds.
		rps := math.Min(math.Exp(math.Log(3)+0.8*r.NormFloat64())*p.weight, 400)
		median := math.Min(math.Max(math.Exp(math.Log(0.03)+0.7*r.NormFloat64()), 0.002), 1.5)
		sigma := 0.4 + 0.5*r.Float64()
		f4, f5 := 0.005+0.035*r.Float64(), 0.0005+0.0075*r.Float64()
		clientErr := 400
		if p.grpc == "" && strings.Contains(path, "{") {
			clientErr = 404
		}
		// Client errors fail fast; server errors are often timeouts, slow and spread out.
		for _, cl := range []struct {
			status            int
			frac, med, spread float64
		}{
			{200, 1 - f4 - f5, median, sigma},
			{clientErr, f4, median * 0.4, sigma},
			{500, f5, median * 3, sigma + 0.3},
		} {
			c := combo{method: rt.method, route: path, status: cl.status, rps: rps * cl.frac,
				mean: cl.med * math.Exp(cl.spread*cl.spread/2)}
			for i, b := range httpDurationBounds {
				c.cdf[i] = 0.5 * math.Erfc(-(math.Log(b)-math.Log(cl.med))/(cl.spread*math.Sqrt2))
			}
			s.combos = append(s.combos, c)
		}
	}
	return s
}

// instance is one process: a resource, its share of traffic and the levels its gauges wander
// around.
type instance struct {
	ns       *namespace
	svc      *serviceModel
	id       string    // service.instance.id
	host     string    // host.name, a pod name
	started  time.Time // process start: the start time of its cumulative points
	uptime   float64   // seconds from started to the first round
	load     float64   // traffic multiplier against the service's average instance
	inFlight float64   // mean concurrent requests at load 1 (Little's law over the combos)

	goroutines, memory, cpu float64
}

func newInstance(r *rand.Rand, ns *namespace, svc *serviceModel, start time.Time) *instance {
	in := &instance{ns: ns, svc: svc, load: math.Exp(0.15 * r.NormFloat64())}
	in.id = uuid(r)
	in.host = svc.name + "-" + hexString(r, 10) + "-" + podName(r)
	// Up between ten minutes and two weeks, log-uniformly: most processes are days old, some were
	// just deployed.
	in.uptime = math.Round(math.Exp(math.Log(600) + r.Float64()*math.Log(14*86400/600.0)))
	in.started = start.Add(-time.Duration(in.uptime) * time.Second)
	for _, c := range svc.combos {
		in.inFlight += c.rps * c.mean
	}
	in.goroutines = float64(30 + 20*len(svc.routes) + r.IntN(150))
	in.memory = math.Exp(math.Log(150e6) + 0.5*r.NormFloat64())
	in.cpu = 0.05 + 0.4*r.Float64()
	return in
}

// loadAt is the instance's traffic multiplier at t: its own share times its region's time of day.
func (in *instance) loadAt(t time.Time) float64 {
	day := float64(t.Unix()%86400) / 86400
	return in.load * (1 + 0.35*math.Sin(2*math.Pi*day+in.ns.phase))
}

func putMetricsResource(m pcommon.Map, in *instance) {
	m.EnsureCapacity(9)
	m.PutStr("service.name", in.svc.name)
	m.PutStr("service.namespace", in.ns.name)
	m.PutStr("service.instance.id", in.id)
	m.PutStr("service.version", in.svc.version)
	m.PutStr("host.name", in.host)
	m.PutStr("deployment.environment", in.ns.env)
	m.PutStr("telemetry.sdk.language", "go")
	m.PutStr("telemetry.sdk.name", "opentelemetry")
	m.PutStr("telemetry.sdk.version", "1.38.0")
}

type metricKind uint8

const (
	kindDuration    metricKind = iota // http.server.request.duration, per combo
	kindActive                        // http.server.active_requests
	kindAppRequests                   // app.requests, per combo
	kindGoroutines                    // process.runtime.go.goroutines
	kindMemory                        // process.memory.usage
	kindCPU                           // system.cpu.utilization
)

const (
	scopeHTTP    = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	scopeRuntime = "go.opentelemetry.io/contrib/instrumentation/runtime"
	scopeHost    = "go.opentelemetry.io/contrib/instrumentation/host"
	contribVer   = "0.63.0"
)

// metricDefs describes each kind as the SDK sends it; scope "" is the service's own package.
var metricDefs = [...]struct {
	name, unit, desc, scope string
}{
	kindDuration:    {"http.server.request.duration", "s", "Duration of HTTP server requests.", scopeHTTP},
	kindActive:      {"http.server.active_requests", "{request}", "Number of active HTTP server requests.", scopeHTTP},
	kindAppRequests: {"app.requests", "{request}", "Requests handled, by route and status code.", ""},
	kindGoroutines:  {"process.runtime.go.goroutines", "{goroutine}", "Number of goroutines that currently exist.", scopeRuntime},
	kindMemory:      {"process.memory.usage", "By", "The amount of physical memory in use.", scopeHost},
	kindCPU:         {"system.cpu.utilization", "1", "Share of the available CPU time the system used since the last measurement.", scopeHost},
}

// point is one data point of a slice: what it is, its state, and where its values sit in the
// slice's encoded request.
type point struct {
	kind  metricKind
	in    *instance
	combo *combo

	// State: cumulative count (of a histogram or app.requests), sum and per-bucket counts of a
	// histogram; the value of a gauge or up-down counter.
	count   uint64
	sum     float64
	buckets [nBuckets]uint64
	value   float64

	off pointOffsets // in the slice's body

	hdp pmetric.HistogramDataPoint // kindDuration
	ndp pmetric.NumberDataPoint    // the others
}

func (p *point) samples() int {
	if p.kind == kindDuration {
		return seriesPerHistogram
	}
	return 1
}

// appendPoints appends the instance's data points in the order a request carries them, in the
// state of the first round: counters hold what the process counted since it started.
func (in *instance) appendPoints(r *rand.Rand, start time.Time, out []point) []point {
	first := len(out)
	for i := range in.svc.combos {
		out = append(out, point{kind: kindDuration, in: in, combo: &in.svc.combos[i]})
	}
	out = append(out, point{kind: kindActive, in: in})
	for i := range in.svc.combos {
		out = append(out, point{kind: kindAppRequests, in: in, combo: &in.svc.combos[i]})
	}
	out = append(out, point{kind: kindGoroutines, in: in, value: in.goroutines},
		point{kind: kindMemory, in: in, value: math.Round(in.memory)}, point{kind: kindCPU, in: in, value: in.cpu})
	for i := first; i < len(out); i++ {
		p := &out[i]
		switch p.kind {
		case kindDuration, kindAppRequests:
			p.add(r, poisson(r, p.combo.rps*in.load*in.uptime))
		case kindActive:
			p.value = float64(poisson(r, in.inFlight*in.loadAt(start)))
		}
	}
	return out
}

// add counts n more requests: into the count, and for a histogram into the sum and the buckets.
// The buckets take n in proportion to the latency distribution, by systematic sampling (one
// uniform offset for all bounds), so every cumulative bucket count is a whole number that never
// decreases with le and the last one is n.
func (p *point) add(r *rand.Rand, n uint64) {
	p.count += n
	if p.kind != kindDuration || n == 0 {
		return
	}
	u := r.Float64()
	var prev uint64
	for i, c := range p.combo.cdf {
		cum := min(uint64(float64(n)*c+u), n)
		p.buckets[i] += cum - prev
		prev = cum
	}
	p.buckets[nBuckets-1] += n - prev
	p.sum += float64(n) * p.combo.mean * math.Max(0.2, 1+0.5*r.NormFloat64()/math.Sqrt(float64(n)))
}

// advance moves the point to time t, one interval on.
func (p *point) advance(r *rand.Rand, t time.Time) {
	in := p.in
	switch p.kind {
	case kindDuration, kindAppRequests:
		p.add(r, poisson(r, p.combo.rps*in.loadAt(t)*MetricsInterval.Seconds()))
	case kindActive:
		p.value = float64(poisson(r, in.inFlight*in.loadAt(t)))
	case kindGoroutines:
		// Mean-reverting random walks around a level that follows the traffic.
		target := in.goroutines * (0.7 + 0.3*in.loadAt(t))
		p.value = math.Max(1, math.Round(p.value+0.2*(target-p.value)+0.03*target*r.NormFloat64()))
	case kindMemory:
		v := p.value + 0.1*(in.memory-p.value) + 0.02*in.memory*r.NormFloat64()
		if r.IntN(20) == 0 { // a collection returns memory to the system
			v *= 0.8
		}
		p.value = math.Round(math.Max(v, 8e6))
	case kindCPU:
		target := in.cpu * in.loadAt(t)
		p.value = math.Min(math.Max(p.value+0.3*(target-p.value)+0.02*r.NormFloat64(), 0.001), 1)
	}
}

// encode writes the point's state and timestamp into body.
func (p *point) encode(body []byte, ts uint64) {
	le := binary.LittleEndian
	le.PutUint64(body[p.off.t:], ts)
	switch p.kind {
	case kindDuration:
		le.PutUint64(body[p.off.v:], p.count)
		le.PutUint64(body[p.off.sum:], math.Float64bits(p.sum))
		for i, c := range p.buckets {
			le.PutUint64(body[p.off.buckets+8*i:], c)
		}
	case kindAppRequests:
		le.PutUint64(body[p.off.v:], p.count)
	case kindCPU:
		le.PutUint64(body[p.off.v:], math.Float64bits(p.value))
	default:
		le.PutUint64(body[p.off.v:], uint64(int64(p.value)))
	}
}

// sync writes the point's state and timestamp into its pdata data point.
func (p *point) sync(ts pcommon.Timestamp) {
	switch p.kind {
	case kindDuration:
		p.hdp.SetTimestamp(ts)
		p.hdp.SetCount(p.count)
		p.hdp.SetSum(p.sum)
		for i, c := range p.buckets {
			p.hdp.BucketCounts().SetAt(i, c)
		}
	case kindAppRequests:
		p.ndp.SetTimestamp(ts)
		p.ndp.SetIntValue(int64(p.count))
	case kindCPU:
		p.ndp.SetTimestamp(ts)
		p.ndp.SetDoubleValue(p.value)
	default:
		p.ndp.SetTimestamp(ts)
		p.ndp.SetIntValue(int64(p.value))
	}
}

// MetricsSlice is one export request of every round: a run of data points over one or more
// instances. Each Next moves it to the next round. It keeps the encoded request and re-stamps the
// values and timestamps in place, so a round costs a pass over its points, not a marshal.
//
// A MetricsSlice is not safe for concurrent use.
type MetricsSlice struct {
	r       *rand.Rand
	start   time.Time
	round   int // -1 before the first Next
	points  []point
	samples int
	body    []byte
	md      pmetric.Metrics
}

func newMetricsSlice(seed uint64, index int, points []point, start time.Time) (*MetricsSlice, error) {
	s := &MetricsSlice{r: rand.New(rand.NewPCG(seed, 0xbb67ae8584caa73b+uint64(index))), start: start, round: -1,
		points: points, md: pmetric.NewMetrics()}
	var (
		rm    pmetric.ResourceMetrics
		sm    pmetric.ScopeMetrics
		m     pmetric.Metric
		in    *instance
		scope string
		kind  = metricKind(255)
	)
	// Build the request with every value non-zero, so that the encoding has a field to re-stamp for
	// each (proto3 leaves zero scalars out).
	ones := make([]uint64, nBuckets)
	for i := range ones {
		ones[i] = 1
	}
	for i := range s.points {
		p := &s.points[i]
		s.samples += p.samples()
		def := &metricDefs[p.kind]
		sc := def.scope
		if sc == "" {
			sc = p.in.svc.pkg
		}
		if p.in != in {
			rm = s.md.ResourceMetrics().AppendEmpty()
			putMetricsResource(rm.Resource().Attributes(), p.in)
			in, scope, kind = p.in, "", 255
		}
		if sc != scope {
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(sc)
			if def.scope == "" {
				sm.Scope().SetVersion(in.svc.version)
			} else {
				sm.Scope().SetVersion(contribVer)
			}
			scope, kind = sc, 255
		}
		if p.kind != kind {
			m = sm.Metrics().AppendEmpty()
			m.SetName(def.name)
			m.SetUnit(def.unit)
			m.SetDescription(def.desc)
			switch p.kind {
			case kindDuration:
				m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			case kindActive, kindAppRequests:
				sum := m.SetEmptySum()
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				sum.SetIsMonotonic(p.kind == kindAppRequests)
			default:
				m.SetEmptyGauge()
			}
			kind = p.kind
		}
		started := pcommon.NewTimestampFromTime(in.started)
		switch p.kind {
		case kindDuration:
			dp := m.Histogram().DataPoints().AppendEmpty()
			putComboAttributes(dp.Attributes(), p.combo, true)
			dp.SetStartTimestamp(started)
			dp.SetTimestamp(1)
			dp.SetCount(1)
			dp.SetSum(1)
			dp.ExplicitBounds().FromRaw(httpDurationBounds[:])
			dp.BucketCounts().FromRaw(ones)
			p.hdp = dp
		case kindActive, kindAppRequests:
			dp := m.Sum().DataPoints().AppendEmpty()
			if p.kind == kindActive {
				dp.Attributes().PutStr("url.scheme", "http")
			} else {
				putComboAttributes(dp.Attributes(), p.combo, false)
			}
			dp.SetStartTimestamp(started)
			dp.SetTimestamp(1)
			dp.SetIntValue(1)
			p.ndp = dp
		default:
			dp := m.Gauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(1)
			if p.kind == kindCPU {
				dp.SetDoubleValue(1)
			} else {
				dp.SetIntValue(1)
			}
			p.ndp = dp
		}
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(s.md).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("marshal metrics request: %w", err)
	}
	offs, err := scanMetricsRequest(body)
	if err != nil {
		return nil, fmt.Errorf("scan metrics request: %w", err)
	}
	if len(offs) != len(s.points) {
		return nil, fmt.Errorf("scan metrics request: %d data points, want %d", len(offs), len(s.points))
	}
	for i := range s.points {
		p, o := &s.points[i], offs[i]
		if o.t < 0 || o.v < 0 || p.kind == kindDuration && (o.sum < 0 || o.buckets < 0) {
			return nil, fmt.Errorf("scan metrics request: data point %d (%s) lacks a field: %+v", i, metricDefs[p.kind].name, o)
		}
		p.off = o
	}
	s.body = body
	return s, nil
}

func putComboAttributes(m pcommon.Map, c *combo, scheme bool) {
	m.EnsureCapacity(4)
	m.PutStr("http.request.method", c.method)
	m.PutStr("http.route", c.route)
	m.PutInt("http.response.status_code", int64(c.status))
	if scheme {
		m.PutStr("url.scheme", "http")
	}
}

// Next moves the slice to its next round (the first call to the first round, at the generator's
// start) and returns the round's timestamp.
func (s *MetricsSlice) Next() time.Time {
	s.round++
	t := s.Time()
	ts := uint64(t.UnixNano())
	for i := range s.points {
		p := &s.points[i]
		if s.round > 0 {
			p.advance(s.r, t)
		}
		p.encode(s.body, ts)
	}
	return t
}

// Round returns the number of the current round, from 0; -1 before the first Next.
func (s *MetricsSlice) Round() int { return s.round }

// Time returns the timestamp of the current round.
func (s *MetricsSlice) Time() time.Time {
	return s.start.Add(time.Duration(s.round) * MetricsInterval)
}

// Samples returns the number of Prometheus samples in the slice: 17 per histogram data point, one
// per other data point.
func (s *MetricsSlice) Samples() int { return s.samples }

// DataPoints returns the number of OTLP data points in the slice.
func (s *MetricsSlice) DataPoints() int { return len(s.points) }

// AppendProto appends the current round as an OTLP/protobuf ExportMetricsServiceRequest to dst.
func (s *MetricsSlice) AppendProto(dst []byte) []byte { return append(dst, s.body...) }

// Metrics returns the current round as pdata. The slice owns the result: it changes with the next
// Next and must not be modified.
func (s *MetricsSlice) Metrics() pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(s.Time())
	for i := range s.points {
		s.points[i].sync(ts)
	}
	return s.md
}

// poisson draws from a Poisson distribution with mean lambda: exactly for small means, by the
// normal approximation above 30.
func poisson(r *rand.Rand, lambda float64) uint64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return uint64(math.Max(0, math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), uint64(0), r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

// pointOffsets are the offsets of a data point's re-stamped fields in an encoded request; -1 when
// absent. v is the value of a number data point or the count of a histogram data point.
type pointOffsets struct{ t, v, sum, buckets int }

var errMetricsTruncated = errors.New("truncated protobuf")

// scanMetricsRequest returns the offsets of the data points of an encoded
// ExportMetricsServiceRequest, in the order they appear. Field numbers from
// https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/metrics/v1/metrics.proto
func scanMetricsRequest(b []byte) ([]pointOffsets, error) {
	var out []pointOffsets
	// Messages down to the data points: request.resource_metrics (1), ResourceMetrics.scope_metrics
	// (2), ScopeMetrics.metrics (2), Metric.gauge (5), sum (7) or histogram (9), and their
	// data_points (1).
	var walk func(b []byte, base, depth int, hist bool) error
	walk = func(b []byte, base, depth int, hist bool) error {
		return eachField(b, base, func(field, wire uint64, off int, v []byte) error {
			if depth == 5 { // a data point
				o := &out[len(out)-1]
				switch {
				case wire == 1 && field == 3: // time_unix_nano
					o.t = off
				case wire == 1 && !hist && (field == 4 || field == 6): // as_double, as_int
					o.v = off
				case wire == 1 && hist && field == 4: // count
					o.v = off
				case wire == 1 && hist && field == 5: // sum
					o.sum = off
				case wire == 2 && hist && field == 6 && len(v) == 8*nBuckets: // bucket_counts, packed
					o.buckets = off
				}
				return nil
			}
			if wire != 2 {
				return nil
			}
			switch {
			case depth == 0 && field == 1, depth == 1 && field == 2, depth == 2 && field == 2:
				return walk(v, off, depth+1, false)
			case depth == 3 && (field == 5 || field == 7 || field == 9):
				return walk(v, off, 4, field == 9)
			case depth == 4 && field == 1:
				out = append(out, pointOffsets{-1, -1, -1, -1})
				return walk(v, off, 5, hist)
			}
			return nil
		})
	}
	if err := walk(b, 0, 0, false); err != nil {
		return nil, err
	}
	return out, nil
}

// eachField calls fn for each field of the protobuf message b, which starts at base in the request,
// with the offset of its payload: the 8 bytes of a fixed64, the content of a length-delimited field.
func eachField(b []byte, base int, fn func(field, wire uint64, off int, v []byte) error) error {
	for i := 0; i < len(b); {
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return errMetricsTruncated
		}
		i += n
		var v []byte
		switch key & 7 {
		case 0:
			if _, n = binary.Uvarint(b[i:]); n <= 0 {
				return errMetricsTruncated
			}
			i += n
			continue
		case 1:
			if i+8 > len(b) {
				return errMetricsTruncated
			}
			v = b[i : i+8]
		case 5:
			if i+4 > len(b) {
				return errMetricsTruncated
			}
			v = b[i : i+4]
		case 2:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 || l > uint64(len(b)-i-n) {
				return errMetricsTruncated
			}
			i += n
			v = b[i : i+int(l)]
		default:
			return fmt.Errorf("unexpected wire type %d", key&7)
		}
		if err := fn(key>>3, key&7, base+i, v); err != nil {
			return err
		}
		i += len(v)
	}
	return nil
}

// Random identifiers, shared with the logs and traces generator.

func hexString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	var v uint64
	for i := range b {
		if i%16 == 0 {
			v = r.Uint64()
		}
		b[i] = hexDigits[v&15]
		v >>= 4
	}
	return string(b)
}

func uuid(r *rand.Rand) string {
	h := hexString(r, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + h[16:20] + "-" + h[20:]
}

func podName(r *rand.Rand) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
