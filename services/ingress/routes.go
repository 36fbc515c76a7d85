package main

import (
	"net/http"

	"github.com/justinas/alice"
)

// routes is every public route of the ingress in one place. /health sits
// outside the webhook chain (it is for load balancers, not for metrics or the
// rate limiter); the edge (security headers, CORS, canonical paths) wraps
// every route.
func (s *server) routes() http.Handler {
	webhook := alice.New(s.recoverer, s.instrument)
	if s.limiter.Enabled() {
		webhook = webhook.Append(s.rateLimit)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{provider}", webhook.ThenFunc(s.handleWebhook))
	mux.Handle("GET /webhooks/{provider}", webhook.ThenFunc(s.handleVerification))
	mux.Handle("/webhooks/{provider}", webhook.ThenFunc(s.methodNotAllowed))
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("/", webhook.ThenFunc(s.notFound))
	return s.securityHeaders(corsHandler(s.corsOrigins, s.corsHeaders, s.canonicalPath(mux)))
}
