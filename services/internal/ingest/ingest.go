// Package ingest decides whether a received webhook is accepted: it checks the
// provider name, decodes and validates the body, and queues the job. It knows
// nothing of HTTP status codes; the ingress maps its errors to responses.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// ErrUnavailable means the job could not be queued; the sender should retry.
var ErrUnavailable = errors.New("the queue is unavailable")

// InvalidError is a request the sender must fix: malformed JSON, a field that
// breaks the contract. Fields maps a JSON field name to what is wrong with it.
type InvalidError struct {
	Detail string
	Fields map[string]string
}

func (e *InvalidError) Error() string { return e.Detail }

// Enqueuer puts a job on the queue; duplicate reports that the same event is
// still queued.
type Enqueuer interface {
	Enqueue(ctx context.Context, p job.Payload) (jobID string, duplicate bool, err error)
}

// Request is a webhook as received: the provider from the path, the headers
// and the exact body bytes.
type Request struct {
	Provider string
	Header   http.Header
	Body     []byte
}

// Result is what the sender is told about an accepted webhook.
type Result struct {
	JobID     string
	Duplicate bool
}

// Service accepts webhooks.
type Service struct {
	queue Enqueuer
	log   *slog.Logger
	now   func() time.Time
}

// NewService returns a Service queueing on q.
func NewService(q Enqueuer, log *slog.Logger) *Service {
	return &Service{queue: q, log: log, now: time.Now}
}

// providerName is the contract for the {provider} path segment.
var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// keptHeaders are the request headers stored with the event: enough to trace
// a delivery, never credentials or signatures.
var keptHeaders = []string{"User-Agent", "X-Request-Id"}

// Accept validates r and queues it. A nil error means Redis holds the job
// (or already held it: Result.Duplicate).
func (s *Service) Accept(ctx context.Context, r Request) (Result, error) {
	if !providerName.MatchString(r.Provider) {
		return Result{}, &InvalidError{
			Detail: "the provider in the path is not a valid provider name",
			Fields: map[string]string{"provider": "must match ^[a-z0-9][a-z0-9_-]{0,63}$"},
		}
	}
	env, err := decodeEnvelope(r.Body, r.Provider)
	if err != nil {
		return Result{}, err
	}
	p := job.Payload{
		Provider:   r.Provider,
		EventID:    env.EventID,
		ReceivedAt: s.now().UTC(),
		Body:       r.Body,
		Headers:    pickHeaders(r.Header),
	}
	jobID, dup, err := s.queue.Enqueue(ctx, p)
	if err != nil {
		s.log.ErrorContext(ctx, "enqueue failed", "provider", p.Provider, "err", err)
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return Result{JobID: jobID, Duplicate: dup}, nil
}

func pickHeaders(h http.Header) map[string]string {
	var out map[string]string
	for _, name := range keptHeaders {
		if v := h.Get(name); v != "" {
			if out == nil {
				out = make(map[string]string, len(keptHeaders))
			}
			out[name] = v
		}
	}
	return out
}
