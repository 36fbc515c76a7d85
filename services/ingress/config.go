package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ratelimit"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/shedding"
)

// Config is every setting of the ingress; the README documents each one.
type Config struct {
	config.Common
	Redis    config.Redis
	Grouping Grouping
	// Shed: load shedding before Redis is full (SHED_*).
	Shed shedding.Config

	HTTPAddr string `env:"HTTP_ADDR, default=:8080"`
	OpsAddr  string `env:"OPS_ADDR, default=:9090"`
	// MaxBodyBytes is the largest body accepted; larger ones get 413.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES, default=1048576"`
	// MaxBodyBytesInFlight caps the body bytes all requests together hold
	// in buffers; past it a request gets 503 + Retry-After before its body
	// is read. At least MAX_BODY_BYTES.
	MaxBodyBytesInFlight int64 `env:"MAX_BODY_BYTES_IN_FLIGHT, default=33554432"`
	// MaxConnections caps the open connections on HTTP_ADDR; past it a new
	// connection is answered 503 and closed. Idle keep-alive connections
	// count.
	MaxConnections int `env:"MAX_CONNECTIONS, default=2048"`
	// EnqueueTimeout bounds the Redis write behind each request; past it the
	// sender gets 503 and retries.
	EnqueueTimeout time.Duration `env:"ENQUEUE_TIMEOUT, default=2s"`
	// RetryAfter is the Retry-After sent with 503 when the queue is down.
	RetryAfter time.Duration `env:"RETRY_AFTER, default=5s"`
	// DrainDelay is how long /ready reports false before the server stops
	// taking connections, so load balancers stop routing here first.
	DrainDelay time.Duration `env:"DRAIN_DELAY, default=5s"`
	// JobMaxRetry is asynq's retry limit on each task. The worker counts no
	// error as a failure, so the limit is never reached; 0 is taken as 1
	// (see main).
	JobMaxRetry int `env:"JOB_MAX_RETRY, default=25"`

	// The edge (README "Security"). Provider profiles (PROVIDER_<NAME>_*,
	// PROVIDERS_ALLOWED) are read by the provider package: their names are
	// dynamic.

	// CORSAllowedOrigins: origins allowed to POST from a browser; empty
	// sends no CORS header at all.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS"`
	// HSTSMaxAge > 0 adds Strict-Transport-Security (set it when TLS ends in
	// front of the ingress for every client).
	HSTSMaxAge time.Duration `env:"HSTS_MAX_AGE, default=0s"`
	// Token buckets per process; a rate of 0 disables that bucket. The
	// defaults never throttle the seed's 500-VU profile from one address
	// (about 4,500 req/s) nor a single replica's full speed.
	RateLimitGlobalRPS   float64 `env:"RATE_LIMIT_GLOBAL_RPS, default=100000"`
	RateLimitGlobalBurst int     `env:"RATE_LIMIT_GLOBAL_BURST, default=100000"`
	RateLimitIPRPS       float64 `env:"RATE_LIMIT_IP_RPS, default=30000"`
	RateLimitIPBurst     int     `env:"RATE_LIMIT_IP_BURST, default=30000"`
	// TrustedProxyCIDRs: peers whose X-Forwarded-For names the client (the
	// ingress controller's pods); from anyone else the header is ignored.
	TrustedProxyCIDRs string `env:"TRUSTED_PROXY_CIDRS"`
	trustedProxies    []netip.Prefix
}

// Validate checks values envconfig cannot.
func (c *Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	if err := c.Grouping.Validate(); err != nil {
		return err
	}
	if err := c.Shed.Validate(); err != nil {
		return err
	}
	switch {
	case c.MaxBodyBytes < 1:
		return fmt.Errorf("MAX_BODY_BYTES must be at least 1, got %d", c.MaxBodyBytes)
	case c.MaxBodyBytesInFlight < c.MaxBodyBytes:
		return fmt.Errorf("MAX_BODY_BYTES_IN_FLIGHT must be at least MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.MaxBodyBytesInFlight)
	case c.MaxConnections < 1:
		return fmt.Errorf("MAX_CONNECTIONS must be at least 1, got %d", c.MaxConnections)
	case c.EnqueueTimeout <= 0:
		return fmt.Errorf("ENQUEUE_TIMEOUT must be positive, got %s", c.EnqueueTimeout)
	case c.RetryAfter < time.Second:
		return fmt.Errorf("RETRY_AFTER must be at least 1s, got %s", c.RetryAfter)
	case c.DrainDelay < 0 || c.DrainDelay >= c.ShutdownTimeout:
		return fmt.Errorf("DRAIN_DELAY must be between 0 and SHUTDOWN_TIMEOUT (%s), got %s", c.ShutdownTimeout, c.DrainDelay)
	case c.JobMaxRetry < 0:
		return fmt.Errorf("JOB_MAX_RETRY must not be negative, got %d", c.JobMaxRetry)
	case c.HSTSMaxAge < 0:
		return fmt.Errorf("HSTS_MAX_AGE must not be negative, got %s", c.HSTSMaxAge)
	case c.RateLimitGlobalRPS < 0 || c.RateLimitIPRPS < 0:
		return fmt.Errorf("RATE_LIMIT_GLOBAL_RPS and RATE_LIMIT_IP_RPS must not be negative")
	case c.RateLimitGlobalRPS > 0 && c.RateLimitGlobalBurst < 1, c.RateLimitIPRPS > 0 && c.RateLimitIPBurst < 1:
		return fmt.Errorf("RATE_LIMIT_GLOBAL_BURST and RATE_LIMIT_IP_BURST must be at least 1 when their rate is set")
	}
	origins := c.CORSAllowedOrigins[:0]
	for _, o := range c.CORSAllowedOrigins {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	c.CORSAllowedOrigins = origins
	var err error
	if c.trustedProxies, err = ratelimit.ParseCIDRs(c.TrustedProxyCIDRs); err != nil {
		return fmt.Errorf("TRUSTED_PROXY_CIDRS: %w", err)
	}
	return nil
}
