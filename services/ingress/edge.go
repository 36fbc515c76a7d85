package main

import (
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/rs/cors"
)

// The edge of the ingress: response headers every reply carries, CORS, the
// rate limiter, and refusing non-canonical paths. README "Security" documents
// each; edge_test.go and hostile_test.go cover them.

// Security headers, built once: the values are shared, never mutated.
var (
	hdrNosniff = []string{"nosniff"}
	hdrDeny    = []string{"DENY"}
	hdrNoRef   = []string{"no-referrer"}
	hdrCSP     = []string{"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
	hdrNoStore = []string{"no-store"}
)

// securityHeaders sets the headers every response carries (helmet's
// equivalent for an API that serves no HTML), and HSTS when configured.
// net/http sends no Server header, so there is nothing to strip.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["X-Frame-Options"] = hdrDeny
		h["Referrer-Policy"] = hdrNoRef
		h["Content-Security-Policy"] = hdrCSP
		h["Cache-Control"] = hdrNoStore
		if s.hsts != nil {
			h["Strict-Transport-Security"] = s.hsts
		}
		next.ServeHTTP(w, r)
	})
}

// corsHandler wraps next in rs/cors restricted to origins; with no origins
// it returns next unchanged, so no CORS header is ever sent.
func corsHandler(origins, headers []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodPost},
		AllowedHeaders: append([]string{"Content-Type", "X-Request-Id"}, headers...),
		MaxAge:         600,
	}).Handler(next)
}

// canonicalPath answers 404 for paths that are not in canonical form
// ("//", "/./", "/../", "%2e%2e" once decoded) instead of letting the mux
// redirect them: a redirect is no answer for a webhook sender, and the
// refusal is the same whichever trick was used.
func (s *server) canonicalPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || p[0] != '/' || (path.Clean(p) != p && p != "/") {
			s.notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimitedError carries how long the sender should wait.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string { return "rate limit exceeded" }

func (e *rateLimitedError) seconds() string {
	return strconv.Itoa(int(e.retryAfter / time.Second))
}

// rateLimit refuses requests over the global or per-client token bucket
// with 429 before any body is read. GET /health is exempt: load balancers
// probe it and must not be throttled by the traffic they balance.
func (s *server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && r.Method == http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		if ok, retry := s.limiter.Allow(r, time.Now()); !ok {
			s.writeError(w, r, &rateLimitedError{retryAfter: retry})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// closeAfterChunked closes the connection after answering a request sent
// with Transfer-Encoding. RFC 9112 §6.1: a request with both Content-Length
// and Transfer-Encoding may be a smuggling attempt, and the server MUST close
// the connection after responding. net/http follows Transfer-Encoding and
// deletes Content-Length before a handler runs, so the handler cannot tell
// the two cases apart; it closes after every chunked request. Providers send
// Content-Length, so this costs them nothing.
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
