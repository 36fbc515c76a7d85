package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)

	const starts = 6
	errs := make(chan error, starts)
	var wg sync.WaitGroup
	for range starts {
		wg.Go(func() {
			_, err := store.Migrate(ctx, url)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	before := schema(t, url)
	v, err := store.Migrate(ctx, url)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if int(v) != len(files) {
		t.Errorf("version = %d, want %d (one per migration file)", v, len(files))
	}
	if after := schema(t, url); after != before {
		t.Errorf("schema changed on re-run:\nbefore %s\nafter  %s", before, after)
	}
	if before == "" {
		t.Fatal("webhook_events has no columns")
	}
}

// schema describes webhook_events' columns and constraints.
func schema(t *testing.T, url string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	err = conn.QueryRow(context.Background(), `
		select coalesce(string_agg(column_name || ':' || data_type, ',' order by ordinal_position), '') ||
		       (select ';' || string_agg(conname, ',' order by conname) from pg_constraint where conrelid = 'webhook_events'::regclass)
		from information_schema.columns where table_name = 'webhook_events'`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInsertSkipsDuplicates(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	now := time.Now()
	ev := func(p, id string) store.Event {
		return store.Event{Provider: p, EventID: id, Payload: json.RawMessage(`{"eventId":"` + id + `"}`), ReceivedAt: now}
	}
	got, err := st.Insert(ctx, []store.Event{ev("a", "1"), ev("a", "2"), ev("a", "1"), ev("b", "1")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[store.Key]bool{{"a", "1"}: true, {"a", "2"}: true, {"b", "1"}: true}
	if len(got) != len(want) {
		t.Errorf("inserted = %v, want %v", got, want)
	}
	got, err = st.Insert(ctx, []store.Event{ev("a", "2"), ev("c", "9")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[store.Key{Provider: "c", EventID: "9"}] {
		t.Errorf("second batch inserted = %v, want only c/9", got)
	}
	if n := testenv.Rows(t, url); n != 4 {
		t.Errorf("rows = %d, want 4", n)
	}
}

// Migration 2 (raw bodies, dead letters) runs on a table that already holds
// rows: they keep their payload, get no raw body, and stay unique.
func TestRawBodyMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.MigrateTo(ctx, url, 1); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `insert into webhook_events (provider, event_id, payload, received_at)
		select 'p', 'old-' || g, jsonb_build_object('n', g), now() from generate_series(1, 1000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	var n, withBody int
	var ct string
	if err := conn.QueryRow(ctx, `select count(*), count(body), min(content_type) from webhook_events`).Scan(&n, &withBody, &ct); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || withBody != 0 || ct != "application/json" {
		t.Errorf("after migration: %d rows, %d with body, content type %q", n, withBody, ct)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Insert(ctx, []store.Event{{Provider: "p", EventID: "old-1", ContentType: "application/json", Body: []byte(`{}`), Payload: []byte(`{}`), ReceivedAt: time.Now()},
		{Provider: "p", EventID: "new", ContentType: "text/plain", Body: []byte("\x00raw"), ReceivedAt: time.Now()}})
	if err != nil || len(got) != 1 || !got[store.Key{Provider: "p", EventID: "new"}] {
		t.Fatalf("insert after migration = %v, %v; want only the new row", got, err)
	}
	var body []byte
	if err := conn.QueryRow(ctx, `select body from webhook_events where event_id = 'new'`).Scan(&body); err != nil || !bytes.Equal(body, []byte("\x00raw")) {
		t.Errorf("raw body = %q, %v", body, err)
	}
}

func TestIsPermanent(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Insert(ctx, []store.Event{{Provider: "p", EventID: "e", Body: []byte("x"), Payload: []byte(`{"n":1e1000000}`), ReceivedAt: time.Now()}})
	if !store.IsPermanent(err) {
		t.Errorf("jsonb out of range: IsPermanent(%v) = false", err)
	}
	st.Close()
	_, err = st.Insert(ctx, []store.Event{{Provider: "p", EventID: "e2", Body: []byte("x"), ReceivedAt: time.Now()}})
	if err == nil || store.IsPermanent(err) {
		t.Errorf("closed pool: IsPermanent(%v) = true, want an outage", err)
	}
}
