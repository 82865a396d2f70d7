package metricstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/metricstore"
)

// skippedScripts are Prometheus acceptance scripts the store does not
// pass, and why.
var skippedScripts = map[string]string{
	"start_timestamps.test": "start timestamps (created timestamps) are not stored",
}

// testStorage adapts a Store to the storage.Storage the scripts load into.
type testStorage struct {
	*metricstore.Store
	fromSQL bool
}

func (s testStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	if s.fromSQL {
		if err := s.CheckpointAndEvict(context.Background()); err != nil {
			return nil, err
		}
	}
	return s.Store.Querier(mint, maxt)
}

func (testStorage) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("chunk queries are not supported")
}

func (testStorage) StartTime() (int64, error) { return 0, nil }

// epochClock puts "now" a year after the epoch, where the scripts' samples
// live.
func epochClock() time.Time { return time.Unix(365*24*3600, 0) }

func openForScript(fromSQL bool) func(testing.TB) storage.Storage {
	return func(tb testing.TB) storage.Storage {
		s, err := metricstore.Open(context.Background(), metricstore.Config{
			Dir:       tb.TempDir(),
			Retention: 100 * 365 * 24 * time.Hour,
		}, metricstore.Options{Now: epochClock})
		if err != nil {
			tb.Fatal(err)
		}
		return testStorage{Store: s, fromSQL: fromSQL}
	}
}

// scripts runs the subtests of RunBuiltinTestsWithStorage except those in
// skippedScripts.
type scripts struct{ *testing.T }

func (o scripts) Run(name string, f func(*testing.T)) bool {
	for s, why := range skippedScripts {
		if strings.HasSuffix(name, "/"+s) {
			o.Logf("skip %s: %s", s, why)
			return true
		}
	}
	return o.T.Run(strings.TrimPrefix(name, "testdata/"), f)
}

// TestPromQLScripts runs Prometheus' own PromQL acceptance scripts against
// the store: once reading the head in memory, once reading chunks from SQL
// after a checkpoint has written them and evicted every series.
func TestPromQLScripts(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	t.Run("head", func(t *testing.T) {
		promqltest.RunBuiltinTestsWithStorage(scripts{t}, engine, openForScript(false))
	})
	t.Run("sql", func(t *testing.T) {
		promqltest.RunBuiltinTestsWithStorage(scripts{t}, engine, openForScript(true))
	})
}
