package main

import (
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

type metrics struct {
	processed      prometheus.Counter
	failed         *prometheus.CounterVec
	deadLetters    *prometheus.CounterVec
	persisted      prometheus.Counter
	duplicates     *prometheus.CounterVec
	insertDuration prometheus.Histogram
	batchSize      prometheus.Histogram
	endToEnd       prometheus.Histogram
	taskEvents     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_jobs_processed_total", Help: "Events acknowledged (row inserted, already present, or dead-lettered).",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_jobs_failed_total", Help: "Task attempts that failed and will be retried, by reason (store: PostgreSQL unreachable or refusing).",
		}, []string{"reason"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_dead_letters_total", Help: "Events or tasks stored in webhook_dead_letters, by reason (unstorable, undecodable, panic).",
		}, []string{"reason"}),
		persisted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_persisted_total", Help: "Rows inserted into webhook_events.",
		}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_duplicates_total", Help: "Duplicate deliveries detected, by where they were caught.",
		}, []string{"stage"}),
		insertDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhook_insert_duration_seconds", Help: "Time to insert one batch.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhook_batch_size", Help: "Events per insert batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhook_end_to_end_seconds", Help: "From the ingress accepting an event to its row committing.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		taskEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhook_task_events", Help: "Events per task taken off the queue (the ingress groups webhooks that arrive together).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
	}
	reg.MustRegister(m.taskEvents)
	reg.MustRegister(m.processed, m.failed, m.deadLetters, m.persisted, m.duplicates, m.insertDuration, m.batchSize, m.endToEnd)
	return m
}

// queueCollector reports the webhooks queue as asynq sees it, read at scrape
// time so the numbers are never stale.
type queueCollector struct {
	inspector *asynq.Inspector
	backlog   *prometheus.Desc
	oldest    *prometheus.Desc
}

func newQueueCollector(in *asynq.Inspector) *queueCollector {
	return &queueCollector{
		inspector: in,
		backlog: prometheus.NewDesc("webhook_queue_backlog", "Tasks in the webhooks queue by state; a task holds one or more events (webhook_task_events).",
			[]string{"state"}, nil),
		oldest: prometheus.NewDesc("webhook_queue_oldest_pending_seconds", "Age of the oldest pending task.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.inspector.GetQueueInfo(job.Queue)
	if err != nil {
		// Before the first enqueue the queue does not exist: report zeros.
		// On any other error leave the series out of this scrape rather than
		// fail it, so the worker's other metrics still arrive.
		queues, qerr := c.inspector.Queues()
		if qerr != nil || slices.Contains(queues, job.Queue) {
			return
		}
		info = &asynq.QueueInfo{}
	}
	for state, n := range map[string]int{
		"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived,
	} {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, info.Latency.Seconds())
}
