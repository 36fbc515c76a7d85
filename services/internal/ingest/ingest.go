// Package ingest decides whether a received webhook is accepted: it checks the
// provider name and profile, verifies the signature over the raw body, decodes
// and validates the body, and queues the job. It knows nothing of HTTP status
// codes; the ingress maps its errors to responses.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/jsonguard"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
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
	// Handshake, when set, is the provider's verification request (Slack
	// url_verification, Zoom endpoint.url_validation, Discord PING), checked
	// and answered: the caller sends it as is. Nothing was queued.
	Handshake *Response
}

// Response is a synchronous answer to a provider's handshake.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// ErrUnsupportedMediaType: the provider's profile does not take bodies of
// the request's Content-Type.
var ErrUnsupportedMediaType = errors.New("unsupported media type")

// Service accepts webhooks.
type Service struct {
	queue     Enqueuer
	log       *slog.Logger
	now       func() time.Time
	providers *provider.Registry
	outage    outageLog
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

// WithClock sets the clock signatures' timestamps are checked against
// (tests replaying providers' published vectors), also used to space the
// enqueue outage log lines.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// NewService returns a Service queueing on q.
func NewService(q Enqueuer, log *slog.Logger, opts ...Option) *Service {
	s := &Service{queue: q, log: log, now: time.Now, providers: &provider.Registry{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

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
	mt := mediaType(r.Header.Get("Content-Type"))
	if !prof.AcceptsMediaType(mt) {
		return Result{}, ErrUnsupportedMediaType
	}
	if prof.Verifier != nil {
		if err := prof.Verifier.Verify(r.Header, r.Body, s.now()); err != nil {
			return Result{}, &SignatureError{Err: err}
		}
	}
	b := body{raw: r.Body, json: job.IsJSONMediaType(mt), form: mt == provider.MediaForm}
	switch {
	case b.json:
		// One JSON value that PostgreSQL's jsonb stores as it is: anything
		// else (trailing bytes, a bare word, 1e1000000, \u0000) would be
		// queued, then refused by the insert and become a dead letter.
		if err := jsonguard.Check(r.Body, jsonguard.DefaultMaxDepth); err != nil {
			var gerr *jsonguard.Error
			if errors.As(err, &gerr) && gerr.Field != "" {
				return Result{}, &InvalidError{Detail: fmt.Sprintf("the body repeats a top-level key (at byte %d)", gerr.Offset),
					Fields: map[string]string{gerr.Field: gerr.Reason}}
			}
			return Result{}, &InvalidError{Detail: err.Error()}
		}
	case b.form:
		if _, err := b.formValues(); err != nil {
			return Result{}, &InvalidError{Detail: "the body is not valid application/x-www-form-urlencoded"}
		}
	}
	if prof.Handshake != "" && b.json {
		if resp, err := handshake(prof, &b); resp != nil || err != nil {
			return Result{Handshake: resp}, err
		}
	}
	eventID, err := eventID(prof, r, &b)
	if err != nil {
		return Result{}, err
	}
	e := job.Event{
		Provider:    r.Provider,
		EventID:     eventID,
		EventType:   eventType(prof, r, &b),
		ReceivedAt:  s.now().UTC(),
		ContentType: r.Header.Get("Content-Type"),
		Body:        r.Body,
		Headers:     pickHeaders(prof.Keep, r.Header),
	}
	jobID, dup, err := s.queue.Enqueue(ctx, e)
	if err != nil {
		s.outage.failed(ctx, s.log, s.now(), e.Provider, err)
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.outage.succeeded(ctx, s.log, s.now)
	return Result{JobID: jobID, Duplicate: dup}, nil
}

// eventID reads the event id from the profile's first source that has one.
func eventID(prof *provider.Profile, r Request, b *body) (string, error) {
	var tried []string
	for _, src := range prof.EventID {
		switch src.Kind {
		case provider.FromEnvelope:
			if !b.json {
				return "", &InvalidError{Detail: "the body must be the JSON webhook envelope"}
			}
			env, err := decodeEnvelope(r.Body, r.Provider)
			if err != nil {
				return "", err
			}
			return env.EventID, nil
		case provider.FromDigest:
			sum := sha256.Sum256(r.Body)
			return "sha256:" + hex.EncodeToString(sum[:]), nil
		case provider.FromHeader:
			v := r.Header[src.Name]
			if src.Name == signature.StandardIDHeader && prof.Scheme == signature.SchemeStandard {
				v = signature.StandardIDOf(r.Header) // the id the signature covered
			}
			if len(v) == 1 && validEventID(v[0]) {
				return v[0], nil
			}
			tried = append(tried, src.Name)
		case provider.FromField:
			v, ok, err := b.field(src.Path, false)
			if err != nil {
				return "", err
			}
			if ok && validEventID(v) {
				return v, nil
			}
			tried = append(tried, src.Name)
		}
	}
	fields := make(map[string]string, len(tried))
	for _, t := range tried {
		fields[t] = "must be a string of 1 to 255 characters"
	}
	return "", &InvalidError{Detail: "the request has no usable event id", Fields: fields}
}

// eventType reads the event type from the first source that has one; ""
// when none does (an event type is never a reason to refuse a delivery).
func eventType(prof *provider.Profile, r Request, b *body) string {
	for _, src := range prof.EventType {
		var v string
		switch src.Kind {
		case provider.FromHeader:
			if vals := r.Header[src.Name]; len(vals) == 1 {
				v = vals[0]
			}
		case provider.FromField:
			v, _, _ = b.field(src.Path, true)
		case provider.FromKey:
			v = b.firstKey(src.Name)
		}
		if v != "" && validEventID(v) {
			return v
		}
	}
	return ""
}

// validEventID: 1–255 characters of valid UTF-8 (a header may carry any
// bytes; PostgreSQL text refuses invalid UTF-8).
func validEventID(id string) bool {
	n := utf8.RuneCountInString(id)
	return n >= 1 && n <= 255 && utf8.ValidString(id)
}

// pickHeaders keeps the headers the profile lists: enough to trace and
// re-verify a delivery (event type, delivery id, signature and timestamp),
// never a credential (the provider package refuses those).
func pickHeaders(keep []string, h http.Header) map[string]string {
	var out map[string]string
	for _, name := range keep {
		if v := h.Get(name); v != "" {
			if out == nil {
				out = make(map[string]string, len(keep))
			}
			out[name] = v
		}
	}
	return out
}
