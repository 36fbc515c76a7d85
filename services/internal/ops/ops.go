// Package ops is what operators see of a binary: JSON logs, the /live, /ready
// and /metrics endpoints on the ops address, and servers with sane timeouts.
package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/heptiolabs/healthcheck"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns the JSON logger every binary logs through.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// readyTimeout bounds each dependency check behind /ready.
const readyTimeout = time.Second

// Health serves /live and /ready. Liveness checks nothing: a process whose
// ops server answers is alive. Thresholds on goroutines or heap would fail
// under load or with many idle connections and restart a healthy pod, which
// makes an overload worse; the ingress caps connections and body bytes
// instead (MAX_CONNECTIONS, MAX_BODY_BYTES_IN_FLIGHT) and a leak ends at the
// container's memory limit. Readiness checks dependencies and turns false
// while draining.
type Health struct {
	healthcheck.Handler
	draining atomic.Bool
	notes    map[string]string // shown by /ready?full=1, never failing it
}

// Note adds a line to /ready?full=1 under name: something an operator must
// see (such as a configuration that accepts unsigned webhooks) that is no
// reason to take the process out of rotation. Call it before serving.
func (h *Health) Note(name, text string) {
	if h.notes == nil {
		h.notes = map[string]string{}
	}
	h.notes[name] = text
}

// readyEndpoint is the healthcheck's /ready with the notes merged into the
// full=1 report.
func (h *Health) readyEndpoint(w http.ResponseWriter, r *http.Request) {
	if len(h.notes) == 0 || r.URL.Query().Get("full") != "1" {
		h.ReadyEndpoint(w, r)
		return
	}
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	h.ReadyEndpoint(rec, r)
	report := map[string]string{}
	_ = json.Unmarshal(rec.body.Bytes(), &report)
	for k, v := range h.notes {
		report[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rec.code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	_ = enc.Encode(report)
}

// NewHealth returns a Health whose check results are also exported as
// metrics on reg.
func NewHealth(reg prometheus.Registerer) *Health {
	h := &Health{Handler: healthcheck.NewMetricsHandler(reg, "webhook")}
	h.AddReadinessCheck("draining", func() error {
		if h.draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	return h
}

// AddDependency makes /ready fail while ping fails or takes over a second.
func (h *Health) AddDependency(name string, ping func(context.Context) error) {
	h.AddReadinessCheck(name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		return ping(ctx)
	})
}

// Drain makes /ready fail from now on, so load balancers stop sending work.
func (h *Health) Drain() { h.draining.Store(true) }

// Handler serves GET /live, /ready and /metrics.
func Handler(h *Health, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", h.LiveEndpoint)
	mux.HandleFunc("GET /ready", h.readyEndpoint)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// NewServer returns an http.Server with timeouts against slow or idle
// clients and its errors logged through log.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listen binds srv's address now, so a taken port fails the start instead of
// a goroutine later, and returns the listener to Serve on.
func Listen(srv *http.Server) (net.Listener, error) {
	return net.Listen("tcp", srv.Addr)
}

// bufferedResponse records a response in memory.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
