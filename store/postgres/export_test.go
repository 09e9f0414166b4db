package postgres

// Hooks for the external tests.

// Interval is interval, the ttl sent to the server.
var Interval = interval

// ReapBatches returns how many reaping statements s has run, by Reap or
// by its background reaper.
func ReapBatches(s *Store) int64 { return s.reapBatches.Load() }
