package main

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func TestQueueCollector(t *testing.T) {
	r := testenv.Redis(t)
	rdb := queue.NewRedis(config.Redis{Addr: r.Addr, DB: r.DB, PoolSize: 2, Timeout: time.Second})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))

	// Before anything was ever queued the queue does not exist: zeros, and
	// the scrape must not fail (a failed scrape hides every worker metric).
	if got := pendingGauge(t, reg); got != 0 {
		t.Errorf("pending before the first enqueue = %v, want 0", got)
	}
	tk, err := job.NewTask(job.Payload{Events: []job.Event{{Provider: "p", EventID: "e", Body: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	if got := pendingGauge(t, reg); got != 1 {
		t.Errorf("pending = %v, want 1", got)
	}
}

// pendingGauge scrapes reg and returns webhook_queue_backlog{state="pending"}.
func pendingGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "webhook_queue_backlog" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "pending" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatal("webhook_queue_backlog{state=pending} missing")
	return 0
}
