// Package otlpgen generates realistic OTLP logs, traces and metrics (an online shop of several
// services) for the load tool and the stores' benchmarks.
package otlpgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Generator makes realistic OTLP logs and traces for a made-up online shop: a handful of services
// with their own routes, databases and caches, log lines built from templates filled with random ids,
// numbers, addresses and words drawn with a Zipf distribution (so an index sees both very common and
// rare terms), and traces whose spans form proper trees across services.
//
// A Generator is deterministic for a seed and is not safe for concurrent use.
type Generator struct {
	r        *rand.Rand
	services []*service
	// weights are the cumulative weights services are picked with as a log line's source or a
	// trace's entry point; frontend gets most of the traffic, as it would in a shop.
	weights []float64

	users     *rand.Zipf // index into a first × last name grid
	products  *rand.Zipf // index into an adjective × noun grid
	customers *rand.Zipf // numeric customer ids, a few very active

	now time.Time // of the current Logs or Traces call, for dates inside log lines
}

// NewGenerator returns a Generator for the given seed and number of services. The first ten
// services have fixed names (checkout, payments, ...); more are numbered copies of them.
func NewGenerator(seed uint64, services int) *Generator {
	services = max(services, 1)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &Generator{
		r:         r,
		users:     rand.NewZipf(r, 1.07, 2, uint64(len(firstNames)*len(lastNames)-1)),
		products:  rand.NewZipf(r, 1.1, 3, uint64(len(adjectives)*len(nouns)-1)),
		customers: rand.NewZipf(r, 1.05, 10, 499_999),
	}
	var total float64
	for i := range services {
		p := &profiles[i%len(profiles)]
		s := &service{profile: p, name: p.name, version: p.version}
		if i >= len(profiles) {
			s.name = p.name + "-" + strconv.Itoa(i/len(profiles)+1)
			s.version = fmt.Sprintf("%d.%d.%d", 1+r.IntN(3), r.IntN(20), r.IntN(10))
		}
		s.env = "production"
		if i%7 == 6 {
			s.env = "staging"
		}
		for range 3 {
			s.hosts = append(s.hosts, fmt.Sprintf("%s-%s-%s", s.name, g.hex(9), g.podSuffix()))
		}
		g.services = append(g.services, s)
		total += p.weight
		g.weights = append(g.weights, total)
	}
	return g
}

type service struct {
	*profile
	name, version, env string
	hosts              []string
}

func (s *service) dbLabel() string {
	if s.dbName != "" {
		return s.dbName
	}
	return s.name + "_db"
}

type route struct {
	method, route string
}

// profile is what a service does: the routes it serves and the stores it talks to.
type profile struct {
	name, version string
	weight        float64
	routes        []route
	grpc          string // gRPC service name when the service is called over gRPC
	db            string // db.system, "" for none
	dbName        string
	dbHost        string
	tables        []string
	cache         bool
	pkg           string // Go package path, for scopes and stack traces
	funcs         []string
}

var profiles = []profile{
	{
		name: "checkout", version: "3.8.1", weight: 1.5,
		routes: []route{{"POST", "/api/v1/checkout"}, {"GET", "/api/v1/orders/{id}"}, {"GET", "/api/v1/orders"},
			{"POST", "/api/v1/orders/{id}/cancel"}},
		db: "postgresql", dbName: "orders", dbHost: "orders-db-primary.internal", tables: []string{"orders", "order_items", "addresses", "coupons"},
		pkg: "github.com/acme/shop/checkout", funcs: []string{"PlaceOrder", "validateCart", "applyCoupons", "computeTax", "reserveStock"},
	},
	{
		name: "payments", version: "1.22.0", weight: 1,
		routes: []route{{"POST", "/api/v1/payments/charge"}, {"POST", "/api/v1/payments/refund"}, {"GET", "/api/v1/payments/{id}"}},
		db:     "postgresql", dbName: "payments", dbHost: "payments-db.internal", tables: []string{"payments", "payment_attempts", "ledger_entries"},
		pkg: "github.com/acme/shop/payments", funcs: []string{"Charge", "Refund", "tokenizeCard", "callGateway", "recordLedger"},
	},
	{
		name: "inventory", version: "2.3.7", weight: 1,
		grpc:   "inventory.v1.InventoryService",
		routes: []route{{"POST", "ReserveStock"}, {"POST", "GetStock"}, {"POST", "ReleaseStock"}, {"POST", "ListWarehouses"}},
		db:     "mysql", dbName: "inventory", dbHost: "inventory-mysql.internal", tables: []string{"stock_levels", "reservations", "warehouses"},
		pkg: "github.com/acme/shop/inventory", funcs: []string{"ReserveStock", "GetStock", "lockRows", "allocateWarehouse"},
	},
	{
		name: "frontend", version: "5.14.3", weight: 4,
		routes: []route{{"GET", "/"}, {"GET", "/product/{sku}"}, {"GET", "/cart"}, {"POST", "/cart"}, {"GET", "/checkout"},
			{"POST", "/checkout"}, {"GET", "/search"}, {"GET", "/account/orders"}},
		cache: true,
		pkg:   "github.com/acme/shop/frontend", funcs: []string{"ServeHTTP", "renderPage", "loadSession", "fetchProduct", "buildLayout"},
	},
	{
		name: "auth", version: "4.0.12", weight: 1.2,
		routes: []route{{"POST", "/api/v1/login"}, {"POST", "/api/v1/token/refresh"}, {"GET", "/api/v1/userinfo"}, {"POST", "/api/v1/logout"}},
		db:     "postgresql", dbName: "users", dbHost: "users-db.internal", tables: []string{"users", "sessions", "oauth_clients", "mfa_devices"},
		cache: true,
		pkg:   "github.com/acme/shop/auth", funcs: []string{"Login", "verifyPassword", "issueToken", "checkMFA", "loadUser"},
	},
	{
		name: "search", version: "2.9.0", weight: 1.3,
		routes: []route{{"GET", "/api/v1/search"}, {"GET", "/api/v1/suggest"}, {"GET", "/api/v1/facets"}},
		db:     "elasticsearch", dbName: "products", dbHost: "es-products.internal", tables: []string{"products_v12", "suggestions_v3"},
		cache: true,
		pkg:   "github.com/acme/shop/search", funcs: []string{"Search", "parseQuery", "rankResults", "applyFilters"},
	},
	{
		name: "shipping", version: "1.6.4", weight: 0.7,
		routes: []route{{"POST", "/api/v1/shipments"}, {"GET", "/api/v1/shipments/{id}/tracking"}, {"POST", "/api/v1/quotes"}},
		db:     "postgresql", dbName: "shipping", dbHost: "shipping-db.internal", tables: []string{"shipments", "carriers", "tracking_events"},
		pkg: "github.com/acme/shop/shipping", funcs: []string{"CreateShipment", "quoteCarriers", "printLabel", "pollTracking"},
	},
	{
		name: "email", version: "0.19.2", weight: 0.5,
		routes: []route{{"POST", "/api/v1/send"}, {"POST", "/api/v1/send/batch"}},
		db:     "mongodb", dbName: "notifications", dbHost: "mongo-notifications.internal", tables: []string{"messages", "templates", "suppressions"},
		pkg: "github.com/acme/shop/email", funcs: []string{"Send", "renderTemplate", "checkSuppression", "deliverSES"},
	},
	{
		name: "recommendation", version: "3.1.0", weight: 0.9,
		grpc:   "recommendation.v1.RecommendationService",
		routes: []route{{"POST", "ListRecommendations"}, {"POST", "ListSimilar"}},
		cache:  true,
		pkg:    "github.com/acme/shop/recommendation", funcs: []string{"ListRecommendations", "scoreCandidates", "loadModel", "filterSeen"},
	},
	{
		name: "cart", version: "2.2.5", weight: 1.4,
		routes: []route{{"GET", "/api/v1/cart/{id}"}, {"POST", "/api/v1/cart/{id}/items"}, {"DELETE", "/api/v1/cart/{id}/items/{sku}"},
			{"PUT", "/api/v1/cart/{id}/items/{sku}"}},
		cache: true,
		pkg:   "github.com/acme/shop/cart", funcs: []string{"GetCart", "AddItem", "RemoveItem", "priceCart", "persistCart"},
	},
}

// Vocabulary. Picked through Zipf distributions over their products (first × last, adjective × noun)
// so some values repeat constantly and most are rare.
var (
	firstNames = strings.Fields(`alice bob carol dave erin frank grace heidi ivan judy mallory nia oscar peggy
		quentin rupert sybil trent uma victor wendy xavier yara zoe amir bea chen dmitri elif farah goran hana
		ines jonas kemal lena marek noor olga pavel rania sven tomas ursula vera wei yusuf zeynep laila mateo
		priya sanjay akira`)
	lastNames = strings.Fields(`smith jones garcia muller rossi novak kowalski tanaka kim nguyen silva
		johansson dubois schmidt fischer weber wagner becker hoffmann schulz martin bernard petit durand leroy
		moreau laurent simon michel lefebvre fernandez lopez gonzalez perez sanchez romero okafor mensah
		haddad nakamura yamamoto ivanova petrov horvat nagy varga popescu kaya yilmaz demir sato`)
	adjectives = strings.Fields(`vintage leather organic wireless ergonomic waterproof compact classic
		premium recycled bamboo merino titanium ceramic handmade foldable insulated minimalist rugged
		lightweight solar retro modular smart cordless stainless woolen linen portable adjustable`)
	nouns = strings.Fields(`backpack kettle headphones sneakers lamp blender jacket notebook tent
		thermos keyboard monitor chair desk wallet sunglasses umbrella scarf teapot skillet speaker charger
		watch bicycle helmet mattress pillow blanket rug vase candle planter grinder toaster drone camera
		tripod router`)
	currencies  = []string{"EUR", "USD", "GBP", "SEK", "PLN", "CHF"}
	locales     = []string{"en-US", "de-DE", "fr-FR", "en-GB", "sv-SE", "pl-PL", "es-ES", "it-IT", "nl-NL"}
	carriers    = []string{"UPS", "DHL", "FedEx", "PostNL", "GLS", "DPD"}
	warehouses  = []string{"fra-1", "fra-2", "ams-1", "waw-1", "mad-1", "dub-1"}
	gateways    = []string{"stripe", "adyen", "braintree", "paypal"}
	providers   = []string{"google", "github", "apple", "password"}
	userAgents  = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", "okhttp/4.12.0", "acme-ios/5.3.1 (iPhone15,2; iOS 17.5)", "curl/8.8.0"}
	emailKinds  = []string{"order_confirmed", "shipment_dispatched", "password_reset", "cart_reminder", "welcome", "refund_issued"}
	flags       = []string{"new-checkout-flow", "one-click-buy", "search-ranking-v2", "free-shipping-banner", "recs-model-b"}
	upstreamErr = []struct{ typ, msg string }{
		{"PaymentGatewayException", "upstream returned 502 Bad Gateway after 3 retries"},
		{"java.net.SocketTimeoutException", "Read timed out after 5000 ms"},
		{"*pq.Error", `pq: duplicate key value violates unique constraint "orders_pkey"`},
		{"*pq.Error", "pq: deadlock detected while waiting for ShareLock on transaction"},
		{"*errors.errorString", "redis: connection pool timeout"},
		{"context.deadlineExceededError", "context deadline exceeded"},
		{"*status.Error", "rpc error: code = Unavailable desc = connection error: dial tcp 10.42.7.19:50051: connect: connection refused"},
		{"NullPointerException", `Cannot invoke "Cart.getItems()" because "cart" is null`},
		{"*json.SyntaxError", "invalid character '<' looking for beginning of value"},
		{"*net.OpError", "read tcp 10.42.3.8:51234->10.42.9.2:5432: read: connection reset by peer"},
		{"InsufficientStockError", "requested quantity exceeds available stock"},
		{"*url.Error", `Post "https://api.gateway.example/v2/charges": EOF`},
	}
)

// Severity mix of real services at INFO level: mostly info, some debug left on, few warnings and
// errors. Numbers per https://opentelemetry.io/docs/specs/otel/logs/data-model/#field-severitynumber
var severities = []struct {
	upTo float64
	num  plog.SeverityNumber
	text string
}{
	{0.70, plog.SeverityNumberInfo, "INFO"},
	{0.85, plog.SeverityNumberDebug, "DEBUG"},
	{0.95, plog.SeverityNumberWarn, "WARN"},
	{1.00, plog.SeverityNumberError, "ERROR"},
}

// logCtx is one request as a service sees it: the log lines it leads to share these values, so the
// body and the attributes of a record agree with each other.
type logCtx struct {
	g        *Generator
	svc      *service
	rt       route
	path     string
	status   int
	user     string
	userID   string
	reqID    string
	ip       string
	traceID  pcommon.TraceID
	spanID   pcommon.SpanID
	traced   bool
	severity int // index into severities
}

// Logs returns n log records from random requests to random services, stamped around now and
// grouped into one ResourceLogs per service instance.
func (g *Generator) Logs(n int, now time.Time) plog.Logs {
	g.now = now
	ld := plog.NewLogs()
	type key struct {
		svc  *service
		host string
	}
	slices := map[key]plog.LogRecordSlice{}
	for n > 0 {
		// A request produces a few lines that share request id, user and trace.
		c := &logCtx{g: g, svc: g.service(), user: g.user(), reqID: g.hex(16), ip: g.clientIP()}
		c.userID = "u" + strconv.FormatUint(g.customers.Uint64()+1000, 10)
		c.rt = c.svc.routes[g.r.IntN(len(c.svc.routes))]
		c.path = g.fillPath(c.rt.route)
		if c.svc.grpc != "" {
			c.path = "/" + c.svc.grpc + "/" + c.rt.route
			c.rt.route = c.path
		}
		if g.r.IntN(2) == 0 {
			c.traced = true
			c.traceID = pcommon.TraceID(g.id16())
		}
		host := c.svc.hosts[g.r.IntN(len(c.svc.hosts))]
		lines := min(1+g.r.IntN(4), n)
		sev := make([]int, lines)
		worst := 0
		for i := range sev {
			sev[i] = g.severity()
			if severities[sev[i]].num > severities[worst].num {
				worst = sev[i]
			}
		}
		c.status = g.statusFor(severities[worst].num)
		k := key{c.svc, host}
		lrs, ok := slices[k]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			putResource(rl.Resource().Attributes(), c.svc, host)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(c.svc.pkg + "/internal/server")
			sl.Scope().SetVersion(c.svc.version)
			lrs = sl.LogRecords()
			slices[k] = lrs
		}
		// Lines of one request are logged in order, a few milliseconds apart.
		t := now.Add(-time.Duration(g.r.Int64N(int64(2 * time.Second))))
		for _, s := range sev {
			c.severity = s
			if c.traced {
				c.spanID = pcommon.SpanID(g.id8())
			}
			lr := lrs.AppendEmpty()
			t = t.Add(time.Duration(g.r.Int64N(int64(3 * time.Millisecond))))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t.Add(time.Duration(200_000 + g.r.Int64N(int64(40*time.Millisecond))))))
			lr.SetSeverityNumber(severities[s].num)
			lr.SetSeverityText(severities[s].text)
			lr.Body().SetStr(c.body())
			a := lr.Attributes()
			a.EnsureCapacity(5)
			a.PutStr("http.method", c.rt.method)
			a.PutStr("http.route", c.rt.route)
			a.PutInt("http.status_code", int64(c.status))
			a.PutStr("user.id", c.userID)
			a.PutStr("request.id", c.reqID)
			if c.traced {
				lr.SetTraceID(c.traceID)
				lr.SetSpanID(c.spanID)
				lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
			}
		}
		n -= lines
	}
	return ld
}

func putResource(m pcommon.Map, s *service, host string) {
	m.EnsureCapacity(4)
	m.PutStr("service.name", s.name)
	m.PutStr("service.version", s.version)
	m.PutStr("host.name", host)
	m.PutStr("deployment.environment", s.env)
}

func (g *Generator) severity() int {
	f := g.r.Float64()
	for i, s := range severities {
		if f < s.upTo {
			return i
		}
	}
	return 0
}

func (g *Generator) statusFor(sev plog.SeverityNumber) int {
	switch sev {
	case plog.SeverityNumberError:
		return pick(g, []int{500, 500, 502, 503, 504})
	case plog.SeverityNumberWarn:
		return pick(g, []int{200, 200, 400, 401, 404, 409, 422, 429})
	default:
		return pick(g, []int{200, 200, 200, 200, 200, 200, 201, 204, 304, 302})
	}
}

// body fills a template that fits the record's severity and, where one exists, its service.
func (c *logCtx) body() string {
	g := c.g
	var line string
	switch f, ok := serviceLines[c.svc.profile.name]; {
	case severities[c.severity].num == plog.SeverityNumberDebug:
		line = pick(g, debugLines)(c)
	case severities[c.severity].num == plog.SeverityNumberWarn:
		line = pick(g, warnLines)(c)
	case severities[c.severity].num == plog.SeverityNumberError:
		line = pick(g, errorLines)(c)
	case ok && g.r.IntN(2) == 0:
		line = f(c)
	default:
		line = pick(g, infoLines)(c)
	}
	// Most loggers add where the line came from.
	if g.r.IntN(2) == 0 {
		fn := pick(g, c.svc.funcs)
		line += fmt.Sprintf(" caller=%s.go:%d func=%s", strings.ToLower(fn), 20+g.r.IntN(500), fn)
	}
	return line
}

type lineFunc func(c *logCtx) string

var infoLines = []lineFunc{
	func(c *logCtx) string { // combined access log
		g := c.g
		rt := g.seconds(0.04)
		return fmt.Sprintf(`%s - %s [%s] "%s %s HTTP/1.1" %d %d "https://shop.example.com%s" "%s" rt=%.3f upstream=%s:8080 urt=%.3f request_id=%s`,
			c.ip, c.user, g.now.UTC().Format("02/Jan/2006:15:04:05 -0700"), c.rt.method, c.path, c.status,
			200+g.r.IntN(48000), pick(g, []string{"/", "/cart", "/search", "/account"}), pick(g, userAgents), rt,
			g.internalIP(), rt*0.9, c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("request completed method=%s route=%s path=%s status=%d duration=%s bytes_in=%d bytes_out=%d client_ip=%s user=%s user_agent=%q request_id=%s",
			c.rt.method, c.rt.route, c.path, c.status, g.duration(0.03), g.r.IntN(4000), 120+g.r.IntN(20000), c.ip, c.user, pick(g, userAgents), c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		if c.svc.db == "" {
			return fmt.Sprintf(`served %s %s from cache key=%s age=%ds size=%dB etag="W/%s" region=%s user=%s request_id=%s`,
				c.rt.method, c.path, g.cacheKey(), g.r.IntN(600), 200+g.r.IntN(9000), g.hex(16), pick(g, []string{"eu-west-1", "eu-central-1", "us-east-1"}), c.user, c.reqID)
		}
		return fmt.Sprintf("query ok db=%s host=%s rows=%d duration=%s conn_id=%d tx=%t request_id=%s: %s",
			c.svc.dbName, c.svc.dbHost, g.r.IntN(200), g.duration(0.006), 1000+g.r.IntN(9000), g.r.IntN(3) == 0, c.reqID, g.statement(c.svc))
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("consumed message topic=%s.%s partition=%d offset=%d lag=%d key=%s size=%dB group=%s-workers handler=%s took=%s commit=async request_id=%s",
			c.svc.name, pick(g, []string{"events", "created", "updated", "commands"}), g.r.IntN(12), g.r.Int64N(90_000_000),
			g.r.IntN(40), g.uuid(), 300+g.r.IntN(4000), c.svc.name, pick(g, c.svc.funcs), g.duration(0.004), c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("finished call grpc.service=%s grpc.method=%s grpc.code=OK peer=%s:%d duration=%s bytes_sent=%d bytes_received=%d deadline=%dms user=%s request_id=%s",
			g.peerGRPC(), pick(g, []string{"Get", "List", "Reserve", "Update", "Check"}), g.internalIP(), 50051, g.duration(0.01),
			g.r.IntN(2000), g.r.IntN(20000), pick(g, []int{250, 500, 1000}), c.user, c.reqID)
	},
}

var serviceLines = map[string]lineFunc{
	"cart": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf(`user %s added %d x "%s" (sku=%s) to cart %s; cart now has %d items totalling %.2f %s (promo=%s, session=%s) request_id=%s`,
			c.user, 1+g.r.IntN(3), g.product(), g.sku(), g.uuid(), 1+g.r.IntN(12), g.price()*3, pick(g, currencies),
			pick(g, []string{"none", "none", "SPRING10", "BUNDLE3"}), g.hex(24), c.reqID)
	},
	"checkout": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("order %s placed by %s (customer %s): %d items, subtotal %.2f %s, tax %.2f, shipping=%s to %s, payment=%s coupon=%s request_id=%s",
			g.orderID(), c.user, c.userID, 1+g.r.IntN(8), g.price()*4, pick(g, currencies), g.price()/3,
			pick(g, carriers), pick(g, locales), pick(g, gateways), pick(g, []string{"none", "none", "SPRING10", "WELCOME5", "FREESHIP"}), c.reqID)
	},
	"payments": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("payment authorized for order %s amount=%.2f %s method=card brand=%s card=****%04d 3ds=%t gateway=%s auth_code=%s latency=%s customer=%s request_id=%s",
			g.orderID(), g.price()*2, pick(g, currencies), pick(g, []string{"visa", "mastercard", "amex"}), g.r.IntN(10000),
			g.r.IntN(2) == 0, pick(g, gateways), strings.ToUpper(g.hex(6)), g.duration(0.3), c.userID, c.reqID)
	},
	"auth": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("login succeeded for user %s from %s via %s mfa=%t session=%s expires_in=%ds user_agent=%q",
			c.user, c.ip, pick(g, providers), g.r.IntN(3) == 0, g.hex(32), pick(g, []int{900, 3600, 86400}), pick(g, userAgents))
	},
	"search": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf(`search query "%s" returned %d results in %s (es_took=%dms, index=products_v12, shards=3, page=%d, sort=%s, filters=size:%d,color:%s) user=%s locale=%s request_id=%s`,
			g.searchTerms(), g.r.IntN(400), g.duration(0.05), 1+g.r.IntN(40), 1+g.r.IntN(5), pick(g, []string{"relevance", "price_asc", "newest"}),
			36+g.r.IntN(10), pick(g, []string{"black", "red", "blue", "green", "white"}), c.user, pick(g, locales), c.reqID)
	},
	"shipping": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("shipment 1Z%s created for order %s carrier=%s service=%s weight=%.1fkg eta=%s from warehouse=%s to %s request_id=%s",
			strings.ToUpper(g.hex(16)), g.orderID(), pick(g, carriers), pick(g, []string{"ground", "express", "next_day"}),
			0.2+g.r.Float64()*20, g.now.AddDate(0, 0, 1+g.r.IntN(6)).Format("2006-01-02"), pick(g, warehouses), pick(g, locales), c.reqID)
	},
	"email": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("sent %s email to customer %s <%s@example.com> (template=%s_v%d, locale=%s, provider=ses, message_id=0102%s-%s-000000) in %s request_id=%s",
			pick(g, emailKinds), c.userID, c.user, pick(g, emailKinds), 1+g.r.IntN(4), pick(g, locales), g.hex(12), g.uuid(), g.duration(0.15), c.reqID)
	},
	"recommendation": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("generated %d recommendations for user %s (%s) model=als-%d-%02d candidates=%d filtered_seen=%d latency=%s cache=%s top=%q request_id=%s",
			4+g.r.IntN(20), c.userID, c.user, 2024+g.r.IntN(3), 1+g.r.IntN(12), 100+g.r.IntN(900), g.r.IntN(60), g.duration(0.02),
			pick(g, []string{"hit", "miss", "miss", "stale"}), g.product(), c.reqID)
	},
	"inventory": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf(`reserved %d units of "%s" (sku=%s) in warehouse %s for order %s, remaining=%d, reorder_point=%d, reservation=%s expires_in=%ds request_id=%s`,
			1+g.r.IntN(5), g.product(), g.sku(), pick(g, warehouses), g.orderID(), g.r.IntN(900), 50+g.r.IntN(100), g.uuid(), 600+g.r.IntN(1200), c.reqID)
	},
	"frontend": func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("rendered %s for %s in %s (template=%s.html, components=%d, upstream_calls=%d, cache=%s, locale=%s, currency=%s, ab_bucket=%s) session=%s request_id=%s",
			c.path, c.user, g.duration(0.06), pick(g, []string{"home", "product", "cart", "checkout", "search", "orders"}), 10+g.r.IntN(60),
			1+g.r.IntN(9), pick(g, []string{"hit", "miss", "bypass"}), pick(g, locales), pick(g, currencies), pick(g, flags), g.hex(24), c.reqID)
	},
}

func cacheMissLine(c *logCtx) string {
	g := c.g
	return fmt.Sprintf("cache miss for key %q in redis-cache-%d.internal:6379, falling back to %s (ttl=%ds, hit_ratio_1m=%.2f, lookup=%s) user=%s request_id=%s",
		g.cacheKey(), g.r.IntN(4), pick(g, c.svc.funcs), pick(g, []int{60, 300, 900, 3600}), 0.5+g.r.Float64()/2, g.duration(0.0005), c.user, c.reqID)
}

var debugLines = []lineFunc{
	cacheMissLine,
	func(c *logCtx) string {
		g := c.g
		if c.svc.db == "" {
			return cacheMissLine(c)
		}
		return fmt.Sprintf("connection pool stats db=%s host=%s:%d open=%d idle=%d in_use=%d wait_count=%d wait_duration=%s max_open=%d max_idle_closed=%d max_lifetime_closed=%d",
			c.svc.dbLabel(), c.svc.dbHost, dbPort(c.svc.db), 5+g.r.IntN(40), g.r.IntN(10), g.r.IntN(30), g.r.IntN(3000), g.duration(0.5), 50, g.r.IntN(100), g.r.IntN(400))
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("feature flag %q evaluated to %t for user %s (rule=%s, variant=%s, reason=TARGETING_MATCH, sdk=%s, took=%s) request_id=%s trace_sampled=%t",
			pick(g, flags), g.r.IntN(2) == 0, c.user, pick(g, []string{"percentage_rollout", "segment:beta", "default", "country:DE"}),
			pick(g, []string{"control", "treatment", "off"}), "flagd-go/0.11.2", g.duration(0.00002), c.reqID, c.traced)
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("outgoing request POST http://%s:8080%s headers={content-type: application/json, x-request-id: %s} body_size=%d deadline=%dms attempt=1 retry_policy=exponential(max=3) user=%s",
			g.peerService(), pick(g, []string{"/api/v1/charge", "/api/v1/reserve", "/api/v1/quote", "/api/v1/send"}), c.reqID,
			100+g.r.IntN(3000), pick(g, []int{250, 500, 1000, 3000}), c.user)
	},
}

func slowRequestLine(c *logCtx) string {
	g := c.g
	return fmt.Sprintf("slow request: %s %s took %s (threshold 1s; db=%s upstream=%s render=%s), upstream=%s:8080 retries=%d user=%s client_ip=%s request_id=%s",
		c.rt.method, c.path, g.duration(1.8), g.duration(0.4), g.duration(0.9), g.duration(0.05), g.peerService(), g.r.IntN(3), c.user, c.ip, c.reqID)
}

var warnLines = []lineFunc{
	slowRequestLine,
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("retrying call to %s after error (attempt %d/3, backoff=%dms, circuit_breaker=%s, operation=%s): %s user=%s request_id=%s",
			g.peerService(), 1+g.r.IntN(2), 100*(1+g.r.IntN(8)), pick(g, []string{"closed", "closed", "half-open"}), pick(g, c.svc.funcs),
			pick(g, upstreamErr).msg, c.user, c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		return fmt.Sprintf("rejected request from %s: %d %s for %s %s (user=%s, limit=%d/min, window_remaining=%ds, user_agent=%q) request_id=%s",
			c.ip, c.status, http.StatusText(c.status), c.rt.method, c.path, c.user, pick(g, []int{60, 120, 600}), g.r.IntN(60), pick(g, userAgents), c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		if c.svc.db == "" {
			return slowRequestLine(c)
		}
		return fmt.Sprintf("connection pool near exhaustion db=%s in_use=%d/%d waiters=%d longest_wait=%s; consider raising max_open_conns (query=%s)",
			c.svc.dbLabel(), 45+g.r.IntN(5), 50, 1+g.r.IntN(40), g.duration(0.4), g.statement(c.svc))
	},
}

func failedOrderLine(c *logCtx) string {
	g := c.g
	e := pick(g, upstreamErr)
	return fmt.Sprintf("failed to process order %s for user %s: %s: %s (attempt %d/3, upstream=%s, elapsed=%s, order_total=%.2f %s) request_id=%s",
		g.orderID(), c.user, e.typ, e.msg, 1+g.r.IntN(3), g.peerService(), g.duration(0.8), g.price()*3, pick(g, currencies), c.reqID)
}

var errorLines = []lineFunc{
	failedOrderLine,
	func(c *logCtx) string {
		g := c.g
		e := pick(g, upstreamErr)
		fn := pick(g, c.svc.funcs)
		return fmt.Sprintf("unhandled error in %s %s: %s\n\tat %s.%s(%s.go:%d)\n\tat %s/internal/server.(*Handler).ServeHTTP(handler.go:%d) request_id=%s",
			c.rt.method, c.path, e.msg, c.svc.pkg, fn, strings.ToLower(fn), 20+g.r.IntN(400), c.svc.pkg, 30+g.r.IntN(200), c.reqID)
	},
	func(c *logCtx) string {
		g := c.g
		if c.svc.db == "" {
			return failedOrderLine(c)
		}
		return fmt.Sprintf("database error db=%s after %s: %s; rolling back transaction tx=%s (statement: %s)",
			c.svc.dbLabel(), g.duration(0.2), pick(g, upstreamErr[2:4]).msg, g.hex(16), g.statement(c.svc))
	},
}

// Traces returns traces of 3 to 15 spans (fewer only to fill the last of exactly `spans` spans),
// each crossing 2 to 5 services, grouped into one ResourceSpans per service instance.
func (g *Generator) Traces(spans int, now time.Time) ptrace.Traces {
	g.now = now
	td := ptrace.NewTraces()
	type key struct {
		svc   *service
		host  string
		scope string
	}
	groups := map[key]ptrace.SpanSlice{}
	var buf []genSpan
	for spans > 0 {
		n := min(3+g.r.IntN(13), spans)
		if rest := spans - n; rest > 0 && rest < 3 {
			// Leave at least three spans for the next trace; only a request of fewer than three
			// spans gets a smaller trace.
			if n -= 3 - rest; n < 3 {
				n = spans
			}
		}
		buf = g.trace(n, now, buf[:0])
		for i := range buf {
			s := &buf[i]
			k := key{s.svc, s.host, s.scope}
			ss, ok := groups[k]
			if !ok {
				rs := td.ResourceSpans().AppendEmpty()
				putResource(rs.Resource().Attributes(), s.svc, s.host)
				sc := rs.ScopeSpans().AppendEmpty()
				sc.Scope().SetName(s.scope)
				ss = sc.Spans()
				groups[k] = ss
			}
			s.emit(ss.AppendEmpty())
		}
		spans -= n
	}
	return td
}

type spanOp uint8

const (
	opHTTPServer spanOp = iota
	opHTTPClient
	opGRPCServer
	opGRPCClient
	opDB
	opCache
	opInternal
)

type attr struct {
	k     string
	s     string
	i     int64
	isInt bool
}

type genSpan struct {
	op          spanOp
	svc         *service
	host, scope string
	name        string
	kind        ptrace.SpanKind
	traceID     [16]byte
	id          [8]byte
	parentID    [8]byte
	parent      int           // index in the trace, -1 for the root
	start, dur  time.Duration // start is an offset from the trace's start
	base        time.Time
	attrs       []attr
	err         bool
	errMsg      string
	events      []genEvent
}

type genEvent struct {
	name  string
	at    time.Duration
	attrs []attr
}

func (s *genSpan) emit(sp ptrace.Span) {
	sp.SetTraceID(s.traceID)
	sp.SetSpanID(s.id)
	sp.SetParentSpanID(s.parentID)
	sp.SetName(s.name)
	sp.SetKind(s.kind)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.base.Add(s.start)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.base.Add(s.start + s.dur)))
	putAttrs(sp.Attributes(), s.attrs)
	if s.err {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(s.errMsg)
	}
	for _, e := range s.events {
		ev := sp.Events().AppendEmpty()
		ev.SetName(e.name)
		ev.SetTimestamp(pcommon.NewTimestampFromTime(s.base.Add(e.at)))
		putAttrs(ev.Attributes(), e.attrs)
	}
}

func putAttrs(m pcommon.Map, attrs []attr) {
	m.EnsureCapacity(len(attrs))
	for _, a := range attrs {
		if a.isInt {
			m.PutInt(a.k, a.i)
		} else {
			m.PutStr(a.k, a.s)
		}
	}
}

func str(k, v string) attr       { return attr{k: k, s: v} }
func num(k string, v int64) attr { return attr{k: k, i: v, isInt: true} }

// trace appends the n spans of one trace to out. Parents always come before their children.
func (g *Generator) trace(n int, now time.Time, out []genSpan) []genSpan {
	tid := g.id16()
	nsvc := min(2+g.r.IntN(4), 1+(n-1)/2, len(g.services))
	svcs := g.traceServices(nsvc)
	hosts := map[*service]string{}
	for _, s := range svcs {
		hosts[s] = s.hosts[g.r.IntN(len(s.hosts))]
	}
	add := func(s genSpan) int {
		s.traceID = tid
		s.id = g.id8()
		s.host = hosts[s.svc]
		if s.parent >= 0 {
			s.parentID = out[s.parent].id
		}
		out = append(out, s)
		return len(out) - 1
	}
	user := g.user()
	rt := svcs[0].routes[g.r.IntN(len(svcs[0].routes))]
	add(g.serverSpan(svcs[0], rt, -1, user))
	servers := []int{0}
	// Each further service is called by one already in the trace: a client span in the caller and
	// a server span in the callee.
	for _, callee := range svcs[1:] {
		caller := servers[g.r.IntN(len(servers))]
		rt := callee.routes[g.r.IntN(len(callee.routes))]
		c := add(g.clientSpan(out[caller].svc, callee, rt, caller))
		servers = append(servers, add(g.serverSpan(callee, rt, c, user)))
	}
	for len(out) < n {
		p := servers[g.r.IntN(len(servers))]
		if g.r.IntN(4) == 0 { // sometimes nest under any span of the same service that is not a client
			q := g.r.IntN(len(out))
			if out[q].svc == out[p].svc && (out[q].op == opInternal || out[q].kind == ptrace.SpanKindServer) {
				p = q
			}
		}
		svc := out[p].svc
		f := g.r.Float64()
		switch {
		case svc.db != "" && f < 0.5:
			add(g.dbSpan(svc, p))
		case svc.cache && f < 0.75:
			add(g.cacheSpan(svc, p))
		default:
			add(g.internalSpan(svc, p, user))
		}
	}
	// Times, top-down: a root with a log-normal duration, children inside their parents.
	rootDur := time.Duration(math.Exp(math.Log(float64(40*time.Millisecond)) + 1.2*g.r.NormFloat64()))
	rootDur = min(max(rootDur, time.Millisecond), 8*time.Second)
	base := now.Add(-rootDur - time.Duration(g.r.Int64N(int64(2*time.Second))))
	for i := range out {
		s := &out[i]
		s.base = base
		if s.parent < 0 {
			s.dur = rootDur
		} else {
			p := &out[s.parent]
			var frac float64
			if p.kind == ptrace.SpanKindClient {
				frac = 0.8 + 0.17*g.r.Float64()
			} else {
				frac = min(math.Exp(-1.8+0.9*g.r.NormFloat64()), 0.9)
			}
			s.dur = max(time.Duration(float64(p.dur)*frac), 15*time.Microsecond)
			s.start = p.start + time.Duration(g.r.Float64()*float64(p.dur-s.dur))
		}
		if g.r.IntN(100) < 3 {
			g.fail(s)
		} else if g.r.IntN(100) < 4 {
			s.events = append(s.events, g.event(s))
		}
	}
	return out
}

func (g *Generator) traceServices(n int) []*service {
	first := g.service()
	if g.r.IntN(10) < 7 {
		for _, s := range g.services {
			if s.profile.name == "frontend" {
				first = s
				break
			}
		}
	}
	out := []*service{first}
	for len(out) < n {
		s := g.services[g.r.IntN(len(g.services))]
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

func (g *Generator) serverSpan(svc *service, rt route, parent int, user string) genSpan {
	s := genSpan{svc: svc, parent: parent, kind: ptrace.SpanKindServer}
	if svc.grpc != "" {
		s.op, s.scope = opGRPCServer, "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
		s.name = svc.grpc + "/" + rt.route
		s.attrs = []attr{str("rpc.system", "grpc"), str("rpc.service", svc.grpc), str("rpc.method", rt.route),
			num("rpc.grpc.status_code", 0), str("server.address", svc.name), str("client.address", g.internalIP())}
		return s
	}
	s.op, s.scope = opHTTPServer, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	s.name = rt.method + " " + rt.route
	s.attrs = []attr{str("http.request.method", rt.method), str("http.route", rt.route), str("url.path", g.fillPath(rt.route)),
		num("http.response.status_code", int64(pick(g, []int{200, 200, 200, 200, 201, 204, 304, 404}))), str("server.address", svc.name)}
	if parent < 0 {
		s.attrs = append(s.attrs, str("client.address", g.clientIP()), str("user_agent.original", pick(g, userAgents)))
	}
	if g.r.IntN(2) == 0 {
		s.attrs = append(s.attrs, str("enduser.id", user))
	}
	return s
}

func (g *Generator) clientSpan(svc, callee *service, rt route, parent int) genSpan {
	s := genSpan{svc: svc, parent: parent, kind: ptrace.SpanKindClient}
	if callee.grpc != "" {
		s.op, s.scope = opGRPCClient, "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
		s.name = callee.grpc + "/" + rt.route
		s.attrs = []attr{str("rpc.system", "grpc"), str("rpc.service", callee.grpc), str("rpc.method", rt.route),
			num("rpc.grpc.status_code", 0), str("net.peer.name", callee.name), num("net.peer.port", 50051)}
		return s
	}
	s.op, s.scope = opHTTPClient, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	s.name = rt.method + " " + rt.route
	s.attrs = []attr{str("http.request.method", rt.method), str("url.full", "http://"+callee.name+":8080"+g.fillPath(rt.route)),
		num("http.response.status_code", 200), str("server.address", callee.name), num("server.port", 8080), str("net.peer.name", callee.name)}
	return s
}

func (g *Generator) dbSpan(svc *service, parent int) genSpan {
	s := genSpan{svc: svc, parent: parent, kind: ptrace.SpanKindClient, op: opDB, scope: "github.com/XSAM/otelsql"}
	stmt := g.statement(svc)
	op, table := stmtOp(stmt, svc)
	s.name = op + " " + table
	switch svc.db {
	case "mongodb":
		s.scope = "go.mongodb.org/mongo-driver/mongo/otelmongo"
	case "elasticsearch":
		s.scope = "github.com/elastic/go-elasticsearch/v8"
	}
	s.attrs = []attr{str("db.system", svc.db), str("db.name", svc.dbName), str("db.statement", stmt), str("db.operation", op),
		str("db.sql.table", table), str("net.peer.name", svc.dbHost), num("net.peer.port", int64(dbPort(svc.db)))}
	return s
}

func (g *Generator) cacheSpan(svc *service, parent int) genSpan {
	s := genSpan{svc: svc, parent: parent, kind: ptrace.SpanKindClient, op: opCache, scope: "github.com/redis/go-redis/extra/redisotel/v9"}
	cmd := pick(g, []string{"GET", "GET", "GET", "SETEX", "HGETALL", "MGET", "INCR", "DEL"})
	s.name = "redis " + cmd
	s.attrs = []attr{str("db.system", "redis"), str("db.statement", cmd+" "+g.cacheKey()), str("db.operation", cmd),
		str("net.peer.name", fmt.Sprintf("redis-cache-%d.internal", g.r.IntN(4))), num("net.peer.port", 6379)}
	if g.r.IntN(2) == 0 {
		s.attrs = append(s.attrs, num("db.redis.database_index", int64(g.r.IntN(4))))
	}
	return s
}

func (g *Generator) internalSpan(svc *service, parent int, user string) genSpan {
	fn := pick(g, svc.funcs)
	s := genSpan{svc: svc, parent: parent, kind: ptrace.SpanKindInternal, op: opInternal, scope: svc.pkg}
	s.name = fn
	s.attrs = []attr{str("code.function", fn), str("code.namespace", svc.pkg+"/internal/app"),
		str("enduser.id", user), str("app.order.id", g.orderID())}
	for range g.r.IntN(3) {
		switch g.r.IntN(3) {
		case 0:
			s.attrs = append(s.attrs, num("app.cart.items", int64(1+g.r.IntN(12))))
		case 1:
			s.attrs = append(s.attrs, str("app.feature_flag", pick(g, flags)))
		default:
			s.attrs = append(s.attrs, str("app.product.name", g.product()))
		}
	}
	return s
}

// fail marks a span as failed the way instrumentation does: an error status, a failing status code
// attribute where there is one, and usually an exception event with a stack trace.
func (g *Generator) fail(s *genSpan) {
	e := pick(g, upstreamErr)
	s.err = true
	s.errMsg = e.msg
	for i := range s.attrs {
		switch s.attrs[i].k {
		case "http.response.status_code":
			s.attrs[i].i = int64(pick(g, []int{500, 502, 503, 504}))
		case "rpc.grpc.status_code":
			s.attrs[i].i = int64(pick(g, []int{2, 4, 13, 14}))
		}
	}
	if g.r.IntN(10) < 7 {
		var st strings.Builder
		fmt.Fprintf(&st, "goroutine %d [running]:\n", 1+g.r.IntN(4000))
		for range 3 + g.r.IntN(4) {
			fn := pick(g, s.svc.funcs)
			fmt.Fprintf(&st, "%s/internal/app.%s(0xc%09x)\n\t/src/%s/internal/app/%s.go:%d +0x%x\n",
				s.svc.pkg, fn, g.r.Int64N(1<<36), s.svc.name, strings.ToLower(fn), 10+g.r.IntN(600), g.r.IntN(1024))
		}
		s.events = append(s.events, genEvent{name: "exception", at: s.start + s.dur - time.Duration(g.r.Int64N(int64(s.dur)/10+1)),
			attrs: []attr{str("exception.type", e.typ), str("exception.message", e.msg), str("exception.stacktrace", st.String())}})
	}
}

func (g *Generator) event(s *genSpan) genEvent {
	at := s.start + time.Duration(g.r.Float64()*float64(s.dur))
	switch s.op {
	case opCache:
		return genEvent{name: "cache.miss", at: at, attrs: []attr{str("cache.key", g.cacheKey())}}
	case opDB:
		return genEvent{name: "retry", at: at, attrs: []attr{num("retry.attempt", 1), str("retry.reason", "serialization failure")}}
	default:
		return genEvent{name: "feature_flag.evaluation", at: at, attrs: []attr{str("feature_flag.key", pick(g, flags)),
			str("feature_flag.variant", pick(g, []string{"on", "off", "treatment"}))}}
	}
}

// statement returns a query with random literals in the dialect of svc's database.
func (g *Generator) statement(svc *service) string {
	table := "sessions"
	if len(svc.tables) > 0 {
		table = pick(g, svc.tables)
	}
	switch svc.db {
	case "mongodb":
		return fmt.Sprintf(`{"find":%q,"filter":{"customer_id":%d,"status":%q},"sort":{"created_at":-1},"limit":%d}`,
			table, g.customers.Uint64()+1000, pick(g, []string{"queued", "sent", "bounced"}), 10+g.r.IntN(40))
	case "elasticsearch":
		return fmt.Sprintf(`{"query":{"multi_match":{"query":%q,"fields":["title^3","description"]}},"size":%d,"from":%d}`,
			g.searchTerms(), 24, 24*g.r.IntN(5))
	}
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("SELECT id, status, total_cents, currency, created_at FROM %s WHERE customer_id = %d AND created_at > '%s' ORDER BY created_at DESC LIMIT %d",
			table, g.customers.Uint64()+1000, g.now.AddDate(0, 0, -g.r.IntN(90)).Format("2006-01-02"), pick(g, []int{10, 20, 50}))
	case 1:
		return fmt.Sprintf("INSERT INTO %s (id, order_id, amount_cents, currency, status) VALUES ('%s', '%s', %d, '%s', 'pending')",
			table, g.uuid(), g.orderID(), 100+g.r.IntN(90000), pick(g, currencies))
	case 2:
		return fmt.Sprintf("UPDATE %s SET status = '%s', updated_at = now() WHERE id = '%s'",
			table, pick(g, []string{"paid", "shipped", "cancelled", "reserved"}), g.uuid())
	default:
		return fmt.Sprintf("SELECT * FROM %s WHERE id = '%s' FOR UPDATE", table, g.uuid())
	}
}

func stmtOp(stmt string, svc *service) (op, table string) {
	switch svc.db {
	case "mongodb":
		_, rest, _ := strings.Cut(stmt, `"find":"`)
		table, _, _ = strings.Cut(rest, `"`)
		return "find", table
	case "elasticsearch":
		return "search", "products_v12"
	}
	op, rest, _ := strings.Cut(stmt, " ")
	f := strings.Fields(rest)
	for i, w := range f {
		if (w == "FROM" || w == "INTO") && i+1 < len(f) {
			return op, f[i+1]
		}
	}
	if op == "UPDATE" && len(f) > 0 {
		return op, f[0]
	}
	return op, ""
}

func dbPort(system string) int {
	switch system {
	case "mysql":
		return 3306
	case "mongodb":
		return 27017
	case "elasticsearch":
		return 9200
	}
	return 5432
}

// Small random helpers.

func pick[T any](g *Generator, s []T) T { return s[g.r.IntN(len(s))] }

func (g *Generator) service() *service {
	f := g.r.Float64() * g.weights[len(g.weights)-1]
	for i, w := range g.weights {
		if f < w {
			return g.services[i]
		}
	}
	return g.services[0]
}

func (g *Generator) user() string {
	i := int(g.users.Uint64())
	first, last := firstNames[i%len(firstNames)], lastNames[i/len(firstNames)%len(lastNames)]
	if i%3 == 0 {
		return first + "." + last
	}
	return first + last[:1] + strconv.Itoa(i%97)
}

func (g *Generator) product() string {
	i := int(g.products.Uint64())
	return adjectives[i%len(adjectives)] + " " + nouns[i/len(adjectives)%len(nouns)]
}

func (g *Generator) searchTerms() string {
	i := int(g.products.Uint64())
	switch g.r.IntN(3) {
	case 0:
		return nouns[i%len(nouns)]
	case 1:
		return adjectives[i%len(adjectives)] + " " + nouns[i/len(adjectives)%len(nouns)]
	}
	return pick(g, []string{"black", "red", "cheap", "kids", "men's", "women's"}) + " " + nouns[i%len(nouns)]
}

func (g *Generator) sku() string {
	return fmt.Sprintf("%s-%05d", strings.ToUpper(nouns[g.r.IntN(len(nouns))][:3]), g.r.IntN(100000))
}

func (g *Generator) orderID() string { return "ord_" + g.hex(16) }

func (g *Generator) cacheKey() string {
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf("product:%d:price:%s", g.products.Uint64(), strings.ToLower(pick(g, currencies)))
	case 1:
		return "session:" + g.hex(32)
	case 2:
		return "cart:" + g.uuid()
	}
	return fmt.Sprintf("ratelimit:%s:%d", g.clientIP(), g.now.Unix()/60)
}

func (g *Generator) peerService() string { return g.services[g.r.IntN(len(g.services))].name }

func (g *Generator) peerGRPC() string {
	return pick(g, []string{"inventory.v1.InventoryService", "recommendation.v1.RecommendationService", "pricing.v1.PricingService"})
}

func (g *Generator) fillPath(route string) string {
	if !strings.Contains(route, "{") {
		if route == "/search" || route == "/api/v1/search" {
			return route + "?q=" + strings.ReplaceAll(g.searchTerms(), " ", "+")
		}
		return route
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(route, '{')
		if i < 0 {
			b.WriteString(route)
			return b.String()
		}
		j := strings.IndexByte(route[i:], '}')
		b.WriteString(route[:i])
		switch route[i+1 : i+j] {
		case "sku":
			b.WriteString(g.sku())
		default:
			b.WriteString(g.hex(16))
		}
		route = route[i+j+1:]
	}
}

func (g *Generator) clientIP() string {
	if g.r.IntN(5) == 0 {
		return fmt.Sprintf("2a02:%x:%x::%x", g.r.IntN(0xffff), g.r.IntN(0xffff), g.r.IntN(0xffff))
	}
	return fmt.Sprintf("%d.%d.%d.%d", pick(g, []int{31, 46, 77, 85, 89, 92, 151, 176, 178, 185, 188, 212, 213}),
		g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
}

func (g *Generator) internalIP() string {
	return fmt.Sprintf("10.42.%d.%d", g.r.IntN(16), 2+g.r.IntN(250))
}

func (g *Generator) podSuffix() string { return podName(g.r) }

// price returns a shop price with a log-normal spread.
func (g *Generator) price() float64 {
	return math.Round(math.Exp(3.2+0.9*g.r.NormFloat64())*100) / 100
}

// duration returns a log-normal duration around median seconds, formatted as Go does.
func (g *Generator) duration(median float64) string {
	d := time.Duration(median * math.Exp(0.8*g.r.NormFloat64()) * float64(time.Second))
	return d.Round(time.Microsecond).String()
}

func (g *Generator) seconds(median float64) float64 {
	return median * math.Exp(0.8*g.r.NormFloat64())
}

const hexDigits = "0123456789abcdef"

func (g *Generator) hex(n int) string { return hexString(g.r, n) }

func (g *Generator) uuid() string { return uuid(g.r) }

func (g *Generator) id16() [16]byte {
	var b [16]byte
	for b == ([16]byte{}) {
		putUint64(b[:8], g.r.Uint64())
		putUint64(b[8:], g.r.Uint64())
	}
	return b
}

func (g *Generator) id8() [8]byte {
	var b [8]byte
	for b == ([8]byte{}) {
		putUint64(b[:], g.r.Uint64())
	}
	return b
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
