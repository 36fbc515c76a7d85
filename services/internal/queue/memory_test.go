package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// Redis memory per queued event, grouped against one task per event, on a
// Redis of the test's own (used_memory is server-wide). Grouped events carry
// a "queued" marker each, but share one task hash and list entry: the whole
// must not cost more per event than a task of its own did.
func TestRedisMemoryPerQueuedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("measures Redis memory")
	}
	addr, _ := testenv.StartRedis(t)
	cfg := config.Redis{Addr: addr, PoolSize: 64, Timeout: 5 * time.Second, Pipelines: 2}
	rdb := NewRedis(cfg)
	defer rdb.Close()
	keys, err := NewKeysClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	ctx := context.Background()
	used := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	const n = 5000
	perEvent := func(name string, enq ingest.Enqueuer) float64 {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		// The queue's own keys exist before the measurement.
		if _, _, err := enq.Enqueue(ctx, event(-1)); err != nil {
			t.Fatal(err)
		}
		before := used()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				e := event(i)
				e.Body = fmt.Appendf(nil, `{"provider":"demo","eventId":"evt-%d","timestamp":"2026-01-01T00:00:00Z","data":{"amount":42,"n":%d}}`, i, i)
				if _, _, err := enq.Enqueue(ctx, e); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		b := float64(used()-before) / n
		tasks, _ := rdb.LLen(ctx, "asynq:{"+job.Queue+"}:pending").Result()
		t.Logf("%s: %.0f bytes of Redis memory per queued event (%d events in %d tasks)", name, b, n, tasks)
		return b
	}
	single := perEvent("one task per event", NewEnqueuer(rdb))
	grouped := perEvent("grouped", NewGroupEnqueuer(rdb, keys, GroupOptions{MaxEvents: 64, MaxBytes: 1 << 20, Inflight: 1}))
	if grouped > single {
		t.Errorf("grouped events cost %.0f bytes each, more than %.0f for a task each", grouped, single)
	}
}
