package main

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
)

// Reading a body with bounded memory, per request and per process.
//
// Nothing is allocated from what the sender announces: the buffer starts
// small (firstChunk, or the Content-Length when smaller) and doubles as bytes
// arrive, never beyond min(Content-Length, MAX_BODY_BYTES). Every buffer is
// paid for first from one process-wide budget of MAX_BODY_BYTES_IN_FLIGHT
// bytes; when the budget cannot pay, the request gets 503 with Retry-After
// at once (no waiting: a queue of waiters would hold connections and memory
// too). A stalled sender therefore holds firstChunk bytes of budget, not the
// Content-Length it claimed.
//
// golang.org/x/sync/semaphore is the budget: a weighted semaphore with
// TryAcquire is exactly this, and the module was already in the build.

// firstChunk is the first buffer for a body whose Content-Length is larger
// or unknown. The seed's envelopes (about 200 bytes) fit in one exact
// allocation; provider payloads of a few KiB take three or four doublings.
const firstChunk = 1 << 10

// errBusy: the process holds as many body bytes as it may; retry later.
var errBusy = errors.New("too many request bodies in flight")

// bodyBudget is the process-wide cap on body bytes held in buffers.
type bodyBudget struct {
	sem   *semaphore.Weighted
	inUse atomic.Int64 // for the gauge and the tests
}

func newBodyBudget(capacity int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(capacity)}
}

func (b *bodyBudget) tryAcquire(n int64) bool {
	if !b.sem.TryAcquire(n) {
		return false
	}
	b.inUse.Add(n)
	return true
}

func (b *bodyBudget) release(n int64) {
	if n > 0 {
		b.inUse.Add(-n)
		b.sem.Release(n)
	}
}

// readBody reads the whole body, at most limit bytes, paying for its buffer
// from budget. The caller must call release once the body is no longer used
// (also on error; release is never nil).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, budget *bodyBudget) (body []byte, release func(), err error) {
	var held int64
	release = func() { budget.release(held); held = 0 }
	if r.ContentLength > limit {
		return nil, release, &http.MaxBytesError{Limit: limit}
	}
	if r.ContentLength == 0 {
		return []byte{}, release, nil
	}
	want := limit // the largest the buffer may become
	if r.ContentLength > 0 {
		want = r.ContentLength
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) == want {
				// Full: the body must end here. With a Content-Length the
				// reader stops by itself; a chunked body is probed for one
				// byte more, which MaxBytesReader turns into 413.
				var probe [1]byte
				n, err := rd.Read(probe[:])
				if n == 0 && err == io.EOF {
					return buf, release, nil
				}
				if err == nil || err == io.EOF {
					err = &http.MaxBytesError{Limit: limit}
				}
				release()
				return nil, release, bodyError(err)
			}
			next := min(max(2*int64(cap(buf)), firstChunk), want)
			// Pay for the growth before allocating. The old buffer lives
			// on during the copy, unaccounted: charging it would make a
			// budget of exactly MAX_BODY_BYTES refuse a body of that size.
			if !budget.tryAcquire(next - held) {
				release()
				return nil, release, errBusy
			}
			held = next
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			return buf, release, nil
		case err != nil:
			release()
			return nil, release, bodyError(err)
		}
	}
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return &ingest.InvalidError{Detail: "the body could not be read completely"}
}
