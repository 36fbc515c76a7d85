package queue

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// The chart's KEDA trigger scales the worker on the length of a Redis list
// it names (webhook-ingestor.pendingList in the chart's _helpers.tpl): a
// task the ingress enqueues must land in that list, whatever job.Queue or
// asynq's key layout become.
func TestChartPendingList(t *testing.T) {
	tpl, err := os.ReadFile("../../../charts/webhook-ingestor/templates/_helpers.tpl")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)define "webhook-ingestor.pendingList" -}}\s*(\S+)\s*{{-`).FindSubmatch(tpl)
	if m == nil {
		t.Fatal(`_helpers.tpl defines no "webhook-ingestor.pendingList"`)
	}
	list := string(m[1])

	rdb := testenv.Redis(t)
	c := NewRedis(config.Redis{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 2, Timeout: 2 * time.Second})
	defer c.Close()
	ctx := context.Background()
	if _, _, err := NewEnqueuer(c).Enqueue(ctx, event(1)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.LLen(ctx, list).Result(); err != nil || n != 1 {
		keys, _ := c.Keys(ctx, "*").Result()
		t.Errorf("LLEN %s = %d, %v after one enqueue; want 1 (keys in Redis: %q)", list, n, err, keys)
	}
}
