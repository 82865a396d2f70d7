package alerts

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/query"
)

// Config is what a user sets for alerting.
type Config struct {
	// RuleFiles are globs of Prometheus rule files: alerting and recording
	// rules (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
	RuleFiles []string
	// LogRuleFiles are globs of lookout's log rule files (see logrules.go).
	LogRuleFiles []string
	// AlertmanagerConfig is a standard alertmanager.yml; empty keeps alerts
	// in lookout (its API and UI) without notifying anyone.
	AlertmanagerConfig string
	// DataDir holds the Alertmanager's silences and notification log.
	DataDir string
	// ExternalURL is where users reach lookout: the base of every link in
	// an alert.
	ExternalURL *url.URL
	// BuiltinRules turns on lookout's rules about itself (builtin.yml).
	BuiltinRules bool
	// EvaluationInterval is the interval of rule groups that set none.
	EvaluationInterval time.Duration
	// ForGracePeriod, OutageTolerance and ResendDelay are Prometheus'
	// --rules.alert.for-grace-period, --rules.alert.for-outage-tolerance
	// and --rules.alert.resend-delay.
	ForGracePeriod, OutageTolerance, ResendDelay time.Duration
}

// DefaultConfig has Prometheus' defaults.
func DefaultConfig() Config {
	return Config{
		BuiltinRules:       true,
		EvaluationInterval: time.Minute,
		ForGracePeriod:     10 * time.Minute,
		OutageTolerance:    time.Hour,
		ResendDelay:        time.Minute,
	}
}

// Validate checks the settings, not the files (CheckFiles does).
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("alerts: DataDir is required"))
	}
	if c.ExternalURL == nil || c.ExternalURL.Scheme == "" || c.ExternalURL.Host == "" {
		errs = append(errs, errors.New("alerts: ExternalURL must be an absolute URL"))
	}
	if c.EvaluationInterval <= 0 || c.ResendDelay <= 0 || c.OutageTolerance <= 0 || c.ForGracePeriod < 0 {
		errs = append(errs, errors.New("alerts: evaluation interval, resend delay and outage tolerance must be positive"))
	}
	return errors.Join(errs...)
}

// Options is what code sets.
type Options struct {
	Logger *slog.Logger
	// Metrics gets lookout_log_rule_evaluation_failures_total.
	Metrics *metrics.Set
	// Registerer gets the rules manager's and Alertmanager's metrics.
	Registerer prometheus.Registerer
	// Queryable and Appendable are the metric store: rules query it,
	// recording rules and ALERTS/ALERTS_FOR_STATE are written to it, and
	// pending alerts' for: state is restored from it after a restart.
	Queryable  storage.Queryable
	Appendable storage.Appendable
	// Exemplars, if set, adds a trace_id to metric alerts from an exemplar
	// of the series that fired.
	Exemplars storage.ExemplarQueryable
	// Logs, if set, evaluates log rules.
	Logs LogCounter
	// Engine evaluates the rules' PromQL: the query API's engine, so a
	// rule keeps the same bounds as a query. Nil means an engine of its
	// own with query's default bounds.
	Engine *query.Engine
}

// Manager evaluates metric rules (Prometheus' rules manager) and log rules
// and hands their alerts to an embedded Alertmanager, which groups,
// silences, inhibits and notifies.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	opts   Options
	parser parser.Parser

	am       *alertmanager
	rules    *rules.Manager
	logRules *logRules

	// reloadMu serializes Reload.
	reloadMu sync.Mutex

	// traceIDs remembers the exemplar trace of each firing metric alert,
	// so that re-sends carry the same one.
	traceMu  sync.Mutex
	traceIDs map[uint64]string
}

// Open checks every file, opens the Alertmanager and loads the rules.
// Nothing is evaluated before Run.
func Open(ctx context.Context, cfg Config, opts Options) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Queryable == nil || opts.Appendable == nil {
		return nil, errors.New("alerts: Queryable and Appendable are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Engine == nil {
		e, err := query.NewEngine(query.Config{SubqueryStep: cfg.EvaluationInterval}, query.Options{Logger: opts.Logger.With("component", "rules_engine")})
		if err != nil {
			return nil, err
		}
		opts.Engine = e
	}
	m := &Manager{cfg: cfg, log: opts.Logger, opts: opts, parser: opts.Engine.Parser(), traceIDs: map[uint64]string{}}
	files, logGroups, amc, err := m.load()
	if err != nil {
		return nil, err
	}
	am, err := newAlertmanager(amOptions{
		ConfigFile:  cfg.AlertmanagerConfig,
		Config:      amc,
		DataDir:     cfg.DataDir,
		ExternalURL: cfg.ExternalURL,
		Logger:      opts.Logger.With("component", "alertmanager"),
		Registerer:  opts.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("open alertmanager: %w", err)
	}
	if cfg.AlertmanagerConfig == "" {
		m.log.Info("alertmanager_default_config", "note", amDefaultNote)
	}
	m.am = am

	m.rules = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:     cfg.ExternalURL,
		QueryFunc:       rules.EngineQueryFunc(opts.Engine, opts.Queryable),
		NotifyFunc:      m.notify,
		Context:         ctx,
		Appendable:      opts.Appendable,
		Queryable:       opts.Queryable,
		Logger:          opts.Logger.With("component", "rules"),
		Registerer:      opts.Registerer,
		OutageTolerance: cfg.OutageTolerance,
		ForGracePeriod:  cfg.ForGracePeriod,
		ResendDelay:     cfg.ResendDelay,
		GroupLoader:     ruleLoader{parser: m.parser, logger: opts.Logger},
		Parser:          m.parser,
	})
	if err := m.rules.Update(cfg.EvaluationInterval, files, labels.EmptyLabels(), cfg.ExternalURL.String(), nil); err != nil {
		am.close()
		return nil, fmt.Errorf("load rules: %w", err)
	}
	failures := opts.Metrics.GetOrCreateCounter("lookout_log_rule_evaluation_failures_total")
	m.logRules = newLogRules(logGroups, logRuleOptions{
		Counter:     opts.Logs,
		ExternalURL: cfg.ExternalURL,
		Send:        func(ctx context.Context, alerts []*model.Alert) { m.send(ctx, alerts) },
		Logger:      opts.Logger.With("component", "log_rules"),
		Now:         time.Now,
		Failures:    failures.Inc,
		Timeout:     opts.Engine.Timeout(),
	})
	return m, nil
}

// Run evaluates the rules until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(m.rules.Run) // returns after Stop
	wg.Go(func() { m.logRules.run(ctx) })
	<-ctx.Done()
	m.rules.Stop()
	wg.Wait()
	return nil
}

// Close stops the Alertmanager, saving its silences and notification log.
// Call it after Run has returned.
func (m *Manager) Close() error {
	return m.am.close()
}

// Reload re-reads the rule files, the log rule files and the Alertmanager
// configuration. Everything is checked first: on any problem nothing
// changes and the error lists each problem as file:line.
//
// Alertmanager's reload metrics follow the whole reload, not only the
// Alertmanager file: a bad rule file rejects the Alertmanager
// configuration with it, so alertmanager_config_last_reload_successful
// drops to 0 (and Alertmanager's AlertmanagerFailedReload alert fires)
// until a reload succeeds.
func (m *Manager) Reload(ctx context.Context) (err error) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	defer func() {
		if err != nil {
			m.am.reloadFailed()
		}
	}()
	files, logGroups, amc, err := m.load()
	if err != nil {
		return err
	}
	if amc != nil {
		if err := m.am.use(amc); err != nil {
			return err
		}
	}
	if err := m.rules.Update(m.cfg.EvaluationInterval, files, labels.EmptyLabels(), m.cfg.ExternalURL.String(), nil); err != nil {
		return fmt.Errorf("reload rules: %w", err)
	}
	m.logRules.update(logGroups)
	if amc == nil {
		// The default configuration stays, reloaded as far as there is
		// anything to reload; use did this otherwise.
		m.am.reloadSucceeded()
	}
	m.log.Info("alerting_reloaded", "rule_files", len(files), "log_rule_groups", len(logGroups))
	return nil
}

// AlertmanagerAPI serves Alertmanager's API v2 under /alertmanager/api/v2/.
func (m *Manager) AlertmanagerAPI() http.Handler { return m.am.handler() }

// load resolves and checks every file: the rule files to hand the rules
// manager (the built-in rules among them), the parsed log rule groups, and
// the Alertmanager configuration, built and ready for use (nil without a
// file). Warnings, which check-config prints, are logged.
func (m *Manager) load() ([]string, []*logRuleGroup, *amConfig, error) {
	files, logGroups, amc, warnings, err := loadFiles(m.cfg, m.parser, m.opts.Logs != nil, m.log.With("component", "alertmanager"))
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range warnings {
		m.log.Warn("rule_file_warning", "warning", w.Error())
	}
	if m.cfg.BuiltinRules {
		files = append(files, builtinRulesName)
	}
	return files, logGroups, amc, nil
}

// CheckFiles checks the rule files, log rule files and Alertmanager
// configuration cfg names, for lookout check-config: every problem, each as
// file:line: message (file:line:column: where the column is known), and
// warnings about what loads but is likely a mistake, as promtool's
// (rules with the same name and labels).
func CheckFiles(cfg Config, p parser.Parser) (warnings []error, err error) {
	if p == nil {
		p = query.NewParser()
	}
	_, _, _, warnings, err = loadFiles(cfg, p, true, slog.New(slog.DiscardHandler))
	return warnings, err
}

// loadFiles resolves and checks the files cfg names, for Open, Reload and
// CheckFiles alike: the rule files, the parsed log rule groups, and the
// Alertmanager configuration (nil without a file), and warnings. Log rules
// are an error without a log store (haveLogs false).
func loadFiles(cfg Config, p parser.Parser, haveLogs bool, amLogger *slog.Logger) ([]string, []*logRuleGroup, *amConfig, []error, error) {
	files, logFiles, err := resolveFiles(cfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var warnings, errs []error
	for _, f := range files {
		w, e := checkRuleFile(f, p)
		warnings, errs = append(warnings, w...), append(errs, e...)
	}
	logGroups, logWarnings, err := loadLogRuleFiles(logFiles)
	warnings, errs = append(warnings, logWarnings...), append(errs, err)
	if len(logGroups) > 0 && !haveLogs {
		errs = append(errs, errors.New("log rules need the log store"))
	}
	var amc *amConfig
	if cfg.AlertmanagerConfig != "" {
		amc, err = loadAMConfig(cfg.AlertmanagerConfig, amLogger)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, nil, warnings, err
	}
	return files, logGroups, amc, warnings, nil
}

// resolveFiles expands the rule file globs. A glob that matches nothing is
// an error: it is far more often a typo than an intent.
func resolveFiles(cfg Config) (ruleFiles, logFiles []string, err error) {
	expand := func(kind string, globs []string) ([]string, error) {
		var out []string
		for _, g := range globs {
			matches, err := filepath.Glob(g)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", kind, g, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("%s %q: no file matches", kind, g)
			}
			for _, f := range matches {
				if !slices.Contains(out, f) {
					out = append(out, f)
				}
			}
		}
		return out, nil
	}
	if ruleFiles, err = expand("rule files", cfg.RuleFiles); err != nil {
		return nil, nil, err
	}
	if logFiles, err = expand("log rule files", cfg.LogRuleFiles); err != nil {
		return nil, nil, err
	}
	return ruleFiles, logFiles, nil
}

// builtinRulesName stands for builtin.yml among rule files; it shows as
// the file of its group in /api/v1/rules.
const builtinRulesName = "<lookout built-in rules>"

//go:embed builtin.yml
var builtinRules []byte

// ruleLoader is the rules manager's file loader, which also knows the
// built-in rules.
type ruleLoader struct {
	parser parser.Parser
	logger *slog.Logger
}

func (l ruleLoader) Load(identifier string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	if identifier == builtinRulesName {
		return rulefmt.Parse(builtinRules, ignoreUnknownFields, scheme, l.parser, l.logger)
	}
	return rulefmt.ParseFile(identifier, ignoreUnknownFields, scheme, l.parser, l.logger)
}

func (l ruleLoader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

// notify is the rules manager's NotifyFunc: its alerts as Prometheus sends
// them to an Alertmanager (rules.SendAlerts), with links into lookout and,
// for a firing alert, a trace from an exemplar of the series that fired.
func (m *Manager) notify(ctx context.Context, expr string, alerts ...*rules.Alert) {
	out := make([]*model.Alert, 0, len(alerts))
	for _, a := range alerts {
		ma := &model.Alert{
			Labels:       labelSet(a.Labels),
			Annotations:  labelSet(a.Annotations),
			StartsAt:     a.FiredAt,
			EndsAt:       a.ValidUntil,
			GeneratorURL: m.link("/explore", url.Values{"query": {expr}}),
		}
		fp := a.Labels.Hash()
		if !a.ResolvedAt.IsZero() {
			ma.EndsAt = a.ResolvedAt
			m.traceMu.Lock()
			delete(m.traceIDs, fp)
			m.traceMu.Unlock()
		} else if _, ok := ma.Annotations["trace_id"]; !ok {
			if id := m.exemplarTrace(ctx, expr, fp, a); id != "" {
				ma.Annotations["trace_id"] = model.LabelValue(id)
				ma.Annotations["trace_url"] = model.LabelValue(m.link("/traces/"+id, nil))
			}
		}
		out = append(out, ma)
	}
	m.send(ctx, out)
}

// send hands alerts to the Alertmanager.
func (m *Manager) send(ctx context.Context, alerts []*model.Alert) {
	if len(alerts) == 0 {
		return
	}
	if err := m.am.send(ctx, alerts...); err != nil {
		m.log.Error("send_alerts", "err", err)
	}
}

// exemplarTrace finds the trace of the newest exemplar, since shortly
// before the alert became active, on a series of expr whose labels agree
// with the alert's. It remembers the answer for the alert's re-sends.
func (m *Manager) exemplarTrace(ctx context.Context, expr string, fp uint64, a *rules.Alert) string {
	m.traceMu.Lock()
	id, ok := m.traceIDs[fp]
	m.traceMu.Unlock()
	if ok || m.opts.Exemplars == nil {
		return id
	}
	e, err := m.parser.ParseExpr(expr)
	if err != nil {
		return ""
	}
	eq, err := m.opts.Exemplars.ExemplarQuerier(ctx)
	if err != nil {
		return ""
	}
	end := time.Now()
	start := a.ActiveAt.Add(-5 * time.Minute)
	if oldest := end.Add(-time.Hour); start.Before(oldest) {
		start = oldest
	}
	res, err := eq.Select(timestamp.FromTime(start), timestamp.FromTime(end), parser.ExtractSelectors(e)...)
	if err != nil {
		m.log.Warn("alert_exemplars", "err", err)
		return ""
	}
	var newest int64
	for _, r := range res {
		if !agrees(r.SeriesLabels, a.Labels) {
			continue
		}
		for _, ex := range r.Exemplars {
			if t := ex.Labels.Get("trace_id"); t != "" && ex.Ts >= newest {
				id, newest = t, ex.Ts
			}
		}
	}
	if id != "" {
		m.traceMu.Lock()
		m.traceIDs[fp] = id
		m.traceMu.Unlock()
	}
	return id
}

// agrees reports whether a series and an alert have the same value for
// every label both have, the metric name aside.
func agrees(series, alert labels.Labels) bool {
	ok := true
	series.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		if v := alert.Get(l.Name); v != "" && v != l.Value {
			ok = false
		}
	})
	return ok
}

// link is an absolute URL into lookout's UI.
func (m *Manager) link(path string, q url.Values) string { return uiLink(m.cfg.ExternalURL, path, q) }

// uiLink is path, with query q, under lookout's external URL.
func uiLink(ext *url.URL, path string, q url.Values) string {
	u := url.URL{Path: path}
	if ext != nil {
		u = *ext
		u.Path = strings.TrimSuffix(u.Path, "/") + path
		u.RawPath = ""
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func labelSet(ls labels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

// RuleGroups is the state of every rule group: metric groups as the rules
// manager has them, then log groups.
func (m *Manager) RuleGroups() []RuleGroup {
	var out []RuleGroup
	for _, g := range m.rules.RuleGroups() {
		rg := RuleGroup{
			Name:           g.Name(),
			File:           g.File(),
			Interval:       g.Interval(),
			Limit:          g.Limit(),
			EvaluationTime: g.GetEvaluationTime(),
			LastEvaluation: g.GetLastEvaluation(),
		}
		for _, r := range g.Rules() {
			rule := Rule{
				Signal:         "metrics",
				Name:           r.Name(),
				Query:          r.Query().String(),
				Labels:         r.Labels(),
				Health:         string(r.Health()),
				EvaluationTime: r.GetEvaluationDuration(),
				LastEvaluation: r.GetEvaluationTimestamp(),
			}
			if err := r.LastError(); err != nil {
				rule.LastError = err.Error()
			}
			switch r := r.(type) {
			case *rules.AlertingRule:
				rule.Kind = "alerting"
				rule.Duration = r.HoldDuration()
				rule.KeepFiringFor = r.KeepFiringFor()
				rule.Annotations = r.Annotations()
				rule.State = r.State().String()
				for _, a := range r.ActiveAlerts() {
					rule.Alerts = append(rule.Alerts, Alert{
						Labels:          a.Labels,
						Annotations:     a.Annotations,
						State:           a.State.String(),
						ActiveAt:        a.ActiveAt,
						KeepFiringSince: a.KeepFiringSince,
						Value:           a.Value,
					})
				}
			default:
				rule.Kind = "recording"
			}
			rg.Rules = append(rg.Rules, rule)
		}
		out = append(out, rg)
	}
	return append(out, m.logRules.status()...)
}

// readRuleFile reads a rule file; the error names it.
func readRuleFile(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	return b, nil
}
