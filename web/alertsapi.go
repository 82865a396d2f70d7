package web

// The alerting API: Prometheus' /api/v1/rules and /api/v1/alerts
// (https://prometheus.io/docs/prometheus/latest/querying/api/#rules) in the
// shapes of Prometheus' web/api/v1/api.go, so that Grafana lists lookout's
// rules and alerts; Prometheus' /-/reload lifecycle endpoint; and the
// embedded Alertmanager's own API behind lookout's roles.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lookout-dev/lookout/alerts"
)

// AlertRules is what /api/v1/rules, /api/v1/alerts and /-/reload call.
type AlertRules interface {
	// RuleGroups returns every rule group, metric and log, in file order.
	RuleGroups() []alerts.RuleGroup
	// Reload re-reads the rule files and the Alertmanager config; on error
	// the old ones stay and the error says why (file:line).
	Reload(ctx context.Context) error
}

// alertsRoute wraps an alerting API handler as promRoute wraps a query
// handler: 404 while alerting is not configured, the form parsed, the
// answer gzipped when the client accepts it. It does not need the PromQL
// API: log rules work without metrics.
func (h *Handler) alertsRoute(next http.HandlerFunc) http.HandlerFunc {
	return h.gzip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.opts.Alerts == nil {
			writeError(w, http.StatusNotFound, "not_found", "alerting is not enabled")
			return
		}
		if err := r.ParseForm(); err != nil {
			badData(w, fmt.Errorf("error parsing form values: %w", err))
			return
		}
		next(w, r)
	}))
}

// JSON shapes of Prometheus' web/api/v1 RuleGroup, AlertingRule,
// RecordingRule and Alert, field for field and in the same order, plus
// "signal" on each rule: clients of Prometheus' API ignore fields they do
// not know.

type ruleGroupJSON struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []any     `json:"rules"`
	Interval       float64   `json:"interval"`
	Limit          int       `json:"limit"`
	EvaluationTime float64   `json:"evaluationTime"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

type alertingRuleJSON struct {
	State          string        `json:"state"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration"`
	KeepFiringFor  float64       `json:"keepFiringFor"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations"`
	Alerts         []alertJSON   `json:"alerts"` // null with exclude_alerts, as in Prometheus
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
	Signal         string        `json:"signal"`
}

type recordingRuleJSON struct {
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Labels         labels.Labels `json:"labels"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
	Signal         string        `json:"signal"`
}

type alertJSON struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

// ruleFilter is the parsed parameters of /api/v1/rules.
type ruleFilter struct {
	names, groups, files map[string]bool // empty: no filter
	matchers             [][]*labels.Matcher
	alerting, recording  bool
	excludeAlerts        bool
	groupLimit           int    // 0: no pagination
	nextToken            string // the first group of the page
}

// promRules serves /api/v1/rules?type=&rule_name[]=&rule_group[]=&file[]=&
// match[]=&exclude_alerts=&group_limit=&group_next_token=. As in
// Prometheus, a group left with no rules after filtering is left out.
func (h *Handler) promRules(w http.ResponseWriter, r *http.Request) {
	f, ok := h.parseRuleFilter(w, r)
	if !ok {
		return
	}
	res := struct {
		Groups    []ruleGroupJSON `json:"groups"`
		NextToken string          `json:"groupNextToken,omitempty"`
	}{Groups: []ruleGroupJSON{}}
	foundToken := false
	for _, g := range h.opts.Alerts.RuleGroups() {
		if f.nextToken != "" && !foundToken {
			if f.nextToken != groupToken(g) {
				continue
			}
			foundToken = true
		}
		if len(f.groups) > 0 && !f.groups[g.Name] || len(f.files) > 0 && !f.files[g.File] {
			continue
		}
		out := ruleGroupJSON{
			Name:           g.Name,
			File:           g.File,
			Rules:          []any{},
			Interval:       g.Interval.Seconds(),
			Limit:          g.Limit,
			EvaluationTime: g.EvaluationTime.Seconds(),
			LastEvaluation: g.LastEvaluation,
		}
		for _, rule := range g.Rules {
			if len(f.names) > 0 && !f.names[rule.Name] || !matchesAny(f.matchers, rule.Labels) {
				continue
			}
			switch rule.Kind {
			case "alerting":
				if f.alerting {
					out.Rules = append(out.Rules, alertingRuleView(rule, f.excludeAlerts))
				}
			case "recording":
				if f.recording {
					out.Rules = append(out.Rules, recordingRuleView(rule))
				}
			default:
				// A bug in the rules manager, not the user's input.
				h.internal(w, r, fmt.Errorf("rule %q in group %q has kind %q", rule.Name, g.Name, rule.Kind))
				return
			}
		}
		if len(out.Rules) == 0 {
			continue
		}
		if f.groupLimit > 0 && len(res.Groups) == f.groupLimit {
			// One group more than the page holds: the next page starts there.
			res.NextToken = groupToken(g)
			break
		}
		res.Groups = append(res.Groups, out)
	}
	if f.nextToken != "" && !foundToken {
		invalidParam(w, "group_next_token", fmt.Errorf("invalid group_next_token '%v'. were rule groups changed?", f.nextToken))
		return
	}
	h.promRespond(w, r, func(s *jsoniter.Stream) { s.WriteVal(res) }, nil)
}

// parseRuleFilter parses /api/v1/rules' parameters with Prometheus' error
// messages, answering 400 itself when one is bad. Prometheus reads type,
// exclude_alerts and the pagination parameters from the URL only; they are
// read from the form here, so that a POST body works for them too.
func (h *Handler) parseRuleFilter(w http.ResponseWriter, r *http.Request) (ruleFilter, bool) {
	set := func(vs []string) map[string]bool {
		m := make(map[string]bool, len(vs))
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	f := ruleFilter{
		names:  set(r.Form["rule_name[]"]),
		groups: set(r.Form["rule_group[]"]),
		files:  set(r.Form["file[]"]),
	}
	var err error
	if f.matchers, err = h.ruleMatchers(r.Form["match[]"]); err != nil {
		badData(w, err)
		return f, false
	}
	typ := strings.ToLower(r.Form.Get("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		invalidParam(w, "type", fmt.Errorf("not supported value %q", typ))
		return f, false
	}
	f.alerting, f.recording = typ != "record", typ != "alert"
	if v := strings.ToLower(r.Form.Get("exclude_alerts")); v != "" {
		if f.excludeAlerts, err = strconv.ParseBool(v); err != nil {
			invalidParam(w, "exclude_alerts", fmt.Errorf("error converting exclude_alerts: %w", err))
			return f, false
		}
	}
	limit, token := r.Form.Get("group_limit"), r.Form.Get("group_next_token")
	if token != "" && limit == "" {
		invalidParam(w, "group_next_token", errors.New("group_limit needs to be present in order to paginate over the groups"))
		return f, false
	}
	if limit != "" {
		n, err := strconv.ParseInt(limit, 10, 32)
		if err != nil {
			invalidParam(w, "group_limit", fmt.Errorf("group_limit needs to be a valid number: %w", err))
			return f, false
		}
		if n <= 0 {
			invalidParam(w, "group_limit", errors.New("group_limit needs to be greater than 0"))
			return f, false
		}
		f.groupLimit, f.nextToken = int(n), token
	}
	return f, true
}

// ruleMatchers parses match[] as Prometheus' parseMatchersParam does: each
// set must hold a matcher that does not match the empty string. It uses
// the PromQL API's parser when there is one, so that a selector parses the
// same here as in a query; log rules need no PromQL API, hence the default.
func (h *Handler) ruleMatchers(vs []string) ([][]*labels.Matcher, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	p := parser.NewParser(parser.Options{})
	if h.prom != nil {
		p = h.prom.parser
	}
	return parseMatcherSets(p, vs)
}

// matchesAny reports whether ls matches every matcher of at least one set,
// as Prometheus' rules.Group.Rules filters; no sets match everything.
func matchesAny(sets [][]*labels.Matcher, ls labels.Labels) bool {
	if len(sets) == 0 {
		return true
	}
	return slices.ContainsFunc(sets, func(ms []*labels.Matcher) bool {
		for _, m := range ms {
			if !m.Matches(ls.Get(m.Name)) {
				return false
			}
		}
		return true
	})
}

// groupToken is Prometheus' group_next_token: the SHA-256 of "file;group",
// so a token from Prometheus' own scheme pages the same way here.
func groupToken(g alerts.RuleGroup) string {
	sum := sha256.Sum256([]byte(g.File + ";" + g.Name))
	return hex.EncodeToString(sum[:])
}

func alertingRuleView(rule alerts.Rule, excludeAlerts bool) alertingRuleJSON {
	v := alertingRuleJSON{
		// A rule not evaluated yet has no state: Prometheus calls that
		// inactive.
		State:          cmp.Or(rule.State, "inactive"),
		Name:           rule.Name,
		Query:          rule.Query,
		Duration:       rule.Duration.Seconds(),
		KeepFiringFor:  rule.KeepFiringFor.Seconds(),
		Labels:         rule.Labels,
		Annotations:    rule.Annotations,
		Health:         cmp.Or(rule.Health, "unknown"),
		LastError:      rule.LastError,
		EvaluationTime: rule.EvaluationTime.Seconds(),
		LastEvaluation: rule.LastEvaluation,
		Type:           "alerting",
		Signal:         rule.Signal,
	}
	if !excludeAlerts {
		v.Alerts = alertViews(nil, rule.Alerts)
	}
	return v
}

func recordingRuleView(rule alerts.Rule) recordingRuleJSON {
	return recordingRuleJSON{
		Name:           rule.Name,
		Query:          rule.Query,
		Labels:         rule.Labels,
		Health:         cmp.Or(rule.Health, "unknown"),
		LastError:      rule.LastError,
		EvaluationTime: rule.EvaluationTime.Seconds(),
		LastEvaluation: rule.LastEvaluation,
		Type:           "recording",
		Signal:         rule.Signal,
	}
}

// alertViews appends as to dst in Prometheus' Alert shape; never nil.
func alertViews(dst []alertJSON, as []alerts.Alert) []alertJSON {
	if dst == nil {
		dst = make([]alertJSON, 0, len(as))
	}
	for _, a := range as {
		v := alertJSON{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State,
			// Prometheus' own formatting of the value, "1e+00" not "1".
			Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.ActiveAt.IsZero() {
			v.ActiveAt = &a.ActiveAt
		}
		if !a.KeepFiringSince.IsZero() {
			v.KeepFiringSince = &a.KeepFiringSince
		}
		dst = append(dst, v)
	}
	return dst
}

// promAlerts serves /api/v1/alerts: every active (pending or firing)
// alert of every alerting rule, metric and log.
func (h *Handler) promAlerts(w http.ResponseWriter, r *http.Request) {
	list := []alertJSON{}
	for _, g := range h.opts.Alerts.RuleGroups() {
		for _, rule := range g.Rules {
			if rule.Kind == "alerting" {
				list = alertViews(list, rule.Alerts)
			}
		}
	}
	h.promRespond(w, r, func(s *jsoniter.Stream) {
		s.WriteVal(struct {
			Alerts []alertJSON `json:"alerts"`
		}{list})
	}, nil)
}

// reload serves Prometheus' lifecycle endpoint POST /-/reload: it re-reads
// the rule files and the Alertmanager config. A failure answers 500, as
// Prometheus does and as config reloaders check, with the reason in
// Prometheus' error shape: it names the file and line of the user's own
// config, so it is shown rather than hidden behind a request id.
func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.opts.Alerts == nil {
		writeError(w, http.StatusNotFound, "not_found", "alerting is not enabled")
		return
	}
	// A reload, once begun, finishes even if the client gives up waiting,
	// as Prometheus' does: the client's timeout is not a reason to abandon
	// it.
	if err := h.opts.Alerts.Reload(context.WithoutCancel(r.Context())); err != nil {
		writeError(w, http.StatusInternalServerError, "bad_data", "failed to reload config: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
}

// alertmanager hands a request under /alertmanager/ to the embedded
// Alertmanager, path unchanged; routes.go decides the role per method.
func (h *Handler) alertmanager(w http.ResponseWriter, r *http.Request) {
	if h.opts.Alertmanager == nil {
		writeAMError(w, http.StatusNotFound, "the Alertmanager is not enabled")
		return
	}
	if r.Method == http.MethodHead {
		// Alertmanager's API router (go-openapi) knows GET only and
		// answers HEAD 405; HEAD is GET without the body (RFC 9110,
		// section 9.3.2), and net/http drops what is written to the
		// response of a HEAD request, keeping its length.
		r = r.Clone(r.Context())
		r.Method = http.MethodGet
	}
	h.opts.Alertmanager.ServeHTTP(w, r)
}

// amPrefix is where the Alertmanager API is mounted (routes.go).
const amPrefix = "/alertmanager/"

// writeAMError answers an error of lookout's own under /alertmanager/
// (authentication, roles, Alertmanager off) in the shape of the
// Alertmanager API's own errors that are not in its OpenAPI spec: go-openapi's
// {"code":403,"message":"..."}, as the Alertmanager answers a 405 or 422.
// Grafana's Alertmanager data source shows the message. amtool shows no
// body for a status its spec does not list for the call (401, 403, 429,
// and 404 on most): "(status 403): {}" whatever the body, so the status is
// all it can say.
func writeAMError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}
