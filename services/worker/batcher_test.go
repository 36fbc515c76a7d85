package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

func TestBatcherGroupsAndReportsEach(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	flush := func(_ context.Context, evs []store.Event) (map[store.Key]bool, error) {
		mu.Lock()
		sizes = append(sizes, len(evs))
		mu.Unlock()
		ins := map[store.Key]bool{}
		for _, e := range evs {
			ins[store.Key{Provider: e.Provider, EventID: e.EventID}] = e.EventID != "dup"
		}
		return ins, nil
	}
	b := newBatcher(10, 50*time.Millisecond, flush)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.Run(stop); close(done) }()

	var wg sync.WaitGroup
	results := make([]bool, 25)
	for i := range 25 {
		wg.Go(func() {
			id := "e" + string(rune('a'+i))
			if i == 0 {
				id = "dup"
			}
			ins, err := b.Add(context.Background(), store.Event{Provider: "p", EventID: id})
			if err != nil {
				t.Error(err)
			}
			results[i] = ins
		})
	}
	wg.Wait()
	close(stop)
	<-done

	total := 0
	for _, n := range sizes {
		if n > 10 {
			t.Errorf("batch of %d, want at most 10", n)
		}
		total += n
	}
	if total != 25 || len(sizes) < 3 {
		t.Errorf("batches %v: want 25 events in at least 3 batches", sizes)
	}
	for i, ins := range results {
		if ins != (i != 0) {
			t.Errorf("event %d inserted = %v", i, ins)
		}
	}
}

func TestBatcherPropagatesFailure(t *testing.T) {
	boom := errors.New("db down")
	b := newBatcher(4, time.Millisecond, func(context.Context, []store.Event) (map[store.Key]bool, error) { return nil, boom })
	stop := make(chan struct{})
	defer close(stop)
	go b.Run(stop)
	if _, err := b.Add(context.Background(), store.Event{Provider: "p", EventID: "1"}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestBatcherAddHonoursContext(t *testing.T) {
	b := newBatcher(1, time.Millisecond, nil) // no Run loop: nothing is ever taken
	b.in <- batchItem{}                       // fill the buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Add(ctx, store.Event{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
