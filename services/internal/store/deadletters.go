package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeadLetterRow is a row of webhook_dead_letters as operators see it.
type DeadLetterRow struct {
	ID int64
	DeadLetter
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
}

// DeadLetterFilter selects dead letters; zero fields do not filter. Since
// and Until bound last_failed_at (Since inclusive, Until exclusive).
type DeadLetterFilter struct {
	IDs      []int64
	Provider string
	EventID  string
	Since    time.Time
	Until    time.Time
	// AfterID returns only rows with a larger id (paging in id order).
	AfterID int64
	// Limit bounds the rows returned (List only); 0 means no bound.
	Limit int
}

// Empty reports whether f selects every row.
func (f DeadLetterFilter) Empty() bool {
	return len(f.IDs) == 0 && f.Provider == "" && f.EventID == "" && f.Since.IsZero() && f.Until.IsZero() && f.AfterID == 0
}

// where builds the filter's SQL condition and its arguments.
func (f DeadLetterFilter) where() (string, []any) {
	conds := []string{"true"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if len(f.IDs) > 0 {
		add("id = any($?)", f.IDs)
	}
	if f.Provider != "" {
		add("provider = $?", f.Provider)
	}
	if f.EventID != "" {
		add("event_id = $?", f.EventID)
	}
	if !f.Since.IsZero() {
		add("last_failed_at >= $?", f.Since)
	}
	if !f.Until.IsZero() {
		add("last_failed_at < $?", f.Until)
	}
	if f.AfterID > 0 {
		add("id > $?", f.AfterID)
	}
	return strings.Join(conds, " and "), args
}

// ListDeadLetters returns the rows f selects in id order, bodies included.
func (s *Store) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetterRow, error) {
	where, args := f.where()
	q := `select id, coalesce(provider, ''), coalesce(event_id, ''), coalesce(event_type, ''), coalesce(content_type, ''),
	             body, headers, received_at, reason, attempts, first_failed_at, last_failed_at
	      from webhook_dead_letters where ` + where + ` order by id`
	if f.Limit > 0 {
		q += " limit " + strconv.Itoa(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DeadLetterRow, error) {
		var (
			d        DeadLetterRow
			headers  []byte
			received *time.Time
		)
		err := row.Scan(&d.ID, &d.Provider, &d.EventID, &d.EventType, &d.ContentType, &d.Body, &headers, &received,
			&d.Reason, &d.Attempts, &d.FirstFailedAt, &d.LastFailedAt)
		d.Headers = headers
		if received != nil {
			d.ReceivedAt = *received
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// CountDeadLetters counts the rows f selects.
func (s *Store) CountDeadLetters(ctx context.Context, f DeadLetterFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := s.pool.QueryRow(ctx, `select count(*) from webhook_dead_letters where `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// RemoveReplayed deletes the dead letter d once its event is back in the
// queue — unless the row changed since d was read (the worker dead-lettered
// the replayed event again and counted one more attempt on the same row):
// that newer failure must stay. It reports whether the row was deleted.
func (s *Store) RemoveReplayed(ctx context.Context, d DeadLetterRow) (bool, error) {
	tag, err := s.pool.Exec(ctx, `delete from webhook_dead_letters where id = $1 and attempts = $2 and last_failed_at = $3`,
		d.ID, d.Attempts, d.LastFailedAt)
	if err != nil {
		return false, fmt.Errorf("remove replayed dead letter %d: %w", d.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PurgeDeadLetters deletes the rows f selects and returns how many.
func (s *Store) PurgeDeadLetters(ctx context.Context, f DeadLetterFilter) (int64, error) {
	where, args := f.where()
	tag, err := s.pool.Exec(ctx, `delete from webhook_dead_letters where `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return tag.RowsAffected(), nil
}
