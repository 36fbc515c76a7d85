// Package queue connects to Redis and puts webhook jobs on the asynq queue.
package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// NewRedis returns the go-redis client asynq runs on, with bounded pool and
// timeouts so a dead Redis fails requests fast instead of piling them up.
// With cfg.Pipelines > 0, commands of concurrent callers (asynq's one
// EVALSHA per enqueue or ack) share round trips; see autoPipeline.
func NewRedis(cfg config.Redis) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:         cfg.Addr,
		Password:     cfg.Password,
		DB:           cfg.DB,
		PoolSize:     cfg.PoolSize,
		MinIdleConns: min(cfg.PoolSize, 8),
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		PoolTimeout:  cfg.Timeout,
	})
	if cfg.Pipelines > 0 {
		enableAutoPipeline(c, cfg.Pipelines)
	}
	return c
}

// Enqueuer puts jobs on the webhooks queue.
type Enqueuer struct {
	client *asynq.Client
	opts   []asynq.Option
}

// NewEnqueuer returns an Enqueuer on rdb; opts (retries, timeouts) apply to
// every task.
func NewEnqueuer(rdb redis.UniversalClient, opts ...asynq.Option) *Enqueuer {
	return &Enqueuer{client: asynq.NewClientFromRedisClient(rdb), opts: opts}
}

// Enqueue stores p in Redis and returns its job id. duplicate is true when a
// task for the same (provider, event id) is still in the queue: nothing new
// was stored, and nothing needs to be. A nil error means Redis has the task.
func (e *Enqueuer) Enqueue(ctx context.Context, p job.Payload) (jobID string, duplicate bool, err error) {
	t, err := job.NewTask(p, e.opts...)
	if err != nil {
		return "", false, err
	}
	jobID = job.ID(p.Provider, p.EventID)
	if _, err := e.client.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return jobID, true, nil
		}
		return "", false, fmt.Errorf("enqueue: %w", err)
	}
	return jobID, false, nil
}
