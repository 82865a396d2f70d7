package logstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Service is one service seen in logs or spans, with the operations (span
// names) it served.
type Service struct {
	Name       string    `json:"name"`
	Operations []string  `json:"operations"`
	LastSeen   time.Time `json:"last_seen"`
}

// maxOperations bounds the operations remembered per service: span names
// built from raw URLs would otherwise grow the catalogue without bound.
const maxOperations = 2000

// catalogueRefresh is how stale a last-seen time may get before a write
// refreshes it in the database.
const catalogueRefresh = int64(time.Minute)

type catKey struct{ signal, service, operation string }

// catalogue remembers which services and operations were seen and when. It
// is persisted in the services table, written with the blocks.
type catalogue struct {
	mu    sync.RWMutex
	seen  map[catKey]int64
	nops  map[string]int
	nDrop int
}

func (c *catalogue) load(ctx context.Context, db *blockDB, after int64) error {
	rows, err := db.services(ctx, after)
	if err != nil {
		return err
	}
	c.seen = map[catKey]int64{}
	c.nops = map[string]int{}
	for _, r := range rows {
		c.put(r)
	}
	return nil
}

func (c *catalogue) put(r serviceSeen) {
	k := catKey{r.signal, r.service, r.operation}
	old, ok := c.seen[k]
	if !ok && r.operation != "" {
		c.nops[r.service]++
	}
	if r.lastSeen > old {
		c.seen[k] = r.lastSeen
	}
}

// stale reports whether k needs writing at time now.
func (c *catalogue) stale(k catKey, now int64) bool {
	last, ok := c.seen[k]
	if !ok && k.operation != "" && c.nops[k.service] >= maxOperations {
		c.nDrop++
		return false
	}
	return now-last > catalogueRefresh
}

func (c *catalogue) seenLogs(ld plog.Logs, now time.Time) []serviceSeen {
	ns := now.UnixNano()
	var out []serviceSeen
	c.mu.RLock()
	defer c.mu.RUnlock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		svc := serviceOf(rls.At(i).Resource())
		k := catKey{"logs", svc, ""}
		if c.stale(k, ns) && !containsSeen(out, k) {
			out = append(out, serviceSeen{signal: k.signal, service: svc, lastSeen: ns})
		}
	}
	return out
}

func (c *catalogue) seenSpans(td ptrace.Traces, now time.Time) []serviceSeen {
	ns := now.UnixNano()
	var out []serviceSeen
	c.mu.RLock()
	defer c.mu.RUnlock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc := serviceOf(rs.Resource())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for x := 0; x < spans.Len(); x++ {
				k := catKey{"spans", svc, spans.At(x).Name()}
				if c.stale(k, ns) && !containsSeen(out, k) {
					out = append(out, serviceSeen{signal: k.signal, service: svc, operation: k.operation, lastSeen: ns})
				}
			}
		}
	}
	return out
}

func containsSeen(s []serviceSeen, k catKey) bool {
	for _, x := range s {
		if x.signal == k.signal && x.service == k.service && x.operation == k.operation {
			return true
		}
	}
	return false
}

func (c *catalogue) committed(seen []serviceSeen) {
	if len(seen) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range seen {
		c.put(r)
	}
}

func (c *catalogue) expire(cutoff int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.seen {
		if v < cutoff {
			delete(c.seen, k)
			if k.operation != "" {
				c.nops[k.service]--
			}
		}
	}
}

func (c *catalogue) services() []Service {
	c.mu.RLock()
	defer c.mu.RUnlock()
	by := map[string]*Service{}
	for k, v := range c.seen {
		s := by[k.service]
		if s == nil {
			s = &Service{Name: k.service, Operations: []string{}}
			by[k.service] = s
		}
		if k.operation != "" {
			s.Operations = append(s.Operations, k.operation)
		}
		if t := time.Unix(0, v).UTC(); t.After(s.LastSeen) {
			s.LastSeen = t
		}
	}
	out := make([]Service, 0, len(by))
	for _, s := range by {
		slices.Sort(s.Operations)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Service) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
