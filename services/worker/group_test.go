package main

import (
	"context"
	"slices"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// The servers' shares add up to WORKER_CONCURRENCY (10 between 4 used to
// give 2 each: 8 in flight).
func TestShares(t *testing.T) {
	for _, tt := range []struct {
		total, n int
		want     []int
	}{
		{10, 4, []int{3, 3, 2, 2}},
		{256, 4, []int{64, 64, 64, 64}},
		{5, 5, []int{1, 1, 1, 1, 1}},
		{7, 1, []int{7}},
	} {
		if got := shares(tt.total, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("shares(%d, %d) = %v, want %v", tt.total, tt.n, got, tt.want)
		}
	}
}

// The ingress's "queued" markers (grouped enqueues) do not make the worker
// skip an event: only "processed" does, and storing replaces the marker.
func TestQueuedMarkerIsNotProcessed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	events := []job.Event{ev("stripe", "evt-1", `{}`), ev("stripe", "evt-2", `{}`), ev("stripe", "evt-3", `{}`)}
	for _, e := range events {
		key := queue.MarkerPrefix + job.ID(e.Provider, e.EventID)
		if err := f.rc.Do(ctx, f.rc.B().Set().Key(key).Value(queue.MarkerQueued).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := job.NewTask(job.Payload{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.h.ProcessTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Rows(t, f.url); n != 3 {
		t.Errorf("rows = %d, want 3", n)
	}
	ids := []string{job.ID("stripe", "evt-1"), job.ID("stripe", "evt-2"), job.ID("stripe", "evt-3")}
	done, err := f.keys.Processed(ctx, ids)
	if err != nil || !slices.Equal(done, []bool{true, true, true}) {
		t.Errorf("processed = %v, %v; want all true", done, err)
	}
}
