// Package queue connects to Redis and puts webhook jobs on the asynq queue.
package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// Client is the go-redis client asynq runs on. Its Close also stops the
// auto-pipeline's goroutines and waits for them.
type Client struct {
	*redis.Client
	pipeline *autoPipeline // nil with cfg.Pipelines == 0
}

// Close stops the auto-pipeline (the commands already handed to it finish
// first), then closes the client.
func (c *Client) Close() error {
	if c.pipeline != nil {
		c.pipeline.stop()
	}
	return c.Client.Close()
}

// NewRedis returns the go-redis client asynq runs on, with bounded pool and
// timeouts so a dead Redis fails requests fast instead of piling them up.
// With cfg.Pipelines > 0, commands of concurrent callers (asynq's one
// EVALSHA per enqueue or ack) share round trips; see autoPipeline. Close it
// once nothing uses it any more.
func NewRedis(cfg config.Redis) *Client {
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
	client := &Client{Client: c}
	if cfg.Pipelines > 0 {
		client.pipeline = enableAutoPipeline(c, cfg.Pipelines)
	}
	return client
}

// NewKeysClient returns the rueidis client for the project's own Redis keys
// (idempotency), on the same settings as NewRedis: the dial, every write and
// every read are bounded by cfg.Timeout, so a stalled Redis fails a command
// in that time instead of rueidis' defaults (no write timeout, a 1-minute
// keep-alive: about ten minutes to notice).
func NewKeysClient(cfg config.Redis) (rueidis.Client, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:      []string{cfg.Addr},
		Password:         cfg.Password,
		SelectDB:         cfg.DB,
		DisableCache:     true,
		Dialer:           net.Dialer{Timeout: cfg.Timeout, KeepAlive: cfg.Timeout},
		ConnWriteTimeout: cfg.Timeout,
		BlockingPoolSize: 1, // no blocking command is used
	})
	if err != nil {
		return nil, fmt.Errorf("connect Redis at %s (REDIS_ADDR): %w", cfg.Addr, err)
	}
	return timeoutClient{c, cfg.Timeout}, nil
}

// timeoutClient bounds each command's wait for its reply by a deadline on
// its context, as go-redis' ReadTimeout does for asynq's client.
type timeoutClient struct {
	rueidis.Client
	timeout time.Duration
}

func (c timeoutClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.Client.Do(ctx, cmd)
}

func (c timeoutClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.Client.DoMulti(ctx, cmds...)
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

// Enqueue stores e in Redis, as a task of its own, and returns its job id.
// duplicate is true when a task for the same (provider, event id) is still
// in the queue: nothing new was stored, and nothing needs to be. A nil error
// means Redis has the event.
func (q *Enqueuer) Enqueue(ctx context.Context, e job.Event) (jobID string, duplicate bool, err error) {
	t, err := job.NewTask(job.Payload{Events: []job.Event{e}}, q.opts...)
	if err != nil {
		return "", false, err
	}
	jobID = job.ID(e.Provider, e.EventID)
	if _, err := q.client.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return jobID, true, nil
		}
		return "", false, fmt.Errorf("enqueue: %w", err)
	}
	return jobID, false, nil
}
