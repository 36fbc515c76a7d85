package ingest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outageRepeat is how often, at most, a lasting enqueue outage is logged
// again (with the failures since the last line).
const outageRepeat = time.Minute

// outageLog logs enqueue failures by state, not by request: the first
// failure after a success ("enqueue failing"), a reminder at most every
// outageRepeat while failures go on, and the first success after them
// ("enqueue recovered"). The count of failed requests is the ingress's
// webhook_enqueue_failures_total; a Redis outage under load must not turn
// into one error line per request.
type outageLog struct {
	down atomic.Bool // read without the lock on every success

	mu       sync.Mutex
	since    time.Time // first failure of the outage
	last     time.Time // last line written
	failures int       // since the last line
	total    int       // since the outage began
}

func (o *outageLog) failed(ctx context.Context, log *slog.Logger, now time.Time, provider string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	o.total++
	switch {
	case !o.down.Load():
		o.down.Store(true)
		o.since, o.last, o.failures, o.total = now, now, 0, 1
		log.ErrorContext(ctx, "enqueue failing: webhooks are answered 503 until Redis takes them again (count: webhook_enqueue_failures_total)",
			"provider", provider, "err", err)
	case now.Sub(o.last) >= outageRepeat:
		log.ErrorContext(ctx, "enqueue still failing", "failures_since_last_log", o.failures,
			"outage", now.Sub(o.since).Round(time.Second).String(), "err", err)
		o.last, o.failures = now, 0
	}
}

func (o *outageLog) succeeded(ctx context.Context, log *slog.Logger, now func() time.Time) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	o.down.Store(false)
	log.InfoContext(ctx, "enqueue recovered", "failures", o.total, "outage", now().Sub(o.since).Round(time.Millisecond).String())
}
