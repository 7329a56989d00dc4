package postgres

// ListenerPID returns the backend pid of s's LISTEN connection, or 0 while
// it has none, so tests can kill it.
func ListenerPID(s *Store) uint32 {
	s.mu.Lock()
	l := s.listener
	s.mu.Unlock()
	if l == nil {
		return 0
	}
	return l.pid.Load()
}

// PoolMaxConns returns the size of s's pool.
func PoolMaxConns(s *Store) int32 { return s.pool.Config().MaxConns }
