package main

import (
	"fmt"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
)

// Config is every setting of the ingress; the README documents each one.
type Config struct {
	config.Common
	Redis config.Redis

	HTTPAddr string `env:"HTTP_ADDR, default=:8080"`
	OpsAddr  string `env:"OPS_ADDR, default=:9090"`
	// MaxBodyBytes is the largest body accepted; larger ones get 413.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES, default=1048576"`
	// EnqueueTimeout bounds the Redis write behind each request; past it the
	// sender gets 503 and retries.
	EnqueueTimeout time.Duration `env:"ENQUEUE_TIMEOUT, default=2s"`
	// RetryAfter is the Retry-After sent with 503 when the queue is down.
	RetryAfter time.Duration `env:"RETRY_AFTER, default=5s"`
	// DrainDelay is how long /ready reports false before the server stops
	// taking connections, so load balancers stop routing here first.
	DrainDelay time.Duration `env:"DRAIN_DELAY, default=5s"`
	// JobMaxRetry is how often the worker retries a job before archiving it.
	JobMaxRetry int `env:"JOB_MAX_RETRY, default=25"`
}

// Validate checks values envconfig cannot.
func (c *Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	switch {
	case c.MaxBodyBytes < 1:
		return fmt.Errorf("MAX_BODY_BYTES must be at least 1, got %d", c.MaxBodyBytes)
	case c.EnqueueTimeout <= 0:
		return fmt.Errorf("ENQUEUE_TIMEOUT must be positive, got %s", c.EnqueueTimeout)
	case c.RetryAfter < time.Second:
		return fmt.Errorf("RETRY_AFTER must be at least 1s, got %s", c.RetryAfter)
	case c.DrainDelay < 0 || c.DrainDelay >= c.ShutdownTimeout:
		return fmt.Errorf("DRAIN_DELAY must be between 0 and SHUTDOWN_TIMEOUT (%s), got %s", c.ShutdownTimeout, c.DrainDelay)
	case c.JobMaxRetry < 0:
		return fmt.Errorf("JOB_MAX_RETRY must not be negative, got %d", c.JobMaxRetry)
	}
	return nil
}
