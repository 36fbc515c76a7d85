package main

import (
	"net/http"

	"github.com/justinas/alice"
)

// routes is every public route of the ingress in one place. The edge wraps
// every route, in this order: security headers and connection framing
// first (every answer carries them), then the rate limiter (so that every
// request, including non-canonical paths and CORS preflights, spends a
// token; only GET /health is exempt), then CORS and the canonical-path
// check. /health sits outside the webhook chain (it is for load balancers,
// not for metrics).
func (s *server) routes() http.Handler {
	webhook := alice.New(s.recoverer, s.instrument)

	mux := http.NewServeMux()
	accept := webhook
	if s.shedder != nil {
		accept = accept.Append(s.shed)
	}
	mux.Handle("POST /webhooks/{provider}", accept.ThenFunc(s.handleWebhook))
	mux.Handle("GET /webhooks/{provider}", webhook.ThenFunc(s.handleVerification))
	mux.Handle("/webhooks/{provider}", webhook.ThenFunc(s.methodNotAllowed))
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("/", webhook.ThenFunc(s.notFound))

	edge := alice.New(s.securityHeaders, closeAfterChunked)
	if s.limiter.Enabled() {
		edge = edge.Append(s.rateLimit)
	}
	return edge.Then(corsHandler(s.corsOrigins, s.corsHeaders, s.canonicalPath(mux)))
}
