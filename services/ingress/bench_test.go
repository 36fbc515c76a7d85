package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// BenchmarkWebhook is the whole POST /webhooks/{provider} handler, routing
// and middleware included, with a real enqueue into the test Redis: one new
// event per iteration, 64 in flight. ns/op is the inverse of the throughput
// (Redis shares the machine); allocs/op is the ingress's garbage per request.
func BenchmarkWebhook(b *testing.B) {
	rdb := testenv.Redis(b)
	cfg := Config{Redis: redisConfig(rdb.Addr, rdb.DB), MaxBodyBytes: 1 << 20, MaxBodyBytesInFlight: 32 << 20, EnqueueTimeout: time.Second, RetryAfter: time.Second}
	cfg.Redis.PoolSize = 64
	client := queue.NewRedis(cfg.Redis)
	b.Cleanup(func() { client.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := ingest.NewService(queue.NewEnqueuer(client), log)
	h := newServer(cfg, svc, newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log).routes()

	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32) // 64 requests in flight on 2 cores, as under load
	b.RunParallel(func(pb *testing.PB) {
		body := make([]byte, 0, 256)
		for pb.Next() {
			n := seq.Add(1)
			body = append(body[:0], `{"provider":"stripe","eventId":"bench-`...)
			body = strconv.AppendInt(body, n, 10)
			body = append(body, `","timestamp":"2026-11-29T10:00:00Z","data":{"type":"payment.succeeded","amount":4242,"currency":"eur"}}`...)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
