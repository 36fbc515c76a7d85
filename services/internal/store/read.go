package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cursor is a position in the commit-ordered stream of webhook_events: the
// (transaction id, row id) of the last row a reader has seen. The zero
// Cursor is the start of the stream.
//
// Rows are read in (tx, id) order and only below the watermark: the oldest
// transaction id still running when the page is read
// (pg_snapshot_xmin(pg_current_snapshot())). Every transaction below the
// watermark has ended, so no row can ever appear behind a cursor that has
// not passed the watermark: a row that commits late has a tx at or above it
// and is read on a later page. A plain id cursor (where id > $last) loses
// such rows for ever, since ids are taken at insert, not at commit.
type Cursor struct {
	TX uint64
	ID int64
}

const cursorVersion = "1"

// String encodes c as an opaque, URL-safe token.
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorVersion + "." + strconv.FormatUint(c.TX, 10) + "." + strconv.FormatInt(c.ID, 10)))
}

// ErrBadCursor is returned by ParseCursor for a token it did not make.
var ErrBadCursor = errors.New("malformed cursor")

// ParseCursor decodes a token made by Cursor.String; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return Cursor{}, ErrBadCursor
	}
	tx, err1 := strconv.ParseUint(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id < 0 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{TX: tx, ID: id}, nil
}

// StoredEvent is a row of webhook_events as readers see it.
type StoredEvent struct {
	Event
	PersistedAt time.Time
	Cursor      Cursor
}

// Query selects a page of the stream.
type Query struct {
	Provider  string // "" = every provider
	EventType string // "" = every type
	After     Cursor
	Limit     int
}

// Page is one page of the stream and where the next one starts. Next is
// After when nothing new is committed yet; it moves past the watermark when
// the page is not full, so a filtered reader does not rescan the rows of
// other providers on each poll.
type Page struct {
	Events []StoredEvent
	Next   Cursor
}

// readPage reads the rows after the cursor and below the watermark, and the
// watermark itself, from one snapshot (one statement): the left join
// returns the watermark even when no row qualifies.
const readPage = `
with w as (select pg_snapshot_xmin(pg_current_snapshot()) as xmin)
select w.xmin::text, e.tx::text, e.id, e.provider, e.event_id, coalesce(e.event_type, ''), e.content_type,
       e.body, e.payload, e.headers, e.received_at, e.persisted_at
from w left join lateral (
    select * from webhook_events
    where (tx, id) > ($1::text::xid8, $2::bigint) and tx < w.xmin
      and ($3::text = '' or provider = $3) and ($4::text = '' or event_type = $4)
    order by tx, id
    limit $5
) e on true`

// Events reads one page of the commit-ordered stream.
func (s *Store) Events(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("limit must be positive, got %d", q.Limit)
	}
	rows, err := s.pool.Query(ctx, readPage, strconv.FormatUint(q.After.TX, 10), q.After.ID, q.Provider, q.EventType, q.Limit)
	if err != nil {
		return Page{}, err
	}
	defer rows.Close()
	page := Page{Next: q.After}
	var watermark string
	for rows.Next() {
		var (
			e                         StoredEvent
			tx, provider, eventID, ct *string
			typ                       *string
			id                        *int64
			raw, payload, headers     []byte
			received, persisted       *time.Time
		)
		if err := rows.Scan(&watermark, &tx, &id, &provider, &eventID, &typ, &ct, &raw, &payload, &headers, &received, &persisted); err != nil {
			return Page{}, err
		}
		if tx == nil { // the left join's empty side: no row qualifies
			continue
		}
		n, err := strconv.ParseUint(*tx, 10, 64)
		if err != nil {
			return Page{}, fmt.Errorf("tx %q: %w", *tx, err)
		}
		e.Cursor = Cursor{TX: n, ID: *id}
		e.Provider, e.EventID, e.EventType, e.ContentType = *provider, *eventID, *typ, *ct
		e.Body, e.Payload, e.Headers = raw, payload, headers
		e.ReceivedAt, e.PersistedAt = *received, *persisted
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	if len(page.Events) > 0 {
		page.Next = page.Events[len(page.Events)-1].Cursor
	}
	if len(page.Events) < q.Limit {
		// Every qualifying row below the watermark is on this page: the next
		// one can start at the watermark (ids start at 1, so (xmin, 0) is
		// before any row of transaction xmin).
		xmin, err := strconv.ParseUint(watermark, 10, 64)
		if err != nil {
			return Page{}, fmt.Errorf("watermark %q: %w", watermark, err)
		}
		if w := (Cursor{TX: xmin}); w.TX > page.Next.TX {
			page.Next = w
		}
	}
	return page, nil
}

// ErrNotFound is returned by Event for an unknown event.
var ErrNotFound = errors.New("event not found")

// readOne finds an event through its key, whose received_at prunes the
// partitions to the one holding the row.
const readOne = `
select e.tx::text, e.id, e.provider, e.event_id, coalesce(e.event_type, ''), e.content_type,
       e.body, e.payload, e.headers, e.received_at, e.persisted_at
from webhook_event_keys k
join webhook_events e on e.received_at = k.received_at and e.provider = k.provider and e.event_id = k.event_id
where k.provider = $1 and k.event_id = $2
limit 1`

// Event reads one event; ErrNotFound when it is unknown (or its partition
// was dropped by retention).
func (s *Store) Event(ctx context.Context, provider, eventID string) (StoredEvent, error) {
	var (
		e  StoredEvent
		tx string
	)
	err := s.pool.QueryRow(ctx, readOne, provider, eventID).Scan(&tx, &e.Cursor.ID, &e.Provider, &e.EventID, &e.EventType,
		&e.ContentType, &e.Body, &e.Payload, &e.Headers, &e.ReceivedAt, &e.PersistedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredEvent{}, ErrNotFound
	}
	if err != nil {
		return StoredEvent{}, err
	}
	if e.Cursor.TX, err = strconv.ParseUint(tx, 10, 64); err != nil {
		return StoredEvent{}, fmt.Errorf("tx %q: %w", tx, err)
	}
	if len(e.Headers) == 0 {
		e.Headers = json.RawMessage(`{}`)
	}
	return e, nil
}
