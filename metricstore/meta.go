package metricstore

import (
	"context"
	"database/sql"
	"sort"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
)

// metaCache holds the newest metadata of every metric family, so an
// appender writes a row only when it changes.
type metaCache struct {
	mu sync.RWMutex
	m  map[string]metadata.Metadata
}

func newMetaCache() *metaCache { return &metaCache{m: map[string]metadata.Metadata{}} }

func (c *metaCache) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT metric, type, unit, help FROM metadata")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		var md metadata.Metadata
		if err := rows.Scan(&name, &typ, &md.Unit, &md.Help); err != nil {
			return err
		}
		md.Type = model.MetricType(typ)
		c.m[name] = md
	}
	return rows.Err()
}

// changed reports whether md differs from what is known for metric.
func (c *metaCache) changed(metric string, md metadata.Metadata) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	old, ok := c.m[metric]
	return !ok || old != md
}

func (c *metaCache) set(metric string, md metadata.Metadata) {
	c.mu.Lock()
	c.m[metric] = md
	c.mu.Unlock()
}

// Metadata returns the metadata of metric families: all of them when metric
// is empty, at most limit families when limit > 0 (by name).
func (s *Store) Metadata(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, error) {
	s.meta.mu.RLock()
	defer s.meta.mu.RUnlock()
	out := map[string][]metadata.Metadata{}
	if metric != "" {
		if md, ok := s.meta.m[metric]; ok {
			out[metric] = []metadata.Metadata{md}
		}
		return out, nil
	}
	names := make([]string, 0, len(s.meta.m))
	for n := range s.meta.m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if limit > 0 && len(out) >= limit {
			break
		}
		out[n] = []metadata.Metadata{s.meta.m[n]}
	}
	return out, nil
}
