package main

import (
	"net/http"

	"github.com/justinas/alice"
)

// routes is every public route of the ingress in one place. /health sits
// outside the middleware chain: it is for load balancers, not for metrics.
func (s *server) routes() http.Handler {
	webhook := alice.New(s.recoverer, s.instrument)

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{provider}", webhook.ThenFunc(s.handleWebhook))
	mux.Handle("/webhooks/{provider}", webhook.ThenFunc(s.methodNotAllowed))
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("/", webhook.ThenFunc(s.notFound))
	return mux
}
