package redisstore

// AsCluster makes s behave as over Redis Cluster, where no script may touch
// keys of several slots, so that tests on one Redis take that path too.
func AsCluster(s *Store) { s.clustered = true }
