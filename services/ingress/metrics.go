package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the ingress. Route labels are patterns, never raw paths, so
// hostile URLs cannot blow up cardinality.
type metrics struct {
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	accepted        *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	enqueueFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_http_requests_total", Help: "HTTP answers on HTTP_ADDR (all but GET /health) by route pattern (other: answered before routing) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhook_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request on HTTP_ADDR (all but GET /health), by route pattern (other: answered before routing).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_accepted_total", Help: "Webhooks answered 202 with a newly queued job, by provider (a configured provider's name, else other).",
		}, []string{"provider"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_duplicates_total", Help: "Duplicate deliveries detected, by where they were caught.",
		}, []string{"stage"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_rejected_total", Help: "Webhooks refused, by problem type.",
		}, []string{"reason"}),
		enqueueFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_enqueue_failures_total", Help: "Jobs that could not be written to Redis (answered 503).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.accepted, m.duplicates, m.rejected, m.enqueueFailures)
	return m
}

// registerEdgeGauges exports the two process-wide caps: body bytes held and
// connections open on the public address, and the connections refused.
func registerEdgeGauges(reg prometheus.Registerer, bodies *bodyBudget, conns *connLimiter) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_body_bytes_in_flight", Help: "Body bytes held in buffers (capped by MAX_BODY_BYTES_IN_FLIGHT).",
		}, func() float64 { return float64(bodies.inUse.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_http_connections_open", Help: "Open connections on HTTP_ADDR (capped by MAX_CONNECTIONS).",
		}, func() float64 { return float64(conns.open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "webhook_http_connections_rejected_total", Help: "Connections refused with 503 because MAX_CONNECTIONS were open.",
		}, func() float64 { return float64(conns.rejected.Load()) }),
	)
}
