package main

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
)

// Grouping is how webhooks share asynq tasks (README "Configuration").
type Grouping struct {
	// Enabled groups the events that arrive while an enqueue is in flight
	// into one task; false queues one task per event (to measure against).
	Enabled bool `env:"ENQUEUE_GROUPING, default=true"`
	// MaxEvents and MaxBytes bound one group.
	MaxEvents int `env:"ENQUEUE_GROUP_MAX_EVENTS, default=64"`
	MaxBytes  int `env:"ENQUEUE_GROUP_MAX_BYTES, default=1048576"`
	// Inflight is how many group enqueues are on their way to Redis at once.
	Inflight int `env:"ENQUEUE_GROUP_INFLIGHT, default=1"`
	// MarkerTTL bounds the "queued" marker of a grouped event (the worker
	// replaces it with "processed" once stored).
	MarkerTTL time.Duration `env:"IDEMPOTENCY_TTL, default=24h"`
}

// Validate checks values envconfig cannot; with grouping off the others
// are unused.
func (g Grouping) Validate() error {
	switch {
	case !g.Enabled:
		return nil // the bounds are unused
	case g.MaxEvents < 1 || g.MaxEvents > 10000:
		return fmt.Errorf("ENQUEUE_GROUP_MAX_EVENTS must be between 1 and 10000, got %d", g.MaxEvents)
	case g.MaxBytes < 1:
		return fmt.Errorf("ENQUEUE_GROUP_MAX_BYTES must be at least 1, got %d", g.MaxBytes)
	case g.Inflight < 1:
		return fmt.Errorf("ENQUEUE_GROUP_INFLIGHT must be at least 1, got %d", g.Inflight)
	case g.MarkerTTL < time.Minute:
		return fmt.Errorf("IDEMPOTENCY_TTL must be at least 1m, got %s", g.MarkerTTL)
	}
	return nil
}

// newEnqueuer is the ingress's queue: grouped (the default) or one task per
// event. close releases what it opened.
func newEnqueuer(cfg Config, rdb redis.UniversalClient, reg prometheus.Registerer) (ingest.Enqueuer, func(), error) {
	// asynq archives a task whose retry count has reached its limit before
	// asking IsFailure, so a limit of 0 would archive at the first outage
	// error; the worker counts no error, so any limit >= 1 is never reached.
	opts := []asynq.Option{asynq.MaxRetry(max(1, cfg.JobMaxRetry))}
	if !cfg.Grouping.Enabled {
		return queue.NewEnqueuer(rdb, opts...), func() {}, nil
	}
	keys, err := queue.NewKeysClient(cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	size := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "webhook_enqueue_group_events", Help: "Events per task enqueued (ENQUEUE_GROUPING).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	reg.MustRegister(size)
	g := cfg.Grouping
	return queue.NewGroupEnqueuer(rdb, keys, queue.GroupOptions{
		MaxEvents: g.MaxEvents, MaxBytes: g.MaxBytes, Inflight: g.Inflight, MarkerTTL: g.MarkerTTL,
		Observe: func(n int) { size.Observe(float64(n)) },
	}, opts...), keys.Close, nil
}
