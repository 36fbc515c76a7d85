package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

type dlFixture struct {
	st     *store.Store
	insp   *asynq.Inspector
	lookup envconfig.Lookuper
	url    string
}

func newDLFixture(t *testing.T) dlFixture {
	t.Helper()
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	r := testenv.Redis(t)
	rdb := queue.NewRedis(config.Redis{Addr: r.Addr, DB: r.DB, PoolSize: 4, Timeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	return dlFixture{
		st:   st,
		insp: asynq.NewInspectorFromRedisClient(rdb),
		lookup: envconfig.MapLookuper(map[string]string{
			"DATABASE_URL": url, "REDIS_ADDR": r.Addr, "REDIS_DB": strconv.Itoa(r.DB), "LOG_LEVEL": "error",
		}),
		url: url,
	}
}

func (f dlFixture) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := deadLetters(context.Background(), args, f.lookup, &out)
	return out.String(), err
}

func (f dlFixture) add(t *testing.T, e job.Event, reason string) {
	t.Helper()
	if err := f.st.AddDeadLetter(context.Background(), store.DeadLetter{Event: storeEvent(e), Reason: reason}); err != nil {
		t.Fatal(err)
	}
}

func (f dlFixture) count(t *testing.T) int64 {
	t.Helper()
	n, err := f.st.CountDeadLetters(context.Background(), store.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func poison(provider, id string) job.Event {
	return job.Event{
		Provider: provider, EventID: id, EventType: "invoice.paid",
		ReceivedAt:  time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
		ContentType: "application/json; charset=utf-8",
		Body:        []byte(`{"eventId":"` + id + `","n":1e1000000}`),
		Headers:     map[string]string{"User-Agent": "Stripe/1.0", "X-Request-Id": "req-" + id},
	}
}

// TestReplayReenqueuesExactEvents: replay by provider puts exactly those
// events back on the queue, byte for byte, and deletes only their rows.
func TestReplayReenqueuesExactEvents(t *testing.T) {
	f := newDLFixture(t)
	a1, a2, b1 := poison("acme", "e1"), poison("acme", "e2"), poison("beta", "e1")
	for _, e := range []job.Event{a1, a2, b1} {
		f.add(t, e, "unstorable: test")
	}

	out, err := f.run(t, "list", "-provider", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out, "acme"); got != 2 || strings.Contains(out, "beta") {
		t.Fatalf("list -provider acme:\n%s", out)
	}

	if _, err := f.run(t, "replay"); err == nil {
		t.Fatal("replay without a filter or -all must refuse")
	}
	if _, err := f.run(t, "replay", "-provider", "acme"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []job.Event{a1, a2} {
		info, err := f.insp.GetTaskInfo(job.Queue, job.ID(want.Provider, want.EventID))
		if err != nil {
			t.Fatalf("task of %s/%s not queued: %v", want.Provider, want.EventID, err)
		}
		p, err := job.Decode(info.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]job.Event{want}, p.Events); diff != "" {
			t.Errorf("replayed event differs (-want +got):\n%s", diff)
		}
	}
	rows, err := f.st.ListDeadLetters(context.Background(), store.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Provider != "beta" {
		t.Fatalf("rows left after replay = %+v, want only beta's", rows)
	}
}

// TestReplayKeepsRowsWhenRedisIsDown: no acknowledgement, no deletion.
func TestReplayKeepsRowsWhenRedisIsDown(t *testing.T) {
	f := newDLFixture(t)
	f.add(t, poison("acme", "e1"), "unstorable: test")
	down := envconfig.MultiLookuper(envconfig.MapLookuper(map[string]string{
		"REDIS_ADDR": "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), "REDIS_TIMEOUT": "200ms",
	}), f.lookup)
	var out bytes.Buffer
	if err := deadLetters(context.Background(), []string{"replay", "-all"}, down, &out); err == nil {
		t.Fatal("replay with Redis down returned nil")
	}
	if n := f.count(t); n != 1 {
		t.Fatalf("rows after a failed replay = %d, want 1", n)
	}
}

// TestReplayedRowFailingAgainIsKept: the worker dead-lettering the event
// again between replay's read and its delete must not lose that failure.
func TestReplayedRowFailingAgainIsKept(t *testing.T) {
	f := newDLFixture(t)
	ctx := context.Background()
	f.add(t, poison("acme", "e1"), "unstorable: test")
	rows, err := f.st.ListDeadLetters(ctx, store.DeadLetterFilter{})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows = %v, err = %v", rows, err)
	}
	f.add(t, poison("acme", "e1"), "unstorable: again")
	if removed, err := f.st.RemoveReplayed(ctx, rows[0]); err != nil || removed {
		t.Fatalf("RemoveReplayed of a changed row = %v, %v; want false", removed, err)
	}
	if n := f.count(t); n != 1 {
		t.Fatalf("rows = %d, want 1", n)
	}
	rows, _ = f.st.ListDeadLetters(ctx, store.DeadLetterFilter{})
	if removed, err := f.st.RemoveReplayed(ctx, rows[0]); err != nil || !removed {
		t.Fatalf("RemoveReplayed of an unchanged row = %v, %v; want true", removed, err)
	}
}

// TestReplayUndecodableTask: a task stored whole goes back as it was.
func TestReplayUndecodableTask(t *testing.T) {
	f := newDLFixture(t)
	ctx := context.Background()
	raw := []byte{9, 9, 9}
	if err := f.st.AddDeadLetter(ctx, store.DeadLetter{Event: store.Event{ContentType: "application/octet-stream", Body: raw}, Reason: "undecodable: x"}); err != nil {
		t.Fatal(err)
	}
	rows, _ := f.st.ListDeadLetters(ctx, store.DeadLetterFilter{})
	if _, err := f.run(t, "replay", "-id", strconv.FormatInt(rows[0].ID, 10)); err != nil {
		t.Fatal(err)
	}
	info, err := f.insp.GetTaskInfo(job.Queue, "deadletter-"+strconv.FormatInt(rows[0].ID, 10))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.Payload, raw) {
		t.Errorf("payload = %v, want %v", info.Payload, raw)
	}
	if n := f.count(t); n != 0 {
		t.Errorf("rows = %d, want 0", n)
	}
}

func TestPurgeNeedsConfirmationAndFilters(t *testing.T) {
	f := newDLFixture(t)
	f.add(t, poison("acme", "e1"), "unstorable: test")
	f.add(t, poison("acme", "e2"), "unstorable: test")
	f.add(t, poison("beta", "e1"), "unstorable: test")

	if _, err := f.run(t, "purge", "-provider", "acme"); err == nil || !strings.Contains(err.Error(), "2 dead letters") {
		t.Fatalf("purge without -yes: err = %v, want a refusal naming the count", err)
	}
	if _, err := f.run(t, "purge", "-yes"); err == nil {
		t.Fatal("purge without a filter or -all must refuse")
	}
	if n := f.count(t); n != 3 {
		t.Fatalf("rows after refused purges = %d, want 3", n)
	}
	if _, err := f.run(t, "purge", "-provider", "acme", "-event-id", "e2", "-yes"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t); n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
	// A time range that selects nothing deletes nothing.
	if _, err := f.run(t, "purge", "-until", "2000-01-01T00:00:00Z", "-yes"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t); n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
	if _, err := f.run(t, "purge", "-since", "1h", "-yes"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("rows = %d, want 0", n)
	}
}

func TestListJSON(t *testing.T) {
	f := newDLFixture(t)
	e := poison("acme", "e1")
	f.add(t, e, "unstorable: test")
	out, err := f.run(t, "list", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Provider, EventID, Body, BodyEncoding, Reason string
		Attempts                                      int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Provider != "acme" || got.EventID != "e1" || got.Body != string(e.Body) || got.BodyEncoding != "text" || got.Attempts != 1 {
		t.Errorf("list -json = %+v", got)
	}
}

// TestArchiveImport: tasks an earlier release archived become rows, and
// leave the archive only once stored.
func TestArchiveImport(t *testing.T) {
	f := newDLFixture(t)
	r := queue.NewRedis(config.Redis{Addr: mustLookup(t, f.lookup, "REDIS_ADDR"), DB: atoi(t, mustLookup(t, f.lookup, "REDIS_DB")), PoolSize: 2, Timeout: 2 * time.Second})
	defer r.Close()
	client := asynq.NewClientFromRedisClient(r)
	var ids []string
	for i := range 3 {
		tk, err := job.NewTask(job.Payload{Events: []job.Event{poison("old", "e"+strconv.Itoa(i))}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := client.Enqueue(tk)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	// A legacy JSON task too.
	legacy := asynq.NewTask(job.TypeIngest, []byte(`{"provider":"old","eventId":"legacy","receivedAt":"2025-01-01T00:00:00Z","body":{"eventId":"legacy"}}`), asynq.Queue(job.Queue), asynq.TaskID("legacy"))
	if _, err := client.Enqueue(legacy); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids, "legacy") {
		if err := f.insp.ArchiveTask(job.Queue, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.run(t, "archive"); err != nil {
		t.Fatal(err)
	}
	q, err := f.insp.GetQueueInfo(job.Queue)
	if err != nil {
		t.Fatal(err)
	}
	if q.Archived != 0 {
		t.Errorf("archived after import = %d, want 0", q.Archived)
	}
	rows, err := f.st.ListDeadLetters(context.Background(), store.DeadLetterFilter{Provider: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("rows = %d, want 4", len(rows))
	}
	for _, row := range rows {
		if !strings.HasPrefix(row.Reason, "archived by an earlier release") {
			t.Errorf("reason = %q", row.Reason)
		}
	}
}

func mustLookup(t *testing.T, l envconfig.Lookuper, k string) string {
	t.Helper()
	v, ok := l.Lookup(k)
	if !ok {
		t.Fatalf("%s not set", k)
	}
	return v
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
