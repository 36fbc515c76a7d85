package main

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestMetricNamesListed keeps hack/verify/testdata/metrics/worker.txt equal
// to the metrics the worker registers (as run does), for the dashboard test.
func TestMetricNamesListed(t *testing.T) {
	rdb := queue.NewRedis(config.Redis{Addr: "127.0.0.1:1", PoolSize: 1})
	defer rdb.Close()
	names := testenv.MetricNames(t, ops.NewRegistry(), func(reg prometheus.Registerer) {
		newMetrics(reg)
		newStorageMetrics(reg)
		reg.MustRegister(newQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
		h := ops.NewHealth(reg)
		h.AddDependency("redis", func(context.Context) error { return nil })
		h.AddDependency("postgres", func(context.Context) error { return nil })
	})
	testenv.CheckMetricList(t, "hack/verify/testdata/metrics/worker.txt", names)
}
