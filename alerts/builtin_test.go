package alerts

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestBuiltinRules evaluates each built-in alert's expression over lookout's
// own metrics as selfscrape writes them (every 15 s, job="lookout"): it
// fires on the trouble it names and stays quiet otherwise.
func TestBuiltinRules(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	groups, errs := ruleLoader{parser: p, logger: slog.New(slog.DiscardHandler)}.Load(builtinRulesName, false, model.UTF8Validation)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	exprs := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	// 90 minutes of samples; "now" is their end. checkout sent all along,
	// cart stopped 20 minutes ago, search started 5 minutes ago.
	const load = `
load 15s
  lookout_ingest_service_items_total{job="lookout", signal="logs", service="checkout"} 0+10x360
  lookout_ingest_service_items_total{job="lookout", signal="logs", service="cart"} 0+10x280 2800x80
  lookout_ingest_service_items_total{job="lookout", signal="traces", service="search"} _x340 0+5x20
  lookout_ingest_items_total{job="lookout", signal="logs", outcome="refused"} 0x300 0+100x60
  lookout_ingest_items_total{job="lookout", signal="traces", outcome="refused"} 0x360
  lookout_filesystem_size_bytes{job="lookout", instance="a"} 1000x360
  lookout_filesystem_avail_bytes{job="lookout", instance="a"} 100x360
  lookout_filesystem_size_bytes{job="lookout", instance="b"} 1000x360
  lookout_filesystem_avail_bytes{job="lookout", instance="b"} 500x360
  lookout_disk_evicted_bytes_total{job="lookout", instance="a", signal="logs"} 0x300 1000x60
  lookout_disk_evicted_bytes_total{job="lookout", instance="a", signal="metrics"} 0x360
  lookout_disk_evicted_bytes_total{job="lookout", instance="b", signal="spans"} 0x60 500x300
  prometheus_rule_evaluation_failures_total{job="lookout", rule_group="a.yml;shop"} 0x340 1+1x20
  prometheus_rule_evaluation_failures_total{job="lookout", rule_group="b.yml;ok"} 0x360
  lookout_log_rule_evaluation_failures_total{job="lookout"} 0x360
`
	st := promqltest.LoadedStorage(t, load)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	now := time.Unix(0, 0).Add(360 * 15 * time.Second)
	for alert, want := range map[string][]string{
		"LookoutIngestionStalled":          {`{service="cart", signal="logs"}`},
		"LookoutIngestRefused":             {`{signal="logs"}`},
		"LookoutDiskAlmostFull":            {`{instance="a", job="lookout"}`},
		"LookoutDiskCapCuttingRetention":   {`{instance="a", signal="logs"}`},
		"LookoutRuleEvaluationFailures":    {`{rule_group="a.yml;shop"}`},
		"LookoutLogRuleEvaluationFailures": nil,
	} {
		expr, ok := exprs[alert]
		if !ok {
			t.Errorf("no built-in rule %s", alert)
			continue
		}
		q, err := engine.NewInstantQuery(context.Background(), st, nil, expr, now)
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		res := q.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%s: %v", alert, res.Err)
		}
		var got []string
		for _, s := range res.Value.(promql.Vector) {
			got = append(got, s.Metric.String())
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s fires for %v, want %v", alert, got, want)
		}
		q.Close()
	}
	if len(exprs) != 6 {
		t.Errorf("%d built-in rules, the test covers 6", len(exprs))
	}
}
