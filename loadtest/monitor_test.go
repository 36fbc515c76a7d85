package main

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// wantValues checks the sum of each family's series (0: a missing family).
func wantValues(t *testing.T, s samples, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		if got := s.value(name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

// The runner reads what client_golang serves, as the binaries do.
func TestScrapeClientGolang(t *testing.T) {
	reg := prometheus.NewRegistry()
	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "webhook_accepted_total", Help: "h"}, []string{"provider"})
	accepted.WithLabelValues("a").Add(3)
	accepted.WithLabelValues("b").Add(4)
	rss := prometheus.NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes", Help: "h"})
	rss.Set(24e6)
	e2e := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "webhook_end_to_end_seconds", Help: "h", Buckets: []float64{0.005, 0.01}})
	for i := range 40 {
		e2e.Observe([]float64{0.001, 0.007, 0.007, 1}[i%4])
	}
	events := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "webhook_task_events", Help: "h", Buckets: []float64{1, 8}}, []string{"x"})
	events.WithLabelValues("1").Observe(1)
	events.WithLabelValues("2").Observe(2)
	events.WithLabelValues("2").Observe(3)
	reg.MustRegister(accepted, rss, e2e, events)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	s, err := scrapeOnce(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, s, map[string]float64{"webhook_accepted_total": 7, "process_resident_memory_bytes": 24e6, "no_such_metric": 0})
	_, _, b := s.histogram("webhook_end_to_end_seconds")
	if len(b) != 3 || b[0.005] != 10 || b[0.01] != 30 || b[math.Inf(1)] != 40 {
		t.Errorf("buckets = %v, want 0.005:10 0.01:30 +Inf:40", b)
	}
	if n, sum, _ := s.histogram("webhook_task_events"); n != 3 || sum != 6 {
		t.Errorf("task events count %v sum %v, want 3 and 6 (both series)", n, sum)
	}
}

// Text written by hand: untyped samples and a timestamp parse too.
func TestParseExposition(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 2.4e+07
webhook_accepted_total{provider="a"} 3
webhook_accepted_total{provider="b"} 4 1700000000000
`
	s, err := parseExposition(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	// webhook_accepted_total: one of its samples carries a timestamp.
	wantValues(t, s, map[string]float64{"process_cpu_seconds_total": 12.5, "process_resident_memory_bytes": 24e6, "webhook_accepted_total": 7})
	if _, err := parseExposition(strings.NewReader("webhook_accepted_total{provider=\"a} 3\n")); err == nil {
		t.Error("a malformed exposition parsed")
	}
}

func TestQuantile(t *testing.T) {
	b := map[float64]float64{0.01: 50, 0.1: 90, 1: 100, math.Inf(1): 100}
	for _, tt := range []struct{ q, want float64 }{
		{0.5, 0.01},   // exactly the first bucket's bound
		{0.25, 0.005}, // halfway through the first bucket (from 0)
		{0.7, 0.055},  // halfway through the second
		{0.95, 0.55},  // halfway through the third
		{1, 1},
	} {
		if got := quantile(b, tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	// Past the last finite bucket, its bound is all there is to say.
	if got := quantile(map[float64]float64{0.5: 1, math.Inf(1): 10}, 0.99); got != 0.5 {
		t.Errorf("overflow quantile = %v", got)
	}
	if got := quantile(map[float64]float64{math.Inf(1): 0}, 0.5); !math.IsNaN(got) {
		t.Errorf("empty quantile = %v, want NaN", got)
	}
}
