package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/rueidis"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

type groupFixture struct {
	enq   *GroupEnqueuer
	keys  rueidis.Client
	insp  *asynq.Inspector
	sizes chan int
}

func newGroupFixture(t *testing.T, o GroupOptions) *groupFixture {
	t.Helper()
	rdb := testenv.Redis(t)
	cfg := config.Redis{Addr: rdb.Addr, DB: rdb.DB, PoolSize: 16, Timeout: 2 * time.Second, Pipelines: 2}
	c := NewRedis(cfg)
	t.Cleanup(func() { c.Close() })
	keys, err := NewKeysClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	f := &groupFixture{keys: keys, insp: asynq.NewInspectorFromRedisClient(c), sizes: make(chan int, 100000)}
	o.Observe = func(n int) { f.sizes <- n }
	f.enq = NewGroupEnqueuer(c, keys, o)
	return f
}

func event(i int) job.Event {
	return job.Event{Provider: "demo", EventID: fmt.Sprintf("evt-%d", i), ReceivedAt: time.Unix(1700000000, 0).UTC(),
		ContentType: "application/json", Body: fmt.Appendf(nil, `{"eventId":"evt-%d"}`, i)}
}

// queued decodes every pending task: event id → how many tasks carry it.
func (f *groupFixture) queued(t *testing.T) (events map[string]int, tasks int) {
	t.Helper()
	events = map[string]int{}
	for page := 1; ; page++ {
		ts, err := f.insp.ListPendingTasks(job.Queue, asynq.Page(page), asynq.PageSize(1000))
		if err != nil {
			t.Fatalf("list pending: %v", err)
		}
		for _, ti := range ts {
			p, err := job.Decode(ti.Payload)
			if err != nil {
				t.Fatalf("decode task %s: %v", ti.ID, err)
			}
			if ti.ID != p.TaskID() {
				t.Errorf("task id %s, want %s", ti.ID, p.TaskID())
			}
			for _, e := range p.Events {
				events[e.EventID]++
			}
		}
		tasks += len(ts)
		if len(ts) < 1000 {
			return events, tasks
		}
	}
}

// Concurrent webhooks share tasks; each gets its own job id, every event is
// in exactly one task, and no group exceeds the bounds.
func TestGroupEnqueuerGroupsConcurrentEvents(t *testing.T) {
	const n, maxEvents = 2000, 16
	f := newGroupFixture(t, GroupOptions{MaxEvents: maxEvents, MaxBytes: 1 << 20, Inflight: 1})
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			id, dup, err := f.enq.Enqueue(ctx, event(i))
			if err != nil || dup || id != job.ID("demo", fmt.Sprintf("evt-%d", i)) {
				failed.Add(1)
				t.Errorf("event %d: id %q dup %v err %v", i, id, dup, err)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	events, tasks := f.queued(t)
	if len(events) != n {
		t.Fatalf("%d distinct events queued, want %d", len(events), n)
	}
	for id, c := range events {
		if c != 1 {
			t.Errorf("event %s in %d tasks", id, c)
		}
	}
	if tasks >= n/2 {
		t.Errorf("%d tasks for %d concurrent events: not grouped", tasks, n)
	}
	close(f.sizes)
	sum := 0
	for s := range f.sizes {
		if s > maxEvents {
			t.Errorf("group of %d events, bound %d", s, maxEvents)
		}
		sum += s
	}
	if sum != n {
		t.Errorf("groups hold %d events, want %d", sum, n)
	}
	t.Logf("%d events in %d tasks", n, tasks)
	// Every queued event is marked "queued".
	v, err := f.keys.Do(ctx, f.keys.B().Get().Key(MarkerPrefix+job.ID("demo", "evt-7")).Build()).ToString()
	if err != nil || v != MarkerQueued {
		t.Errorf("marker = %q, %v; want %q", v, err, MarkerQueued)
	}
}

// One at a time (low traffic), nothing waits: each event is a task of its
// own, whose TaskID is the event's job id, as without grouping.
func TestGroupEnqueuerAloneWhenIdle(t *testing.T) {
	f := newGroupFixture(t, GroupOptions{MaxEvents: 64, MaxBytes: 1 << 20, Inflight: 1})
	for i := range 5 {
		start := time.Now()
		if _, dup, err := f.enq.Enqueue(context.Background(), event(i)); err != nil || dup {
			t.Fatalf("event %d: dup %v err %v", i, dup, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("event %d took %v", i, d)
		}
	}
	events, tasks := f.queued(t)
	if tasks != 5 || len(events) != 5 {
		t.Fatalf("%d tasks, %d events; want 5 and 5", tasks, len(events))
	}
	if _, err := f.insp.GetTaskInfo(job.Queue, job.ID("demo", "evt-3")); err != nil {
		t.Errorf("task of evt-3 by its job id: %v", err)
	}
}

// A re-delivery answers duplicate while the first copy is queued, whether it
// arrives alone or in a group. Once the worker marked an event processed it
// is not (the value may be this copy's own, stored before its marker was
// written: as for a completed single-event task), and the marker never
// overwrites "processed".
func TestGroupEnqueuerDuplicates(t *testing.T) {
	f := newGroupFixture(t, GroupOptions{MaxEvents: 64, MaxBytes: 1 << 20, Inflight: 1})
	ctx := context.Background()
	if _, dup, err := f.enq.Enqueue(ctx, event(1)); err != nil || dup {
		t.Fatalf("first: dup %v err %v", dup, err)
	}
	if id, dup, err := f.enq.Enqueue(ctx, event(1)); err != nil || !dup || id != job.ID("demo", "evt-1") {
		t.Fatalf("alone re-delivery: id %q dup %v err %v; want duplicate", id, dup, err)
	}
	// The worker stored evt-2 and marked it processed.
	processedKey := MarkerPrefix + job.ID("demo", "evt-2")
	if err := f.keys.Do(ctx, f.keys.B().Set().Key(processedKey).Value("processed").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	// Many at once, so groups form: copies of evt-1 (queued) and evt-2
	// (processed: duplicate only of a copy in the same group), two copies
	// of evt-3 (new), fresh events.
	type answer struct {
		i   int
		dup bool
	}
	var wg sync.WaitGroup
	answers := make(chan answer, 400)
	for k := range 400 {
		i := []int{1, 2, 3, 3}[k%4]
		if k%4 == 0 && k > 0 {
			i = 100 + k
		}
		wg.Go(func() {
			_, dup, err := f.enq.Enqueue(ctx, event(i))
			if err != nil {
				t.Errorf("event %d: %v", i, err)
			}
			answers <- answer{i, dup}
		})
	}
	wg.Wait()
	close(answers)
	fresh3 := 0
	for a := range answers {
		switch {
		case a.i == 3 && !a.dup:
			fresh3++
		case a.i == 1 && !a.dup:
			t.Errorf("event %d not answered duplicate", a.i)
		case a.i >= 100 && a.dup:
			t.Errorf("fresh event %d answered duplicate", a.i)
		}
	}
	if fresh3 != 1 {
		t.Errorf("evt-3 answered new %d times, want once", fresh3)
	}
	if v, _ := f.keys.Do(ctx, f.keys.B().Get().Key(processedKey).Build()).ToString(); v != "processed" {
		t.Errorf("processed key overwritten: %q", v)
	}
	if ttl, _ := f.keys.Do(ctx, f.keys.B().Pttl().Key(MarkerPrefix+job.ID("demo", "evt-3")).Build()).AsInt64(); ttl <= 0 {
		t.Errorf("queued marker without a TTL: %d", ttl)
	}
}

// Redis down: every caller gets an error, none a duplicate or a job id, and
// none hangs past its deadline.
func TestGroupEnqueuerRedisDown(t *testing.T) {
	addr, stop := testenv.StartRedis(t)
	cfg := config.Redis{Addr: addr, PoolSize: 8, Timeout: 300 * time.Millisecond, Pipelines: 2}
	c := NewRedis(cfg)
	defer c.Close()
	keys, err := NewKeysClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	enq := NewGroupEnqueuer(c, keys, GroupOptions{MaxEvents: 8, MaxBytes: 1 << 20, Inflight: 1})
	if _, _, err := enq.Enqueue(context.Background(), event(0)); err != nil {
		t.Fatalf("while up: %v", err)
	}
	stop()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 50 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			id, dup, err := enq.Enqueue(ctx, event(i+1))
			if err == nil || dup || id != "" {
				t.Errorf("event %d with Redis down: id %q dup %v err %v", i+1, id, dup, err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("callers took %v to fail", d)
	}
}

// A caller that gives up while its group waits gets an error at once, and
// its event is left out of the group.
func TestGroupEnqueuerCallerGivesUp(t *testing.T) {
	f := newGroupFixture(t, GroupOptions{MaxEvents: 64, MaxBytes: 1 << 20, Inflight: 1})
	// Hold the only slot: a member taken but not yet sent is simulated by
	// taking the slot by hand.
	f.enq.mu.Lock()
	f.enq.inflight = 1
	f.enq.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := f.enq.Enqueue(ctx, event(1)); err == nil {
		t.Fatal("no error after the caller's deadline")
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := f.enq.Enqueue(context.Background(), event(2))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	// Free the slot as a finished send would.
	f.enq.mu.Lock()
	f.enq.inflight--
	f.enq.dispatchLocked()
	f.enq.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	events, _ := f.queued(t)
	if events["evt-1"] != 0 || events["evt-2"] != 1 {
		t.Errorf("queued %v; want evt-2 only", events)
	}
}
