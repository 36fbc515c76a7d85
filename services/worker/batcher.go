package main

import (
	"context"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// flushTimeout bounds one batch write, so a hung database fails the batch
// (its tasks are retried) instead of holding its handlers forever.
const flushTimeout = 15 * time.Second

// outcome is what became of one event of a batch.
type outcome int

const (
	// present: the row was already there (a redelivery).
	present outcome = iota
	// inserted: this batch wrote the row.
	inserted
	// deadLettered: PostgreSQL refuses the event for good; it is in
	// webhook_dead_letters instead.
	deadLettered
)

// flushFunc writes one batch and reports each event's outcome by key. An
// error means nothing can be said of any event: all are retried.
type flushFunc func(ctx context.Context, events []store.Event) (map[store.Key]outcome, error)

// batcher gathers events from concurrent task handlers into one INSERT per
// batch (up to size events, or whatever arrived within wait of the first),
// and tells each handler its events' outcomes only after the batch
// committed, so an acknowledged task always has its rows.
type batcher struct {
	in    chan batchItem
	size  int
	wait  time.Duration
	flush flushFunc
}

type batchItem struct {
	event store.Event
	idx   int // the event's place in its Add call
	done  chan batchResult
}

type batchResult struct {
	idx     int
	outcome outcome
	err     error
}

func newBatcher(size int, wait time.Duration, flush flushFunc) *batcher {
	return &batcher{in: make(chan batchItem, size), size: size, wait: wait, flush: flush}
}

// Add queues events for the next batches and waits for their outcomes,
// returned in the order of events. Any error means the caller's task must
// be retried (rows already written are found then).
func (b *batcher) Add(ctx context.Context, events []store.Event) ([]outcome, error) {
	// One buffered channel for all the events: each result lands at once,
	// whichever batch carries it.
	done := make(chan batchResult, len(events))
	for i, e := range events {
		select {
		case b.in <- batchItem{event: e, idx: i, done: done}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]outcome, len(events))
	for range events {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err
			}
			out[r.idx] = r.outcome
		case <-ctx.Done():
			// The batch may still commit; the retry then finds the rows.
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// Run collects and flushes batches until stop is closed, then flushes what
// it holds and returns. Several Run loops may share one batcher so one batch
// is written while the next fills.
func (b *batcher) Run(stop <-chan struct{}) {
	items := make([]batchItem, 0, b.size)
	events := make([]store.Event, 0, b.size)
	timer := time.NewTimer(b.wait)
	timer.Stop()
	for {
		items, events = items[:0], events[:0]
		select {
		case it := <-b.in:
			items = append(items, it)
		case <-stop:
			return
		}
		timer.Reset(b.wait)
	fill:
		for len(items) < b.size {
			select {
			case it := <-b.in:
				items = append(items, it)
			case <-timer.C:
				break fill
			case <-stop:
				break fill
			}
		}
		timer.Stop()
		for _, it := range items {
			events = append(events, it.event)
		}
		b.write(items, events)
	}
}

func (b *batcher) write(items []batchItem, events []store.Event) {
	// Handlers wait for this outcome, so the write is not cut short by the
	// stop signal, only bounded in time.
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	outcomes, err := b.flush(ctx, events)
	for _, it := range items {
		k := store.Key{Provider: it.event.Provider, EventID: it.event.EventID}
		it.done <- batchResult{idx: it.idx, outcome: outcomes[k], err: err}
	}
}
