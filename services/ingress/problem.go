package main

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/shedding"
)

// Problem types. They are stable identifiers clients may switch on; they are
// not meant to be dereferenced.
const (
	typePrefix      = problem.TypePrefix
	typeInvalid     = typePrefix + "invalid-body"
	typeTooLarge    = typePrefix + "body-too-large"
	typeMediaType   = typePrefix + "unsupported-media-type"
	typeUnavailable = typePrefix + "queue-unavailable"
	typeNotFound    = typePrefix + "not-found"
	typeMethod      = typePrefix + "method-not-allowed"
	typeInternal    = typePrefix + "internal"
	typeSignature   = typePrefix + "signature"
	typeRateLimited = typePrefix + "rate-limited"
	typeBusy        = typePrefix + "server-busy"
	typeEncoding    = typePrefix + "unsupported-content-encoding"
	typeQueueFull   = typePrefix + "queue-full"
)

// errUnsupportedMediaType is returned by the handler for a non-JSON body.
var errUnsupportedMediaType = errors.New("this provider does not accept this Content-Type (JSON unless its profile lists others: send Content-Type: application/json)")

// errUnsupportedEncoding: a Content-Encoding other than identity.
var errUnsupportedEncoding = errors.New("the body must not be content-encoded: send it without Content-Encoding (or identity)")

// writeError is the one place an error becomes an HTTP response.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		p        problem.Problem
		invalid  *ingest.InvalidError
		tooLarge *http.MaxBytesError
		sigErr   *ingest.SignatureError
		limited  *rateLimitedError
	)
	switch {
	case errors.As(err, &sigErr):
		// Only "signature missing", "signature invalid" or "signature
		// expired": never which secret, header part or byte was wrong.
		p = problem.Problem{Type: typeSignature, Title: "Signature verification failed", Status: http.StatusUnauthorized, Detail: sigErr.Error()}
	case errors.Is(err, ingest.ErrNotAllowed):
		p = problem.Problem{Type: typeNotFound, Title: "Unknown provider", Status: http.StatusNotFound,
			Detail: "this ingress does not accept webhooks for this provider"}
	case errors.As(err, &limited):
		p = problem.Problem{Type: typeRateLimited, Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: "the rate limit is exceeded; retry after the time in Retry-After"}
		w.Header().Set("Retry-After", limited.seconds())
	case errors.As(err, &invalid):
		p = problem.Problem{Type: typeInvalid, Title: "Invalid webhook body", Status: http.StatusBadRequest, Detail: invalid.Detail, Errors: invalid.Fields}
	case errors.As(err, &tooLarge):
		p = problem.Problem{Type: typeTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "the body exceeds the limit of " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
	case errors.Is(err, errUnsupportedMediaType), errors.Is(err, ingest.ErrUnsupportedMediaType):
		p = problem.Problem{Type: typeMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType, Detail: errUnsupportedMediaType.Error()}
	case errors.Is(err, errUnsupportedEncoding):
		p = problem.Problem{Type: typeEncoding, Title: "Unsupported content encoding", Status: http.StatusUnsupportedMediaType, Detail: err.Error()}
		w.Header().Set("Accept-Encoding", "identity") // RFC 9110 §15.5.16
	case errors.Is(err, errBusy):
		p = problem.Problem{Type: typeBusy, Title: "Server busy", Status: http.StatusServiceUnavailable,
			Detail: "too many requests are being received at once; retry after the time in Retry-After"}
		w.Header().Set("Retry-After", s.retryAfter)
	case errors.Is(err, shedding.ErrShedding):
		// Shedding load before Redis is full: nothing was accepted.
		p = problem.Problem{Type: typeQueueFull, Title: "Queue full", Status: http.StatusServiceUnavailable,
			Detail: "the queue is near its limit and the event was not accepted; retry after the time in Retry-After"}
		w.Header().Set("Retry-After", s.retryAfter)
	case errors.Is(err, ingest.ErrUnavailable):
		p = problem.Problem{Type: typeUnavailable, Title: "Queue unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the event was not accepted; retry later"}
		w.Header().Set("Retry-After", s.retryAfter)
		s.metrics.enqueueFailures.Inc()
	default:
		s.log.ErrorContext(r.Context(), "unexpected error", "err", err, "path", r.URL.Path)
		p = problem.Problem{Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError,
			Detail: "the event was not accepted; retry later"}
	}
	s.metrics.rejected.WithLabelValues(strings.TrimPrefix(p.Type, typePrefix)).Inc()
	problem.Write(w, p)
}
