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
	flush := func(_ context.Context, evs []store.Event) (map[store.Key]outcome, error) {
		mu.Lock()
		sizes = append(sizes, len(evs))
		mu.Unlock()
		out := map[store.Key]outcome{}
		for _, e := range evs {
			o := inserted
			switch e.EventID {
			case "dup":
				o = present
			case "bad":
				o = deadLettered
			}
			out[store.Key{Provider: e.Provider, EventID: e.EventID}] = o
		}
		return out, nil
	}
	b := newBatcher(10, 50*time.Millisecond, flush)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.Run(stop); close(done) }()

	var wg sync.WaitGroup
	results := make([][]outcome, 25)
	for i := range 25 {
		wg.Go(func() {
			// Each caller adds two events, the first of caller 0 a
			// duplicate and its second unstorable.
			evs := []store.Event{{Provider: "p", EventID: string(rune('a' + i))}, {Provider: "q", EventID: string(rune('a' + i))}}
			if i == 0 {
				evs[0].EventID, evs[1].EventID = "dup", "bad"
			}
			out, err := b.Add(context.Background(), evs)
			if err != nil {
				t.Error(err)
			}
			results[i] = out
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
	if total != 50 || len(sizes) < 5 {
		t.Errorf("batches %v: want 50 events in at least 5 batches", sizes)
	}
	for i, out := range results {
		want := []outcome{inserted, inserted}
		if i == 0 {
			want = []outcome{present, deadLettered}
		}
		if len(out) != 2 || out[0] != want[0] || out[1] != want[1] {
			t.Errorf("caller %d outcomes = %v, want %v", i, out, want)
		}
	}
}

func TestBatcherPropagatesFailure(t *testing.T) {
	boom := errors.New("db down")
	b := newBatcher(4, time.Millisecond, func(context.Context, []store.Event) (map[store.Key]outcome, error) { return nil, boom })
	stop := make(chan struct{})
	defer close(stop)
	go b.Run(stop)
	if _, err := b.Add(context.Background(), []store.Event{{Provider: "p", EventID: "1"}}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestBatcherAddHonoursContext(t *testing.T) {
	b := newBatcher(1, time.Millisecond, nil) // no Run loop: nothing is ever taken
	b.in <- batchItem{}                       // fill the buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Add(ctx, []store.Event{{}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
