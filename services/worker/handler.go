package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/idempotency"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// handler processes webhook:ingest tasks: skip the events known to be
// stored, hand the rest to the batcher, and return success only once every
// event of the task is committed — as a row, or as a dead letter when
// PostgreSQL can never store it — so asynq acknowledges nothing that is not
// durable.
//
// Every error it returns is an outage (PostgreSQL unreachable, a timeout):
// the task is retried for as long as the outage lasts and never reaches
// asynq's archive (see isFailure).
type handler struct {
	keys    *idempotency.Keys
	store   *store.Store
	batch   *batcher
	metrics *metrics
	log     *slog.Logger
	// failingSince is when the store started failing (Unix nanoseconds; 0
	// while it works). Retries back off with the outage's length.
	failingSince atomic.Int64
}

func (h *handler) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	defer func() {
		// A bug must not loop a task for ever nor lose it: it becomes a
		// dead letter, replayable once fixed.
		if r := recover(); r != nil {
			err = h.deadLetterTask(ctx, t.Payload(), "panic", fmt.Sprint(r))
		}
	}()
	p, err := job.Decode(t.Payload())
	if err != nil {
		return h.deadLetterTask(ctx, t.Payload(), "undecodable", err.Error())
	}
	h.metrics.taskEvents.Observe(float64(len(p.Events)))
	ids := make([]string, len(p.Events))
	for i, e := range p.Events {
		ids[i] = job.ID(e.Provider, e.EventID)
	}
	known, err := h.keys.Processed(ctx, ids)
	if err != nil {
		// Only the fast path is lost; the insert below still dedups.
		h.log.WarnContext(ctx, "idempotency check failed", "err", err)
		known = make([]bool, len(ids))
	}
	events := make([]store.Event, 0, len(p.Events))
	for i, e := range p.Events {
		if known[i] {
			h.metrics.duplicates.WithLabelValues("processed").Inc()
			continue
		}
		events = append(events, storeEvent(e))
	}
	outcomes, err := h.batch.Add(ctx, events)
	if err != nil {
		h.metrics.failed.WithLabelValues("store").Inc()
		return err
	}
	for i, o := range outcomes {
		switch o {
		case inserted:
			h.metrics.persisted.Inc()
			h.metrics.endToEnd.Observe(time.Since(events[i].ReceivedAt).Seconds())
		case present:
			h.metrics.duplicates.WithLabelValues("stored").Inc()
		}
	}
	h.metrics.processed.Add(float64(len(p.Events)))
	return nil
}

// storeEvent is the row for e. A body whose JSON form cannot be made (a
// malformed form body) is stored raw, with no payload.
func storeEvent(e job.Event) store.Event {
	payload, err := e.JSON()
	if err != nil {
		payload = nil
	}
	return store.Event{
		Provider:    e.Provider,
		EventID:     e.EventID,
		EventType:   e.EventType,
		ContentType: e.ContentType,
		Body:        e.Body,
		Payload:     payload,
		Headers:     headersJSON(e.Headers),
		ReceivedAt:  e.ReceivedAt,
	}
}

func headersJSON(h map[string]string) json.RawMessage {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h) // a map of strings always encodes
	return b
}

// deadLetterTask keeps a task that cannot be processed in PostgreSQL with
// its raw payload, and acknowledges it; if PostgreSQL is down the task is
// retried instead.
func (h *handler) deadLetterTask(ctx context.Context, payload []byte, reason, detail string) error {
	h.log.ErrorContext(ctx, "task dead-lettered", "reason", reason, "err", detail, "bytes", len(payload))
	err := h.store.AddDeadLetter(ctx, store.DeadLetter{
		Event:  store.Event{ContentType: "application/octet-stream", Body: payload},
		Reason: reason + ": " + detail,
	})
	if err != nil {
		h.metrics.failed.WithLabelValues("store").Inc()
		return err
	}
	h.metrics.deadLetters.WithLabelValues(reason).Inc()
	return nil
}

// flush writes a batch, then records its events as processed in Redis with
// one pipelined round trip (a failure there is only logged: the rows are
// committed, and PostgreSQL dedups a redelivery). When PostgreSQL refuses
// the data of the batch, the events are written one by one so that only
// the unstorable ones become dead letters and every other is stored now.
func (h *handler) flush(ctx context.Context, events []store.Event) (map[store.Key]outcome, error) {
	start := time.Now()
	ins, err := h.store.Insert(ctx, events)
	h.metrics.insertDuration.Observe(time.Since(start).Seconds())
	var out map[store.Key]outcome
	switch {
	case err == nil:
		out = make(map[store.Key]outcome, len(events))
		for _, e := range events {
			out[store.Key{Provider: e.Provider, EventID: e.EventID}] = present
		}
		for k := range ins {
			out[k] = inserted
		}
	case store.IsPermanent(err):
		out, err = h.isolate(ctx, events)
	}
	if err != nil {
		h.failingSince.CompareAndSwap(0, time.Now().UnixNano())
		h.log.ErrorContext(ctx, "batch insert failed; tasks will be retried", "events", len(events), "err", err)
		return nil, err
	}
	h.failingSince.Store(0)
	h.metrics.batchSize.Observe(float64(len(events)))
	ids := make([]string, 0, len(events))
	for _, e := range events {
		if out[store.Key{Provider: e.Provider, EventID: e.EventID}] != deadLettered {
			ids = append(ids, job.ID(e.Provider, e.EventID))
		}
	}
	if err := h.keys.MarkProcessed(ctx, ids); err != nil {
		h.log.WarnContext(ctx, "could not record idempotency keys", "err", err)
	}
	return out, nil
}

// isolate writes events one at a time after their batch was refused for
// its data: each event PostgreSQL refuses on its own is a dead letter.
func (h *handler) isolate(ctx context.Context, events []store.Event) (map[store.Key]outcome, error) {
	out := make(map[store.Key]outcome, len(events))
	for _, e := range events {
		k := store.Key{Provider: e.Provider, EventID: e.EventID}
		ins, err := h.store.Insert(ctx, []store.Event{e})
		switch {
		case err == nil && ins[k]:
			out[k] = inserted
		case err == nil:
			out[k] = present
		case store.IsPermanent(err):
			if err := h.store.AddDeadLetter(ctx, store.DeadLetter{Event: e, Reason: "unstorable: " + err.Error()}); err != nil {
				return nil, err
			}
			h.log.ErrorContext(ctx, "event dead-lettered", "provider", e.Provider, "event_id", e.EventID, "err", err)
			h.metrics.deadLetters.WithLabelValues("unstorable").Inc()
			out[k] = deadLettered
		default:
			return nil, err
		}
	}
	return out, nil
}

// isFailure tells asynq whether a handler error counts towards the task's
// retry limit. None does: the handler returns errors only for outages
// (everything that can never succeed is a dead letter in PostgreSQL and
// acknowledged), and an accepted event must outlast any outage instead of
// landing in asynq's archive, which trims itself and deletes what it trims.
func isFailure(error) bool { return false }

// retryDelay is how long a failed task waits before its next attempt:
// about as long as the store has been failing, between 1 s and 1 min, with
// jitter — prompt after a blip, gentle on a long outage. (asynq's retry
// count cannot serve: it stays 0 since no failure is counted.)
func (h *handler) retryDelay(int, error, *asynq.Task) time.Duration {
	d := time.Second
	if since := h.failingSince.Load(); since != 0 {
		d = min(max(time.Since(time.Unix(0, since)), time.Second), time.Minute)
	}
	return d/2 + rand.N(d/2+1)
}
