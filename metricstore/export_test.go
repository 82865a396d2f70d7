package metricstore

import "context"

// CheckpointAndEvict writes every chunk and drops every series from memory,
// so that reads come from SQL.
func (s *Store) CheckpointAndEvict(ctx context.Context) error {
	return s.checkpointSync(ctx, true)
}
