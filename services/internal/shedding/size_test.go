package shedding

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestBytesPerQueuedEvent measures what one queued event costs in Redis
// (used_memory before and after N one-event tasks), the figure behind the
// README's maxmemory sizing. The body is the seed's envelope (≈110 bytes);
// the cost is that plus a fixed overhead per task.
func TestBytesPerQueuedEvent(t *testing.T) {
	addr, _ := testenv.StartRedis(t)
	rdb := queue.NewRedis(config.Redis{Addr: addr, PoolSize: 8, Timeout: 5 * time.Second})
	defer rdb.Close()
	ctx := context.Background()
	used := func() int64 { return queue.InfoInt(rdb.Info(ctx, "memory").Val(), "used_memory") }
	c := asynq.NewClientFromRedisClient(rdb)
	if _, err := c.Enqueue(asynq.NewTask(job.TypeIngest, []byte{1}, asynq.Queue(job.Queue))); err != nil {
		t.Fatal(err) // creates the queue's fixed keys first
	}
	n := 5000
	if testing.Short() {
		n = 1000
	}
	for _, bodySize := range []int{110, 1024} {
		before := used()
		for i := range n {
			id := "evt-" + strconv.Itoa(bodySize) + "-" + strconv.Itoa(i)
			body := `{"eventId":"` + id + `","timestamp":"2026-01-01T00:00:00Z","data":{"amount":42,"pad":"`
			body += strings.Repeat("x", max(0, bodySize-len(body)-3)) + `"}}`
			tk, err := job.NewTask(job.Payload{Events: []job.Event{{Provider: "demo", EventID: id, ReceivedAt: time.Now(),
				ContentType: "application/json", Body: []byte(body), Headers: map[string]string{"User-Agent": "k6/0.50 (https://k6.io/)"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Enqueue(tk); err != nil {
				t.Fatal(err)
			}
		}
		per := float64(used()-before) / float64(n)
		t.Logf("body %d bytes: %.0f bytes of Redis memory per queued one-event task", bodySize, per)
		if per < float64(bodySize) || per > float64(bodySize)+1500 {
			t.Errorf("body %d bytes: %.0f bytes per queued event, outside [body, body+1500]", bodySize, per)
		}
	}
}
