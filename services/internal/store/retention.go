package store

import (
	"context"
	"fmt"
	"time"
)

// Retention is what Maintain keeps.
type Retention struct {
	// Events is how long events are kept; 0 keeps them for ever. Whole days
	// are dropped, so an event lives between Events and Events+24h.
	Events time.Duration
	// Dedup is how long an event's (provider, event_id) key is kept to
	// recognise a re-delivery, at least. Keys always outlive their events
	// (max(Dedup, Events+24h)); with Events 0 they are kept for ever.
	Dedup time.Duration
	// DaysAhead is how many days of partitions exist ahead of today.
	DaysAhead int
}

// KeyCutoff is the received_at before which keys are deleted at now; the
// zero time when keys are kept for ever.
func (r Retention) KeyCutoff(now time.Time) time.Time {
	if r.Events <= 0 {
		return time.Time{}
	}
	return now.Add(-max(r.Dedup, r.Events+24*time.Hour))
}

// maintenanceLock elects the one worker that maintains partitions.
const maintenanceLock = int64(0x77656268_72657465) // "webhrete"

// keyBatch bounds one delete of expired keys (one short transaction each).
const keyBatch = 10000

// Maintenance is what one Maintain call did.
type Maintenance struct {
	Elected     bool     // this caller held the lock and did the work
	Created     int      // partitions created
	Dropped     []string // partitions dropped
	KeysDeleted int64
}

// Maintain creates the partitions from yesterday to DaysAhead days ahead,
// drops those wholly older than Events and deletes keys past their horizon.
// Only one caller at a time does so (a PostgreSQL advisory lock); the others
// return at once with Elected false. Dropping a partition needs a brief
// exclusive lock on webhook_events: it waits at most 5s for it (never
// queueing inserts behind a long reader for longer) and the next run
// retries.
func (s *Store) Maintain(ctx context.Context, r Retention, now time.Time) (Maintenance, error) {
	var m Maintenance
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return m, err
	}
	defer conn.Release()
	if err := conn.QueryRow(ctx, "select pg_try_advisory_lock($1)", maintenanceLock).Scan(&m.Elected); err != nil || !m.Elected {
		return m, err
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", maintenanceLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // ends the session, and the lock with it
		}
	}()

	today := now.UTC().Truncate(24 * time.Hour)
	if err := conn.QueryRow(ctx, "select webhook_events_add_partitions($1::text::date, $2::text::date)",
		today.AddDate(0, 0, -1).Format(time.DateOnly), today.AddDate(0, 0, r.DaysAhead).Format(time.DateOnly)).Scan(&m.Created); err != nil {
		return m, fmt.Errorf("create partitions: %w", err)
	}
	if r.Events <= 0 {
		return m, nil
	}
	if _, err := conn.Exec(ctx, "set lock_timeout = '5s'"); err != nil {
		return m, err
	}
	rows, err := conn.Query(ctx, "select * from webhook_events_drop_partitions($1)", now.Add(-r.Events))
	if err == nil {
		for rows.Next() {
			var name string
			if err = rows.Scan(&name); err != nil {
				break
			}
			m.Dropped = append(m.Dropped, name)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if _, rerr := conn.Exec(ctx, "reset lock_timeout"); err == nil {
		err = rerr
	}
	if err != nil {
		// Keys are only deleted once their events are gone.
		m.Dropped = nil
		return m, fmt.Errorf("drop partitions: %w", err)
	}
	cutoff := r.KeyCutoff(now)
	for {
		tag, err := conn.Exec(ctx, `delete from webhook_event_keys where ctid = any(array(
			select ctid from webhook_event_keys where received_at < $1 limit $2))`, cutoff, keyBatch)
		if err != nil {
			return m, fmt.Errorf("delete expired keys: %w", err)
		}
		m.KeysDeleted += tag.RowsAffected()
		if tag.RowsAffected() < keyBatch {
			return m, nil
		}
	}
}

// Stats describes what webhook_events holds.
type Stats struct {
	Oldest     time.Time // received_at of the oldest event; zero when empty
	Partitions int       // partitions of webhook_events, the default one included
	EventBytes int64     // on disk, indexes and TOAST included
	KeyBytes   int64     // webhook_event_keys on disk
}

// Stats reads Stats; every query is an index or catalog lookup.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var (
		st     Stats
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		select (select min(received_at) from webhook_events),
		       count(*), coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint,
		       pg_total_relation_size('webhook_event_keys')
		from pg_inherits where inhparent = 'webhook_events'::regclass`).Scan(&oldest, &st.Partitions, &st.EventBytes, &st.KeyBytes)
	if oldest != nil {
		st.Oldest = *oldest
	}
	return st, err
}
