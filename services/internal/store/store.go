// Package store persists webhook events in PostgreSQL.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is one row of webhook_events.
type Event struct {
	Provider    string
	EventID     string
	EventType   string // "" is stored as null
	ContentType string
	Body        []byte          // the exact bytes received
	Payload     json.RawMessage // the body as JSON; nil for a body with no JSON form
	Headers     json.RawMessage // a JSON object; nil means {}
	ReceivedAt  time.Time
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

// insertBatch writes all rows in one statement. The global (provider,
// event_id) key lives in webhook_event_keys (webhook_events is partitioned
// by received_at and cannot hold a unique index on it): a row is written to
// webhook_events only when its key was new, in the table or earlier in the
// same batch (distinct on keeps a batch's first copy). RETURNING tells which
// rows this statement inserted.
const insertBatch = `
with input as (
    select distinct on (provider, event_id) *
    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[], $7::jsonb[], $8::timestamptz[])
         with ordinality as t(provider, event_id, event_type, content_type, body, payload, headers, received_at, n)
    order by provider, event_id, n
), fresh as (
    insert into webhook_event_keys (provider, event_id, received_at)
    select provider, event_id, received_at from input
    on conflict do nothing
    returning provider, event_id
)
insert into webhook_events (provider, event_id, event_type, content_type, body, payload, headers, received_at)
select i.provider, i.event_id, i.event_type, i.content_type, i.body, i.payload, i.headers, i.received_at
from input i join fresh f using (provider, event_id)
returning provider, event_id`

// Insert writes events in one statement and returns the keys it inserted;
// the others were already present. Either every row is durable when it
// returns nil, or none was written.
func (s *Store) Insert(ctx context.Context, events []Event) (map[Key]bool, error) {
	n := len(events)
	providers := make([]string, n)
	ids := make([]string, n)
	types := make([]*string, n)
	contentTypes := make([]string, n)
	bodies := make([][]byte, n)
	payloads := make([]*string, n)
	headers := make([]string, n)
	received := make([]time.Time, n)
	for i, e := range events {
		providers[i], ids[i], received[i] = e.Provider, e.EventID, e.ReceivedAt
		contentTypes[i], bodies[i] = e.ContentType, e.Body
		types[i] = nullable(e.EventType)
		payloads[i] = nullable(string(e.Payload))
		headers[i] = headersOrEmpty(e.Headers)
	}
	rows, err := s.pool.Query(ctx, insertBatch, providers, ids, types, contentTypes, bodies, payloads, headers, received)
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

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func headersOrEmpty(h json.RawMessage) string {
	if len(h) == 0 {
		return "{}"
	}
	return string(h)
}

// IsPermanent reports whether err is PostgreSQL refusing the data itself
// (SQLSTATE class 22, data exception: a number jsonb cannot hold, a \u0000
// in a string, invalid UTF-8; class 54, a value over a limit). Retrying
// such a write can never succeed. Every other error — a connection lost, a
// timeout, a server shutting down — is an outage that retrying outlasts.
func IsPermanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	class := pgErr.Code[:2]
	return class == "22" || class == "54"
}

// DeadLetter is an event that can never be stored as a row of
// webhook_events, kept in webhook_dead_letters with the reason. Provider and
// EventID are empty for a task that could not even be decoded; Body then
// holds the task's raw payload.
type DeadLetter struct {
	Event
	Reason string
}

// addDeadLetter records d; the same (provider, event id) failing again
// counts one more attempt on its row.
const addDeadLetter = `
insert into webhook_dead_letters (provider, event_id, event_type, content_type, body, headers, received_at, reason)
values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
on conflict (provider, event_id) where provider is not null and event_id is not null
do update set attempts = webhook_dead_letters.attempts + 1, last_failed_at = now(), reason = excluded.reason`

// text makes s storable as PostgreSQL text.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// AddDeadLetter stores d durably; only then may its task be acknowledged.
func (s *Store) AddDeadLetter(ctx context.Context, d DeadLetter) error {
	var received *time.Time
	if !d.ReceivedAt.IsZero() {
		received = &d.ReceivedAt
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	// The text columns must take whatever made the event unstorable:
	// invalid UTF-8 and NUL bytes are replaced (the body keeps every byte).
	_, err := s.pool.Exec(ctx, addDeadLetter, nullable(text(d.Provider)), nullable(text(d.EventID)), nullable(text(d.EventType)),
		nullable(text(d.ContentType)), body, headersOrEmpty(d.Headers), received, text(d.Reason))
	if err != nil {
		return fmt.Errorf("store dead letter: %w", err)
	}
	return nil
}
