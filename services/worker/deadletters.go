package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

const deadLettersUsage = `usage: worker deadletters <command> [filters] [flags]

Dead letters are the events PostgreSQL refused (and tasks that could not be
decoded), kept in the table webhook_dead_letters. Commands:

  list     print the selected dead letters (-json: one JSON object a line, bodies included)
  replay   put the selected events back on the queue, then delete their rows
           (only once Redis acknowledged; a row the worker fails again stays)
  purge    delete the selected rows for good (needs -yes)
  archive  move tasks left in asynq's archive by earlier releases into the table

Filters (combined with AND; replay and purge need one, or -all):
`

// deadLetters is `worker deadletters …` (and `worker replay …`, which is
// `worker deadletters replay …`).
func deadLetters(ctx context.Context, args []string, lookup envconfig.Lookuper, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, deadLettersUsage)
		return errors.New("deadletters: a command is required (list, replay, purge, archive)")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("deadletters "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), deadLettersUsage); fs.PrintDefaults() }
	ids := fs.String("id", "", "comma-separated dead-letter ids (the id column of list)")
	provider := fs.String("provider", "", "only this provider")
	eventID := fs.String("event-id", "", "only this event id")
	since := fs.String("since", "", "only rows that last failed at or after this time (RFC 3339, or a duration ago such as 2h)")
	until := fs.String("until", "", "only rows that last failed before this time (RFC 3339, or a duration ago)")
	all := fs.Bool("all", false, "replay or purge: select every row when no filter is given")
	limit := fs.Int("limit", 0, "list: at most this many rows (0: all)")
	asJSON := fs.Bool("json", false, "list: JSON lines with bodies instead of a table")
	yes := fs.Bool("yes", false, "purge: confirm the deletion")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	var f store.DeadLetterFilter
	var err error
	if f.IDs, err = parseIDs(*ids); err != nil {
		return err
	}
	f.Provider, f.EventID = *provider, *eventID
	if f.Since, err = parseWhen(*since, now); err != nil {
		return fmt.Errorf("-since: %w", err)
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return fmt.Errorf("-until: %w", err)
	}

	var cfg Config
	if err := config.Load(ctx, &cfg, lookup); err != nil {
		return err
	}
	log := ops.NewLogger(os.Stderr, cfg.LogLevel)
	st, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer st.Close()

	switch cmd {
	case "list":
		f.Limit = *limit
		return listDeadLetters(ctx, st, f, *asJSON, stdout)
	case "replay":
		if f.Empty() && !*all {
			return errors.New("replay: give a filter (-id, -provider, -event-id, -since, -until) or -all")
		}
		rdb := queue.NewRedis(cfg.Redis)
		defer rdb.Close()
		n, kept, err := replayDeadLetters(ctx, st, rdb, f, log)
		log.Info("dead letters replayed", "replayed", n, "kept", kept)
		return err
	case "purge":
		if f.Empty() && !*all {
			return errors.New("purge: give a filter (-id, -provider, -event-id, -since, -until) or -all")
		}
		count, err := st.CountDeadLetters(ctx, f)
		if err != nil {
			return err
		}
		if !*yes {
			return fmt.Errorf("purge would delete %d dead letters for good; run again with -yes", count)
		}
		n, err := st.PurgeDeadLetters(ctx, f)
		if err != nil {
			return err
		}
		log.Info("dead letters purged", "deleted", n)
		return nil
	case "archive":
		rdb := queue.NewRedis(cfg.Redis)
		defer rdb.Close()
		n, err := importArchive(ctx, st, asynq.NewInspectorFromRedisClient(rdb), log)
		log.Info("archived tasks moved to webhook_dead_letters", "tasks", n)
		return err
	}
	fs.Usage()
	return fmt.Errorf("deadletters: unknown command %q", cmd)
}

func parseIDs(s string) ([]int64, error) {
	var ids []int64
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("-id: %q is not a dead-letter id", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parseWhen reads an RFC 3339 time or a duration before now ("" is zero).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration", s)
	}
	return now.Add(-d), nil
}

func listDeadLetters(ctx context.Context, st *store.Store, f store.DeadLetterFilter, asJSON bool, w io.Writer) error {
	rows, err := st.ListDeadLetters(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range rows {
			if err := enc.Encode(deadLetterJSON(d)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROVIDER\tEVENT ID\tATTEMPTS\tFIRST FAILED\tLAST FAILED\tBYTES\tREASON")
	for _, d := range rows {
		reason := d.Reason
		if len(reason) > 80 {
			reason = reason[:77] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", d.ID, orDash(d.Provider), orDash(d.EventID), d.Attempts,
			d.FirstFailedAt.UTC().Format(time.RFC3339), d.LastFailedAt.UTC().Format(time.RFC3339), len(d.Body), reason)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// deadLetterJSON is a row as `list -json` prints it: the body as text when
// it is UTF-8, otherwise base64 (bodyEncoding says which).
func deadLetterJSON(d store.DeadLetterRow) any {
	body, enc := string(d.Body), "text"
	if !utf8.Valid(d.Body) {
		body, enc = base64.StdEncoding.EncodeToString(d.Body), "base64"
	}
	var received *time.Time
	if !d.ReceivedAt.IsZero() {
		received = &d.ReceivedAt
	}
	return struct {
		ID            int64           `json:"id"`
		Provider      string          `json:"provider,omitempty"`
		EventID       string          `json:"eventId,omitempty"`
		EventType     string          `json:"eventType,omitempty"`
		ContentType   string          `json:"contentType,omitempty"`
		Headers       json.RawMessage `json:"headers,omitempty"`
		ReceivedAt    *time.Time      `json:"receivedAt,omitempty"`
		Reason        string          `json:"reason"`
		Attempts      int             `json:"attempts"`
		FirstFailedAt time.Time       `json:"firstFailedAt"`
		LastFailedAt  time.Time       `json:"lastFailedAt"`
		Body          string          `json:"body"`
		BodyEncoding  string          `json:"bodyEncoding"`
	}{d.ID, d.Provider, d.EventID, d.EventType, d.ContentType, d.Headers, received, d.Reason, d.Attempts,
		d.FirstFailedAt, d.LastFailedAt, body, enc}
}

// replayPage is how many rows replay reads at a time.
const replayPage = 500

// replayDeadLetters re-enqueues the selected dead letters, each with the
// event exactly as received (body, content type, headers, event type,
// received_at), and deletes a row only after Redis acknowledged its task (or
// already held a task for the same event). A row whose event the worker
// dead-letters again while replay runs keeps its newer failure.
func replayDeadLetters(ctx context.Context, st *store.Store, rdb redis.UniversalClient, f store.DeadLetterFilter, log *slog.Logger) (replayed, kept int, err error) {
	client := asynq.NewClientFromRedisClient(rdb)
	f.Limit = replayPage
	for {
		rows, err := st.ListDeadLetters(ctx, f)
		if err != nil || len(rows) == 0 {
			return replayed, kept, err
		}
		for _, d := range rows {
			f.AfterID = d.ID
			t, err := replayTask(d)
			if err != nil {
				return replayed, kept, fmt.Errorf("dead letter %d: %w", d.ID, err)
			}
			if _, err := client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				return replayed, kept, fmt.Errorf("enqueue dead letter %d (its row is kept): %w", d.ID, err)
			}
			removed, err := st.RemoveReplayed(ctx, d)
			if err != nil {
				return replayed, kept, err
			}
			if !removed {
				kept++
				log.Warn("dead letter failed again while being replayed; its row is kept", "id", d.ID)
				continue
			}
			replayed++
		}
	}
}

// replayTask is the task that re-runs dead letter d: its event when it has
// one; for a task stored whole (undecodable, or its handler panicked) the
// stored payload, decoded again if this release can, raw otherwise.
func replayTask(d store.DeadLetterRow) (*asynq.Task, error) {
	if d.Provider == "" || d.EventID == "" {
		if p, err := job.Decode(d.Body); err == nil {
			return job.NewTask(p)
		}
		return asynq.NewTask(job.TypeIngest, d.Body, asynq.Queue(job.Queue), asynq.TaskID("deadletter-"+strconv.FormatInt(d.ID, 10))), nil
	}
	var headers map[string]string
	if len(d.Headers) > 0 {
		if err := json.Unmarshal(d.Headers, &headers); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
	}
	if len(headers) == 0 {
		headers = nil
	}
	return job.NewTask(job.Payload{Events: []job.Event{{
		Provider:    d.Provider,
		EventID:     d.EventID,
		EventType:   d.EventType,
		ReceivedAt:  d.ReceivedAt,
		ContentType: d.ContentType,
		Body:        d.Body,
		Headers:     headers,
	}}})
}

// importArchive moves every task asynq archived (earlier releases counted
// store errors as failures and archived tasks after JOB_MAX_RETRY; asynq
// trims its archive and deletes what it trims) into webhook_dead_letters,
// each event a row, and deletes a task from the archive only once its rows
// are committed. It returns how many tasks it moved.
func importArchive(ctx context.Context, st *store.Store, insp *asynq.Inspector, log *slog.Logger) (int, error) {
	moved := 0
	for {
		// Always page 1: moved tasks leave the archive.
		tasks, err := insp.ListArchivedTasks(job.Queue, asynq.PageSize(200), asynq.Page(1))
		if err != nil {
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return moved, nil
			}
			return moved, fmt.Errorf("list archived tasks: %w", err)
		}
		if len(tasks) == 0 {
			return moved, nil
		}
		for _, t := range tasks {
			reason := "archived by an earlier release: " + t.LastErr
			var letters []store.DeadLetter
			if p, err := job.Decode(t.Payload); err == nil {
				for _, e := range p.Events {
					letters = append(letters, store.DeadLetter{Event: storeEvent(e), Reason: reason})
				}
			} else {
				letters = append(letters, store.DeadLetter{
					Event:  store.Event{ContentType: "application/octet-stream", Body: t.Payload},
					Reason: reason + " (undecodable: " + err.Error() + ")",
				})
			}
			for _, d := range letters {
				if err := st.AddDeadLetter(ctx, d); err != nil {
					return moved, err
				}
			}
			if err := insp.DeleteTask(job.Queue, t.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return moved, fmt.Errorf("delete archived task %s (its events are in webhook_dead_letters): %w", t.ID, err)
			}
			moved++
		}
		log.Info("moving archived tasks to webhook_dead_letters", "moved", moved)
	}
}
