package runner

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Stats summarises a set of latencies.
type Stats struct {
	Count                              int
	Min, Mean, P50, P90, P95, P99, Max time.Duration
}

// Summarize computes Stats over lat. It sorts lat in place. Percentiles use
// the nearest-rank method: Pq is the smallest value with at least q % of the
// values less than or equal to it, so P100 is the maximum and a single
// value is every percentile.
func Summarize(lat []time.Duration) Stats {
	if len(lat) == 0 {
		return Stats{}
	}
	slices.Sort(lat)
	var sum float64
	for _, d := range lat {
		sum += float64(d)
	}
	return Stats{
		Count: len(lat),
		Min:   lat[0],
		Mean:  time.Duration(sum / float64(len(lat))),
		P50:   Percentile(lat, 50),
		P90:   Percentile(lat, 90),
		P95:   Percentile(lat, 95),
		P99:   Percentile(lat, 99),
		Max:   lat[len(lat)-1],
	}
}

// Percentile returns the nearest-rank q-th percentile (0 < q <= 100) of
// sorted, or 0 when sorted is empty.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// String prints the stats in one line, in milliseconds.
func (s Stats) String() string {
	if s.Count == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d min=%s p50=%s p90=%s p95=%s p99=%s max=%s mean=%s",
		s.Count, ms(s.Min), ms(s.P50), ms(s.P90), ms(s.P95), ms(s.P99), ms(s.Max), ms(s.Mean))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// RPS is the number of completed requests per second of the run.
func (r *Result) RPS() float64 { return perSecond(r.Requests, r.Elapsed) }

// AcceptedRPS is the number of 202 answers per second of the run.
func (r *Result) AcceptedRPS() float64 { return perSecond(r.Accepted, r.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Failed is the number of requests that did not end with a 202 (dropped
// arrivals included).
func (r *Result) Failed() int {
	n := 0
	for _, c := range r.Failures {
		n += c
	}
	return n
}

// FailureRate is Failed over all requests (dropped arrivals included), 0..1.
func (r *Result) FailureRate() float64 {
	if r.Requests+r.Failures[CauseDropped] == 0 {
		return 0
	}
	return float64(r.Failed()) / float64(r.Requests+r.Failures[CauseDropped])
}

// Print writes a human summary of r.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "duration      %s (max %d workers)\n", r.Elapsed.Round(time.Millisecond), r.MaxWorkers)
	fmt.Fprintf(w, "requests      %d (%.0f req/s), attempts %d\n", r.Requests, r.RPS(), r.Attempts)
	fmt.Fprintf(w, "accepted      %d (%.0f /s), unique %d, answered duplicate %d, re-sent events %d\n",
		r.Accepted, r.AcceptedRPS(), r.UniqueAccepted, r.DuplicateAnswers, r.Resent)
	fmt.Fprintf(w, "failed        %d (%.3f %%)%s\n", r.Failed(), 100*r.FailureRate(), r.failureCauses())
	fmt.Fprintf(w, "latency all   %s\n", r.Latency)
	fmt.Fprintf(w, "latency 202   %s\n", r.AcceptedLatency)
}

func (r *Result) failureCauses() string {
	if len(r.Failures) == 0 {
		return ""
	}
	causes := make([]string, 0, len(r.Failures))
	for c := range r.Failures {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	var b strings.Builder
	b.WriteString(":")
	for _, c := range causes {
		fmt.Fprintf(&b, " %s=%d", c, r.Failures[c])
	}
	return b.String()
}
