// Package ratelimit throttles the ingress with token buckets: one global
// bucket per process (protects Redis behind it) and one per client address
// (one noisy sender cannot starve the others).
//
// The client address is the TCP peer, unless the peer is a trusted proxy
// (TRUSTED_PROXY_CIDRS): then X-Forwarded-For is read from the right, skipping
// trusted hops, and the first untrusted address is the client. A sender
// cannot pick its own bucket by writing X-Forwarded-For: from an untrusted
// peer the header is ignored. IPv6 clients are bucketed per /64, since one
// host usually holds a whole /64.
//
// Limits are per process, deliberately not cluster-wide: a Redis round trip
// per request would cost as much as the enqueue itself and make Redis (the
// component being protected) a dependency of every refusal. With N replicas
// behind a load balancer the effective limits are N times the settings.
package ratelimit

import (
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config of a Limiter. A rate <= 0 disables that bucket.
type Config struct {
	GlobalRate  float64 // requests per second, whole process
	GlobalBurst int
	IPRate      float64 // requests per second, per client address (/64 for IPv6)
	IPBurst     int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MaxClients bounds how many client buckets are kept (memory bound
	// under address-spoofing floods); 0 means 100000.
	MaxClients int
}

// Limiter decides whether a request may proceed.
type Limiter struct {
	global  *rate.Limiter
	ipRate  rate.Limit
	ipBurst int
	trusted []netip.Prefix
	shards  [shardCount]shard
	perCap  int
}

const (
	shardCount = 64
	idleAfter  = time.Minute
)

type shard struct {
	mu      sync.Mutex
	clients map[netip.Addr]*client
}

type client struct {
	lim  *rate.Limiter
	seen atomic.Int64 // unix nanoseconds of the last request
}

// New returns a Limiter for cfg.
func New(cfg Config) *Limiter {
	l := &Limiter{trusted: cfg.TrustedProxies}
	if cfg.GlobalRate > 0 {
		l.global = rate.NewLimiter(rate.Limit(cfg.GlobalRate), max(cfg.GlobalBurst, 1))
	}
	if cfg.IPRate > 0 {
		l.ipRate, l.ipBurst = rate.Limit(cfg.IPRate), max(cfg.IPBurst, 1)
		maxClients := cfg.MaxClients
		if maxClients <= 0 {
			maxClients = 100000
		}
		l.perCap = max(maxClients/shardCount, 1)
		for i := range l.shards {
			l.shards[i].clients = make(map[netip.Addr]*client)
		}
	}
	return l
}

// Enabled reports whether any bucket is configured.
func (l *Limiter) Enabled() bool { return l.global != nil || l.ipRate > 0 }

// Allow takes a token for r. When refused, retryAfter is when the bucket
// that refused will have a token again (at least one second, as Retry-After
// has second resolution).
func (l *Limiter) Allow(r *http.Request, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.ipRate > 0 {
		c := l.client(l.ClientAddr(r), now)
		if !c.lim.AllowN(now, 1) {
			return false, wait(c.lim, now)
		}
	}
	if l.global != nil && !l.global.AllowN(now, 1) {
		return false, wait(l.global, now)
	}
	return true, 0
}

func wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	secs := math.Ceil(missing / float64(lim.Limit()))
	if secs < 1 || math.IsNaN(secs) {
		secs = 1
	}
	return time.Duration(min(secs, 3600)) * time.Second
}

// key is the bucket key of an address: IPv4 as is, IPv6 by /64.
func key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

func (l *Limiter) client(a netip.Addr, now time.Time) *client {
	k := key(a)
	s := &l.shards[shardOf(k)]
	s.mu.Lock()
	c, ok := s.clients[k]
	if !ok {
		if len(s.clients) >= l.perCap {
			s.evict(now, l.perCap)
		}
		c = &client{lim: rate.NewLimiter(l.ipRate, l.ipBurst)}
		s.clients[k] = c
	}
	s.mu.Unlock()
	c.seen.Store(now.UnixNano())
	return c
}

// evict makes room in a full shard: it drops the idle clients, and only if
// the shard is still full then, a random tenth of the others. Dropping a
// bucket only refills it, so the worst case under a spoofing flood is a
// fresh burst for a dropped address.
func (s *shard) evict(now time.Time, limit int) {
	cutoff := now.Add(-idleAfter).UnixNano()
	for k, c := range s.clients {
		if c.seen.Load() < cutoff {
			delete(s.clients, k)
		}
	}
	if len(s.clients) < limit {
		return
	}
	for n := max(len(s.clients)/10, 1); n > 0; n-- {
		for k := range s.clients { // random iteration order
			delete(s.clients, k)
			break
		}
	}
}

func shardOf(a netip.Addr) int {
	b := a.As16()
	h := uint32(2166136261)
	for _, x := range b {
		h = (h ^ uint32(x)) * 16777619
	}
	return int(h % shardCount)
}

// ClientAddr is the address r is accounted to (see the package comment). It
// is the zero Addr when the peer address cannot be parsed.
func (l *Limiter) ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := ap.Addr().Unmap()
	if !l.isTrusted(peer) {
		return peer
	}
	// Walk X-Forwarded-For right to left, over all its header lines.
	client := peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		rest := xff[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				hop, rest = rest, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				return client // garbage: stop at the last address we trust to be real
			}
			a = a.Unmap()
			if !l.isTrusted(a) {
				return a
			}
			client = a
		}
	}
	return client
}

func (l *Limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseCIDRs parses a comma-separated list of CIDRs or bare addresses.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
