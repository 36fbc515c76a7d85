package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/shedding"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestMetricNamesListed keeps hack/verify/testdata/metrics/ingress.txt equal
// to the metrics the ingress registers (as run does), so the dashboard test
// there can refuse a query naming a metric no binary exports.
func TestMetricNamesListed(t *testing.T) {
	rdb := queue.NewRedis(config.Redis{Addr: "127.0.0.1:1", PoolSize: 1})
	defer rdb.Close()
	names := testenv.MetricNames(t, ops.NewRegistry(), func(reg prometheus.Registerer) {
		newMetrics(reg)
		shedding.New(shedding.Config{}, rdb, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ops.NewHealth(reg).AddDependency("redis", func(context.Context) error { return nil })
	})
	testenv.CheckMetricList(t, "hack/verify/testdata/metrics/ingress.txt", names)
}
