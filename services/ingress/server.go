package main

import (
	"context"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ratelimit"
)

// acceptor is the ingest service as the HTTP layer sees it.
type acceptor interface {
	Accept(ctx context.Context, r ingest.Request) (ingest.Result, error)
}

// prechecker is an acceptor that can refuse a request from its path and
// headers alone, before the body is read (ingest.Service.Precheck).
type prechecker interface {
	Precheck(provider string, h http.Header) error
}

// server is the public HTTP side of the ingress: it turns requests into
// ingest.Requests and results into responses, and nothing more.
type server struct {
	log            *slog.Logger
	ingest         acceptor
	metrics        *metrics
	maxBody        int64
	bodies         *bodyBudget // process-wide cap on body bytes (body.go)
	enqueueTimeout time.Duration
	retryAfter     string // seconds, as sent in Retry-After
	draining       *atomic.Bool
	shedder        admitter                     // nil: never sheds
	labels         func(provider string) string // metric label; nil: "other"

	// the edge (edge.go)
	limiter     *ratelimit.Limiter
	hsts        []string // Strict-Transport-Security value, nil: not sent
	corsOrigins []string
	corsHeaders []string // request headers the providers read, for CORS
}

func newServer(cfg Config, svc acceptor, m *metrics, draining *atomic.Bool, log *slog.Logger) *server {
	return &server{
		log:            log,
		ingest:         svc,
		metrics:        m,
		maxBody:        cfg.MaxBodyBytes,
		bodies:         newBodyBudget(cfg.MaxBodyBytesInFlight),
		enqueueTimeout: cfg.EnqueueTimeout,
		retryAfter:     strconv.Itoa(int(cfg.RetryAfter.Round(time.Second) / time.Second)),
		draining:       draining,
		limiter: ratelimit.New(ratelimit.Config{
			GlobalRate: cfg.RateLimitGlobalRPS, GlobalBurst: cfg.RateLimitGlobalBurst,
			IPRate: cfg.RateLimitIPRPS, IPBurst: cfg.RateLimitIPBurst,
			TrustedProxies: cfg.trustedProxies,
		}),
		hsts:        hstsValue(cfg.HSTSMaxAge),
		corsOrigins: cfg.CORSAllowedOrigins,
	}
}

func hstsValue(maxAge time.Duration) []string {
	if maxAge <= 0 {
		return nil
	}
	return []string{"max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10) + "; includeSubDomains"}
}

// mediaTyper is implemented by an acceptor that knows which Content-Types
// each provider takes (ingest.Service); others take JSON only.
type mediaTyper interface {
	AcceptsMediaType(provider, contentType string) bool
}

// acceptsMediaType decides 415 before any body is read.
func (s *server) acceptsMediaType(provider, contentType string) bool {
	if m, ok := s.ingest.(mediaTyper); ok {
		return m.AcceptsMediaType(provider, contentType)
	}
	return isJSON(contentType)
}

// label is the provider's metric label (bounded: see provider.Registry.Label).
func (s *server) label(provider string) string {
	if s.labels == nil {
		return "other"
	}
	return s.labels(provider)
}

// handleWebhook is POST /webhooks/{provider}. Everything that can be
// decided from the headers is decided before the body is read: a refused
// request costs no body buffer.
func (s *server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	if r.URL.RawQuery != "" && s.validation(w, r, provider) {
		return
	}
	if err := s.precheck(provider, r); err != nil {
		if r.ContentLength != 0 {
			// The body was not read: do not wait for it to reuse the
			// connection.
			w.Header().Set("Connection", "close")
		}
		s.writeError(w, r, err)
		return
	}
	body, release, err := readBody(w, r, s.maxBody, s.bodies)
	defer release()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The enqueue runs to completion even if the sender hangs up: a job that
	// reached Redis is dealt with like any other, and a resend is a duplicate.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.enqueueTimeout)
	defer cancel()
	res, err := s.ingest.Accept(ctx, ingest.Request{Provider: provider, Header: r.Header, Body: body})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Handshake != nil {
		writeResponse(w, res.Handshake)
		return
	}
	if res.Duplicate {
		s.metrics.duplicates.WithLabelValues("queued").Inc()
	} else {
		s.metrics.accepted.WithLabelValues(s.label(provider)).Inc()
	}
	writeAccepted(w, res)
}

// verifier is implemented by an acceptor that answers GET verification
// requests (Meta's hub.challenge).
type verifier interface {
	HasVerification(provider string) bool
	Verification(provider string, q url.Values) (*ingest.Response, error)
}

// handleVerification is GET /webhooks/{provider}: a verification request
// for providers whose profile has one, else 405 as for any other method.
func (s *server) handleVerification(w http.ResponseWriter, r *http.Request) {
	v, ok := s.ingest.(verifier)
	provider := r.PathValue("provider")
	if !ok || !v.HasVerification(provider) {
		s.methodNotAllowed(w, r)
		return
	}
	resp, err := v.Verification(provider, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeResponse(w, resp)
}

// postValidator is implemented by an acceptor that answers POST validation
// requests (Microsoft Graph's ?validationToken=…).
type postValidator interface {
	Validation(provider string, q url.Values) (*ingest.Response, error)
}

// validation answers a POST validation request and reports whether it did;
// false: the request is a delivery. Only requests with a query get here,
// so ordinary deliveries do not parse one.
func (s *server) validation(w http.ResponseWriter, r *http.Request, provider string) bool {
	v, ok := s.ingest.(postValidator)
	if !ok {
		return false
	}
	resp, err := v.Validation(provider, r.URL.Query())
	if resp == nil && err == nil {
		return false
	}
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close") // the body is not read
	}
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	writeResponse(w, resp)
	return true
}

// writeResponse sends a handshake answer.
func writeResponse(w http.ResponseWriter, resp *ingest.Response) {
	w.Header().Set("Content-Type", resp.ContentType)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// precheck refuses what the headers alone decide: an encoding we do not
// decode, a type the provider does not take, a provider or signature header the
// ingest service refuses without the body.
func (s *server) precheck(provider string, r *http.Request) error {
	if !identityEncoding(r.Header["Content-Encoding"]) {
		return errUnsupportedEncoding
	}
	if !s.acceptsMediaType(provider, r.Header.Get("Content-Type")) {
		return errUnsupportedMediaType
	}
	if p, ok := s.ingest.(prechecker); ok {
		return p.Precheck(provider, r.Header)
	}
	return nil
}

// identityEncoding reports whether a Content-Encoding header says the body
// is not encoded: absent, or only "identity". The ingress decodes no
// content coding, and a gzip body labelled as JSON must not be stored as
// if it were JSON.
func identityEncoding(values []string) bool {
	for _, v := range values {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "identity") {
				return false
			}
		}
	}
	return true
}

// writeAccepted answers 202. jobId is hex, so the body needs no escaping.
func writeAccepted(w http.ResponseWriter, res ingest.Result) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	b := make([]byte, 0, 80)
	b = append(b, `{"accepted":true,"jobId":"`...)
	b = append(b, res.JobID...)
	if res.Duplicate {
		b = append(b, `","duplicate":true}`...)
	} else {
		b = append(b, `"}`...)
	}
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// isJSON accepts application/json and application/<anything>+json, with
// parameters such as charset: what an acceptor that does not know the
// providers' content types takes.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && job.IsJSONMediaType(mt)
}

// handleHealth is GET /health on the public port: status only.
func (s *server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"draining"}`+"\n")
		return
	}
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, problem.Problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound,
		Detail: "webhooks are received at POST /webhooks/{provider}"})
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	problem.Write(w, problem.Problem{Type: typeMethod, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: "webhooks must be sent with POST"})
}
