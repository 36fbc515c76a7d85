package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
)

// recoverer turns a panic into a 500 problem instead of a dropped connection.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", r.URL.Path)
				problem.Write(w, problem.Problem{Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError,
					Detail: "the event was not accepted; retry later"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Route labels of the request metrics besides the mux patterns.
const (
	// routeOther: answered before or without a route (rate limited, a
	// non-canonical path, a CORS preflight, the mux's own answers).
	routeOther = "other"
	// routeHealth is not counted: load balancers probe it, and its 503
	// while draining is no failed webhook.
	routeHealth = "GET /health"
)

// instrument counts every answer by route and status, and times it. The
// route is the mux pattern that matched (the mux records it on the request
// it is given, which every layer of the edge passes on), else routeOther:
// never the raw path, so hostile URLs cannot blow up cardinality.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		switch route {
		case routeHealth:
			return
		case "":
			route = routeOther
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code())).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter records the status sent: the first WriteHeader, or 200 when
// the body was written without one (or nothing was written at all).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim answers
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
