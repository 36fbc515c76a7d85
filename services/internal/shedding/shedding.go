// Package shedding decides when the ingress stops accepting webhooks before
// Redis is full. A background sampler reads, every interval, the webhooks
// queue (asynq's queue info) and Redis memory (INFO memory); requests only
// read the last verdict, so shedding costs a request one atomic load.
//
// Past SHED_MAX_QUEUED_EVENTS events waiting in the queue, or past
// SHED_MAX_MEMORY_RATIO of Redis maxmemory, the ingress answers 503 with
// Retry-After: providers retry later, when the workers have drained some of
// the backlog, instead of getting a 202 for an event Redis may not be able
// to hold (at maxmemory with noeviction every write fails). Shedding stops
// once the value is back under 90 % of its limit, so it does not flap.
package shedding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
)

// Config is the shedding part of the ingress configuration.
type Config struct {
	// MaxQueuedEvents: shed while more events than this wait in the queue
	// (pending, active, scheduled or retrying); 0 disables.
	MaxQueuedEvents int64 `env:"SHED_MAX_QUEUED_EVENTS, default=0"`
	// MaxMemoryRatio: shed while Redis used_memory / maxmemory is at least
	// this; 0 disables (so does a Redis without maxmemory).
	MaxMemoryRatio float64 `env:"SHED_MAX_MEMORY_RATIO, default=0.8"`
	// Interval between two samples (0: 1s).
	Interval time.Duration `env:"SHED_SAMPLE_INTERVAL, default=1s"`
}

// Validate checks the values.
func (c Config) Validate() error {
	switch {
	case c.MaxQueuedEvents < 0:
		return fmt.Errorf("SHED_MAX_QUEUED_EVENTS must not be negative, got %d", c.MaxQueuedEvents)
	case c.MaxMemoryRatio < 0 || c.MaxMemoryRatio > 1:
		return fmt.Errorf("SHED_MAX_MEMORY_RATIO must be between 0 and 1, got %g", c.MaxMemoryRatio)
	case c.Interval != 0 && c.Interval < 10*time.Millisecond:
		return fmt.Errorf("SHED_SAMPLE_INTERVAL must be at least 10ms, got %s", c.Interval)
	}
	return nil
}

// ErrShedding is returned by Admit while the ingress sheds load.
var ErrShedding = errors.New("the queue is near its limit: not accepting events for now")

// resume: shedding stops under this share of its limit.
const resume = 0.9

// eventsSample is how many waiting tasks are decoded to estimate the events
// per task (the ingress may put several events in one task).
const eventsSample = 16

// Sampler holds the last verdict and the metrics.
type Sampler struct {
	cfg  Config
	rdb  redis.UniversalClient
	insp *asynq.Inspector
	log  *slog.Logger

	byDepth, byMemory atomic.Bool

	shedding  *prometheus.GaugeVec
	refused   prometheus.Counter
	backlog   *prometheus.GaugeVec
	oldest    prometheus.Gauge
	events    prometheus.Gauge
	memUsed   prometheus.Gauge
	memMax    prometheus.Gauge
	sampleErr prometheus.Counter
}

// New returns a Sampler over rdb whose metrics are registered on reg. The
// ingress exports the queue's backlog too, so the queue alerts keep working
// when no worker runs.
func New(cfg Config, rdb redis.UniversalClient, reg prometheus.Registerer, log *slog.Logger) *Sampler {
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	s := &Sampler{
		cfg: cfg, rdb: rdb, insp: asynq.NewInspectorFromRedisClient(rdb), log: log,
		shedding: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webhook_shedding", Help: "1 while the ingress refuses webhooks with 503 to protect Redis, by reason (queue_depth, redis_memory).",
		}, []string{"reason"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_shed_requests_total", Help: "Webhooks refused with 503 because the ingress was shedding load.",
		}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webhook_queue_backlog", Help: "Tasks in the webhooks queue by state.",
		}, []string{"state"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_queue_oldest_pending_seconds", Help: "Age of the oldest pending task.",
		}),
		events: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_queue_events", Help: "Events waiting in the webhooks queue (pending, active, scheduled, retry), estimated from a sample of tasks.",
		}),
		memUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_redis_memory_used_bytes", Help: "Redis used_memory at the last sample.",
		}),
		memMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_redis_memory_max_bytes", Help: "Redis maxmemory at the last sample (0: no limit).",
		}),
		sampleErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_shedding_sample_errors_total", Help: "Samples of the queue or Redis memory that failed.",
		}),
	}
	s.shedding.WithLabelValues("queue_depth")
	s.shedding.WithLabelValues("redis_memory")
	reg.MustRegister(s.shedding, s.refused, s.backlog, s.oldest, s.events, s.memUsed, s.memMax, s.sampleErr)
	return s
}

// Admit returns nil, or an error wrapping ErrShedding (and counts the
// refusal) while the ingress sheds load.
func (s *Sampler) Admit() error {
	switch {
	case s.byMemory.Load():
		s.refused.Inc()
		return fmt.Errorf("%w (Redis memory above %.0f%% of maxmemory)", ErrShedding, s.cfg.MaxMemoryRatio*100)
	case s.byDepth.Load():
		s.refused.Inc()
		return fmt.Errorf("%w (more than %d events queued)", ErrShedding, s.cfg.MaxQueuedEvents)
	}
	return nil
}

// Run samples every Interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample reads the queue and Redis memory once and updates the verdict. A
// failed read clears that signal's verdict: with Redis unreachable the
// enqueue fails and answers 503 by itself, and stale numbers must not shed
// for ever. The queue series disappear until the next good sample, so the
// alerts see no data rather than old data.
func (s *Sampler) Sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.Interval, time.Second))
	defer cancel()

	if events, err := s.sampleQueue(ctx); err != nil {
		s.sampleErr.Inc()
		s.backlog.Reset()
		s.log.Debug("queue sample failed", "err", err)
		s.set(&s.byDepth, "queue_depth", false)
	} else if s.cfg.MaxQueuedEvents > 0 {
		s.set(&s.byDepth, "queue_depth", over(float64(events), float64(s.cfg.MaxQueuedEvents), s.byDepth.Load()))
	}

	info, err := s.rdb.Info(ctx, "memory").Result()
	if err != nil {
		s.sampleErr.Inc()
		s.log.Debug("memory sample failed", "err", err)
		s.set(&s.byMemory, "redis_memory", false)
		return
	}
	used, limit := queue.InfoInt(info, "used_memory"), queue.InfoInt(info, "maxmemory")
	s.memUsed.Set(float64(used))
	s.memMax.Set(float64(limit))
	if s.cfg.MaxMemoryRatio > 0 && limit > 0 {
		s.set(&s.byMemory, "redis_memory", over(float64(used), s.cfg.MaxMemoryRatio*float64(limit), s.byMemory.Load()))
	}
}

// over applies the hysteresis: start at limit, stop under resume × limit.
func over(v, limit float64, now bool) bool {
	if now {
		return v >= resume*limit
	}
	return v >= limit
}

func (s *Sampler) set(flag *atomic.Bool, reason string, on bool) {
	if flag.Swap(on) != on {
		if on {
			s.log.Warn("shedding load: answering 503 to new webhooks", "reason", reason)
		} else {
			s.log.Info("shedding stopped", "reason", reason)
		}
	}
	v := 0.0
	if on {
		v = 1
	}
	s.shedding.WithLabelValues(reason).Set(v)
}

// sampleQueue updates the queue gauges and returns the estimated events
// waiting.
func (s *Sampler) sampleQueue(ctx context.Context) (int64, error) {
	q, err := s.insp.GetQueueInfo(job.Queue)
	if errors.Is(err, asynq.ErrQueueNotFound) || (err != nil && isQueueNotFound(s.insp)) {
		q, err = &asynq.QueueInfo{}, nil
	}
	if err != nil {
		return 0, err
	}
	for state, n := range map[string]int{
		"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry, "archived": q.Archived,
	} {
		s.backlog.WithLabelValues(state).Set(float64(n))
	}
	s.oldest.Set(q.Latency.Seconds())
	tasks := int64(q.Pending + q.Active + q.Scheduled + q.Retry)
	events := int64(float64(tasks) * s.eventsPerTask(q))
	s.events.Set(float64(events))
	return events, ctx.Err()
}

// isQueueNotFound tells a queue that does not exist yet (no task was ever
// enqueued) from a failure, as the worker's collector does.
func isQueueNotFound(insp *asynq.Inspector) bool {
	queues, err := insp.Queues()
	if err != nil {
		return false
	}
	for _, q := range queues {
		if q == job.Queue {
			return false
		}
	}
	return true
}

// eventsPerTask is the mean number of events in up to eventsSample waiting
// tasks (1 when none can be read).
func (s *Sampler) eventsPerTask(q *asynq.QueueInfo) float64 {
	var tasks []*asynq.TaskInfo
	var err error
	switch {
	case q.Pending > 0:
		tasks, err = s.insp.ListPendingTasks(job.Queue, asynq.PageSize(eventsSample))
	case q.Retry > 0:
		tasks, err = s.insp.ListRetryTasks(job.Queue, asynq.PageSize(eventsSample))
	}
	if err != nil || len(tasks) == 0 {
		return 1
	}
	n := 0
	for _, t := range tasks {
		if p, err := job.Decode(t.Payload); err == nil {
			n += len(p.Events)
		} else {
			n++
		}
	}
	return float64(n) / float64(len(tasks))
}
