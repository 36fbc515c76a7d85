package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func count(t *testing.T, url, query string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention drops the partitions of old days while inserts go on; an old
// event re-delivered after its partition is gone is still recognised
// (its key outlives it, DEDUP), and keys past the horizon go too.
func TestRetentionDropsPartitionsWhileInserting(t *testing.T) {
	ctx := context.Background()
	url, st := migrated(t)
	now := time.Now().UTC()
	day := 24 * time.Hour
	old := now.Add(-10 * day)
	older := now.Add(-40 * day)

	// Old days get their partitions first, as they would have at the time.
	for _, at := range []time.Time{old, older} {
		if _, err := st.Maintain(ctx, store.Retention{DaysAhead: 0}, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []time.Time{old, older} {
		evs := make([]store.Event, 100)
		for i := range evs {
			evs[i] = event("p", fmt.Sprintf("%s-%d", at.Format(time.DateOnly), i), at)
		}
		if _, err := st.Insert(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	before := count(t, url, `select count(*) from pg_inherits where inhparent = 'webhook_events'::regclass`)

	// Inserts of today's events run throughout.
	var stop atomic.Bool
	var inserted atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			got, err := st.Insert(ctx, []store.Event{event("p", fmt.Sprintf("live-%d", i), time.Now())})
			if err != nil {
				errc <- err
				return
			}
			inserted.Add(int64(len(got)))
		}
	})
	time.Sleep(200 * time.Millisecond)

	r := store.Retention{Events: 7 * day, Dedup: 30 * day, DaysAhead: 3}
	m, err := st.Maintain(ctx, r, now)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("insert during retention: %v", err)
	default:
	}
	if err != nil {
		t.Fatal(err)
	}
	// Each old day came with the partition of the day before it.
	if !m.Elected || len(m.Dropped) != 4 {
		t.Fatalf("maintenance = %+v, want the 4 old days dropped", m)
	}
	if inserted.Load() == 0 {
		t.Fatal("no insert ran during retention")
	}
	after := count(t, url, `select count(*) from pg_inherits where inhparent = 'webhook_events'::regclass`)
	if after != before-4+m.Created {
		t.Errorf("partitions %d -> %d (created %d), want 4 fewer", before, after, m.Created)
	}
	if n := testenv.Rows(t, url); n != int(inserted.Load()) {
		t.Errorf("rows = %d, want the %d live ones", n, inserted.Load())
	}
	if m.KeysDeleted != 100 {
		t.Errorf("keys deleted = %d, want the 100 keys older than 30 days", m.KeysDeleted)
	}

	// Re-deliveries: within the dedup horizon the key still holds; past it
	// (40 days, keys gone) the event would be taken as new — but its day
	// has no partition any more, so it lands in the default partition.
	redelivered := []store.Event{event("p", old.Format(time.DateOnly)+"-1", old), event("p", older.Format(time.DateOnly)+"-1", older)}
	got, err := st.Insert(ctx, redelivered)
	if err != nil {
		t.Fatal(err)
	}
	if got[store.Key{Provider: "p", EventID: old.Format(time.DateOnly) + "-1"}] {
		t.Error("an event re-delivered within the dedup horizon was inserted again")
	}
	if !got[store.Key{Provider: "p", EventID: older.Format(time.DateOnly) + "-1"}] {
		t.Error("an event past the dedup horizon was not taken as new")
	}
	if n := count(t, url, `select count(*) from webhook_events_default`); n != 1 {
		t.Errorf("default partition holds %d rows, want 1", n)
	}
	// The next run deletes it: it is older than the retention.
	if _, err := st.Maintain(ctx, r, now); err != nil {
		t.Fatal(err)
	}
	if n := count(t, url, `select count(*) from webhook_events_default`); n != 0 {
		t.Errorf("default partition holds %d rows after maintenance, want 0", n)
	}

	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Partitions != after || stats.EventBytes <= 0 || stats.KeyBytes <= 0 || time.Since(stats.Oldest) > time.Minute {
		t.Errorf("stats = %+v", stats)
	}
}

// Only one caller maintains at a time; partitions are created ahead and a
// second run creates nothing.
func TestMaintainElectsOneAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	url, st := migrated(t)
	st2, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "select pg_advisory_lock(x'7765626872657465'::bigint)"); err != nil {
		t.Fatal(err)
	}
	m, err := st.Maintain(ctx, store.Retention{DaysAhead: 10}, time.Now())
	if err != nil || m.Elected {
		t.Fatalf("maintenance while another holds the lock = %+v, %v; want not elected", m, err)
	}
	if _, err := conn.Exec(ctx, "select pg_advisory_unlock(x'7765626872657465'::bigint)"); err != nil {
		t.Fatal(err)
	}
	m, err = st2.Maintain(ctx, store.Retention{DaysAhead: 10}, time.Now())
	if err != nil || !m.Elected || m.Created != 7 { // the migration made yesterday..today+3
		t.Fatalf("first maintenance = %+v, %v; want 7 partitions created", m, err)
	}
	m, err = st.Maintain(ctx, store.Retention{DaysAhead: 10}, time.Now())
	if err != nil || !m.Elected || m.Created != 0 {
		t.Fatalf("second maintenance = %+v, %v; want nothing to create", m, err)
	}
	// An event dated in a future day with no partition yet lands in the
	// default partition and moves to its day when that is created.
	far := time.Now().Add(20 * 24 * time.Hour)
	if _, err := st.Insert(ctx, []store.Event{event("p", "future", far)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Maintain(ctx, store.Retention{DaysAhead: 25}, time.Now()); err != nil {
		t.Fatal(err)
	}
	name := "webhook_events_p" + far.UTC().Format("20060102")
	if n := count(t, url, "select count(*) from "+name); n != 1 {
		t.Errorf("%s holds %d rows, want the future event", name, n)
	}
}

// Migration 3 (partitioning) runs on a table that already holds rows across
// several days: every row is kept with its id, the keys still deduplicate,
// and the stream returns them all.
func TestPartitionMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.MigrateTo(ctx, url, 2); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `insert into webhook_events (provider, event_id, payload, body, content_type, event_type, received_at)
		select 'p', 'old-' || g, jsonb_build_object('n', g), convert_to('{"n":' || g || '}', 'UTF8'), 'application/json', 't',
		       now() - make_interval(days => g % 20)
		from generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}
	var sum int64
	if err := conn.QueryRow(ctx, `select sum(id) from webhook_events`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if v, err := store.Migrate(ctx, url); err != nil || v < 3 {
		t.Fatalf("migrate = %d, %v", v, err)
	}
	var n int
	var sumAfter int64
	if err := conn.QueryRow(ctx, `select count(*), sum(id) from webhook_events`).Scan(&n, &sumAfter); err != nil {
		t.Fatal(err)
	}
	if n != 2000 || sumAfter != sum {
		t.Errorf("after migration: %d rows (id sum %d), want 2000 (id sum %d)", n, sumAfter, sum)
	}
	if d := count(t, url, `select count(*) from webhook_events_default`); d != 0 {
		t.Errorf("default partition holds %d rows, want every row in its day", d)
	}
	if p := count(t, url, `select count(*) from pg_inherits where inhparent = 'webhook_events'::regclass`); p < 21 {
		t.Errorf("%d partitions, want at least one per day of data", p)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Insert(ctx, []store.Event{event("p", "old-7", time.Now()), event("p", "new", time.Now())})
	if err != nil || len(got) != 1 || !got[store.Key{Provider: "p", EventID: "new"}] {
		t.Fatalf("insert after migration = %v, %v; want only the new row", got, err)
	}
	var maxOld int64
	if err := conn.QueryRow(ctx, `select max(id) filter (where event_id <> 'new'), max(id) filter (where event_id = 'new') from webhook_events`).Scan(&maxOld, &sumAfter); err != nil || sumAfter <= maxOld {
		t.Errorf("new row id %d not above the migrated ids (max %d): %v", sumAfter, maxOld, err)
	}
	// Rows appear once every older transaction on the server has ended (the
	// watermark), and other tests' transactions share this server: follow
	// the stream as a consumer would, until it has everything or a deadline.
	seen := 0
	var cur store.Cursor
	for deadline := time.Now().Add(30 * time.Second); seen < 2001 && time.Now().Before(deadline); {
		page, err := st.Events(ctx, store.Query{After: cur, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page.Events)
		cur = page.Next
		if len(page.Events) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if seen != 2001 {
		t.Errorf("stream returned %d rows, want 2001", seen)
	}
	// And back down: the unpartitioned table with every row.
	if _, err := store.MigrateTo(ctx, url, 2); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Rows(t, url); n != 2001 {
		t.Errorf("after migrating down: %d rows, want 2001", n)
	}
}
