package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lookout-dev/lookout/sdk"
)

// chromium finds Debian's headless Chromium, which .ci/run installs. On a
// machine without it the browser tests are skipped, except in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on PATH; .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium); skipping the browser tests")
	return ""
}

// page is a headless Chromium tab. Console errors and messages the
// browser logs (a Content-Security-Policy refusal among them) fail the
// test: a page must not trip its own policy.
type page struct {
	t       *testing.T
	ctx     context.Context
	base    string
	mu      sync.Mutex
	console []string
}

func newPage(t *testing.T, base string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	p := &page{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("start Chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				p.note("console error: " + strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p.note("browser: " + ev.Entry.Text)
			}
		}
	})
	if err == nil {
		_, err = chromedp.Call(ctx, log.Enable, cdp.Empty{})
	}
	if err != nil {
		t.Fatalf("listen to Chromium's console: %v", err)
	}
	t.Cleanup(p.checkConsole)
	return p
}

func (p *page) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.console = append(p.console, s)
}

func (p *page) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.console {
		p.t.Errorf("%s", line)
	}
}

// run runs actions in the tab, failing the test with what was being done.
func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.shot("failed-" + strings.NewReplacer(" ", "-", "/", "_").Replace(what))
		p.t.Fatalf("%s: %v", what, err)
	}
}

// shot saves a screenshot of the whole page as a test artifact
// (go test -artifacts keeps them; see testing.T.ArtifactDir).
func (p *page) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(p.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("write screenshot: %v", err)
	}
}

// signIn signs in through the login form as admin.
func (p *page) signIn() {
	p.t.Helper()
	p.run("sign in",
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(testID("login-form")),
		chromedp.SendKeys(testID("login-user"), "admin"),
		chromedp.SendKeys(testID("login-password"), e2ePassword),
	)
	p.shot("01-login")
	p.run("submit the login form",
		chromedp.Click(testID("login-submit")),
		chromedp.WaitVisible(testID("user")),
	)
}

// testID selects the first element with that data-testid.
func testID(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// clickJS clicks the element a script finds; the script returns it.
func clickJS(find string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const el = (`+find+`); if (!el) return false; el.click(); return true; })()`))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("nothing found by %s", find)
		}
		return nil
	})
}

// TestBrowserJourney walks the UI the way the issue asks, in Debian's
// headless Chromium against the real server filled by the demo shop over
// OTLP: sign in, go from the services page to a slow trace, open a span,
// see its log lines, follow a log line's trace link back, run a PromQL
// query and see a chart, create a silence. Each page is screenshotted.
func TestBrowserJourney(t *testing.T) {
	chromium(t)
	s := startServer(t, t.TempDir())
	base := "http://" + s.addr.HTTP

	// Data: the demo shop over OTLP/HTTP until a slow payment has been
	// traced and the span metrics of the payments service are in.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shop, err := startDemoSystem(ctx, demoExport{
		endpoint: "http://" + s.addr.OTLPHTTP, protocol: sdk.ProtocolHTTPProtobuf,
		token: e2eToken, errLog: slog.New(slog.DiscardHandler),
	}, 40)
	if err != nil {
		t.Fatal(err)
	}
	slow := map[string]bool{}
	eventually(t, "a payment trace of 1s or more", func() bool {
		var tr struct {
			Traces []struct {
				TraceID string `json:"trace_id"`
			} `json:"traces"`
		}
		apiGet(t, s.addr.HTTP, "/api/v1/traces?service=payments&min_duration=1s&start="+fmt.Sprint(time.Now().Add(-time.Hour).Unix()), &tr)
		for _, x := range tr.Traces {
			slow[x.TraceID] = true
		}
		return len(slow) > 0
	})
	// The service page's latencies need two flushes of span metrics with
	// traffic between them, so the shop runs on until there are.
	eventually(t, "the p95 latency of payments", func() bool {
		v, ok := promQuery(t, s.addr.HTTP, `histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{service_name="payments"}[5m])))`, "")
		return ok && v > 0
	})
	if _, err := shop.stop(15 * time.Second); err != nil {
		t.Fatalf("stop the shop: %v", err)
	}
	var slowIDs []string
	for id := range slow {
		slowIDs = append(slowIDs, `"`+id+`"`)
	}

	p := newPage(t, base)
	p.signIn()
	p.run("services overview", chromedp.WaitVisible(testID("services-table")))
	p.shot("02-services")

	p.run("open the payments service",
		chromedp.Click(chromedp.CSS(`[data-testid="service-link"][href^="/services/payments"]`)),
		chromedp.WaitVisible(testID("ops-table")),
	)
	p.shot("03-service")

	p.run("follow the slow traces of POST /charge",
		clickJS(`[...document.querySelectorAll('[data-testid="op-row"]')].filter(r => r.textContent.includes("POST /charge")).map(r => r.querySelector('[data-testid="op-slow"]'))[0]`),
		chromedp.WaitVisible(testID("trace-results")),
	)
	p.shot("04-traces")

	p.run("open a slow trace",
		clickJS(`[`+strings.Join(slowIDs, ",")+`].map(id => document.querySelector('[data-testid="trace-row"][data-trace-id="' + id + '"] a[href^="/traces/"]')).find(a => a)`),
		chromedp.WaitVisible(testID("waterfall")),
	)
	traceURL, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	traceID := traceURL[strings.LastIndex(traceURL, "/")+1:]
	if i := strings.IndexAny(traceID, "?#"); i >= 0 {
		traceID = traceID[:i]
	}
	if !slow[traceID] {
		t.Fatalf("opened trace %s, not one of the slow ones %v", traceID, slowIDs)
	}
	p.shot("05-trace")

	p.run("open a span that wrote log lines",
		clickJS(`document.querySelector('[data-testid="span-logs"]').closest('.span-extra-body').querySelector('[data-testid="span-details"] summary')`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="span-details"][open] [data-testid="detail-span-id"]`)),
		chromedp.WaitVisible(testID("span-log")),
	)
	p.shot("06-span")

	p.run("follow a log line to the logs explorer",
		clickJS(`document.querySelector('[data-testid="span-log"] a')`),
		chromedp.WaitVisible(testID("log-table")),
	)
	p.shot("07-logs")
	p.run("follow the log line's trace link back",
		chromedp.Click(chromedp.CSS(`[data-testid="log-row"] [data-testid="trace-link"]`)),
		chromedp.WaitVisible(testID("waterfall")),
	)
	back, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back, "/traces/"+traceID) {
		t.Fatalf("the log line's trace link led to %s, want trace %s", back, traceID)
	}

	p.run("run a PromQL query",
		chromedp.Navigate(base+"/explore"),
		chromedp.WaitVisible(testID("query")),
		chromedp.SetValue(testID("query"), `sum by (http_route) (rate(http_server_request_duration_seconds_count[1m]))`),
		chromedp.Click(testID("run")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart"][data-ready="true"]`)),
	)
	p.shot("08-explore")

	p.run("create a silence",
		chromedp.Navigate(base+"/alerts"),
		chromedp.Click(testID("new-silence")),
		chromedp.WaitVisible(testID("silence-form")),
		chromedp.SetValue(testID("silence-matchers-input"), `alertname="BrowserJourney"`),
		chromedp.SendKeys(testID("silence-comment-input"), "silenced by the browser test"),
		chromedp.Click(testID("silence-submit")),
		chromedp.WaitVisible(testID("silence-row")),
	)
	rows, err := chromedp.Run(p.ctx, chromedp.Text(testID("alerts-silences")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rows, "BrowserJourney") || !strings.Contains(rows, "admin") {
		t.Fatalf("silences after creating one: %q", rows)
	}
	p.shot("09-alerts")

	p.run("settings", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(testID("user")))
	p.shot("10-settings")

	// The dark theme follows the system's setting.
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	p.run("the trace in the dark theme", chromedp.Navigate(base+"/traces/"+traceID), chromedp.WaitVisible(testID("waterfall")))
	bg, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil {
		t.Fatal(err)
	}
	if bg == "rgb(255, 255, 255)" {
		t.Errorf("dark theme: the page background is still white")
	}
	p.shot("11-trace-dark")
}
