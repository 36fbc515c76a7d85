// Package store persists webhook events in PostgreSQL.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is one row of webhook_events.
type Event struct {
	Provider   string
	EventID    string
	Payload    json.RawMessage
	Headers    json.RawMessage // a JSON object; nil means {}
	ReceivedAt time.Time
}

// Key identifies an event.
type Key struct{ Provider, EventID string }

// Store writes events through a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects a pool to url. maxConns <= 0 keeps pgx's default.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// insertBatch writes all rows in one statement; a row whose (provider,
// event_id) already exists, in the table or earlier in the same batch, is
// skipped. RETURNING tells which rows this statement inserted.
const insertBatch = `
insert into webhook_events (provider, event_id, payload, headers, received_at)
select * from unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[])
on conflict (provider, event_id) do nothing
returning provider, event_id`

// Insert writes events in one statement and returns the keys it inserted;
// the others were already present. Either every row is durable when it
// returns nil, or none was written.
func (s *Store) Insert(ctx context.Context, events []Event) (map[Key]bool, error) {
	n := len(events)
	providers := make([]string, n)
	ids := make([]string, n)
	payloads := make([]string, n)
	headers := make([]string, n)
	received := make([]time.Time, n)
	for i, e := range events {
		providers[i], ids[i], received[i] = e.Provider, e.EventID, e.ReceivedAt
		payloads[i] = string(e.Payload)
		headers[i] = "{}"
		if len(e.Headers) > 0 {
			headers[i] = string(e.Headers)
		}
	}
	rows, err := s.pool.Query(ctx, insertBatch, providers, ids, payloads, headers, received)
	if err != nil {
		return nil, err
	}
	inserted := make(map[Key]bool, n)
	var k Key
	_, err = pgx.ForEachRow(rows, []any{&k.Provider, &k.EventID}, func() error {
		inserted[k] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
}
