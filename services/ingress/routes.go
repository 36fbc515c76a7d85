package main

import (
	"net/http"

	"github.com/justinas/alice"
)

// routes is every public route of the ingress in one place. The edge wraps
// every route, in this order: the request metrics and the panic recoverer
// first (every answer is counted, a panic included, see instrument), then
// security headers and connection framing (every answer carries them), then
// the rate limiter (so that every request, including non-canonical paths
// and CORS preflights, spends a token; only GET /health is exempt), then
// CORS and the canonical-path check.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	accept := alice.New()
	if s.shedder != nil {
		accept = accept.Append(s.shed)
	}
	mux.Handle("POST /webhooks/{provider}", accept.ThenFunc(s.handleWebhook))
	mux.HandleFunc("GET /webhooks/{provider}", s.handleVerification)
	mux.HandleFunc("/webhooks/{provider}", s.methodNotAllowed)
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("/", s.notFound)

	edge := alice.New(s.instrument, s.recoverer, s.securityHeaders, closeAfterChunked)
	if s.limiter.Enabled() {
		edge = edge.Append(s.rateLimit)
	}
	return edge.Then(corsHandler(s.corsOrigins, s.corsHeaders, s.canonicalPath(mux)))
}
