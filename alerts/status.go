package alerts

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// RuleGroup is one rule group's state, as Prometheus' /api/v1/rules shows it
// (https://prometheus.io/docs/prometheus/latest/querying/api/#rules). Metric
// rule groups come from Prometheus rule files, log rule groups from log rule
// files; Signal on each rule says which.
type RuleGroup struct {
	Name           string
	File           string
	Interval       time.Duration
	Limit          int
	Rules          []Rule
	EvaluationTime time.Duration
	LastEvaluation time.Time
}

// Rule is one alerting or recording rule's state.
type Rule struct {
	// Kind is "alerting" or "recording", Prometheus' "type".
	Kind string
	// Signal is "metrics" for a PromQL rule, "logs" for a log rule.
	Signal string
	Name   string
	// Query is the PromQL expression, or the log query of a log rule.
	Query         string
	Duration      time.Duration // for:
	KeepFiringFor time.Duration
	Labels        labels.Labels
	Annotations   labels.Labels
	// State is "inactive", "pending" or "firing"; empty for recording rules.
	State  string
	Alerts []Alert
	// Health is "ok", "err" or "unknown" (not evaluated yet).
	Health         string
	LastError      string
	EvaluationTime time.Duration
	LastEvaluation time.Time
}

// Alert is one active (pending or firing) alert of a rule, as Prometheus'
// /api/v1/alerts shows it.
type Alert struct {
	Labels          labels.Labels
	Annotations     labels.Labels
	State           string // "pending" or "firing"
	ActiveAt        time.Time
	KeepFiringSince time.Time // zero unless keep_firing_for holds it
	Value           float64
}
