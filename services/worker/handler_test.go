package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/rueidis"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/idempotency"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

type fixture struct {
	h    *handler
	keys *idempotency.Keys
	rc   rueidis.Client
	url  string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	rdb := testenv.Redis(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rdb.Addr}, SelectDB: rdb.DB, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	keys := idempotency.NewKeys(rc, time.Hour, time.Minute)
	h := &handler{keys: keys, store: st, metrics: newMetrics(prometheus.NewRegistry()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.batch = newBatcher(16, 2*time.Millisecond, h.flush)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { h.batch.Run(stop); close(done) }()
	t.Cleanup(func() { close(stop); <-done })
	return fixture{h: h, keys: keys, rc: rc, url: url}
}

func task(t *testing.T, provider, id string) *asynq.Task {
	t.Helper()
	tk, err := job.NewTask(job.Payload{Provider: provider, EventID: id, ReceivedAt: time.Now(), Body: []byte(`{"eventId":"` + id + `"}`),
		Headers: map[string]string{"User-Agent": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestSameEventTwice(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		flushKeys bool // lose the Redis key between the two deliveries
		wantStage string
	}{
		{"redis key present", false, "processed"},
		{"redis key flushed", true, "stored"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if err := f.h.ProcessTask(ctx, task(t, "stripe", "evt-1")); err != nil {
				t.Fatalf("first delivery: %v", err)
			}
			if tt.flushKeys {
				if err := f.rc.Do(ctx, f.rc.B().Flushdb().Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.h.ProcessTask(ctx, task(t, "stripe", "evt-1")); err != nil {
				t.Fatalf("second delivery: %v", err)
			}
			if n := testenv.Rows(t, f.url); n != 1 {
				t.Errorf("rows = %d, want 1", n)
			}
			if got := testutil.ToFloat64(f.h.metrics.duplicates.WithLabelValues(tt.wantStage)); got != 1 {
				t.Errorf("duplicates{stage=%s} = %v, want 1", tt.wantStage, got)
			}
			if got := testutil.ToFloat64(f.h.metrics.persisted); got != 1 {
				t.Errorf("persisted = %v, want 1", got)
			}
		})
	}
}

func TestStaleProcessingClaimDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// A worker claimed the event and died before inserting.
	if st, err := f.keys.Claim(ctx, job.ID("stripe", "evt-9")); err != nil || st != idempotency.Unseen {
		t.Fatalf("claim = %v, %v", st, err)
	}
	if err := f.h.ProcessTask(ctx, task(t, "stripe", "evt-9")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := testenv.Rows(t, f.url); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
	if st, _ := f.keys.Claim(ctx, job.ID("stripe", "evt-9")); st != idempotency.Processed {
		t.Errorf("state after commit = %v, want Processed", st)
	}
}

func TestConcurrentDeliveriesOneRow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() { errs <- f.h.ProcessTask(ctx, task(t, "gh", string(rune('a'+i%20)))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := testenv.Rows(t, f.url); n != 20 {
		t.Errorf("rows = %d, want 20", n)
	}
}

func TestUndecodableIsSkipRetry(t *testing.T) {
	f := newFixture(t)
	err := f.h.ProcessTask(context.Background(), asynq.NewTask(job.TypeIngest, []byte("not json")))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("err = %v, want SkipRetry", err)
	}
	if got := testutil.ToFloat64(f.h.metrics.failed.WithLabelValues("undecodable")); got != 1 {
		t.Errorf("failed{undecodable} = %v, want 1", got)
	}
}

func TestStoreDownFailsTaskForRetry(t *testing.T) {
	f := newFixture(t)
	f.h.store.Close() // every insert now fails
	err := f.h.ProcessTask(context.Background(), task(t, "stripe", "evt-1"))
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}
