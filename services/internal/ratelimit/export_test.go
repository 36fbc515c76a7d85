package ratelimit

import "net/netip"

// Clients is how many client buckets l holds.
func (l *Limiter) Clients() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.clients)
		s.mu.Unlock()
	}
	return n
}

// ShardOf is the shard a's bucket is kept in, out of ShardCount.
func ShardOf(a netip.Addr) int { return shardOf(key(a)) }

const ShardCount = shardCount
