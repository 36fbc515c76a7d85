package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/shedding"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestSheddingAnswers503: past the queue depth the ingress refuses with
// 503 problem+json and Retry-After, and queues nothing; once the backlog is
// gone it accepts again.
func TestSheddingAnswers503(t *testing.T) {
	r := testenv.Redis(t)
	cfg := Config{Redis: redisConfig(r.Addr, r.DB), MaxBodyBytes: 4096, MaxBodyBytesInFlight: 1 << 20, MaxConnections: 64, EnqueueTimeout: time.Second, RetryAfter: 3 * time.Second}
	cfg.ShutdownTimeout = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rdb := queue.NewRedis(cfg.Redis)
	defer rdb.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sampler := shedding.New(shedding.Config{MaxQueuedEvents: 2}, rdb, prometheus.NewRegistry(), log)
	s := newServer(cfg, ingest.NewService(queue.NewEnqueuer(rdb), log), newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log)
	s.shedder = sampler
	h := s.routes()
	post := func(id string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/p", strings.NewReader(`{"eventId":"`+id+`"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	pending := func() int {
		q, err := insp.GetQueueInfo(job.Queue)
		if err != nil {
			return 0
		}
		return q.Pending
	}
	ctx := context.Background()
	for _, id := range []string{"s1", "s2"} {
		sampler.Sample(ctx)
		if w := post(id); w.Code != 202 {
			t.Fatalf("%s: status %d: %s", id, w.Code, w.Body)
		}
	}
	sampler.Sample(ctx) // 2 events queued: the limit
	w := post("s3")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", w.Code, w.Body)
	}
	if ra := w.Header().Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After = %q, want 3", ra)
	}
	if p := decodeProblem(t, w); p.Type != typeQueueFull || p.Status != 503 {
		t.Errorf("problem %+v", p)
	}
	if n := pending(); n != 2 {
		t.Errorf("pending = %d while shedding, want 2", n)
	}
	if _, err := insp.DeleteAllPendingTasks(job.Queue); err != nil {
		t.Fatal(err)
	}
	sampler.Sample(ctx)
	if w := post("s3"); w.Code != 202 {
		t.Fatalf("after the drain: status %d: %s", w.Code, w.Body)
	}
}
