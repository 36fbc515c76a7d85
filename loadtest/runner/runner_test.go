package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIngress answers like the ingress: 202 {"accepted":true,"jobId":…}, with
// "duplicate":true for an event id it has seen, after validating the envelope.
type fakeIngress struct {
	mu    sync.Mutex
	seen  map[string]bool
	posts atomic.Int64
	fail  func(n int64) int // status to answer instead, 0 for none
}

func (f *fakeIngress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.posts.Add(1)
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/webhooks/") {
		http.Error(w, "bad route", 404)
		return
	}
	var env struct {
		Provider  string          `json:"provider"`
		EventID   string          `json:"eventId"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || env.EventID == "" || env.Timestamp.IsZero() ||
		len(env.Data) == 0 || env.Data[0] != '{' || "/webhooks/"+env.Provider != r.URL.Path {
		http.Error(w, fmt.Sprintf("bad envelope: %v", err), 400)
		return
	}
	if f.fail != nil {
		if code := f.fail(n); code != 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(code)
			return
		}
	}
	f.mu.Lock()
	dup := f.seen[env.EventID]
	f.seen[env.EventID] = true
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(202)
	if dup {
		fmt.Fprintf(w, `{"accepted":true,"jobId":"j-%s","duplicate":true}`, env.EventID)
	} else {
		fmt.Fprintf(w, `{"accepted":true,"jobId":"j-%s"}`, env.EventID)
	}
}

func newFake(t *testing.T) (*fakeIngress, string) {
	f := &fakeIngress{seen: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestClosedModel(t *testing.T) {
	f, url := newFake(t)
	res, err := Run(context.Background(), Options{
		Targets: []string{url},
		Stages:  []Stage{{200 * time.Millisecond, 10}, {200 * time.Millisecond, 10}, {100 * time.Millisecond, 0}},
		Pacing:  10 * time.Millisecond,
		Records: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxWorkers != 10 {
		t.Errorf("MaxWorkers = %d, want 10", res.MaxWorkers)
	}
	// ~10 VUs at ≤100 req/s each for ~0.3 s on average: a few hundred.
	if res.Requests < 50 || res.Requests > 600 {
		t.Errorf("Requests = %d, outside the expected range", res.Requests)
	}
	if res.Failed() != 0 || res.Accepted != res.Requests || res.UniqueAccepted != res.Accepted {
		t.Errorf("failed=%d accepted=%d unique=%d requests=%d (%v)", res.Failed(), res.Accepted, res.UniqueAccepted, res.Requests, res.Failures)
	}
	if int(f.posts.Load()) != res.Attempts {
		t.Errorf("server saw %d posts, runner counted %d attempts", f.posts.Load(), res.Attempts)
	}
	if len(res.Records) != res.Requests {
		t.Fatalf("%d records for %d requests", len(res.Records), res.Requests)
	}
	for _, rec := range res.Records {
		if !rec.Accepted || rec.JobID != "j-"+rec.EventID || !res.WasAccepted(rec.Seq) || rec.EventID != res.EventID(rec.Seq) {
			t.Fatalf("bad record %+v", rec)
		}
	}
	if res.WasAccepted(res.Events) || res.WasAccepted(-1) {
		t.Error("WasAccepted true past the events")
	}
	if res.Latency.Count != res.Requests || res.AcceptedLatency.Count != res.Accepted || res.Latency.P50 <= 0 {
		t.Errorf("latency stats %v / %v", res.Latency, res.AcceptedLatency)
	}
}

func TestScale(t *testing.T) {
	_, url := newFake(t)
	start := time.Now()
	_, err := Run(context.Background(), Options{
		Targets: []string{url},
		Stages:  []Stage{{2 * time.Second, 2}},
		Scale:   0.1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("a 2 s stage at scale 0.1 took %v", d)
	}
}

func TestOpenModelAndDuplicates(t *testing.T) {
	f, url := newFake(t)
	res, err := Run(context.Background(), Options{
		Targets:        []string{url, url},
		Model:          Open,
		Rate:           500,
		Duration:       2 * time.Second,
		Workers:        128,
		DuplicateRatio: 0.2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests+res.Failures[CauseDropped] != 1000 {
		t.Errorf("requests %d + dropped %d != 1000 arrivals", res.Requests, res.Failures[CauseDropped])
	}
	// Drops depend on how busy the machine is (the race detector, other
	// builds); nothing else may fail.
	if res.Failed() != res.Failures[CauseDropped] {
		t.Errorf("failures: %v", res.Failures)
	}
	if res.Resent < res.Requests/10 || res.Resent > res.Requests*3/10 {
		t.Errorf("Resent = %d of %d, want about 20 %%", res.Resent, res.Requests)
	}
	f.mu.Lock()
	distinct := len(f.seen)
	f.mu.Unlock()
	if res.UniqueAccepted != distinct {
		t.Errorf("UniqueAccepted = %d, server saw %d distinct events", res.UniqueAccepted, distinct)
	}
	if int64(distinct) != res.Events {
		t.Errorf("Events = %d, server saw %d", res.Events, distinct)
	}
	if res.DuplicateAnswers != res.Accepted-distinct {
		t.Errorf("DuplicateAnswers = %d, want accepted-distinct = %d", res.DuplicateAnswers, res.Accepted-distinct)
	}
}

func TestRetries(t *testing.T) {
	f, url := newFake(t)
	f.fail = func(n int64) int {
		if n%2 == 1 { // every first attempt is refused
			return 503
		}
		return 0
	}
	res, err := Run(context.Background(), Options{
		Targets: []string{url},
		Stages:  []Stage{{100 * time.Millisecond, 1}},
		Pacing:  -1,
		Retries: 3,
		Records: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() != 0 || res.Attempts != 2*res.Requests {
		t.Errorf("failed=%d attempts=%d requests=%d", res.Failed(), res.Attempts, res.Requests)
	}

	f.fail = func(int64) int { return 503 }
	res, err = Run(context.Background(), Options{
		Targets: []string{url},
		Stages:  []Stage{{50 * time.Millisecond, 1}},
		Retries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Failures["http_503"] != res.Requests || res.Attempts != 2*res.Requests {
		t.Errorf("always 503: %+v", res)
	}
}

func TestConnRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res, err := Run(context.Background(), Options{
		Targets: []string{url},
		Stages:  []Stage{{time.Millisecond, 1}, {50 * time.Millisecond, 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Failures[CauseConnRefused] != res.Requests {
		t.Errorf("failures %v for %d requests", res.Failures, res.Requests)
	}
}

// The client must cope with every answer framing and with a server that
// closes kept-alive connections.
func TestHTTPFraming(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 4 {
		case 0: // chunked
			w.WriteHeader(202)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, `{"accepted":true,`)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, `"jobId":"x","duplicate":true}`)
		case 1: // Content-Length, then close
			w.Header().Set("Connection", "close")
			w.WriteHeader(202)
			_, _ = io.WriteString(w, `{"accepted":true,"jobId":"x"}`)
		case 2: // no body
			w.WriteHeader(202)
		case 3: // a problem
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"status":503}`)
		}
	}))
	defer srv.Close()
	o := Options{Targets: []string{srv.URL}, Records: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	s, err := newHTTPSender(srv.URL, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []Response{
		{Status: 202, JobID: "x"},
		{Status: 202},
		{Status: 503, RetryAfter: 7 * time.Second},
		{Status: 202, JobID: "x", Duplicate: true},
		{Status: 202, JobID: "x"},
	}
	for i, w := range want {
		got := s.Send(context.Background(), Event{ID: "e", Body: []byte(`{}`)})
		if got != w {
			t.Errorf("answer %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestEnvelope(t *testing.T) {
	b := appendEnvelope(nil, "stripe", "p-12", "2026-11-29T10:00:00.123Z", 12)
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if env["provider"] != "stripe" || env["eventId"] != "p-12" || env["timestamp"] != "2026-11-29T10:00:00.123Z" {
		t.Errorf("envelope %s", b)
	}
	if _, ok := env["data"].(map[string]any); !ok {
		t.Errorf("data is not an object: %s", b)
	}
	first := string(appendEnvelope(nil, "stripe", "p-12", "t", 12))
	buf := appendEnvelope(make([]byte, 0, 8), "other", "x-1", "u", 1) // a reused buffer
	if again := string(appendEnvelope(buf[:0], "stripe", "p-12", "t", 12)); again != first {
		t.Errorf("the body of an event is not deterministic: %s then %s", first, again)
	}
}

func TestMaxRequests(t *testing.T) {
	_, url := newFake(t)
	for _, o := range []Options{
		{Targets: []string{url}, Stages: []Stage{{0, 8}, {time.Minute, 8}}, Pacing: -1, MaxRequests: 300},
		{Targets: []string{url}, Model: Open, Rate: 3000, Duration: time.Minute, MaxRequests: 300},
	} {
		start := time.Now()
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests+res.Failures[CauseDropped] != 300 || res.Events != int64(res.Requests) {
			t.Errorf("%s: %d requests + %d dropped, %d events; want 300", o.Model, res.Requests, res.Failures[CauseDropped], res.Events)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: took %v", o.Model, d)
		}
	}
}
