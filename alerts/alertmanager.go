package alerts

import (
	"context"
	_ "embed" // lookout.tmpl
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/api"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/route"
	"gopkg.in/yaml.v3"

	"github.com/lookout-dev/lookout/internal/private"
)

// The embedded Alertmanager: the parts Alertmanager's app package wires (its
// app/app.go setup and app/reloader.go), without the UI, clustering, tracing
// or event recorder. Configuration is a standard alertmanager.yml
// (https://prometheus.io/docs/alerting/latest/configuration/).

// defaultAlertmanagerConfig is the configuration used when no file is given:
// every alert reaches one receiver without integrations, so alerts are kept,
// grouped and visible through the API (and lookout's UI) but notify no one.
const defaultAlertmanagerConfig = `route:
  receiver: lookout-ui
  group_by: [alertname]
receivers:
  - name: lookout-ui
`

// amDefaultNote is what the caller logs at start when no Alertmanager
// configuration file is given.
const amDefaultNote = "no alertmanager config given: alerts are kept and shown in lookout's UI and at /alertmanager/api/v2 but notify no one; " +
	"set --alertmanager-config to a standard alertmanager.yml to route them to Slack, Discord, Teams, Telegram, email or a webhook"

// amRoutePrefix is where lookout's web package mounts the Alertmanager API, so
// amtool and Grafana reach it at <lookout>/alertmanager.
const amRoutePrefix = "/alertmanager"

// Intervals that are flags in Alertmanager, at its defaults.
const (
	amDefaultRetention            = 120 * time.Hour
	amMaintenanceInterval         = 15 * time.Minute
	amAlertGCInterval             = 30 * time.Minute
	amDispatchMaintenanceInterval = 30 * time.Second
)

// amLookoutTemplate holds lookout's notification templates; see lookout.tmpl.
//
//go:embed lookout.tmpl
var amLookoutTemplate string

// amMatchersOnce guards Alertmanager's matcher parser, which is package state
// in its compat package: without compat.InitFromFlags it parses only classic
// matchers and label names, and `service.name="checkout"` fails. Setting it
// twice would race with parsers running in another Alertmanager, hence once
// per process.
var amMatchersOnce sync.Once

func initAMMatchers(logger *slog.Logger) {
	amMatchersOnce.Do(func() {
		// The default mode, as in Alertmanager's main: UTF-8 matchers, falling
		// back to the classic parser with a warning.
		compat.InitFromFlags(logger, featurecontrol.NoopFlags{})
	})
}

// amOptions configures the embedded Alertmanager.
type amOptions struct {
	ConfigFile  string                // a standard alertmanager.yml; "" = defaultAlertmanagerConfig
	DataDir     string                // silences and notification log snapshots live here
	ExternalURL *url.URL              // lookout's external URL; the API and templates use <ExternalURL>/alertmanager
	Logger      *slog.Logger          // nil discards
	Registerer  prometheus.Registerer // nil: a private registry
	Retention   time.Duration         // silences and notification log; 0 = 120h like Alertmanager
	// Config is ConfigFile already loaded and checked (loadAMConfig), so
	// that it is not parsed again; nil loads ConfigFile.
	Config *amConfig
}

// alertmanager is Alertmanager's dispatcher, inhibitor, silences, notification
// log and API v2 running inside lookout.
type alertmanager struct {
	opts   amOptions
	logger *slog.Logger
	extURL *url.URL

	silences          *silence.Silences
	silencer          *silence.Silencer
	nflog             *nflog.Log
	alerts            *mem.Alerts
	groupMarker       marker.GroupMarker
	api               *api.API
	mux               http.Handler
	pipelineBuilder   *notify.PipelineBuilder
	dispatcherMetrics *dispatch.DispatcherMetrics
	reloadOK          prometheus.Gauge
	reloadTime        prometheus.Gauge
	// history records what every integration sent (history.go).
	history *history

	// mu serialises reload and close; the pointers are read without it by
	// send and the API.
	mu         sync.Mutex
	conf       atomic.Pointer[config.Config]
	inhibitor  atomic.Pointer[inhibit.Inhibitor]
	dispatcher atomic.Pointer[dispatch.Dispatcher]
	closed     atomic.Bool

	// stop ends the maintenance goroutines; wg counts them and the
	// inhibitors' and dispatchers' Run goroutines.
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// newAlertmanager loads the configuration, restores silences and the
// notification log from DataDir and starts dispatching.
func newAlertmanager(o amOptions) (*alertmanager, error) {
	if o.DataDir == "" {
		return nil, errors.New("open alertmanager: no data directory")
	}
	if o.ExternalURL == nil {
		return nil, errors.New("open alertmanager: no external URL")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Retention <= 0 {
		o.Retention = amDefaultRetention
	}
	logger := o.Logger
	// A bad file fails here, before anything runs.
	c := o.Config
	var err error
	if c == nil {
		if c, err = loadAMConfig(o.ConfigFile, logger); err != nil {
			return nil, fmt.Errorf("open alertmanager: %w", err)
		}
	}
	if err := private.MkdirAll(o.DataDir); err != nil {
		return nil, fmt.Errorf("open alertmanager: create data directory: %w", err)
	}

	extURL := o.ExternalURL.JoinPath(amRoutePrefix)
	am := &alertmanager{
		opts:        o,
		logger:      logger,
		extURL:      extURL,
		groupMarker: marker.NewGroupMarker(),
		history:     newHistory(historySize),
		stop:        make(chan struct{}),
	}
	reg := o.Registerer
	// The zero recorder records nothing: lookout has no event recorder.
	var recorder eventrecorder.Recorder
	ff := featurecontrol.NoopFlags{}

	am.nflog, err = nflog.New(nflog.Options{
		SnapshotFile: am.snapshotPath("nflog"),
		Retention:    o.Retention,
		Logger:       logger.With("component", "nflog"),
		Metrics:      reg,
	})
	if err != nil {
		return nil, fmt.Errorf("open alertmanager notification log %q: %w", am.snapshotPath("nflog"), err)
	}
	am.silences, err = silence.New(silence.Options{
		SnapshotFile:  am.snapshotPath("silences"),
		Retention:     o.Retention,
		Logger:        logger.With("component", "silences"),
		Metrics:       reg,
		EventRecorder: recorder,
	})
	if err != nil {
		return nil, fmt.Errorf("open alertmanager silences %q: %w", am.snapshotPath("silences"), err)
	}
	am.silencer = silence.NewSilencer(am.silences, logger, recorder)

	// mem.NewAlerts starts its garbage collector; Close stops it.
	am.alerts, err = mem.NewAlerts(context.Background(), amAlertGCInterval, 0, am.silencer, logger, recorder, reg, ff)
	if err != nil {
		return nil, fmt.Errorf("open alertmanager alert store: %w", err)
	}

	// api.Register instruments every request and needs this histogram;
	// Alertmanager's app package makes it the same way.
	requestDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "alertmanager_http_request_duration_seconds",
		Help:                            "Histogram of latencies for HTTP requests.",
		Buckets:                         prometheus.DefBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"handler", "method", "code"})
	// Alertmanager's own reload metrics (config.Coordinator makes them), so
	// its dashboards and its AlertmanagerFailedReload alert work.
	am.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "alertmanager_config_last_reload_successful",
		Help: "Whether the last configuration reload attempt was successful.",
	})
	am.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "alertmanager_config_last_reload_success_timestamp_seconds",
		Help: "Timestamp of the last successful configuration reload.",
	})
	for _, c := range []prometheus.Collector{requestDuration, am.reloadOK, am.reloadTime} {
		if err := reg.Register(c); err != nil {
			am.alerts.Close()
			return nil, fmt.Errorf("open alertmanager: register metrics: %w", err)
		}
	}

	am.api, err = api.New(api.Options{
		Alerts:          am.alerts,
		Silences:        am.silences,
		GroupMutedFunc:  am.groupMarker.Muted,
		Logger:          logger.With("component", "api"),
		Registry:        reg,
		RequestDuration: requestDuration,
		GroupFunc:       am.groups,
	})
	if err != nil {
		am.alerts.Close()
		return nil, fmt.Errorf("open alertmanager API: %w", err)
	}
	am.mux = am.api.Register(route.New().WithPrefix(amRoutePrefix), amRoutePrefix)

	am.pipelineBuilder = notify.NewPipelineBuilder(reg, ff, recorder)
	am.dispatcherMetrics = dispatch.NewDispatcherMetrics(false, reg, ff)

	am.mu.Lock()
	am.apply(c)
	am.mu.Unlock()

	// Alertmanager's maintenance goroutines also write the final snapshot
	// when stopped, but only log a failure; close writes it instead so the
	// caller hears of it. Periodic snapshots still come from here.
	am.wg.Go(func() {
		am.nflog.Maintenance(amMaintenanceInterval, "", am.stop, am.snapshotNflog)
	})
	am.wg.Go(func() {
		am.silences.Maintenance(amMaintenanceInterval, "", am.stop, am.snapshotSilences)
	})
	return am, nil
}

// send hands alerts to the dispatcher as Alertmanager's POST /api/v2/alerts
// does (api/v2/api.go postAlertsHandler): a missing StartsAt is now, a missing
// EndsAt is now + resolve_timeout and marks the alert as timing out, so an
// alert that stops being sent resolves by itself. Invalid alerts are skipped
// and named in the returned error; the valid ones are stored regardless.
func (am *alertmanager) send(ctx context.Context, alerts ...*model.Alert) error {
	if am.closed.Load() {
		return errors.New("send alerts: alertmanager closed")
	}
	resolveTimeout := time.Duration(am.conf.Load().Global.ResolveTimeout)
	now := time.Now()
	valid := make([]*alert.Alert, 0, len(alerts))
	var invalid []error
	for _, a := range alerts {
		if a == nil {
			continue
		}
		// Copies, so the caller may reuse its maps while the dispatcher reads ours.
		al := &alert.Alert{
			Alert: model.Alert{
				Labels:       a.Labels.Clone(),
				Annotations:  a.Annotations.Clone(),
				StartsAt:     a.StartsAt,
				EndsAt:       a.EndsAt,
				GeneratorURL: a.GeneratorURL,
			},
			UpdatedAt: now,
		}
		if al.StartsAt.IsZero() {
			if al.EndsAt.IsZero() {
				al.StartsAt = now
			} else {
				al.StartsAt = al.EndsAt
			}
		}
		if al.EndsAt.IsZero() {
			al.Timeout = true
			al.EndsAt = now.Add(resolveTimeout)
		}
		for name, value := range al.Labels {
			if value == "" {
				delete(al.Labels, name)
			}
		}
		if err := al.Validate(); err != nil {
			invalid = append(invalid, fmt.Errorf("alert %s: %w", a.Labels, err))
			continue
		}
		valid = append(valid, al)
	}
	if len(valid) > 0 {
		if err := am.alerts.Put(ctx, valid...); err != nil {
			return fmt.Errorf("send alerts: %w", err)
		}
	}
	if len(invalid) > 0 {
		return fmt.Errorf("send alerts: %d of %d invalid: %w", len(invalid), len(alerts), errors.Join(invalid...))
	}
	return nil
}

// reload re-reads ConfigFile and swaps in the new routes, receivers,
// inhibition rules and templates. A file that does not load leaves the
// running configuration in place.
func (am *alertmanager) reload() error {
	if am.opts.ConfigFile == "" {
		return nil
	}
	c, err := loadAMConfig(am.opts.ConfigFile, am.logger)
	if err != nil {
		am.reloadFailed()
		return fmt.Errorf("reload alertmanager config: %w", err)
	}
	return am.use(c)
}

// reloadFailed and reloadSucceeded set Alertmanager's reload metrics as its
// config.Coordinator does: a rejected reload sets
// alertmanager_config_last_reload_successful to 0 and leaves the success
// timestamp at the last good one; a good reload sets 1 and the time.
func (am *alertmanager) reloadFailed() { am.reloadOK.Set(0) }

func (am *alertmanager) reloadSucceeded() {
	am.reloadOK.Set(1)
	am.reloadTime.SetToCurrentTime()
}

// use switches to a configuration loaded and checked by loadAMConfig.
func (am *alertmanager) use(c *amConfig) error {
	am.mu.Lock()
	defer am.mu.Unlock()
	if am.closed.Load() {
		return errors.New("reload alertmanager config: alertmanager closed")
	}
	am.apply(c)
	am.logger.Info("alertmanager config reloaded", "file", am.opts.ConfigFile)
	return nil
}

// handler serves Alertmanager's API v2 under /alertmanager/api/v2/; the
// request path keeps the /alertmanager prefix.
func (am *alertmanager) handler() http.Handler {
	return am.mux
}

// close stops dispatching and the background goroutines, then writes the
// silences and notification log to DataDir so they survive a restart.
func (am *alertmanager) close() error {
	am.closeOnce.Do(func() {
		am.mu.Lock()
		am.closed.Store(true)
		am.inhibitor.Load().Stop()
		am.dispatcher.Load().Stop()
		am.mu.Unlock()
		// Cancels the alert store's garbage collector; Alertmanager gives
		// no way to wait for it, and it only waits on a ticker.
		am.alerts.Close()
		close(am.stop)
		am.wg.Wait()

		_, errNflog := am.snapshotNflog()
		_, errSilences := am.snapshotSilences()
		am.closeErr = errors.Join(errNflog, errSilences)
	})
	return am.closeErr
}

// apply swaps in a loaded configuration the way Alertmanager's reloader
// does: stop the old inhibitor and dispatcher, build the pipeline, start the
// inhibitor and wait until it has seen every alert, then the dispatcher, so
// nothing inhibited is notified in between. am.mu must be held.
func (am *alertmanager) apply(c *amConfig) {
	c.tmpl.ExternalURL = am.extURL

	routes := dispatch.NewRoute(c.conf.Route, nil)
	intervals := make(map[string][]timeinterval.TimeInterval, len(c.conf.MuteTimeIntervals)+len(c.conf.TimeIntervals))
	for _, ti := range c.conf.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range c.conf.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}

	am.inhibitor.Load().Stop()
	am.dispatcher.Load().Stop()

	var recorder eventrecorder.Recorder
	inhibitor := inhibit.NewInhibitor(am.alerts, c.conf.InhibitRules, am.logger, recorder)
	// No cluster: no wait for peers, and a nil peer skips the gossip stage.
	noWait := func() time.Duration { return 0 }
	pipeline := am.pipelineBuilder.New(am.history.wrap(c.receivers), noWait, inhibitor, am.silencer,
		timeinterval.NewIntervener(intervals), am.groupMarker, am.nflog, nil)
	am.api.Update(c.conf, func(ctx context.Context, ls model.LabelSet) {
		if ih := am.inhibitor.Load(); ih != nil {
			ih.Mutes(ctx, ls)
		}
		am.silencer.Mutes(ctx, ls)
	})
	timeout := func(d time.Duration) time.Duration { return max(d, notify.MinTimeout) }
	dispatcher := dispatch.NewDispatcher(am.alerts, routes, pipeline, am.groupMarker, timeout,
		amDispatchMaintenanceInterval, nil, am.logger, recorder, am.dispatcherMetrics, c.tmpl)
	if c.conf.TracingConfig.Endpoint != "" {
		am.logger.Warn("alertmanager tracing settings ignored: the embedded alertmanager does not export traces")
	}
	routes.Walk(func(r *dispatch.Route) {
		if r.RouteOpts.RepeatInterval > am.opts.Retention {
			am.logger.Warn("repeat_interval longer than the notification log retention: notifications may repeat sooner",
				"route", r.Key(), "repeat_interval", r.RouteOpts.RepeatInterval, "retention", am.opts.Retention)
		}
	})

	am.wg.Go(inhibitor.Run)
	inhibitor.WaitForLoading()
	am.inhibitor.Store(inhibitor)

	start := time.Now()
	am.wg.Go(func() { dispatcher.Run(start) })
	dispatcher.WaitForLoading()
	am.dispatcher.Store(dispatcher)
	am.conf.Store(c.conf)
	am.reloadSucceeded()
}

// groups is the API's view of the dispatcher's aggregation groups.
func (am *alertmanager) groups(ctx context.Context, routeFilter func(*dispatch.Route) bool, alertFilter func(*alert.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
	d := am.dispatcher.Load()
	if d == nil {
		return nil, nil, nil
	}
	return d.Groups(ctx, routeFilter, alertFilter)
}

func (am *alertmanager) snapshotPath(name string) string {
	return filepath.Join(am.opts.DataDir, name)
}

// snapshotNflog and snapshotSilences are Alertmanager's maintenance: drop
// what is past retention, then replace the snapshot file.
func (am *alertmanager) snapshotNflog() (int64, error) {
	if _, err := am.nflog.GC(); err != nil {
		return 0, fmt.Errorf("snapshot notification log: %w", err)
	}
	return amWriteSnapshot(am.snapshotPath("nflog"), am.nflog.Snapshot)
}

func (am *alertmanager) snapshotSilences() (int64, error) {
	if _, err := am.silences.GC(); err != nil {
		return 0, fmt.Errorf("snapshot silences: %w", err)
	}
	return amWriteSnapshot(am.snapshotPath("silences"), am.silences.Snapshot)
}

// amWriteSnapshot replaces path with what snapshot writes, through a synced
// temporary file, so a crash leaves the old snapshot or the new one.
func amWriteSnapshot(path string, snapshot func(io.Writer) (int64, error)) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("write snapshot %q: %w", path, err)
	}
	n, err := snapshot(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return n, fmt.Errorf("write snapshot %q: %w", path, err)
	}
	return n, nil
}

// amConfig is a configuration with what it needs built: templates parsed and
// receivers' integrations made, so a reload can no longer fail once loaded.
type amConfig struct {
	conf      *config.Config
	tmpl      *template.Template
	receivers map[string][]notify.Integration
}

// urlInMessage matches a URL in an error message, quoted or not.
var urlInMessage = regexp.MustCompile(`"[a-zA-Z][a-zA-Z0-9+.-]*://[^"]*"|[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"']+`)

// redactURLs hides the URLs in a configuration error: a webhook URL is a
// secret (Slack's and Discord's carry their token), and Alertmanager's
// parse errors quote it whole. The error goes to editors and to the log.
func redactURLs(err error) error {
	return errors.New(urlInMessage.ReplaceAllString(err.Error(), "<URL redacted>"))
}

// loadAMConfig loads and checks a configuration ("" for the default) and
// builds its templates and receivers, ready for use.
func loadAMConfig(path string, logger *slog.Logger) (_ *amConfig, err error) {
	initAMMatchers(logger.With("component", "matchers"))
	defer func() {
		if err != nil {
			err = redactURLs(err)
		}
	}()
	var conf *config.Config
	if path == "" {
		conf, err = config.Load(defaultAlertmanagerConfig)
		if err != nil {
			return nil, locateAMConfigError("<default alertmanager config>", []byte(defaultAlertmanagerConfig), err)
		}
	} else {
		// LoadFile, not Load: it also makes the file's relative paths
		// (templates, *_file secrets) relative to its directory.
		conf, err = config.LoadFile(path)
		if err != nil {
			src, rerr := os.ReadFile(path)
			if rerr != nil {
				return nil, fmt.Errorf("read alertmanager config: %w", rerr)
			}
			return nil, locateAMConfigError(path, src, err)
		}
	}

	// Ours first, so a user's templates override them.
	tmpl, err := template.FromGlobs(nil)
	if err == nil {
		err = tmpl.Parse(strings.NewReader(amLookoutTemplate))
	}
	if err != nil {
		return nil, fmt.Errorf("parse lookout.tmpl: %w", err)
	}
	for i, glob := range conf.Templates {
		if err := tmpl.FromGlob(glob); err != nil {
			return nil, locateAMTemplateError(path, i, glob, err)
		}
	}

	receivers := make(map[string][]notify.Integration, len(conf.Receivers))
	for _, rcv := range conf.Receivers {
		integrations, err := receiver.BuildReceiverIntegrations(rcv, tmpl, logger)
		if err != nil {
			return nil, locateAMReceiverError(path, rcv.Name, err)
		}
		receivers[rcv.Name] = integrations
	}
	return &amConfig{conf: conf, tmpl: tmpl, receivers: receivers}, nil
}

// amYAMLLineRE matches the lines yaml.v2 puts in its errors: "yaml: line 3:
// ..." and, under "yaml: unmarshal errors:", one "  line 3: ..." per problem.
var amYAMLLineRE = regexp.MustCompile(`(?m)^\s*(?:yaml: )?line (\d+): (.*)$`)

// amGoTypeRE is the Go type yaml.v2 names in "field x not found in type
// config.plain", which says nothing to whoever wrote the file.
var amGoTypeRE = regexp.MustCompile(` in type [\w.]+$`)

// amTemplateLineRE matches text/template's errors, "template: name.tmpl:3:
// function "x" not defined", where name is the file's base name.
var amTemplateLineRE = regexp.MustCompile(`template: ([^:]+):(\d+):(?:\d+:)? ?(.*)`)

// amQuotedRE matches a Go-quoted string, as %q writes one.
var amQuotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// locateAMConfigError gives err from config.Load a line in src. yaml.v2
// reports lines for syntax and type errors only; Alertmanager's own checks
// (an undefined receiver, a bad matcher, a missing webhook URL...) come
// without one, so the part of the file that fails is found by loading it
// alone: each receiver, route and rule in turn goes into an otherwise
// minimal configuration, and the first, deepest one that fails with the same
// message is the culprit.
func locateAMConfigError(file string, src []byte, err error) error {
	msg := err.Error()
	if found := amYAMLLineRE.FindAllStringSubmatch(msg, -1); len(found) > 0 {
		errs := make([]error, 0, len(found))
		for _, m := range found {
			line, _ := strconv.Atoi(m[1])
			errs = append(errs, &fileError{file: file, line: line, msg: amGoTypeRE.ReplaceAllString(m[2], "")})
		}
		return errors.Join(errs...)
	}
	line := 1
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		if l := findAMConfigLine(doc.Content[0], msg); l > 0 {
			line = l
		}
	}
	return &fileError{file: file, line: line, msg: msg}
}

// locateAMTemplateError names the template file and line text/template gives,
// or else the line of the templates entry.
func locateAMTemplateError(file string, i int, glob string, err error) error {
	if m := amTemplateLineRE.FindStringSubmatch(err.Error()); m != nil {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if filepath.Base(p) == m[1] {
				line, _ := strconv.Atoi(m[2])
				return &fileError{file: p, line: line, msg: m[3]}
			}
		}
	}
	line := 1
	if root := parseAMConfigYAML(file); root != nil {
		if _, v := amYAMLGet(root, "templates"); v != nil && v.Kind == yaml.SequenceNode && i < len(v.Content) {
			line = v.Content[i].Line
		}
	}
	return &fileError{file: file, line: line, msg: fmt.Sprintf("template %q: %v", glob, err)}
}

// locateAMReceiverError puts a receiver's build error at its name.
func locateAMReceiverError(file, name string, err error) error {
	line := 1
	if root := parseAMConfigYAML(file); root != nil {
		if _, v := amYAMLGet(root, "receivers"); v != nil && v.Kind == yaml.SequenceNode {
			for _, r := range v.Content {
				if _, n := amYAMLGet(r, "name"); n != nil && n.Value == name {
					line = n.Line
					break
				}
			}
		}
	}
	return &fileError{file: file, line: line, msg: fmt.Sprintf("receiver %q: %v", name, err)}
}

func parseAMConfigYAML(file string) *yaml.Node {
	if file == "" {
		return nil
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	return doc.Content[0]
}

// findAMConfigLine returns the line of the part of root that makes
// config.Load fail with msg, or 0.
func findAMConfigLine(root *yaml.Node, msg string) int {
	quoted := amQuotedStrings(msg)

	// Duplicate names: the second definition is the one to rename.
	if strings.Contains(msg, "is not unique") && len(quoted) > 0 {
		section := []string{"receivers"}
		if strings.Contains(msg, "time interval") {
			section = []string{"time_intervals", "mute_time_intervals"}
		}
		seen := 0
		for _, key := range section {
			_, list := amYAMLGet(root, key)
			if list == nil || list.Kind != yaml.SequenceNode {
				continue
			}
			for _, item := range list.Content {
				if _, n := amYAMLGet(item, "name"); n != nil && n.Value == quoted[0] {
					if seen++; seen == 2 {
						return n.Line
					}
				}
			}
		}
	}

	for _, p := range amConfigProbes(root) {
		out, err := yaml.Marshal(p.doc)
		if err != nil {
			continue
		}
		if _, err := config.Load(string(out)); err == nil || err.Error() != msg {
			continue
		}
		return refineAMConfigLine(p.node, p.line, msg, quoted)
	}

	// Whatever names a value in the file.
	for _, q := range quoted {
		if n := amYAMLFind(root, func(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == q }); n != nil {
			return n.Line
		}
	}
	// Or at least its section.
	for _, s := range []struct{ word, key string }{
		{"route", "route"}, {"receiver", "receivers"}, {"inhibit", "inhibit_rules"},
		{"time interval", "time_intervals"}, {"time interval", "mute_time_intervals"}, {"global", "global"},
	} {
		if strings.Contains(msg, s.word) {
			if k, _ := amYAMLGet(root, s.key); k != nil {
				return k.Line
			}
		}
	}
	return 0
}

// refineAMConfigLine points inside a failing route, receiver or rule: at
// a matcher that does not parse, at the value the message quotes, at the
// field it names ("root route must not have any matchers", "cannot have
// wildcard group_by", "in equal list"), or at a value it names unquoted
// ("funday is not a valid weekday").
func refineAMConfigLine(node *yaml.Node, line int, msg string, quoted []string) int {
	if node == nil {
		return line
	}
	own := func(n *yaml.Node) []*yaml.Node {
		// A route's children are not its own: they were cut from the probe.
		var pairs []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Kind == yaml.MappingNode && n.Content[i].Value == "routes" {
				continue
			}
			pairs = append(pairs, n.Content[i], n.Content[i+1])
		}
		return pairs
	}
	pairs := own(node)
	for i := 0; i+1 < len(pairs); i += 2 {
		switch pairs[i].Value {
		case "matchers", "source_matchers", "target_matchers":
			if pairs[i+1].Kind != yaml.SequenceNode {
				continue
			}
			for _, m := range pairs[i+1].Content {
				if _, err := compat.Matchers(m.Value, "config"); err != nil {
					return m.Line
				}
			}
		}
	}
	for _, q := range quoted {
		for _, n := range pairs {
			if found := amYAMLFind(n, func(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == q }); found != nil {
				return found.Line
			}
		}
	}
	words := " " + amWordRE.ReplaceAllString(msg, " ") + " "
	says := func(s string) bool {
		return len(s) > 1 && (strings.Contains(words, " "+s+" ") || strings.Contains(words, " "+strings.ReplaceAll(s, "_", " ")+" "))
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if says(pairs[i].Value) {
			return pairs[i].Line
		}
	}
	for _, n := range pairs {
		if found := amYAMLFind(n, func(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && says(n.Value) }); found != nil {
			return found.Line
		}
	}
	return line
}

// amWordRE matches what separates words in a message; _ and . belong to
// the words they join (group_by, service.name).
var amWordRE = regexp.MustCompile(`[^\w.]+`)

// amConfigProbe is one part of a configuration file put in a minimal
// configuration of its own.
type amConfigProbe struct {
	line int
	node *yaml.Node // the part, to look inside it
	doc  *yaml.Node
}

// amConfigProbes lists the probes deepest first, and the parts others
// depend on (global settings, time intervals) before those others, so the
// first probe to fail like the whole file is where the problem is.
func amConfigProbes(root *yaml.Node) []amConfigProbe {
	// What every probe keeps: receivers read global settings, routes name
	// time intervals.
	keep := []string{"global", "templates", "time_intervals", "mute_time_intervals"}
	// Receivers reduced to their names, so routes can name them.
	var stubs []*yaml.Node
	seen := map[string]bool{}
	_, receivers := amYAMLGet(root, "receivers")
	if receivers != nil && receivers.Kind == yaml.SequenceNode {
		for _, r := range receivers.Content {
			if _, n := amYAMLGet(r, "name"); n != nil && n.Value != "" && !seen[n.Value] {
				seen[n.Value] = true
				stubs = append(stubs, amYAMLMap("name", amYAMLScalar(n.Value)))
			}
		}
	}
	stubName := "lookout-probe"
	if len(stubs) > 0 {
		_, n := amYAMLGet(stubs[0], "name")
		stubName = n.Value
	} else {
		stubs = append(stubs, amYAMLMap("name", amYAMLScalar(stubName)))
	}
	probe := func(line int, node *yaml.Node, overrides map[string]*yaml.Node) amConfigProbe {
		doc := amYAMLMap()
		for _, k := range keep {
			if v, ok := overrides[k]; ok {
				if v != nil {
					doc.Content = append(doc.Content, amYAMLScalar(k), v)
				}
				continue
			}
			if _, v := amYAMLGet(root, k); v != nil {
				doc.Content = append(doc.Content, amYAMLScalar(k), v)
			}
		}
		route, rcvs := overrides["route"], overrides["receivers"]
		if route == nil {
			route = amYAMLMap("receiver", amYAMLScalar(stubName))
		}
		if rcvs == nil {
			rcvs = amYAMLSeq(stubs...)
		}
		doc.Content = append(doc.Content, amYAMLScalar("route"), route, amYAMLScalar("receivers"), rcvs)
		if v := overrides["inhibit_rules"]; v != nil {
			doc.Content = append(doc.Content, amYAMLScalar("inhibit_rules"), v)
		}
		return amConfigProbe{line: line, node: node, doc: doc}
	}

	var probes []amConfigProbe
	if k, v := amYAMLGet(root, "global"); v != nil {
		probes = append(probes, probe(k.Line, v, nil))
	}
	for _, key := range []string{"time_intervals", "mute_time_intervals"} {
		if _, v := amYAMLGet(root, key); v != nil && v.Kind == yaml.SequenceNode {
			for _, ti := range v.Content {
				probes = append(probes, probe(ti.Line, ti, map[string]*yaml.Node{key: amYAMLSeq(ti)}))
			}
		}
	}
	if receivers != nil && receivers.Kind == yaml.SequenceNode {
		for _, r := range receivers.Content {
			name := stubName
			nameKey, nameNode := amYAMLGet(r, "name")
			if nameNode != nil {
				name = nameNode.Value
			}
			only := func(rcv *yaml.Node) map[string]*yaml.Node {
				return map[string]*yaml.Node{
					"route":     amYAMLMap("receiver", amYAMLScalar(name)),
					"receivers": amYAMLSeq(rcv),
				}
			}
			// Each integration alone, then the receiver as a whole.
			for i := 0; r.Kind == yaml.MappingNode && i+1 < len(r.Content); i += 2 {
				k, list := r.Content[i], r.Content[i+1]
				if !strings.HasSuffix(k.Value, "_configs") || list.Kind != yaml.SequenceNode {
					continue
				}
				for _, item := range list.Content {
					rcv := amYAMLMap(k.Value, amYAMLSeq(item))
					if nameNode != nil {
						rcv.Content = append([]*yaml.Node{nameKey, nameNode}, rcv.Content...)
					}
					probes = append(probes, probe(item.Line, item, only(rcv)))
				}
			}
			probes = append(probes, probe(r.Line, r, only(r)))
		}
	}
	if k, v := amYAMLGet(root, "route"); v != nil && v.Kind == yaml.MappingNode {
		var walk func(r *yaml.Node, line int, isRoot bool)
		walk = func(r *yaml.Node, line int, isRoot bool) {
			if _, children := amYAMLGet(r, "routes"); children != nil && children.Kind == yaml.SequenceNode {
				for _, c := range children.Content {
					if c.Kind == yaml.MappingNode {
						walk(c, c.Line, false)
					}
				}
			}
			alone := amYAMLMap()
			for i := 0; i+1 < len(r.Content); i += 2 {
				if r.Content[i].Value != "routes" {
					alone.Content = append(alone.Content, r.Content[i], r.Content[i+1])
				}
			}
			if !isRoot {
				alone = amYAMLMap("receiver", amYAMLScalar(stubName), "routes", amYAMLSeq(alone))
			}
			probes = append(probes, probe(line, r, map[string]*yaml.Node{"route": alone}))
		}
		walk(v, k.Line, true)
	}
	if _, v := amYAMLGet(root, "inhibit_rules"); v != nil && v.Kind == yaml.SequenceNode {
		for _, rule := range v.Content {
			probes = append(probes, probe(rule.Line, rule, map[string]*yaml.Node{"inhibit_rules": amYAMLSeq(rule)}))
		}
	}
	return probes
}

// amQuotedStrings returns the Go-quoted strings in msg, as Alertmanager's %q
// puts names in its errors.
func amQuotedStrings(msg string) []string {
	var out []string
	for _, q := range amQuotedRE.FindAllString(msg, -1) {
		if s, err := strconv.Unquote(q); err == nil && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func amYAMLGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// amYAMLMap builds a mapping from alternating keys (strings) and values (nodes
// or strings).
func amYAMLMap(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, x := range kv {
		switch x := x.(type) {
		case string:
			m.Content = append(m.Content, amYAMLScalar(x))
		case *yaml.Node:
			m.Content = append(m.Content, x)
		}
	}
	return m
}

func amYAMLSeq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func amYAMLScalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// amYAMLFind returns the first node under n, n included, that match accepts.
func amYAMLFind(n *yaml.Node, match func(*yaml.Node) bool) *yaml.Node {
	if n == nil {
		return nil
	}
	if match(n) {
		return n
	}
	for _, c := range n.Content {
		if found := amYAMLFind(c, match); found != nil {
			return found
		}
	}
	return nil
}
