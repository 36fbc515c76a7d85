package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// records keeps every log record's level and message.
type records struct {
	mu   sync.Mutex
	recs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message)
	return nil
}

func (r *records) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

// flakyQueue fails every Enqueue while down is set.
type flakyQueue struct {
	mu   sync.Mutex
	down bool
}

func (q *flakyQueue) set(down bool) { q.mu.Lock(); q.down = down; q.mu.Unlock() }

func (q *flakyQueue) Enqueue(_ context.Context, e job.Event) (string, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return "", false, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return job.ID(e.Provider, e.EventID), false, nil
}

// While Redis is down the ingress logs the outage, not every request: one
// line when it starts, a reminder a minute later if it lasts, one when it
// ends; every request still gets ErrUnavailable.
func TestEnqueueOutageLogsByState(t *testing.T) {
	logs := &records{}
	q := &flakyQueue{}
	now := time.Unix(1_800_000_000, 0)
	var clock sync.Mutex
	tick := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	svc := ingest.NewService(q, slog.New(logs), ingest.WithClock(func() time.Time { clock.Lock(); defer clock.Unlock(); return now }))
	n := 0
	send := func(count int) (failed int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range count {
			n++
			body := `{"eventId":"evt-` + strconv.Itoa(n) + `"}`
			wg.Go(func() {
				_, err := svc.Accept(context.Background(), ingest.Request{Provider: "demo",
					Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)})
				if errors.Is(err, ingest.ErrUnavailable) {
					mu.Lock()
					failed++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return failed
	}
	expect := func(when string, want ...string) {
		t.Helper()
		got := logs.take()
		if len(got) != len(want) {
			t.Fatalf("%s: %d log lines %q, want %q", when, len(got), got, want)
		}
		for i := range want {
			if len(got[i]) < len(want[i]) || got[i][:len(want[i])] != want[i] {
				t.Errorf("%s: line %d = %q, want it to start with %q", when, i, got[i], want[i])
			}
		}
	}

	send(100)
	expect("Redis up")

	q.set(true)
	if f := send(500); f != 500 {
		t.Fatalf("%d of 500 requests failed while Redis was down", f)
	}
	expect("Redis down", "ERROR enqueue failing")
	tick(30 * time.Second)
	send(500)
	expect("30 s into the outage")
	tick(31 * time.Second)
	send(500)
	expect("a minute into the outage", "ERROR enqueue still failing")

	q.set(false)
	if f := send(500); f != 0 {
		t.Fatalf("%d requests failed after Redis came back", f)
	}
	expect("Redis back", "INFO enqueue recovered")

	q.set(true) // a second outage is reported again
	send(10)
	expect("second outage", "ERROR enqueue failing")
}
