package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/rueidis"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/idempotency"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// db is a connection to the fixture's database, closed with the test.
func (f fixture) db(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

type fixture struct {
	h    *handler
	keys *idempotency.Keys
	rc   rueidis.Client
	url  string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	rdb := testenv.Redis(t)
	rc, err := queue.NewKeysClient(config.Redis{Addr: rdb.Addr, DB: rdb.DB, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	keys := idempotency.NewKeys(rc, time.Hour)
	h := &handler{keys: keys, store: st, metrics: newMetrics(prometheus.NewRegistry()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.batch = newBatcher(16, 2*time.Millisecond, h.flush)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { h.batch.Run(stop); close(done) }()
	t.Cleanup(func() { close(stop); <-done })
	return fixture{h: h, keys: keys, rc: rc, url: url}
}

func task(t *testing.T, provider, id string) *asynq.Task {
	t.Helper()
	tk, err := job.NewTask(job.Payload{Events: []job.Event{ev(provider, id, `{"eventId":"`+id+`"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func ev(provider, id, body string) job.Event {
	return job.Event{Provider: provider, EventID: id, ReceivedAt: time.Now(), ContentType: "application/json",
		Body: []byte(body), Headers: map[string]string{"User-Agent": "test"}}
}

func TestSameEventTwice(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		flushKeys bool // lose the Redis key between the two deliveries
		wantStage string
	}{
		{"redis key present", false, "processed"},
		{"redis key flushed", true, "stored"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if err := f.h.ProcessTask(ctx, task(t, "stripe", "evt-1")); err != nil {
				t.Fatalf("first delivery: %v", err)
			}
			if tt.flushKeys {
				if err := f.rc.Do(ctx, f.rc.B().Flushdb().Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.h.ProcessTask(ctx, task(t, "stripe", "evt-1")); err != nil {
				t.Fatalf("second delivery: %v", err)
			}
			if n := testenv.Rows(t, f.url); n != 1 {
				t.Errorf("rows = %d, want 1", n)
			}
			if got := testutil.ToFloat64(f.h.metrics.duplicates.WithLabelValues(tt.wantStage)); got != 1 {
				t.Errorf("duplicates{stage=%s} = %v, want 1", tt.wantStage, got)
			}
			if got := testutil.ToFloat64(f.h.metrics.persisted); got != 1 {
				t.Errorf("persisted = %v, want 1", got)
			}
		})
	}
}

func TestConcurrentDeliveriesOneRow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() { errs <- f.h.ProcessTask(ctx, task(t, "gh", string(rune('a'+i%20)))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := testenv.Rows(t, f.url); n != 20 {
		t.Errorf("rows = %d, want 20", n)
	}
}

// A task that cannot be decoded is kept in PostgreSQL, byte for byte, and
// acknowledged: asynq's archive forgets what it trims.
func TestUndecodableIsDeadLettered(t *testing.T) {
	f := newFixture(t)
	if err := f.h.ProcessTask(context.Background(), asynq.NewTask(job.TypeIngest, []byte("not a task"))); err != nil {
		t.Fatalf("err = %v, want the task acknowledged", err)
	}
	if got := testutil.ToFloat64(f.h.metrics.deadLetters.WithLabelValues("undecodable")); got != 1 {
		t.Errorf("dead_letters{undecodable} = %v, want 1", got)
	}
	var body []byte
	var reason string
	if err := f.db(t).QueryRow(context.Background(), `select body, reason from webhook_dead_letters`).Scan(&body, &reason); err != nil {
		t.Fatal(err)
	}
	if string(body) != "not a task" || !strings.HasPrefix(reason, "undecodable") {
		t.Errorf("dead letter = %q, %q", body, reason)
	}
}

// One event PostgreSQL can never store (a number jsonb cannot hold, a NUL
// in a string) must not hold back the others of its task or its batch:
// they are stored at once, it becomes a dead letter, and the task is done.
func TestPoisonEventIsolated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	poison := []job.Event{ev("p", "big", `{"n":1e1000000}`), ev("p", "nul", `{"s":"a\u0000b"}`)}
	var tasks []*asynq.Task
	for i := range 20 {
		evs := []job.Event{ev("p", "ok-"+strconv.Itoa(i), `{"ok":true}`)}
		if i < len(poison) {
			evs = append(evs, poison[i])
		}
		tk, err := job.NewTask(job.Payload{Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, tk)
	}
	var wg sync.WaitGroup
	for _, tk := range tasks {
		wg.Go(func() {
			if err := f.h.ProcessTask(ctx, tk); err != nil {
				t.Errorf("task failed: %v", err)
			}
		})
	}
	wg.Wait()
	if n := testenv.Rows(t, f.url); n != 20 {
		t.Errorf("rows = %d, want the 20 valid events", n)
	}
	var ids []string
	rows, err := f.db(t).Query(ctx, `select event_id from webhook_dead_letters order by event_id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) != 2 || ids[0] != "big" || ids[1] != "nul" {
		t.Errorf("dead letters = %v, %v; want [big nul]", ids, err)
	}
	// A redelivery of the poison counts one more attempt on the same row.
	tk, _ := job.NewTask(job.Payload{Events: []job.Event{poison[0]}})
	if err := f.h.ProcessTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	var attempts int
	if err := f.db(t).QueryRow(ctx, `select attempts from webhook_dead_letters where event_id = 'big'`).Scan(&attempts); err != nil || attempts != 2 {
		t.Errorf("attempts = %d, %v; want 2", attempts, err)
	}
}

// Raw bytes, content type, event type and headers reach the row as sent;
// a form body also gets its JSON form, a text body none.
func TestRowKeepsRawBody(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	form := job.Event{Provider: "twilio", EventID: "SM1", EventType: "sms", ReceivedAt: time.Now(),
		ContentType: "application/x-www-form-urlencoded", Body: []byte("MessageSid=SM1&Body=hi+there")}
	text := job.Event{Provider: "x", EventID: "t1", ReceivedAt: time.Now(), ContentType: "text/plain", Body: []byte("  raw\n")}
	js := ev("stripe", "evt_1", `{ "b":1,  "a":2 }`)
	tk, _ := job.NewTask(job.Payload{Events: []job.Event{form, text, js}})
	if err := f.h.ProcessTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ id, body, payload, ct, typ string }{
		{"SM1", "MessageSid=SM1&Body=hi+there", `{"Body": "hi there", "MessageSid": "SM1"}`, "application/x-www-form-urlencoded", "sms"},
		{"t1", "  raw\n", "", "text/plain", ""},
		{"evt_1", `{ "b":1,  "a":2 }`, `{"a": 2, "b": 1}`, "application/json", ""},
	} {
		var body []byte
		var payload, ct, typ string
		err := f.db(t).QueryRow(ctx, `select body, coalesce(payload::text, ''), content_type, coalesce(event_type, '')
			from webhook_events where event_id = $1`, want.id).Scan(&body, &payload, &ct, &typ)
		if err != nil {
			t.Fatal(want.id, err)
		}
		if string(body) != want.body || payload != want.payload || ct != want.ct || typ != want.typ {
			t.Errorf("%s: row = %q %q %q %q, want %+v", want.id, body, payload, ct, typ, want)
		}
	}
}

func TestStoreDownFailsTaskForRetry(t *testing.T) {
	f := newFixture(t)
	f.h.store.Close() // every insert now fails
	err := f.h.ProcessTask(context.Background(), task(t, "stripe", "evt-1"))
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

// An outage is never a failure that counts towards archiving, and retries
// back off with the outage's length.
func TestOutageRetriesWithoutArchiving(t *testing.T) {
	f := newFixture(t)
	if isFailure(errors.New("connection refused")) {
		t.Error("an outage error counts towards the retry limit")
	}
	if d := f.h.retryDelay(0, nil, nil); d > time.Second {
		t.Errorf("delay while healthy = %s, want at most 1s", d)
	}
	f.h.failingSince.Store(time.Now().Add(-10 * time.Minute).UnixNano())
	if d := f.h.retryDelay(0, nil, nil); d < 30*time.Second || d > time.Minute {
		t.Errorf("delay 10 min into an outage = %s, want 30s..1m", d)
	}
}
