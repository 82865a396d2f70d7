package alerts

// Log alert rules
//
// Log alert rules count log records and alert when a count passes a
// threshold. They live in their own files, in the shape of Prometheus rule
// files (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/)
// with a log query where Prometheus has expr:
//
//	groups:
//	  - name: checkout         # required, unique across all log rule files
//	    interval: 1m           # evaluation interval, default 1m
//	    rules:
//	      - alert: CheckoutErrors    # required: letters, digits, _ and :, not first a digit; unique in its group
//	        query: 'severity:error AND service:checkout'   # required, the log query language; * for every record
//	        window: 5m         # required: count the matches in [now-window, now]
//	        group_by: [service]  # optional: count per distinct values of these fields
//	        above: 10          # required: fires while count > above (a number >= 0)
//	        for: 2m            # optional: how long the count must stay above before firing
//	        keep_firing_for: 0s  # optional: how long to keep firing once it no longer is
//	        labels: {severity: page}   # optional: names of letters, digits and _; not alertname
//	        annotations:               # optional
//	          summary: '{{ $value }} errors in {{ $labels.service }} in 5m'
//
// Durations are Prometheus durations (30s, 5m, 1h30m, 1d). group_by names
// fields as the query language does (service, severity, trace_id,
// http.route, attributes.x, resource.host.name); each distinct set of
// values is an alert of its own, labelled with the values under the field
// names made label names (service.name becomes service_name). Without
// group_by a rule has at most one alert. A count reads at most a million
// records, newest first, and at most 100 groups alert per rule.
//
// Labels and annotations are Prometheus templates
// (https://prometheus.io/docs/prometheus/latest/configuration/template_reference/),
// expanded with $labels (the group_by labels), $value (the count) and
// $externalURL. Each alert also carries these annotations, unless the rule
// sets them itself:
//
//	sample_lines  up to 5 of the newest matching lines, one per line:
//	              "2006-01-02T15:04:05Z service SEVERITY body", bodies cut
//	              to 300 characters
//	logs_url      the matching records in lookout's log view (the rule's
//	              query and the group's values, over the window); also the
//	              alert's generator URL
//	trace_id      the trace of the newest sample that has one, and
//	trace_url     its page in lookout
//
// Alerts move as Prometheus' do: pending while the count is above, firing
// once it has been for `for`, resolved when it no longer is (after
// keep_firing_for). Alerts are sent to Alertmanager when they fire and
// resolve, then again at the first evaluation more than a minute after the
// last send (every other one at a 1m interval), resolved ones for 15
// minutes; a firing alert is sent valid for 4 intervals (at least 4m), so
// a few missed evaluations do not resolve it. When rules are reloaded, a
// rule keeps its alerts if its group name, name, query and group_by are
// unchanged; the firing alerts of a rule that is gone are sent resolved.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
	"gopkg.in/yaml.v3"

	"github.com/lookout-dev/lookout/internal/yamlerr"

	"github.com/lookout-dev/lookout/logstore"
)

// LogCounter counts log records for log alert rules; *logstore.Store is
// one.
type LogCounter interface {
	CountLogs(ctx context.Context, q logstore.CountQuery) (logstore.CountResult, error)
}

const (
	// defaultLogRuleInterval is a group's interval when its file sets none.
	defaultLogRuleInterval = time.Minute
	// logResendDelay and logResolvedRetention are Prometheus' defaults
	// (--rules.alert.resend-delay, and rules' resolvedRetention).
	logResendDelay       = time.Minute
	logResolvedRetention = 15 * time.Minute
	// logSampleLines is how many matching lines an alert quotes.
	logSampleLines = 5
	// logSampleChars bounds each quoted line's body, in characters.
	logSampleChars = 300
)

// logRuleGroup is one group of a log rule file: its definition and, for
// its rules, the evaluation state.
type logRuleGroup struct {
	name     string
	file     string
	interval time.Duration
	rules    []*logRule

	// stop and done belong to the group's evaluation loop, guarded by
	// logRules.mu; nil while none runs.
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex // guards what follows and the state of rules
	evalTime time.Duration
	lastEval time.Time
}

// logRule is one log alert rule.
type logRule struct {
	name          string
	query         string
	window        time.Duration
	groupBy       []string
	groupLabels   []string // label names of groupBy
	above         float64
	hold          time.Duration // for:
	keepFiringFor time.Duration
	labels        labels.Labels
	annotations   labels.Labels

	// Evaluation state, guarded by the group's mu.
	active    map[uint64]*logAlert // by label hash
	health    string
	lastError string
	evalTime  time.Duration
	lastEval  time.Time
}

type logAlertState int

const (
	logInactive logAlertState = iota
	logPending
	logFiring
)

func (s logAlertState) String() string {
	return [...]string{"inactive", "pending", "firing"}[s]
}

// logAlert is one alert of a rule: Prometheus' rules.Alert.
type logAlert struct {
	state        logAlertState
	labels       labels.Labels
	annotations  labels.Labels
	generatorURL string
	value        float64

	activeAt, firedAt, resolvedAt time.Time
	lastSentAt, validUntil        time.Time
	keepFiringSince               time.Time
}

// needsSending is Prometheus' Alert.needsSending.
func (a *logAlert) needsSending(ts time.Time) bool {
	if a.state == logPending {
		return false
	}
	// Resolved since it was last sent: say so now.
	if a.resolvedAt.After(a.lastSentAt) {
		return true
	}
	return a.lastSentAt.Add(logResendDelay).Before(ts)
}

// toModel is the alert as sent to Alertmanager, the way Prometheus sends
// one: from when it fired until it resolved, or until it is due again.
func (a *logAlert) toModel() *model.Alert {
	m := &model.Alert{
		Labels:       labelSet(a.labels),
		Annotations:  labelSet(a.annotations),
		StartsAt:     a.firedAt,
		EndsAt:       a.validUntil,
		GeneratorURL: a.generatorURL,
	}
	if !a.resolvedAt.IsZero() {
		m.EndsAt = a.resolvedAt
	}
	return m
}

// logRuleOptions is what the composition root gives log rules.
type logRuleOptions struct {
	Counter LogCounter
	// ExternalURL is where users reach lookout, for links in alerts;
	// links are relative without it.
	ExternalURL *url.URL
	// Send hands alerts to Alertmanager.
	Send     func(ctx context.Context, alerts []*model.Alert)
	Logger   *slog.Logger
	Now      func() time.Time
	Failures func() // called on each failed evaluation of a rule
	// Timeout bounds one rule's count, as the query timeout bounds a
	// metric rule's query; 0 means none.
	Timeout time.Duration
}

// logRules evaluates log alert rules.
type logRules struct {
	o logRuleOptions

	mu     sync.Mutex
	groups []*logRuleGroup
	ctx    context.Context // run's, while it runs
	wg     sync.WaitGroup  // evaluation loops
}

func newLogRules(groups []*logRuleGroup, o logRuleOptions) *logRules {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Send == nil {
		o.Send = func(context.Context, []*model.Alert) {}
	}
	if o.Failures == nil {
		o.Failures = func() {}
	}
	return &logRules{o: o, groups: groups}
}

// run evaluates each group at its interval until ctx is done, and returns
// once every evaluation has stopped.
func (l *logRules) run(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	for _, g := range l.groups {
		l.start(g)
	}
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	l.ctx = nil
	l.mu.Unlock()
	l.wg.Wait()
}

// start runs g's evaluation loop, if run is running. l.mu is held.
func (l *logRules) start(g *logRuleGroup) {
	if l.ctx == nil {
		return
	}
	g.stop, g.done = make(chan struct{}), make(chan struct{})
	l.wg.Add(1)
	go l.loop(l.ctx, g, g.stop, g.done)
}

// stopLoops stops the loops of groups and waits until they have, letting
// an evaluation under way finish so that none is lost. l.mu is held.
func (l *logRules) stopLoops(groups []*logRuleGroup) {
	for _, g := range groups {
		if g.stop != nil {
			close(g.stop)
		}
	}
	for _, g := range groups {
		if g.done != nil {
			<-g.done
		}
		g.stop, g.done = nil, nil
	}
}

// loop evaluates g at the slots of its interval, offset by a hash of the
// group, as Prometheus' rules.Group.run does, so that groups spread over
// the interval and a restart keeps the same slots.
func (l *logRules) loop(ctx context.Context, g *logRuleGroup, stop <-chan struct{}, done chan<- struct{}) {
	defer l.wg.Done()
	defer close(done)
	now := l.o.Now()
	next := logEvalSlot(g, now).Add(g.interval)
	t := time.NewTimer(next.Sub(now))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		l.evalGroup(ctx, g, next)
		now = l.o.Now()
		next = next.Add(g.interval)
		// Behind by more than an interval: skip to the latest slot.
		if missed := now.Sub(next) / g.interval; missed > 0 {
			next = next.Add(missed * g.interval)
		}
		t.Reset(next.Sub(now))
	}
}

// logEvalSlot is Prometheus' Group.EvalTimestamp: the latest slot of g at or
// before now.
func logEvalSlot(g *logRuleGroup, now time.Time) time.Time {
	h := labels.New(labels.Label{Name: "name", Value: g.name}, labels.Label{Name: "file", Value: g.file}).Hash()
	offset := int64(h % uint64(g.interval))
	adj := now.UnixNano() - offset
	base := adj - adj%int64(g.interval)
	return time.Unix(0, base+offset).UTC()
}

// evalGroup evaluates every rule of g at ts and sends the alerts due.
func (l *logRules) evalGroup(ctx context.Context, g *logRuleGroup, ts time.Time) {
	t0 := time.Now()
	var send []*model.Alert
	for _, r := range g.rules {
		send = append(send, l.evalRule(ctx, g, r, ts)...)
		if ctx.Err() != nil {
			return // shutting down
		}
	}
	g.mu.Lock()
	g.evalTime, g.lastEval = time.Since(t0), ts
	g.mu.Unlock()
	if len(send) > 0 {
		l.o.Send(ctx, send)
	}
}

// evalRule evaluates r at ts, as Prometheus' AlertingRule.Eval and
// sendAlerts do, and returns the alerts to send.
func (l *logRules) evalRule(ctx context.Context, g *logRuleGroup, r *logRule, ts time.Time) []*model.Alert {
	t0 := time.Now()
	cctx := ctx
	if l.o.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, l.o.Timeout)
		defer cancel()
	}
	res, err := l.o.Counter.CountLogs(cctx, logstore.CountQuery{
		Query:   r.query,
		Start:   ts.Add(-r.window),
		End:     ts,
		GroupBy: r.groupBy,
		Samples: logSampleLines,
	})
	if ctx.Err() != nil {
		return nil // shutting down
	}
	if cctx.Err() != nil {
		err = fmt.Errorf("log count timed out after %s: narrow the rule's query or window", l.o.Timeout)
	}
	var found map[uint64]*logAlert
	if err == nil {
		found = l.alertsOf(ctx, r, res, ts)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r.evalTime, r.lastEval = time.Since(t0), ts
	if err != nil {
		r.health, r.lastError = "err", err.Error()
		l.o.Failures()
		l.o.Logger.Warn("log_rule_failed", "group", g.name, "rule", r.name, "err", err)
		return nil
	}
	r.health, r.lastError = "ok", ""

	for h, a := range found {
		// An alert already active keeps its state and takes the new value
		// and annotations.
		if old, ok := r.active[h]; ok && old.state != logInactive {
			old.value, old.annotations, old.generatorURL = a.value, a.annotations, a.generatorURL
			continue
		}
		r.active[h] = a
	}
	for h, a := range r.active {
		if _, ok := found[h]; !ok {
			keepFiring := false
			if a.state == logFiring && r.keepFiringFor > 0 {
				if a.keepFiringSince.IsZero() {
					a.keepFiringSince = ts
				}
				keepFiring = ts.Sub(a.keepFiringSince) < r.keepFiringFor
			}
			// A resolved alert is kept, and re-sent, for a while, in case
			// Alertmanager missed that it resolved.
			if a.state == logPending || (!a.resolvedAt.IsZero() && ts.Sub(a.resolvedAt) > logResolvedRetention) {
				delete(r.active, h)
			}
			if a.state != logInactive && !keepFiring {
				a.state, a.resolvedAt = logInactive, ts
			}
			if !keepFiring {
				continue
			}
		} else {
			a.keepFiringSince = time.Time{}
		}
		if a.state == logPending && ts.Sub(a.activeAt) >= r.hold {
			a.state, a.firedAt = logFiring, ts
		}
		// A reload made for: longer than the alert has been active: back to
		// pending, as Prometheus does.
		if a.state == logFiring && ts.Sub(a.activeAt) < r.hold {
			a.state, a.firedAt, a.lastSentAt, a.keepFiringSince = logPending, time.Time{}, time.Time{}, time.Time{}
		}
	}

	var send []*model.Alert
	for _, a := range r.active {
		if a.needsSending(ts) {
			a.lastSentAt = ts
			// Valid through two failed evaluations or sends.
			a.validUntil = ts.Add(4 * max(g.interval, logResendDelay))
			send = append(send, a.toModel())
		}
	}
	return send
}

// alertsOf makes an alert of each group of res over r's threshold. Each
// has labels of its own: the group's values tell them apart, and a rule's
// labels cannot overwrite them (see groupBy).
func (l *logRules) alertsOf(ctx context.Context, r *logRule, res logstore.CountResult, ts time.Time) map[uint64]*logAlert {
	found := map[uint64]*logAlert{}
	for _, gc := range res.Groups {
		value := float64(gc.Count)
		if value <= r.above {
			continue
		}
		lb := labels.NewBuilder(labels.EmptyLabels())
		for i, name := range r.groupLabels {
			if i < len(gc.Values) {
				lb.Set(name, gc.Values[i])
			}
		}
		groupLabels := lb.Labels()
		expand := l.expander(ctx, r, groupLabels, value, ts)
		r.labels.Range(func(lbl labels.Label) { lb.Set(lbl.Name, expand(lbl.Value)) })
		lb.Set(labels.AlertName, r.name)
		ls := lb.Labels()

		ab := labels.NewBuilder(labels.EmptyLabels())
		logsURL := l.logsURL(r, gc.Values, ts)
		if lines := formatLogSamples(gc.Samples); lines != "" {
			ab.Set("sample_lines", lines)
		}
		ab.Set("logs_url", logsURL)
		for _, s := range gc.Samples {
			if s.TraceID != "" {
				ab.Set("trace_id", s.TraceID)
				ab.Set("trace_url", l.link("/traces/"+url.PathEscape(s.TraceID), nil))
				break
			}
		}
		r.annotations.Range(func(a labels.Label) { ab.Set(a.Name, expand(a.Value)) })
		found[ls.Hash()] = &logAlert{
			state:        logPending,
			labels:       ls,
			annotations:  ab.Labels(),
			generatorURL: logsURL,
			value:        value,
			activeAt:     ts,
		}
	}
	return found
}

// logTemplateDefs are the variables Prometheus defines for alert
// templates.
const logTemplateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// expander returns a function that expands a label or annotation template
// of r for one alert, as Prometheus does: a template that fails expands to
// the error, so the alert still goes out.
func (l *logRules) expander(ctx context.Context, r *logRule, groupLabels labels.Labels, value float64, ts time.Time) func(string) string {
	ext := ""
	if l.o.ExternalURL != nil {
		ext = l.o.ExternalURL.String()
	}
	data := template.AlertTemplateData(groupLabels.Map(), map[string]string{}, ext, promql.Sample{F: value})
	return func(text string) string {
		if !strings.Contains(text, "{{") {
			return text
		}
		t := template.NewTemplateExpander(ctx, logTemplateDefs+text, "__alert_"+r.name, data,
			model.Time(timestamp.FromTime(ts)), noPromQL, l.o.ExternalURL, nil)
		out, err := t.Expand()
		if err != nil {
			l.o.Logger.Warn("log_rule_template_failed", "rule", r.name, "err", err)
			return fmt.Sprintf("<error expanding template: %s>", err)
		}
		return out
	}
}

// noPromQL stands for the query template function, which log rules have
// no PromQL for.
func noPromQL(context.Context, string, time.Time) (promql.Vector, error) {
	return nil, errors.New("the query function is not available in log rule templates")
}

// logsURL links to the records an alert counted: r's query narrowed to the
// group's values, over the window that ended at ts.
func (l *logRules) logsURL(r *logRule, values []string, ts time.Time) string {
	q := r.query
	if len(r.groupBy) > 0 {
		var b strings.Builder
		b.WriteString("(" + q + ")")
		for i, f := range r.groupBy {
			if values[i] == "" {
				b.WriteString(" AND NOT " + f + ":*")
				continue
			}
			b.WriteString(" AND " + f + ":" + logstore.QuoteValue(values[i]))
		}
		q = b.String()
	}
	return l.link("/logs", url.Values{
		"query": {q},
		"start": {ts.Add(-r.window).UTC().Format(time.RFC3339)},
		"end":   {ts.UTC().Format(time.RFC3339)},
	})
}

// link is path (and query) under ExternalURL.
func (l *logRules) link(path string, q url.Values) string { return uiLink(l.o.ExternalURL, path, q) }

// formatLogSamples renders records one per line, newest first.
func formatLogSamples(recs []logstore.LogRecord) string {
	var b strings.Builder
	for i, r := range recs {
		if i == logSampleLines {
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(r.Timestamp.UTC().Format(time.RFC3339))
		b.WriteByte(' ')
		b.WriteString(cmp.Or(r.Service, "-"))
		b.WriteByte(' ')
		b.WriteString(cmp.Or(strings.ToUpper(cmp.Or(r.SeverityText, logstore.SeverityName(r.SeverityNumber))), "-"))
		b.WriteByte(' ')
		b.WriteString(oneLineBody(r.Body))
	}
	return b.String()
}

// oneLineBody is a body on one line, cut to logSampleChars characters.
func oneLineBody(body any) string {
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return ""
		}
		s = string(j)
	}
	s = strings.Join(strings.Fields(s), " ")
	if n := 0; len(s) > logSampleChars {
		for i := range s {
			if n == logSampleChars {
				return s[:i]
			}
			n++
		}
	}
	return s
}

// update replaces the rule groups, as a reload does. A rule keeps its
// alerts when its group name, name, query and group_by are unchanged, as
// Prometheus' rules manager copies them; the firing alerts of rules that
// are gone are sent resolved.
func (l *logRules) update(groups []*logRuleGroup) {
	type ruleKey struct{ group, rule, query, groupBy string }
	key := func(g *logRuleGroup, r *logRule) ruleKey {
		return ruleKey{g.name, r.name, r.query, strings.Join(r.groupBy, "\x00")}
	}
	now := l.o.Now()
	l.mu.Lock()
	old := l.groups
	l.stopLoops(old)
	next := map[ruleKey]*logRule{}
	nextGroups := map[string]*logRuleGroup{}
	for _, g := range groups {
		nextGroups[g.name] = g
		for _, r := range g.rules {
			next[key(g, r)] = r
		}
	}
	var resolved []*model.Alert
	for _, o := range old {
		// status may still be reading the old group: lock it, and copy
		// rather than share what the new group will change.
		o.mu.Lock()
		if g := nextGroups[o.name]; g != nil && g != o {
			g.evalTime, g.lastEval = o.evalTime, o.lastEval
		}
		for _, or := range o.rules {
			r := next[key(o, or)]
			switch {
			case r == or:
			case r != nil:
				r.active = make(map[uint64]*logAlert, len(or.active))
				for h, a := range or.active {
					c := *a
					r.active[h] = &c
				}
				r.health, r.lastError, r.evalTime, r.lastEval = or.health, or.lastError, or.evalTime, or.lastEval
			default:
				for _, a := range or.active {
					if a.state == logFiring {
						a.state, a.resolvedAt = logInactive, now
						resolved = append(resolved, a.toModel())
					}
				}
			}
		}
		o.mu.Unlock()
	}
	l.groups = groups
	for _, g := range groups {
		l.start(g)
	}
	l.mu.Unlock()
	if len(resolved) > 0 {
		l.o.Send(context.Background(), resolved)
	}
}

// status reports every group's rules and their active alerts.
func (l *logRules) status() []RuleGroup {
	l.mu.Lock()
	groups := slices.Clone(l.groups)
	l.mu.Unlock()
	out := make([]RuleGroup, 0, len(groups))
	for _, g := range groups {
		g.mu.Lock()
		rg := RuleGroup{Name: g.name, File: g.file, Interval: g.interval, EvaluationTime: g.evalTime, LastEvaluation: g.lastEval}
		for _, r := range g.rules {
			rs := Rule{
				Kind:           "alerting",
				Signal:         "logs",
				Name:           r.name,
				Query:          r.query,
				Duration:       r.hold,
				KeepFiringFor:  r.keepFiringFor,
				Labels:         r.labels,
				Annotations:    r.annotations,
				State:          logInactive.String(),
				Health:         cmp.Or(r.health, "unknown"),
				LastError:      r.lastError,
				EvaluationTime: r.evalTime,
				LastEvaluation: r.lastEval,
			}
			state := logInactive
			for _, a := range r.active {
				state = max(state, a.state)
				if !a.resolvedAt.IsZero() {
					continue
				}
				rs.Alerts = append(rs.Alerts, Alert{
					Labels:          a.labels,
					Annotations:     a.annotations,
					State:           a.state.String(),
					ActiveAt:        a.activeAt,
					KeepFiringSince: a.keepFiringSince,
					Value:           a.value,
				})
			}
			rs.State = state.String()
			slices.SortFunc(rs.Alerts, func(a, b Alert) int { return labels.Compare(a.Labels, b.Labels) })
			rg.Rules = append(rg.Rules, rs)
		}
		g.mu.Unlock()
		out = append(out, rg)
	}
	return out
}

// loadLogRuleFiles reads log rule files. It reports every problem of every
// file, each as "file:line:column: message", and returns no groups if there
// is one; warnings are about what loads but is likely a mistake.
func loadLogRuleFiles(paths []string) (groups []*logRuleGroup, warnings []error, err error) {
	p := &logRuleParser{groupsAt: map[string]string{}}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("read log rules: %w", err))
			continue
		}
		groups = append(groups, p.parseFile(path, data)...)
	}
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	return groups, p.warnings, nil
}

// logRuleParser walks the YAML node tree of rule files itself, rather
// than decoding into structs, so that each problem, unknown fields
// included, is reported with its line and none stops the others.
type logRuleParser struct {
	file     string
	errs     []error
	warnings []error
	groupsAt map[string]string // group name: file:line where defined
	// rulesAt is the line of the first rule of each name and labels in
	// the file, for promtool's duplicate-rules warning.
	rulesAt map[string]int
}

func (p *logRuleParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, at(p.file, n, fmt.Sprintf(format, args...)))
}

func (p *logRuleParser) parseFile(path string, data []byte) []*logRuleGroup {
	p.file = path
	p.rulesAt = map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.errs = append(p.errs, yamlerr.Locate(path, err))
		return nil
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	top := p.fields(doc.Content[0], "the file", "groups")
	if top == nil {
		return nil
	}
	gs := top["groups"]
	if gs == nil {
		p.errorf(doc.Content[0], "no groups")
		return nil
	}
	if gs.Kind != yaml.SequenceNode {
		p.errorf(gs, "groups must be a list")
		return nil
	}
	var out []*logRuleGroup
	for _, gn := range gs.Content {
		if g := p.parseGroup(gn); g != nil {
			out = append(out, g)
		}
	}
	return out
}

func (p *logRuleParser) parseGroup(n *yaml.Node) *logRuleGroup {
	f := p.fields(n, "a group", "name", "interval", "rules")
	if f == nil {
		return nil
	}
	g := &logRuleGroup{file: p.file, interval: defaultLogRuleInterval}
	ok := true
	if v := f["name"]; v == nil || p.str(v) == "" {
		p.errorf(n, "group has no name")
		ok = false
	} else {
		g.name = v.Value
		at := fmt.Sprintf("%s:%d", p.file, v.Line)
		if first, dup := p.groupsAt[g.name]; dup {
			p.errorf(v, "group %q is defined twice (first at %s)", g.name, first)
			ok = false
		} else {
			p.groupsAt[g.name] = at
		}
	}
	if v := f["interval"]; v != nil {
		d, good := p.duration(v, "interval")
		if good && d <= 0 {
			p.errorf(v, "interval must be more than 0")
			good = false
		}
		g.interval, ok = d, ok && good
	}
	var ruleNodes []*yaml.Node
	if rules := f["rules"]; rules != nil {
		if rules.Kind != yaml.SequenceNode {
			p.errorf(rules, "rules must be a list")
			return nil
		}
		ruleNodes = rules.Content
	}
	ruleAt := map[string]int{}
	for _, rn := range ruleNodes {
		r := p.parseRule(rn)
		if r == nil {
			ok = false
			continue
		}
		if first, dup := ruleAt[r.name]; dup {
			p.errorf(rn, "rule %q is defined twice in group %q (first at line %d)", r.name, g.name, first)
			ok = false
			continue
		}
		ruleAt[r.name] = rn.Line
		g.rules = append(g.rules, r)
		p.checkDuplicate(rn, g, r)
	}
	if !ok {
		return nil
	}
	return g
}

// checkDuplicate warns of a rule with the same name and labels as an
// earlier one of the file, in another group (in the same group, a name is
// an error already), as promtool does for Prometheus rules: both send the
// same alerts, which then flap between the two rules' values.
func (p *logRuleParser) checkDuplicate(n *yaml.Node, g *logRuleGroup, r *logRule) {
	key := r.name + "\xff" + r.labels.String()
	first, dup := p.rulesAt[key]
	if !dup {
		p.rulesAt[key] = n.Line
		return
	}
	p.warnings = append(p.warnings, at(p.file, n, fmt.Sprintf("group %q, rule %q: same name and labels%s as the rule at line %d: the two send the same alerts and may overwrite each other",
		g.name, r.name, labelList(r.labels), first)))
}

func (p *logRuleParser) parseRule(n *yaml.Node) *logRule {
	f := p.fields(n, "a rule", "alert", "query", "window", "group_by", "above", "for", "keep_firing_for", "labels", "annotations")
	if f == nil {
		return nil
	}
	nerr := len(p.errs)
	r := &logRule{active: map[uint64]*logAlert{}}
	required := func(name string) *yaml.Node {
		v := f[name]
		switch {
		case v != nil:
		case r.name == "":
			p.errorf(n, "rule has no %s", name)
		default:
			p.errorf(n, "rule %q has no %s", r.name, name)
		}
		return v
	}
	if v := required("alert"); v != nil {
		r.name = p.str(v)
		if !model.LegacyValidation.IsValidMetricName(r.name) {
			p.errorf(v, "alert name %q is not valid: letters, digits, _ and :, not starting with a digit", r.name)
		}
	}
	if v := required("query"); v != nil {
		r.query = p.str(v)
		if strings.TrimSpace(r.query) == "" {
			p.errorf(v, "query is empty; write * to count every record")
		} else if err := logstore.ValidateQuery(r.query); err != nil {
			p.errorf(v, "query: %v", err)
		}
	}
	if v := required("window"); v != nil {
		if d, ok := p.duration(v, "window"); ok {
			if d <= 0 {
				p.errorf(v, "window must be more than 0")
			}
			r.window = d
		}
	}
	if v := required("above"); v != nil {
		if v.Kind != yaml.ScalarNode || v.Decode(&r.above) != nil || math.IsNaN(r.above) || math.IsInf(r.above, 0) || r.above < 0 {
			p.errorf(v, "above must be a number, 0 or more, not %q", v.Value)
		}
	}
	if v := f["for"]; v != nil {
		r.hold, _ = p.duration(v, "for")
	}
	if v := f["keep_firing_for"]; v != nil {
		r.keepFiringFor, _ = p.duration(v, "keep_firing_for")
	}
	if v := f["group_by"]; v != nil {
		p.groupBy(v, r)
	}
	if v := f["labels"]; v != nil {
		r.labels = p.templates(v, "label", r)
	}
	if v := f["annotations"]; v != nil {
		r.annotations = p.templates(v, "annotation", r)
	}
	for _, name := range r.groupLabels {
		if r.labels.Has(name) {
			p.errorf(f["labels"], "label %q is set both by group_by and by labels", name)
		}
	}
	if len(p.errs) > nerr {
		return nil
	}
	return r
}

// groupBy reads group_by and names its labels.
func (p *logRuleParser) groupBy(v *yaml.Node, r *logRule) {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "group_by must be a list of field names")
		return
	}
	byLabel := map[string]string{}
	for _, e := range v.Content {
		name := p.str(e)
		label := logLabelName(name)
		switch first, dup := byLabel[label]; {
		case label == labels.AlertName:
			p.errorf(e, "group_by field %q would overwrite the alertname label", name)
		case dup:
			p.errorf(e, "group_by fields %q and %q both make label %q", first, name, label)
		}
		byLabel[label] = name
		r.groupBy = append(r.groupBy, name)
		r.groupLabels = append(r.groupLabels, label)
	}
	if err := logstore.ValidateGroupBy(r.groupBy); err != nil {
		p.errorf(v, "group_by: %v", err)
	}
}

// logLabelName makes a field name a Prometheus label name:
// [a-zA-Z_][a-zA-Z0-9_]*, anything else becoming _ (service.name becomes
// service_name).
func logLabelName(field string) string {
	var b strings.Builder
	for i, c := range field {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
		default:
			c = '_'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// templates reads labels or annotations: names Prometheus accepts, values
// that parse as templates.
func (p *logRuleParser) templates(v *yaml.Node, what string, r *logRule) labels.Labels {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "%ss must be a map of names to values", what)
		return labels.EmptyLabels()
	}
	b := labels.NewScratchBuilder(len(v.Content) / 2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, vn := v.Content[i], v.Content[i+1]
		name, val := p.str(kn), p.str(vn)
		switch {
		case seen[name]:
			p.errorf(kn, "%s %q is set twice", what, name)
			continue
		case !model.LegacyValidation.IsValidLabelName(name) || strings.HasPrefix(name, "__"):
			p.errorf(kn, "%s name %q is not valid: letters, digits and _, not starting with a digit or __", what, name)
		case what == "label" && name == labels.AlertName:
			p.errorf(kn, "label alertname is the rule's name; it cannot be set")
		}
		seen[name] = true
		tmpl := template.NewTemplateExpander(context.Background(), logTemplateDefs+val, "__alert_"+r.name,
			template.AlertTemplateData(map[string]string{}, map[string]string{}, "", promql.Sample{}),
			model.Time(0), nil, nil, nil)
		if err := tmpl.ParseTest(); err != nil {
			p.errorf(vn, "%s %q: %v", what, name, err)
		}
		b.Add(name, val)
	}
	b.Sort()
	return b.Labels()
}

// fields checks that n is a map with only the known keys, each once, and
// returns their values; nil if n is not a map.
func (p *logRuleParser) fields(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a map", what)
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch {
		case !slices.Contains(known, k.Value):
			p.errorf(k, "unknown field %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.errorf(k, "field %q is set twice", k.Value)
		default:
			out[k.Value] = n.Content[i+1]
		}
	}
	return out
}

// str is a scalar's text; anything else is reported.
func (p *logRuleParser) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "expected a single value, not a list or map")
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// duration reads a Prometheus duration (30s, 5m, 1h30m, 1d).
func (p *logRuleParser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s := p.str(n)
	d, err := model.ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: %q is not a duration such as 30s, 5m or 1h", field, s)
		return 0, false
	}
	return time.Duration(d), true
}
