package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/lookout-dev/lookout/alerts"
	"github.com/lookout-dev/lookout/auth"
)

// The alerts page: rules with their state, the firing and pending alerts,
// the embedded Alertmanager's silences (editors create and expire them)
// and the notifications it sent. Routes are in pages.go.

// Silencer manages the embedded Alertmanager's silences and remembers the
// notifications it sent, for the alerts page; *alerts.Manager satisfies
// it. CreateSilence answers bad input with an *alerts.InputError, and
// ExpireSilence an unknown id with alerts.ErrSilenceNotFound.
type Silencer interface {
	// Silences returns the active and pending silences.
	Silences(ctx context.Context) ([]alerts.Silence, error)
	CreateSilence(ctx context.Context, in alerts.SilenceInput) (id string, err error)
	ExpireSilence(ctx context.Context, id string) error
	// Notifications returns up to limit of the newest notifications,
	// newest first; they are kept in memory only.
	Notifications(limit int) []alerts.Notification
}

var _ Silencer = (*alerts.Manager)(nil)

// Bounds of each list on the page: a default, raised by its "more" link
// up to a maximum.
var (
	alertsActiveLimit   = alertsLimit{param: "alerts", def: 100, max: 5000}
	alertsRulesLimit    = alertsLimit{param: "rules", def: 500, max: 10000}
	alertsSilencesLimit = alertsLimit{param: "silences", def: 200, max: 5000}
	alertsHistoryLimit  = alertsLimit{param: "notifications", def: 50, max: 500}
)

// alertsDefaultSilence is how long a silence lasts when the form gives
// neither a duration nor an end.
const alertsDefaultSilence = "2h"

type alertsLimit struct {
	param    string
	def, max int
}

// parse reads the limit from r's query: its default when absent.
func (l alertsLimit) parse(r *http.Request) (int, error) {
	s := r.FormValue(l.param)
	if s == "" {
		return l.def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return l.def, fmt.Errorf("%s must be a positive whole number, not %q", l.param, s)
	}
	return min(n, l.max), nil
}

// more is the page's URL showing more of this list (twice as many, up to
// the maximum), or "" when it shows all there is or may.
func (l alertsLimit) more(r *http.Request, shown, total int, anchor string) templ.SafeURL {
	if total <= shown || shown >= l.max {
		return ""
	}
	q := alertsQuery(r)
	q.Set(l.param, strconv.Itoa(min(shown*2, l.max)))
	return templ.SafeURL("/alerts?" + q.Encode() + "#" + anchor)
}

// alertsQuery is the page's own query: its filters and limits, without
// the one-off notices.
func alertsQuery(r *http.Request) url.Values {
	q := url.Values{}
	for _, k := range []string{"q", "state", alertsActiveLimit.param, alertsRulesLimit.param, alertsSilencesLimit.param, alertsHistoryLimit.param} {
		if v := r.FormValue(k); v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// alertsView is the alerts page's view model.
type alertsView struct {
	Chrome chrome
	// Configured is false when lookout runs without alerting.
	Configured bool
	// CanEdit shows the buttons that change silences (editor and up).
	CanEdit bool
	CSRF    string
	Query   string
	State   string
	Error   string // bad input, shown instead of the lists
	Notice  string // what the last action did

	Active                    []alertsActiveRow
	ActiveTotal               int
	FiringCount, PendingCount int
	ActiveMore                templ.SafeURL
	Groups                    []alertsGroupRow
	RuleTotal, RulesShown     int
	RulesMore                 templ.SafeURL
	SilencesOn                bool
	Silences                  []alertsSilenceRow
	SilencesTotal             int
	SilencesMore              templ.SafeURL
	Notifications             []alertsNotificationRow
	NotificationsMore         templ.SafeURL
	NotificationsKept         int
	NewSilenceHref            templ.SafeURL
	StateChoices              []alertsChoice
}

type alertsChoice struct {
	Value, Label string
}

// alertsActiveRow is one firing or pending alert.
type alertsActiveRow struct {
	Rule        string
	Signal      string
	State       string
	Labels      []string // name="value", alertname left out
	Summary     string
	Description string
	Annotations []alertsAnnotation // the others
	Since       string             // relative
	SinceTitle  string             // absolute
	Value       string
	Links       []alertsLink
	SilenceHref templ.SafeURL
}

type alertsAnnotation struct {
	Name, Value string
	Href        templ.SafeURL // for a *_url annotation that is a web address
}

type alertsLink struct {
	Label, TestID string
	Href          templ.SafeURL
}

// alertsGroupRow is one rule group.
type alertsGroupRow struct {
	Name, File string
	Interval   string
	LastEval   string
	LastTitle  string
	EvalTime   string
	Rules      []alertsRuleRow
}

// alertsRuleRow is one rule's state.
type alertsRuleRow struct {
	Name, Kind, Signal string
	Query              string
	QueryHref          templ.SafeURL
	State              string // "" for recording rules
	Health             string
	LastEval           string
	LastTitle          string
	EvalTime           string
	LastError          string
	For                string
	ActiveCount        int
}

// alertsSilenceRow is one active or pending silence.
type alertsSilenceRow struct {
	ID          string
	State       string
	MatcherSets [][]string
	CreatedBy   string
	Comment     string
	Starts      string
	StartsTitle string
	Ends        string
	EndsTitle   string
	ExpireURL   string
}

// alertsNotificationRow is one notification sent (or tried).
type alertsNotificationRow struct {
	Time, TimeTitle  string
	Receiver         string
	Integration      string
	GroupLabels      []string
	AlertNames       string
	Firing, Resolved int
	Attempts         int
	Err              string
}

// alertsStates are the choices of the state filter.
func alertsStates() []alertsChoice {
	return []alertsChoice{{"", "Any state"}, {"firing", "Firing"}, {"pending", "Pending"}, {"inactive", "Inactive"}}
}

// alertsUI serves GET /alerts.
func (h *Handler) alertsUI(w http.ResponseWriter, r *http.Request) {
	v := h.alertsBase(r)
	status := http.StatusOK
	if !v.Configured {
		h.renderPage(w, r, status, alertsPage(v), alertsBody(v))
		return
	}
	v.Notice = alertsNotice(r)
	if err := h.fillAlerts(r, &v); err != nil {
		var bad *alertsBadInput
		if !errors.As(err, &bad) {
			h.uiInternal(w, r, err)
			return
		}
		v.Error, status = bad.msg, http.StatusBadRequest
	}
	h.renderPage(w, r, status, alertsPage(v), alertsBody(v))
}

// alertsBadInput is a query parameter the page cannot use.
type alertsBadInput struct{ msg string }

func (e *alertsBadInput) Error() string { return e.msg }

// alertsBase is what every state of the page has.
func (h *Handler) alertsBase(r *http.Request) alertsView {
	c := h.chrome(r, "Alerts", "Alerts")
	c.PageCSS = h.assets.url("alerts.css")
	v := viewerFrom(r.Context())
	return alertsView{
		Chrome:         c,
		Configured:     h.opts.Alerts != nil,
		CanEdit:        v.principal.Role.Allows(auth.RoleEditor) && h.opts.Silences != nil,
		CSRF:           v.csrf,
		Query:          r.FormValue("q"),
		State:          r.FormValue("state"),
		SilencesOn:     h.opts.Silences != nil,
		NewSilenceHref: "/alerts/silences/new",
		StateChoices:   alertsStates(),
	}
}

// alertsNotice says what the action that redirected here did. The id
// must look like one (a link cannot make the page say anything else).
func alertsNotice(r *http.Request) string {
	for _, n := range []struct{ param, done string }{{"silence_created", "created"}, {"silence_expired", "expired"}} {
		if id := r.FormValue(n.param); silenceIDPattern.MatchString(id) {
			return "Silence " + id + " " + n.done + "."
		}
	}
	return ""
}

// silenceIDPattern matches Alertmanager's silence ids (UUIDs), loosely.
var silenceIDPattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)

// fillAlerts reads the rules, silences and notifications into v, as the
// query asks.
func (h *Handler) fillAlerts(r *http.Request, v *alertsView) error {
	if !slices.ContainsFunc(alertsStates(), func(c alertsChoice) bool { return c.Value == v.State }) {
		return &alertsBadInput{fmt.Sprintf("state must be firing, pending, inactive or empty, not %q", v.State)}
	}
	activeLimit, err := alertsActiveLimit.parse(r)
	if err != nil {
		return &alertsBadInput{err.Error()}
	}
	rulesLimit, err := alertsRulesLimit.parse(r)
	if err != nil {
		return &alertsBadInput{err.Error()}
	}
	silencesLimit, err := alertsSilencesLimit.parse(r)
	if err != nil {
		return &alertsBadInput{err.Error()}
	}
	historyLimit, err := alertsHistoryLimit.parse(r)
	if err != nil {
		return &alertsBadInput{err.Error()}
	}
	now := time.Now()
	filter := strings.ToLower(strings.TrimSpace(v.Query))

	type activeAlert struct {
		rule  *alerts.Rule
		alert alerts.Alert
	}
	var active []activeAlert
	for _, g := range h.opts.Alerts.RuleGroups() {
		gr := alertsGroupRow{
			Name:     g.Name,
			File:     g.File,
			Interval: alertsDuration(g.Interval),
			EvalTime: alertsDuration(g.EvaluationTime),
		}
		gr.LastEval, gr.LastTitle = formatWhen(g.LastEvaluation, now)
		for i := range g.Rules {
			rule := &g.Rules[i]
			groupHit := filter == "" || strings.Contains(strings.ToLower(g.Name), filter) || strings.Contains(strings.ToLower(rule.Name), filter)
			state := rule.State
			if rule.Kind == "alerting" {
				state = cmp.Or(state, "inactive")
			}
			var ruleAlerts int
			for _, a := range rule.Alerts {
				if v.State != "" && a.State != v.State || !groupHit && !alertsLabelsMatch(a.Labels, filter) {
					continue
				}
				ruleAlerts++
				switch a.State {
				case "firing":
					v.FiringCount++
				case "pending":
					v.PendingCount++
				}
				active = append(active, activeAlert{rule, a})
			}
			if v.State != "" && state != v.State || !groupHit && ruleAlerts == 0 {
				continue
			}
			v.RuleTotal++
			if v.RulesShown >= rulesLimit {
				continue
			}
			v.RulesShown++
			rr := alertsRuleRow{
				Name:        rule.Name,
				Kind:        rule.Kind,
				Signal:      rule.Signal,
				Query:       rule.Query,
				QueryHref:   alertsQueryHref(rule.Signal, rule.Query),
				State:       state,
				Health:      cmp.Or(rule.Health, "unknown"),
				EvalTime:    alertsDuration(rule.EvaluationTime),
				LastError:   rule.LastError,
				ActiveCount: len(rule.Alerts),
			}
			if rule.Duration > 0 {
				rr.For = promDuration(rule.Duration)
			}
			rr.LastEval, rr.LastTitle = formatWhen(rule.LastEvaluation, now)
			gr.Rules = append(gr.Rules, rr)
		}
		if len(gr.Rules) > 0 {
			v.Groups = append(v.Groups, gr)
		}
	}
	// Firing before pending, then the longest active first.
	slices.SortStableFunc(active, func(a, b activeAlert) int {
		return cmp.Or(cmp.Compare(alertsStateRank(a.alert.State), alertsStateRank(b.alert.State)),
			a.alert.ActiveAt.Compare(b.alert.ActiveAt))
	})
	v.ActiveTotal = len(active)
	for _, a := range active[:min(len(active), activeLimit)] {
		v.Active = append(v.Active, newAlertsActiveRow(a.rule, a.alert, now))
	}
	v.ActiveMore = alertsActiveLimit.more(r, len(v.Active), v.ActiveTotal, "active")
	v.RulesMore = alertsRulesLimit.more(r, v.RulesShown, v.RuleTotal, "rules")

	if h.opts.Silences == nil {
		return nil
	}
	sils, err := h.opts.Silences.Silences(r.Context())
	if err != nil {
		return fmt.Errorf("list silences: %w", err)
	}
	v.SilencesTotal = len(sils)
	for _, s := range sils[:min(len(sils), silencesLimit)] {
		row := alertsSilenceRow{
			ID:          s.ID,
			State:       s.State,
			MatcherSets: s.MatcherSets,
			CreatedBy:   s.CreatedBy,
			Comment:     s.Comment,
			ExpireURL:   "/alerts/silences/" + url.PathEscape(s.ID) + "/expire",
		}
		row.Starts, row.StartsTitle = formatWhen(s.StartsAt, now)
		row.Ends, row.EndsTitle = formatWhen(s.EndsAt, now)
		v.Silences = append(v.Silences, row)
	}
	v.SilencesMore = alertsSilencesLimit.more(r, len(v.Silences), v.SilencesTotal, "silences")

	all := h.opts.Silences.Notifications(0)
	v.NotificationsKept = len(all)
	for _, n := range all[:min(len(all), historyLimit)] {
		row := alertsNotificationRow{
			Receiver:    n.Receiver,
			Integration: fmt.Sprintf("%s[%d]", n.Integration, n.Index),
			GroupLabels: alertsLabelStrings(n.GroupLabels, false),
			AlertNames:  strings.Join(n.AlertNames, ", "),
			Firing:      n.Firing,
			Resolved:    n.Resolved,
			Attempts:    n.Attempts,
			Err:         n.Err,
		}
		if n.OtherNames > 0 {
			row.AlertNames += fmt.Sprintf(" and %d more", n.OtherNames)
		}
		row.Time, row.TimeTitle = formatWhen(n.Time, now)
		v.Notifications = append(v.Notifications, row)
	}
	v.NotificationsMore = alertsHistoryLimit.more(r, len(v.Notifications), v.NotificationsKept, "notifications")
	return nil
}

func alertsStateRank(s string) int {
	switch s {
	case "firing":
		return 0
	case "pending":
		return 1
	}
	return 2
}

// alertsLabelsMatch reports whether any of ls, written name="value",
// holds filter (lower case).
func alertsLabelsMatch(ls labels.Labels, filter string) bool {
	hit := false
	ls.Range(func(l labels.Label) {
		if !hit && strings.Contains(strings.ToLower(l.Name+`="`+l.Value+`"`), filter) {
			hit = true
		}
	})
	return hit
}

// newAlertsActiveRow builds the row of alert a of rule.
func newAlertsActiveRow(rule *alerts.Rule, a alerts.Alert, now time.Time) alertsActiveRow {
	row := alertsActiveRow{
		Rule:   rule.Name,
		Signal: rule.Signal,
		State:  a.State,
		Labels: alertsLabelStrings(a.Labels, true),
		Value:  strconv.FormatFloat(a.Value, 'g', 6, 64),
	}
	row.Since, row.SinceTitle = formatWhen(a.ActiveAt, now)
	a.Annotations.Range(func(l labels.Label) {
		switch l.Name {
		case "summary":
			row.Summary = l.Value
		case "description":
			row.Description = l.Value
		default:
			an := alertsAnnotation{Name: l.Name, Value: l.Value}
			if strings.HasSuffix(l.Name, "_url") {
				an.Href = alertsWebHref(l.Value)
			}
			row.Annotations = append(row.Annotations, an)
		}
	})
	// Where the alert comes from: the rule's query, as its generatorURL
	// points (the explorer for metrics, the logs at the time for logs).
	if href := alertsWebHref(a.Annotations.Get("logs_url")); href != "" {
		row.Links = append(row.Links, alertsLink{"Logs", "alert-logs-link", href})
	} else if rule.Query != "" {
		label := "Query"
		if rule.Signal == "logs" {
			label = "Logs"
		}
		row.Links = append(row.Links, alertsLink{label, "alert-query-link", alertsQueryHref(rule.Signal, rule.Query)})
	}
	if href := alertsWebHref(a.Annotations.Get("trace_url")); href != "" {
		row.Links = append(row.Links, alertsLink{"Trace", "alert-trace-link", href})
	} else if id := a.Annotations.Get("trace_id"); id != "" {
		row.Links = append(row.Links, alertsLink{"Trace", "alert-trace-link", templ.SafeURL(traceHref(id, ""))})
	}
	if href := alertsWebHref(a.Annotations.Get("runbook_url")); href != "" {
		row.Links = append(row.Links, alertsLink{"Runbook", "alert-runbook-link", href})
	}
	row.SilenceHref = templ.SafeURL("/alerts/silences/new?" + url.Values{"matchers": {alerts.SilenceMatchers(a.Labels)}}.Encode())
	return row
}

// alertsQueryHref is the page that runs a rule's query.
func alertsQueryHref(signal, query string) templ.SafeURL {
	if query == "" {
		return ""
	}
	if signal == "logs" {
		return templ.SafeURL(logsHref(query, pageRange{}))
	}
	return templ.SafeURL(exploreHref(query, pageRange{}))
}

// alertsWebHref is s as a link if it is an http(s) address or a path on
// this site; otherwise "" (annotations are text a rule file templates, so
// a javascript: address is shown, not followed).
func alertsWebHref(s string) templ.SafeURL {
	if s == "" {
		return ""
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "/\\") {
		return templ.SafeURL(s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return templ.SafeURL(u.String())
}

// alertsLabelStrings writes ls as name="value", leaving alertname out when
// the rule's name already says it.
func alertsLabelStrings(ls labels.Labels, skipName bool) []string {
	out := make([]string, 0, ls.Len())
	ls.Range(func(l labels.Label) {
		if skipName && l.Name == labels.AlertName {
			return
		}
		out = append(out, l.Name+"="+strconv.Quote(l.Value))
	})
	return out
}

// alertsDuration is an evaluation time or interval, "" when there is
// none.
func alertsDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return formatDuration(d)
}

// silenceFormView is the new-silence form's view model.
type silenceFormView struct {
	Chrome   chrome
	CSRF     string
	Creator  string
	Matchers string
	Duration string
	EndsAt   string
	Comment  string
	Error    string
	Default  string
}

// silences wraps a silence handler: 404 when lookout runs without
// alerting (so without silences).
func (h *Handler) silences(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.opts.Silences == nil {
			h.renderError(w, r, http.StatusNotFound, "Silences", "Alerting is not configured in this lookout, so there are no silences.")
			return
		}
		next(w, r)
	}
}

// silenceForm serves GET /alerts/silences/new: the form, prefilled from
// the query (the "silence" button of an alert passes its matchers).
func (h *Handler) silenceForm(w http.ResponseWriter, r *http.Request) {
	h.renderSilenceForm(w, r, http.StatusOK, "")
}

func (h *Handler) renderSilenceForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c := h.chrome(r, "New silence", "Alerts")
	c.PageCSS = h.assets.url("alerts.css")
	v := viewerFrom(r.Context())
	h.render(w, r, status, silenceFormPage(silenceFormView{
		Chrome:   c,
		CSRF:     v.csrf,
		Creator:  v.principal.Name,
		Matchers: r.FormValue("matchers"),
		Duration: r.FormValue("duration"),
		EndsAt:   r.FormValue("ends_at"),
		Comment:  r.FormValue("comment"),
		Error:    msg,
		Default:  alertsDefaultSilence,
	}))
}

// createSilence serves POST /alerts/silences: the silence is made in the
// signed-in user's name (a form field cannot say otherwise), then the
// browser goes back to the alerts page.
func (h *Handler) createSilence(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	end, err := silenceEnd(r.PostFormValue("duration"), r.PostFormValue("ends_at"), now)
	if err != nil {
		h.renderSilenceForm(w, r, http.StatusBadRequest, err.Error())
		return
	}
	id, err := h.opts.Silences.CreateSilence(r.Context(), alerts.SilenceInput{
		Matchers:  r.PostFormValue("matchers"),
		EndsAt:    end,
		CreatedBy: viewerFrom(r.Context()).principal.Name,
		Comment:   strings.TrimSpace(r.PostFormValue("comment")),
	})
	var bad *alerts.InputError
	switch {
	case errors.As(err, &bad):
		h.renderSilenceForm(w, r, http.StatusBadRequest, bad.Error())
		return
	case err != nil:
		h.uiInternal(w, r, err)
		return
	}
	http.Redirect(w, r, "/alerts?"+url.Values{"silence_created": {id}}.Encode()+"#silences", http.StatusSeeOther)
}

// silenceEnd is when a silence made now ends: after the duration, or at
// the end time (the form's datetime-local, read as UTC, or RFC 3339); the
// default duration when neither is given.
func silenceEnd(duration, endsAt string, now time.Time) (time.Time, error) {
	duration, endsAt = strings.TrimSpace(duration), strings.TrimSpace(endsAt)
	switch {
	case duration != "" && endsAt != "":
		return time.Time{}, errors.New("give a duration or an end time, not both")
	case endsAt != "":
		t, err := time.Parse("2006-01-02T15:04", endsAt)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, endsAt); err != nil {
				return time.Time{}, fmt.Errorf("end time %q is not a date and time such as 2026-03-01T18:30 (UTC)", endsAt)
			}
		}
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("end time %s is not in the future", t.UTC().Format(layoutMinutesUTC))
		}
		return t, nil
	}
	d, err := model.ParseDuration(cmp.Or(duration, alertsDefaultSilence))
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("duration %q is not a duration such as 30m, 2h or 1d", duration)
	}
	return now.Add(time.Duration(d)), nil
}

// expireSilence serves POST /alerts/silences/{id}/expire.
func (h *Handler) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := h.opts.Silences.ExpireSilence(r.Context(), id)
	switch {
	case errors.Is(err, alerts.ErrSilenceNotFound):
		h.renderError(w, r, http.StatusNotFound, "Silence not found", "There is no silence "+id+"; it may have expired and been removed.")
		return
	case err != nil:
		h.uiInternal(w, r, err)
		return
	}
	http.Redirect(w, r, "/alerts?"+url.Values{"silence_expired": {id}}.Encode()+"#silences", http.StatusSeeOther)
}

// alertsFilteredNote ends an "empty list" sentence when a filter is set.
func alertsFilteredNote(v alertsView) string {
	if v.Query != "" || v.State != "" {
		return " matching the filter"
	}
	return ""
}
