package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
)

// chunkedReader hands out at most n bytes per Read, as a network does, and
// ends with err (io.EOF, or io.ErrUnexpectedEOF as net/http's body reader
// does when fewer bytes arrive than Content-Length announced).
type chunkedReader struct {
	b   []byte
	n   int
	err error
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n, len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// FuzzReadBody: whatever the body, its framing and how it trickles in,
// readBody never returns more than the limit, never allocates more than
// twice the limit (the doubling buffer), holds at least what it returns
// from the budget and never more than the budget, and gives it all back.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(`{"eventId":"e-1"}`), uint8(0), uint8(7), uint16(64))
	f.Add(bytes.Repeat([]byte("x"), 3000), uint8(1), uint8(255), uint16(2048))
	f.Add(bytes.Repeat([]byte("y"), 1500), uint8(2), uint8(1), uint16(4096))
	f.Add([]byte{}, uint8(1), uint8(1), uint16(1))
	f.Fuzz(func(t *testing.T, body []byte, mode, chunk uint8, limit16 uint16) {
		limit := int64(limit16%8192) + 1
		budget := newBodyBudget(2 * limit)
		read := func() ([]byte, func(), int64, error) {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/p", nil)
			rd := &chunkedReader{b: body, n: int(chunk) + 1, err: io.EOF}
			switch mode % 3 {
			case 0: // honest Content-Length
				req.ContentLength = int64(len(body))
			case 1: // chunked
				req.ContentLength = -1
			case 2: // announces more than it sends
				req.ContentLength = int64(len(body)) + 1 + int64(chunk)
				rd.err = io.ErrUnexpectedEOF
			}
			req.Body = io.NopCloser(rd)
			w := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, release, err := readBody(w, req, limit, budget)
			runtime.ReadMemStats(&after)
			return got, release, int64(after.TotalAlloc - before.TotalAlloc), err
		}
		got, release, alloc, err := read()
		// TotalAlloc is process-wide: the fuzzing engine's own goroutines
		// allocate too. A real excess repeats; their noise does not.
		for try := 0; alloc > 2*limit+4096 && try < 3; try++ {
			release()
			got, release, alloc, err = read()
		}
		if alloc > 2*limit+4096 {
			t.Fatalf("allocated %d bytes for a limit of %d", alloc, limit)
		}
		if held := budget.inUse.Load(); held > 2*limit || held < int64(len(got)) {
			t.Fatalf("holds %d of the budget for a %d-byte body (budget %d)", held, len(got), 2*limit)
		}
		var tooLarge *http.MaxBytesError
		switch {
		case int64(len(body)) > limit && mode%3 != 2:
			if !errors.As(err, &tooLarge) {
				t.Fatalf("%d bytes over a limit of %d: err %v, want 413", len(body), limit, err)
			}
		case mode%3 == 2:
			if err == nil {
				t.Fatalf("a body shorter than its Content-Length was accepted")
			}
		case err != nil:
			t.Fatalf("%d bytes within a limit of %d: %v", len(body), limit, err)
		case !bytes.Equal(got, body):
			t.Fatalf("read %q, sent %q", got, body)
		}
		release()
		release() // idempotent
		if held := budget.inUse.Load(); held != 0 {
			t.Fatalf("%d bytes still held after release", held)
		}
	})
}

// Many concurrent readers against a small budget: the bytes held never
// exceed it, every refusal is errBusy, and all of it comes back.
func TestBodyBudgetUnderConcurrency(t *testing.T) {
	const limit, capacity = 4096, 3 * 4096
	budget := newBodyBudget(capacity)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		maxHeld int64
		served  int
		busy    int
	)
	for i := range 200 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			body := bytes.Repeat([]byte("z"), r.IntN(limit)+1)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/p", nil)
			req.ContentLength = -1
			req.Body = io.NopCloser(&chunkedReader{b: body, n: r.IntN(512) + 1, err: io.EOF})
			got, release, err := readBody(httptest.NewRecorder(), req, limit, budget)
			held := budget.inUse.Load()
			runtime.Gosched()
			release()
			mu.Lock()
			defer mu.Unlock()
			maxHeld = max(maxHeld, held)
			switch {
			case err == nil && bytes.Equal(got, body):
				served++
			case errors.Is(err, errBusy):
				busy++
			default:
				t.Errorf("reader %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if maxHeld > capacity {
		t.Errorf("held %d bytes at once, budget %d", maxHeld, capacity)
	}
	if budget.inUse.Load() != 0 || served == 0 {
		t.Errorf("after all: %d held, %d served, %d busy", budget.inUse.Load(), served, busy)
	}
	t.Logf("%d served, %d refused busy, at most %d bytes held", served, busy, maxHeld)
}
