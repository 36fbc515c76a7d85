package store_test

import (
	"context"
	"encoding/json"
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
	if v != 1 {
		t.Errorf("version = %d, want 1", v)
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
