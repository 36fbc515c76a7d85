// Package ingest decides whether a received webhook is accepted: it checks the
// provider name and profile, verifies the signature over the raw body, decodes
// and validates the body, and queues the job. It knows nothing of HTTP status
// codes; the ingress maps its errors to responses.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
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

// errInvalidName is a provider in the path that breaks the name rule.
var errInvalidName = &InvalidError{
	Detail: "the provider in the path is not a valid provider name",
	Fields: map[string]string{"provider": "must match ^[a-z0-9][a-z0-9_-]{0,63}$"},
}

// ErrNotAllowed: an allow-list (PROVIDERS_ALLOWED) is set and the provider
// is not on it.
var ErrNotAllowed = errors.New("unknown provider")

// SignatureError is a request whose signature is missing, invalid or
// expired. Err is one of signature.ErrMissing, ErrInvalid, ErrExpired, and
// its message is all the sender may be told.
type SignatureError struct{ Err error }

func (e *SignatureError) Error() string { return e.Err.Error() }
func (e *SignatureError) Unwrap() error { return e.Err }

// Enqueuer puts a job on the queue; duplicate reports that the same event is
// still queued.
type Enqueuer interface {
	Enqueue(ctx context.Context, e job.Event) (jobID string, duplicate bool, err error)
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
	queue     Enqueuer
	log       *slog.Logger
	now       func() time.Time
	providers *provider.Registry
}

// Option configures a Service.
type Option func(*Service)

// WithProviders sets the provider profiles (signature schemes, event id
// sources, allow-list). Without it every valid provider name is accepted
// with the seed's envelope and no signature.
func WithProviders(r *provider.Registry) Option {
	return func(s *Service) {
		if r != nil {
			s.providers = r
		}
	}
}

// NewService returns a Service queueing on q.
func NewService(q Enqueuer, log *slog.Logger, opts ...Option) *Service {
	s := &Service{queue: q, log: log, now: time.Now, providers: &provider.Registry{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// keptHeaders are the request headers stored with the event: enough to trace
// a delivery (GitHub's event type is only in a header), never credentials or
// signatures.
var keptHeaders = []string{"User-Agent", "X-Request-Id", "X-Github-Event"}

// Accept validates r and queues it. A nil error means Redis holds the job
// (or already held it: Result.Duplicate). Order matters: the signature is
// checked over the exact raw bytes before anything parses them.
func (s *Service) Accept(ctx context.Context, r Request) (Result, error) {
	if !provider.ValidName(r.Provider) { // ^[a-z0-9][a-z0-9_-]{0,63}$, without a regexp
		return Result{}, errInvalidName
	}
	prof, ok := s.providers.Lookup(r.Provider)
	if !ok {
		return Result{}, ErrNotAllowed
	}
	if prof.Verifier != nil {
		if err := prof.Verifier.Verify(r.Header, r.Body, s.now()); err != nil {
			return Result{}, &SignatureError{Err: err}
		}
	}
	if err := jsonguard.Check(r.Body, jsonguard.DefaultMaxDepth); err != nil {
		var gerr *jsonguard.Error
		if errors.As(err, &gerr) && gerr.Field != "" {
			return Result{}, &InvalidError{Detail: "the body repeats a key", Fields: map[string]string{gerr.Field: gerr.Reason}}
		}
		return Result{}, &InvalidError{Detail: err.Error()}
	}
	// A number PostgreSQL's jsonb cannot hold (1e1000000) would be accepted,
	// then refused by the insert: refuse it here, precisely.
	if err := jsonguard.CheckNumbers(r.Body); err != nil {
		return Result{}, &InvalidError{Detail: err.Error()}
	}
	eventID, err := eventID(prof, r)
	if err != nil {
		return Result{}, err
	}
	e := job.Event{
		Provider:    r.Provider,
		EventID:     eventID,
		ReceivedAt:  s.now().UTC(),
		ContentType: r.Header.Get("Content-Type"),
		Body:        r.Body,
		Headers:     pickHeaders(r.Header),
	}
	jobID, dup, err := s.queue.Enqueue(ctx, e)
	if err != nil {
		s.log.ErrorContext(ctx, "enqueue failed", "provider", e.Provider, "err", err)
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return Result{JobID: jobID, Duplicate: dup}, nil
}

// eventID decodes the body as the profile says and returns the event id.
func eventID(prof *provider.Profile, r Request) (string, error) {
	switch prof.EventID {
	case provider.IDBody:
		var native struct {
			ID *string `json:"id"`
		}
		if err := json.Unmarshal(r.Body, &native); err != nil {
			return "", nativeMalformed(err)
		}
		if native.ID == nil || !validEventID(*native.ID) {
			return "", &InvalidError{Detail: "the body has no usable event id",
				Fields: map[string]string{"id": "must be a string of 1 to 255 characters"}}
		}
		return *native.ID, nil
	case provider.IDHeader:
		var obj struct{}
		if err := json.Unmarshal(r.Body, &obj); err != nil {
			return "", nativeMalformed(err)
		}
		v := r.Header[prof.EventIDHeader]
		if len(v) != 1 || !validEventID(v[0]) {
			return "", &InvalidError{Detail: "the event id header is missing or invalid",
				Fields: map[string]string{prof.EventIDHeader: "must be sent once, 1 to 255 characters"}}
		}
		return v[0], nil
	}
	env, err := decodeEnvelope(r.Body, r.Provider)
	if err != nil {
		return "", err
	}
	return env.EventID, nil
}

// validEventID: 1–255 characters of valid UTF-8 (a header may carry any
// bytes; PostgreSQL text refuses invalid UTF-8).
func validEventID(id string) bool {
	n := utf8.RuneCountInString(id)
	return n >= 1 && n <= 255 && utf8.ValidString(id)
}

// nativeMalformed is malformed for a provider's own payload: only the shape
// of the whole body is ours to judge.
func nativeMalformed(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &InvalidError{Detail: "the body has no usable event id",
			Fields: map[string]string{typeErr.Field: "must be a string of 1 to 255 characters"}}
	}
	return malformed(err)
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
