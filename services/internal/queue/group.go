package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// MarkerPrefix and MarkerQueued: after a group task is in Redis, each of its
// events gets the key MarkerPrefix+<jobId> = MarkerQueued, so a duplicate
// delivery is answered "duplicate" while the first copy is queued (asynq's
// TaskID only refuses a second copy of a whole task). They are the
// idempotency package's keys: the worker overwrites the value with
// "processed" once the row is committed, and only "processed" means stored.
const (
	MarkerPrefix = "webhook:idem:"
	MarkerQueued = "queued"
)

// GroupOptions bound the groups a GroupEnqueuer forms.
type GroupOptions struct {
	// MaxEvents and MaxBytes bound one group (bytes: the events' bodies and
	// ids). An event larger than MaxBytes travels alone.
	MaxEvents int
	MaxBytes  int
	// Inflight is how many partial groups may be on their way to Redis at
	// once; arrivals meanwhile wait and go together in the next group. A
	// group that reaches MaxEvents or MaxBytes goes at once, beside them.
	Inflight int
	// MarkerTTL bounds how long a "queued" marker lives (the worker replaces
	// it with "processed" and its own TTL).
	MarkerTTL time.Duration
	// Observe, when set, is told the size of every group enqueued.
	Observe func(events int)
}

// GroupEnqueuer puts events on the webhooks queue in groups: events that
// arrive while Inflight enqueues are on their way to Redis wait and go
// together in one task (at once when the group is full), so asynq's per-task cost (an enqueue script here, a
// dequeue and an ack script in the worker) is paid once per group. Nothing
// waits to fill a group: an event arriving while a slot is free is sent at
// once, alone; groups form only when Redis round trips are the bottleneck,
// and grow with the load.
//
// Each caller returns only once the task holding its event is in Redis (or
// with an error, and then its event may or may not be queued: the sender
// retries and a copy is deduplicated by PostgreSQL's unique key).
type GroupEnqueuer struct {
	client *asynq.Client
	keys   rueidis.Client
	opts   []asynq.Option
	o      GroupOptions

	mu       sync.Mutex
	open     *group // filling, waiting for a free slot
	inflight int    // groups being sent (full groups go beyond o.Inflight)
}

type group struct {
	members []*member
	bytes   int
	taken   bool // handed to a leader: its members wait for the result
}

type member struct {
	event job.Event
	id    string
	g     *group
	gone  bool // its caller gave up before the group was taken
	res   chan result
}

type result struct {
	lead      *group // set: the receiver must enqueue this group
	duplicate bool
	err       error
}

// NewGroupEnqueuer returns a GroupEnqueuer enqueueing through rdb (asynq)
// and writing the markers through keys; opts (retries, timeouts) apply to
// every task.
func NewGroupEnqueuer(rdb redis.UniversalClient, keys rueidis.Client, o GroupOptions, opts ...asynq.Option) *GroupEnqueuer {
	o.MaxEvents = max(o.MaxEvents, 1)
	o.MaxBytes = max(o.MaxBytes, 1)
	o.Inflight = max(o.Inflight, 1)
	if o.MarkerTTL <= 0 {
		o.MarkerTTL = 24 * time.Hour
	}
	return &GroupEnqueuer{client: asynq.NewClientFromRedisClient(rdb), keys: keys, opts: opts, o: o}
}

func eventBytes(e job.Event) int {
	n := 64 + len(e.Provider) + len(e.EventID) + len(e.EventType) + len(e.ContentType) + len(e.Body)
	for k, v := range e.Headers {
		n += len(k) + len(v) + 4
	}
	return n
}

// Enqueue queues e, grouped with whatever arrives alongside, and returns its
// job id. duplicate is true when an earlier copy of the same event is known
// to be in Redis (its task, or its row: the marker is written only after
// the task holding it was enqueued). A nil error means Redis has the event.
func (q *GroupEnqueuer) Enqueue(ctx context.Context, e job.Event) (jobID string, duplicate bool, err error) {
	m := &member{event: e, id: job.ID(e.Provider, e.EventID), res: make(chan result, 1)}
	size := eventBytes(e)

	q.mu.Lock()
	if q.inflight < q.o.Inflight {
		// A free slot means nothing is waiting (every group is dispatched
		// as soon as a slot frees): go at once, alone.
		q.inflight++
		g := &group{members: []*member{m}, bytes: size, taken: true}
		m.g = g
		q.mu.Unlock()
		q.send(ctx, g)
	} else {
		if q.open != nil && q.open.bytes+size > q.o.MaxBytes {
			// No room for this event: the group is as full as it gets and
			// waiting would only add latency, so it goes now.
			q.takeLocked(q.open)
		}
		if q.open == nil {
			q.open = &group{}
		}
		g := q.open
		g.members = append(g.members, m)
		g.bytes += size
		m.g = g
		if len(g.members) >= q.o.MaxEvents {
			// Full: this caller sends it now, beside the enqueues in flight.
			q.open = nil
			g.taken = true
			q.inflight++
			q.mu.Unlock()
			q.send(ctx, g)
		} else {
			q.mu.Unlock()
		}
	}

	var r result
	select {
	case r = <-m.res:
	case <-ctx.Done():
		q.mu.Lock()
		if !m.g.taken {
			m.gone = true
			q.mu.Unlock()
			return "", false, fmt.Errorf("enqueue: %w", ctx.Err())
		}
		q.mu.Unlock()
		// Taken: its leader's enqueue is bounded by the leader's deadline,
		// which is no later than this one's (the leader is the oldest).
		r = <-m.res
	}
	if r.lead != nil {
		q.send(ctx, r.lead)
		r = <-m.res
	}
	if r.err != nil {
		return "", false, r.err
	}
	return m.id, r.duplicate, nil
}

// send enqueues g (the caller is one of its members, and g holds a slot),
// frees the slot for the next waiting group as soon as the task is in Redis,
// writes the markers, then answers every member of g.
func (q *GroupEnqueuer) send(ctx context.Context, g *group) {
	events := make([]job.Event, 0, len(g.members))
	dup := make([]bool, len(g.members))
	var seen map[string]bool
	if len(g.members) > 1 {
		seen = make(map[string]bool, len(g.members))
	}
	for i, m := range g.members {
		if seen != nil {
			if seen[m.id] {
				// A second copy in the same group: it is answered
				// "duplicate" once the first copy's task is in Redis.
				dup[i] = true
				continue
			}
			seen[m.id] = true
		}
		events = append(events, m.event)
	}
	conflict, err := q.enqueue(ctx, events)

	q.mu.Lock()
	q.inflight--
	q.dispatchLocked()
	q.mu.Unlock()

	switch {
	case err != nil:
	case conflict:
		// The same task (the same event, or the same members) is still
		// queued: every member is a duplicate of a queued copy.
		for i := range dup {
			dup[i] = true
		}
	default:
		q.mark(ctx, g.members, dup)
	}
	for i, m := range g.members {
		if err != nil {
			m.res <- result{err: err}
		} else {
			m.res <- result{duplicate: dup[i]}
		}
	}
}

// enqueue puts events in one task. conflict: a task with the same TaskID
// is still queued.
func (q *GroupEnqueuer) enqueue(ctx context.Context, events []job.Event) (conflict bool, err error) {
	if q.o.Observe != nil {
		q.o.Observe(len(events))
	}
	t, err := job.NewTask(job.Payload{Events: events}, q.opts...)
	if err != nil {
		return false, err
	}
	if _, err := q.client.EnqueueContext(ctx, t); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return true, nil
		}
		return false, fmt.Errorf("enqueue: %w", err)
	}
	return false, nil
}

// mark writes the "queued" marker of each member not already known as a
// duplicate, once their task is in Redis, and sets dup for each member
// whose event an earlier copy had marked.
func (q *GroupEnqueuer) mark(ctx context.Context, members []*member, dup []bool) {
	// SET NX GET keeps an existing value ("processed", or an earlier copy's
	// "queued") and returns it. Only "queued" makes this delivery a
	// duplicate: that value is written by an ingress after the other
	// copy's task was enqueued, while "processed" may be the worker's mark
	// for this very copy, already stored (then a non-duplicate answer is
	// true too, as it is once a single-event task has completed). The copy
	// in the task is harmless: the worker's insert dedups it.
	cmds := make(rueidis.Commands, 0, len(members))
	idx := make([]int, 0, len(members))
	for i, m := range members {
		if dup[i] {
			continue
		}
		cmds = append(cmds, q.keys.B().Set().Key(MarkerPrefix+m.id).Value(MarkerQueued).Nx().Get().Px(q.o.MarkerTTL).Build())
		idx = append(idx, i)
	}
	for j, res := range q.keys.DoMulti(ctx, cmds...) {
		// An error loses only the duplicate answer for a later copy (the
		// events are queued; PostgreSQL still stores one row).
		if v, err := res.ToString(); err == nil && v == MarkerQueued {
			dup[idx[j]] = true
		}
	}
}

// dispatchLocked hands the waiting group to its first live member if a
// slot is free. q.mu is held.
func (q *GroupEnqueuer) dispatchLocked() {
	if q.inflight < q.o.Inflight && q.open != nil {
		q.takeLocked(q.open)
	}
}

// takeLocked hands g, the open group, to its first live member to send,
// whatever the slots (a full group waits for nothing). q.mu is held.
func (q *GroupEnqueuer) takeLocked(g *group) {
	q.open = nil
	live := g.members[:0]
	for _, m := range g.members {
		if !m.gone {
			live = append(live, m)
		}
	}
	g.members = live
	if len(live) == 0 {
		return
	}
	g.taken = true
	q.inflight++
	live[0].res <- result{lead: g}
}
