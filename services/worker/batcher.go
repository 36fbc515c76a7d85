package main

import (
	"context"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// flushTimeout bounds one batch write, so a hung database fails the batch
// (its tasks are retried) instead of holding its handlers forever.
const flushTimeout = 15 * time.Second

// flushFunc writes one batch and reports which events it inserted.
type flushFunc func(ctx context.Context, events []store.Event) (map[store.Key]bool, error)

// batcher gathers events from concurrent task handlers into one INSERT per
// batch (up to size events, or whatever arrived within wait of the first),
// and tells each handler its own outcome only after the batch committed, so
// an acknowledged task always has its row.
type batcher struct {
	in    chan batchItem
	size  int
	wait  time.Duration
	flush flushFunc
}

type batchItem struct {
	event store.Event
	done  chan batchResult
}

type batchResult struct {
	inserted bool
	err      error
}

func newBatcher(size int, wait time.Duration, flush flushFunc) *batcher {
	return &batcher{in: make(chan batchItem, size), size: size, wait: wait, flush: flush}
}

// Add queues e for the next batch and waits for that batch's outcome:
// inserted is false when the event was already stored.
func (b *batcher) Add(ctx context.Context, e store.Event) (inserted bool, err error) {
	it := batchItem{event: e, done: make(chan batchResult, 1)}
	select {
	case b.in <- it:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-it.done:
		return r.inserted, r.err
	case <-ctx.Done():
		// The batch may still commit; the retry then finds the row.
		return false, ctx.Err()
	}
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
	inserted, err := b.flush(ctx, events)
	for _, it := range items {
		k := store.Key{Provider: it.event.Provider, EventID: it.event.EventID}
		it.done <- batchResult{inserted: inserted[k], err: err}
	}
}
