package metricstore

import "context"

// CheckpointAndEvict writes every chunk and drops every series from memory,
// so that reads come from SQL.
func (s *Store) CheckpointAndEvict(ctx context.Context) error {
	return s.checkpointSync(ctx, true)
}

// ApplyRetention runs retention now, on the test's goroutine: the caller
// makes sure nothing writes meanwhile.
func (s *Store) ApplyRetention(ctx context.Context) error {
	return s.applyRetention(ctx)
}
