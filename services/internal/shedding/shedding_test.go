package shedding

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// enqueue puts tasks of perTask events each on the queue and returns their ids.
func enqueue(t *testing.T, c *asynq.Client, tasks, perTask int, prefix string) []string {
	t.Helper()
	var ids []string
	for i := range tasks {
		var p job.Payload
		for j := range perTask {
			p.Events = append(p.Events, job.Event{Provider: "p", EventID: prefix + strconv.Itoa(i) + "-" + strconv.Itoa(j),
				ContentType: "application/json", Body: []byte(`{}`), ReceivedAt: time.Now()})
		}
		tk, err := job.NewTask(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Enqueue(tk)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	return ids
}

// TestShedsPastQueueDepthInEvents: the limit counts events, not tasks, and
// shedding stops only under 90 % of it.
func TestShedsPastQueueDepthInEvents(t *testing.T) {
	r := testenv.Redis(t)
	rdb := queue.NewRedis(config.Redis{Addr: r.Addr, DB: r.DB, PoolSize: 4, Timeout: 2 * time.Second})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	s := New(Config{MaxQueuedEvents: 10}, rdb, reg, quiet)
	ctx := context.Background()

	s.Sample(ctx) // the queue does not exist yet
	if err := s.Admit(); err != nil {
		t.Fatalf("empty queue: %v", err)
	}
	if n := testutil.ToFloat64(s.backlog.WithLabelValues("pending")); n != 0 {
		t.Fatalf("pending before any enqueue = %v", n)
	}

	ids := enqueue(t, asynq.NewClientFromRedisClient(rdb), 3, 3, "a") // 9 events in 3 tasks
	s.Sample(ctx)
	if err := s.Admit(); err != nil {
		t.Fatalf("9 events under a limit of 10: %v", err)
	}
	ids = append(ids, enqueue(t, asynq.NewClientFromRedisClient(rdb), 1, 3, "b")...) // 12 events
	s.Sample(ctx)
	if err := s.Admit(); !errors.Is(err, ErrShedding) {
		t.Fatalf("12 events over a limit of 10: Admit = %v", err)
	}
	if v := testutil.ToFloat64(s.shedding.WithLabelValues("queue_depth")); v != 1 {
		t.Errorf("webhook_shedding{reason=queue_depth} = %v", v)
	}
	if v := testutil.ToFloat64(s.events); v != 12 {
		t.Errorf("webhook_queue_events = %v, want 12", v)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if err := insp.DeleteTask(job.Queue, ids[0]); err != nil { // 9 events: still ≥ 90 %
		t.Fatal(err)
	}
	s.Sample(ctx)
	if err := s.Admit(); err == nil {
		t.Fatal("9 events: shedding stopped above 90 % of the limit")
	}
	if err := insp.DeleteTask(job.Queue, ids[1]); err != nil { // 6 events
		t.Fatal(err)
	}
	s.Sample(ctx)
	if err := s.Admit(); err != nil {
		t.Fatalf("6 events: still shedding: %v", err)
	}
	if v := testutil.ToFloat64(s.refused); v != 2 {
		t.Errorf("webhook_shed_requests_total = %v, want 2", v)
	}
}

// TestShedsNearMaxmemory: used_memory past the configured share of
// maxmemory sheds; an unreachable Redis clears the verdict.
func TestShedsNearMaxmemory(t *testing.T) {
	addr, stop := testenv.StartRedis(t)
	rdb := queue.NewRedis(config.Redis{Addr: addr, PoolSize: 4, Timeout: 300 * time.Millisecond})
	defer rdb.Close()
	ctx := context.Background()
	s := New(Config{MaxMemoryRatio: 0.8}, rdb, prometheus.NewRegistry(), quiet)
	used := queue.InfoInt(rdb.Info(ctx, "memory").Val(), "used_memory")
	if used == 0 {
		t.Fatal("no used_memory")
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used*4, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	s.Sample(ctx)
	if err := s.Admit(); err != nil {
		t.Fatalf("25 %% of maxmemory: %v", err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used*11/10, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	s.Sample(ctx)
	if err := s.Admit(); !errors.Is(err, ErrShedding) {
		t.Fatalf("≈90 %% of maxmemory: Admit = %v", err)
	}
	if v := testutil.ToFloat64(s.shedding.WithLabelValues("redis_memory")); v != 1 {
		t.Errorf("webhook_shedding{reason=redis_memory} = %v", v)
	}
	stop()
	s.Sample(ctx)
	if err := s.Admit(); err != nil {
		t.Errorf("Redis gone: still shedding on stale numbers: %v", err)
	}
	if v := testutil.ToFloat64(s.sampleErr); v < 1 {
		t.Errorf("sample errors = %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{MaxQueuedEvents: -1}, {MaxMemoryRatio: 1.5}, {Interval: time.Millisecond}} {
		if c.Validate() == nil {
			t.Errorf("%+v: valid", c)
		}
	}
	if err := (Config{MaxMemoryRatio: 0.8, Interval: time.Second}).Validate(); err != nil {
		t.Error(err)
	}
}
