package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/idempotency"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// handler processes webhook:ingest tasks: skip what is known to be stored,
// hand the rest to the batcher, and return success only once the row is
// committed, so asynq acknowledges nothing that is not durable.
type handler struct {
	keys    *idempotency.Keys
	store   *store.Store
	batch   *batcher
	metrics *metrics
	log     *slog.Logger
}

func (h *handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := job.Decode(t.Payload())
	if err != nil {
		h.metrics.failed.WithLabelValues("undecodable").Inc()
		h.log.ErrorContext(ctx, "undecodable task archived", "err", err, "bytes", len(t.Payload()))
		return err // wraps asynq.SkipRetry: archived at once
	}
	jobID := job.ID(p.Provider, p.EventID)

	state, err := h.keys.Claim(ctx, jobID)
	if err != nil {
		// Only the fast path is lost; the insert below still dedups.
		h.log.WarnContext(ctx, "idempotency check failed", "err", err)
	}
	if state == idempotency.Processed {
		h.metrics.duplicates.WithLabelValues("processed").Inc()
		h.metrics.processed.Inc()
		return nil
	}

	inserted, err := h.batch.Add(ctx, store.Event{
		Provider:   p.Provider,
		EventID:    p.EventID,
		Payload:    p.Body,
		Headers:    headersJSON(p.Headers),
		ReceivedAt: p.ReceivedAt,
	})
	if err != nil {
		h.metrics.failed.WithLabelValues("store").Inc()
		return err // asynq retries with backoff
	}
	if inserted {
		h.metrics.persisted.Inc()
		h.metrics.endToEnd.Observe(time.Since(p.ReceivedAt).Seconds())
	} else {
		h.metrics.duplicates.WithLabelValues("stored").Inc()
	}
	h.metrics.processed.Inc()
	return nil
}

func headersJSON(h map[string]string) json.RawMessage {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h) // a map of strings always encodes
	return b
}

// flush writes a batch, then records its events as processed in Redis with
// one pipelined round trip. A failure there is logged, not returned: the rows
// are committed, and PostgreSQL dedups a redelivery.
func (h *handler) flush(ctx context.Context, events []store.Event) (map[store.Key]bool, error) {
	start := time.Now()
	inserted, err := h.store.Insert(ctx, events)
	h.metrics.insertDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		h.log.ErrorContext(ctx, "batch insert failed; tasks will be retried", "events", len(events), "err", err)
		return nil, err
	}
	h.metrics.batchSize.Observe(float64(len(events)))
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = job.ID(e.Provider, e.EventID)
	}
	if err := h.keys.MarkProcessed(ctx, ids); err != nil {
		h.log.WarnContext(ctx, "could not record idempotency keys", "err", err)
	}
	return inserted, nil
}
