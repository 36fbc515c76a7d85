package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseExposition(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 2.4e+07
webhook_end_to_end_seconds_bucket{le="0.005"} 10
webhook_end_to_end_seconds_bucket{le="0.01"} 30
webhook_end_to_end_seconds_bucket{le="+Inf"} 40
webhook_accepted_total{provider="a"} 3
webhook_accepted_total{provider="b"} 4 1700000000000
`
	s, err := parseExposition(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sum("process_cpu_seconds_total", nil); got != 12.5 {
		t.Errorf("cpu = %v", got)
	}
	if got := s.sum("process_resident_memory_bytes", nil); got != 24e6 {
		t.Errorf("rss = %v", got)
	}
	if got := s.sum("webhook_accepted_total", nil); got != 7 {
		t.Errorf("accepted = %v (a sample with a timestamp must parse)", got)
	}
	b := s.buckets("webhook_end_to_end_seconds_bucket")
	if len(b) != 3 || b[0.005] != 10 || b[0.01] != 30 || b[math.Inf(1)] != 40 {
		t.Errorf("buckets = %v", b)
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
