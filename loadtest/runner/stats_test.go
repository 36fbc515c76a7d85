package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func ms_(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms_(i + 1) // 1..100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single is every percentile", []time.Duration{ms_(7)}, 1, ms_(7)},
		{"single p100", []time.Duration{ms_(7)}, 100, ms_(7)},
		{"p50 of 1..100", hundred, 50, ms_(50)},
		{"p95 of 1..100", hundred, 95, ms_(95)},
		{"p99 of 1..100", hundred, 99, ms_(99)},
		{"p100 is max", hundred, 100, ms_(100)},
		{"tiny q is min", hundred, 0.001, ms_(1)},
		{"nearest rank rounds up", []time.Duration{ms_(1), ms_(2), ms_(3)}, 50, ms_(2)},
		{"p95 of 3 is max", []time.Duration{ms_(1), ms_(2), ms_(3)}, 95, ms_(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("Percentile(q=%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	// Unsorted input; Summarize sorts it.
	lat := []time.Duration{ms_(40), ms_(10), ms_(30), ms_(20), ms_(1000)}
	got := Summarize(lat)
	want := Stats{Count: 5, Min: ms_(10), Mean: ms_(220), P50: ms_(30), P90: ms_(1000), P95: ms_(1000), P99: ms_(1000), Max: ms_(1000)}
	if got != want {
		t.Errorf("Summarize = %+v\nwant        %+v", got, want)
	}
	if (Summarize(nil) != Stats{}) {
		t.Error("Summarize(nil) is not zero")
	}
	if s := Summarize(nil).String(); s != "n=0" {
		t.Errorf("empty String = %q", s)
	}
}

func TestResultRates(t *testing.T) {
	r := &Result{
		Elapsed:  2 * time.Second,
		Requests: 1000, Accepted: 990,
		Failures: map[string]int{"http_503": 6, CauseTimeout: 4, CauseDropped: 10},
	}
	if got := r.RPS(); got != 500 {
		t.Errorf("RPS = %v, want 500", got)
	}
	if got := r.AcceptedRPS(); got != 495 {
		t.Errorf("AcceptedRPS = %v, want 495", got)
	}
	if got := r.Failed(); got != 20 {
		t.Errorf("Failed = %d, want 20", got)
	}
	// 20 failed out of 1000 completed + 10 dropped arrivals.
	if got, want := r.FailureRate(), 20.0/1010; got != want {
		t.Errorf("FailureRate = %v, want %v", got, want)
	}
	if got := (&Result{}).FailureRate(); got != 0 {
		t.Errorf("empty FailureRate = %v", got)
	}
	if got := (&Result{Requests: 5}).RPS(); got != 0 {
		t.Errorf("RPS with no elapsed time = %v", got)
	}
}

func TestPrint(t *testing.T) {
	r := &Result{
		Elapsed: time.Second, MaxWorkers: 3,
		Requests: 10, Attempts: 12, Accepted: 8, UniqueAccepted: 7, DuplicateAnswers: 1, Resent: 1,
		Failures:        map[string]int{"http_503": 1, CauseConnRefused: 1},
		Latency:         Stats{Count: 10, P50: ms_(2)},
		AcceptedLatency: Stats{Count: 8, P95: ms_(3)},
	}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{
		"requests      10 (10 req/s), attempts 12",
		"accepted      8 (8 /s), unique 7, answered duplicate 1, re-sent events 1",
		"failed        2 (20.000 %): conn_refused=1 http_503=1",
		"latency all   n=10",
		"p95=3.00ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestParseSeq(t *testing.T) {
	r := &Result{Options: Options{IDPrefix: "abc"}}
	id := r.EventID(42)
	if id != "abc-42" {
		t.Fatalf("EventID = %q", id)
	}
	for _, tt := range []struct {
		id   string
		seq  int64
		want bool
	}{
		{"abc-42", 42, true},
		{"abc-0", 0, true},
		{"abd-42", 0, false},
		{"abc42", 0, false},
		{"abc-", 0, false},
		{"abc--1", 0, false},
		{"abc-x", 0, false},
		{"ab", 0, false},
	} {
		seq, ok := ParseSeq("abc", tt.id)
		if ok != tt.want || (ok && seq != tt.seq) {
			t.Errorf("ParseSeq(%q) = %d, %v; want %d, %v", tt.id, seq, ok, tt.seq, tt.want)
		}
	}
}
