package main

import (
	"fmt"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
)

// Config is every setting of the worker; the README documents each one.
type Config struct {
	config.Common
	Redis config.Redis

	OpsAddr     string `env:"OPS_ADDR, default=:9091"`
	DatabaseURL string `env:"DATABASE_URL, default=postgres://postgres@localhost:5432/webhooks?sslmode=disable"`
	// DBMigrate applies pending migrations at start.
	DBMigrate  bool  `env:"DB_MIGRATE, default=true"`
	DBMaxConns int32 `env:"DB_MAX_CONNS, default=8"`

	// Concurrency is how many tasks are in flight at once; most of them wait
	// for their batch, so it should be at least BatchSize.
	Concurrency int `env:"WORKER_CONCURRENCY, default=256"`
	// Dequeuers is how many asynq servers this process runs, sharing
	// Concurrency. One asynq server fetches one task per Redis round trip,
	// one at a time; when round trips are slow (a busy machine) that, not
	// the CPU, caps the worker, and several servers fetch in parallel.
	Dequeuers int `env:"WORKER_DEQUEUERS, default=4"`
	// BatchSize and BatchWait: a batch is written when it holds BatchSize
	// events or BatchWait after its first event, whichever comes first.
	BatchSize     int           `env:"BATCH_SIZE, default=256"`
	BatchWait     time.Duration `env:"BATCH_WAIT, default=5ms"`
	BatchFlushers int           `env:"BATCH_FLUSHERS, default=2"`
	// TaskCheckInterval is how often an idle worker polls for new tasks
	// (asynq's default of 1s adds up to a second of latency).
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL, default=50ms"`
	// RetryCheckInterval is how often due retries (including the tasks of a
	// killed worker that asynq recovered) move back to pending.
	RetryCheckInterval time.Duration `env:"RETRY_CHECK_INTERVAL, default=1s"`
	// IdempotencyTTL is how long Redis remembers a persisted event.
	IdempotencyTTL time.Duration `env:"IDEMPOTENCY_TTL, default=24h"`

	// ReadAPI and Retention: see readapi.go.
	ReadAPI   ReadAPIConfig
	Retention RetentionConfig
}

// Validate checks values envconfig cannot.
func (c *Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Redis.Validate(); err != nil {
		return err
	}
	if err := c.ReadAPI.Validate(); err != nil {
		return err
	}
	if err := c.Retention.Validate(); err != nil {
		return err
	}
	switch {
	case c.DatabaseURL == "":
		return fmt.Errorf("DATABASE_URL must not be empty")
	case c.DBMaxConns < 1:
		return fmt.Errorf("DB_MAX_CONNS must be at least 1, got %d", c.DBMaxConns)
	case c.Concurrency < 1:
		return fmt.Errorf("WORKER_CONCURRENCY must be at least 1, got %d", c.Concurrency)
	case c.Dequeuers < 1 || c.Dequeuers > c.Concurrency:
		return fmt.Errorf("WORKER_DEQUEUERS must be between 1 and WORKER_CONCURRENCY, got %d", c.Dequeuers)
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("BATCH_SIZE must be between 1 and 10000, got %d", c.BatchSize)
	case c.BatchWait <= 0:
		return fmt.Errorf("BATCH_WAIT must be positive, got %s", c.BatchWait)
	case c.BatchFlushers < 1:
		return fmt.Errorf("BATCH_FLUSHERS must be at least 1, got %d", c.BatchFlushers)
	case c.TaskCheckInterval <= 0:
		return fmt.Errorf("TASK_CHECK_INTERVAL must be positive, got %s", c.TaskCheckInterval)
	case c.RetryCheckInterval <= 0:
		return fmt.Errorf("RETRY_CHECK_INTERVAL must be positive, got %s", c.RetryCheckInterval)
	case c.IdempotencyTTL < time.Minute:
		return fmt.Errorf("IDEMPOTENCY_TTL must be at least 1m, got %s", c.IdempotencyTTL)
	}
	return nil
}
