// Package audit checks a load run against the system's durable state, from
// the outside: it waits until the asynq queue has nothing left to process,
// then reads the rows in PostgreSQL and compares them, event by event, with
// the events the runner saw answered 202.
//
// It knows only the fixed contracts (queue "webhooks", table webhook_events
// with unique (provider, event_id)); it imports nothing from services/.
package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/loadtest/runner"
)

// Queue is the asynq queue the ingress fills (a fixed contract).
const Queue = "webhooks"

// Backlog is what a queue still holds.
type Backlog struct {
	Pending, Active, Scheduled, Retry, Aggregating, Archived int
	Latency                                                  time.Duration // age of the oldest pending task
}

// Left is the number of tasks still to be processed (archived ones are done
// with: they are dead letters).
func (b Backlog) Left() int { return b.Pending + b.Active + b.Scheduled + b.Retry + b.Aggregating }

func (b Backlog) String() string {
	return fmt.Sprintf("pending=%d active=%d scheduled=%d retry=%d aggregating=%d archived=%d",
		b.Pending, b.Active, b.Scheduled, b.Retry, b.Aggregating, b.Archived)
}

// QueueBacklog reads queue's backlog. A queue that never held a task is empty.
func QueueBacklog(insp *asynq.Inspector, queue string) (Backlog, error) {
	qi, err := insp.GetQueueInfo(queue)
	if err != nil {
		if errors.Is(err, asynq.ErrQueueNotFound) || strings.Contains(err.Error(), "does not exist") {
			return Backlog{}, nil
		}
		return Backlog{}, err
	}
	return Backlog{
		Pending: qi.Pending, Active: qi.Active, Scheduled: qi.Scheduled, Retry: qi.Retry,
		Aggregating: qi.Aggregating, Archived: qi.Archived, Latency: qi.Latency,
	}, nil
}

// WaitDrained polls queue every poll interval until it has nothing left to
// process twice in a row, and returns the final backlog and how long it
// waited. Tasks in retry count as left: a failing worker is not drained.
// progress, when set, is called after each poll that found work left.
func WaitDrained(ctx context.Context, insp *asynq.Inspector, queue string, poll time.Duration, progress func(Backlog)) (Backlog, time.Duration, error) {
	start := time.Now()
	empty := 0
	for {
		b, err := QueueBacklog(insp, queue)
		if err != nil {
			return b, time.Since(start), fmt.Errorf("read queue %q: %w", queue, err)
		}
		if b.Left() == 0 {
			if empty++; empty == 2 {
				return b, time.Since(start), nil
			}
		} else {
			empty = 0
			if progress != nil {
				progress(b)
			}
		}
		select {
		case <-ctx.Done():
			return b, time.Since(start), fmt.Errorf("queue %q not drained (%s): %w", queue, b, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Report compares the rows of one run with what the runner saw.
type Report struct {
	Accepted       int // requests answered 202
	UniqueAccepted int // distinct events answered 202
	Rows           int // rows of this run's events
	Lost           int // events answered 202 with no row
	Duplicates     int // rows beyond the first for one event (the unique constraint makes it 0)
	Unacknowledged int // rows of events never answered 202 (e.g. the answer timed out)
	LostIDs        []string
}

// OK reports whether nothing accepted was lost, nothing was written twice,
// and rows == unique accepted.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicates == 0 && r.Rows == r.UniqueAccepted
}

func (r Report) String() string {
	s := fmt.Sprintf("accepted=%d unique_accepted=%d rows=%d lost=%d duplicates=%d unacknowledged_rows=%d",
		r.Accepted, r.UniqueAccepted, r.Rows, r.Lost, r.Duplicates, r.Unacknowledged)
	if len(r.LostIDs) > 0 {
		s += " lost e.g. " + strings.Join(r.LostIDs, ",")
	}
	return s
}

// Rows reads the rows of res's events (provider res.Options.Provider, ids
// starting with its IDPrefix) from the PostgreSQL at databaseURL and compares
// them with res. Call it after WaitDrained.
func Rows(ctx context.Context, databaseURL string, res *runner.Result) (Report, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return Report{}, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())

	prefix := res.Options.IDPrefix
	rows, err := conn.Query(ctx,
		`select event_id from webhook_events where provider = $1 and starts_with(event_id, $2)`,
		res.Options.Provider, prefix+"-")
	if err != nil {
		return Report{}, fmt.Errorf("read rows: %w", err)
	}
	defer rows.Close()
	rep := Report{Accepted: res.Accepted, UniqueAccepted: res.UniqueAccepted}
	seen := make([]uint64, (res.Events+63)/64)
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return rep, err
		}
		seq, ok := runner.ParseSeq(prefix, id)
		if !ok || seq >= res.Events {
			continue // not an event of this run
		}
		rep.Rows++
		word, bit := seq>>6, uint64(1)<<(seq&63)
		if seen[word]&bit != 0 {
			rep.Duplicates++
			continue
		}
		seen[word] |= bit
		if !res.WasAccepted(seq) {
			rep.Unacknowledged++
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read rows: %w", err)
	}
	for seq := int64(0); seq < res.Events; seq++ {
		if res.WasAccepted(seq) && seen[seq>>6]&(1<<(seq&63)) == 0 {
			rep.Lost++
			if len(rep.LostIDs) < 10 {
				rep.LostIDs = append(rep.LostIDs, res.EventID(seq))
			}
		}
	}
	return rep, nil
}
