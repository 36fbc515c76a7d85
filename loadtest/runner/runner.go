// Package runner drives load against the ingress the way the seed's k6
// script does, and records what every request got back.
//
// Two models:
//   - Closed (k6's ramping VUs): a number of virtual users that follows
//     Stages, each sending one request then sleeping Pacing (the seed: 100 ms),
//     so the rate depends on how fast the server answers.
//   - Open (k6's constant-arrival-rate): Rate arrivals per second for
//     Duration, whatever the server does; an arrival that finds every one of
//     Workers busy is dropped and counted (cause "dropped"), and latency is
//     measured from the arrival's scheduled time, so a slow server cannot hide
//     its queueing (no coordinated omission).
//
// Each request POSTs the seed's envelope {"provider","eventId","timestamp",
// "data"} with a fresh event id (IDPrefix-seq) to /webhooks/{Provider}, or,
// with probability DuplicateRatio, re-sends an event already sent (same id,
// same body), the way a provider redelivers. Retries re-send 429, 502, 503,
// 504 and transport errors like a provider would, honouring Retry-After.
//
// The runner is a black box: it speaks HTTP/1.1 over its own lean keep-alive
// connections (one per worker, so the runner costs the shared CPU as little
// as it can) and imports nothing from the services. Result tells which event
// ids got a 202 (WasAccepted) so an audit can check them against the rows.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Model is how requests are paced.
type Model string

// The two models; see the package documentation.
const (
	Closed Model = "closed"
	Open   Model = "open"
)

// Failure causes (Result.Failures keys) besides "http_<status>".
const (
	CauseDropped     = "dropped"      // open model: no free worker at the arrival time
	CauseTimeout     = "timeout"      // no answer within Options.Timeout
	CauseConnRefused = "conn_refused" // nothing listening
	CauseConn        = "conn"         // reset, closed mid-answer, malformed answer
)

// Stage is one step of a closed-model ramp: the number of virtual users goes
// linearly from the previous stage's Target (0 at the start) to Target over
// Duration, as in k6's `stages`.
type Stage struct {
	Duration time.Duration
	Target   int
}

// SeedStages is the seed's k6 profile: 30s→50 VUs, 1m→200, 2m→500, 1m→500,
// 30s→0 (five minutes).
func SeedStages() []Stage {
	return []Stage{
		{30 * time.Second, 50},
		{time.Minute, 200},
		{2 * time.Minute, 500},
		{time.Minute, 500},
		{30 * time.Second, 0},
	}
}

// Options configure a run. The zero value of every field but Targets has a
// usable default.
type Options struct {
	// Targets are base URLs such as "http://127.0.0.1:8080". Worker i sends
	// to Targets[i%len(Targets)]. When a URL has a path other than "/", that
	// path is used as is instead of /webhooks/{Provider}.
	Targets []string
	// Provider is the {provider} path segment and the envelope's "provider".
	// Default "loadtest".
	Provider string

	// Model defaults to Closed.
	Model Model
	// Stages (closed model) default to SeedStages.
	Stages []Stage
	// Pacing is the closed model's sleep after each request. Default 100 ms;
	// negative means none.
	Pacing time.Duration
	// Rate (open model) is arrivals per second. Required for Open.
	Rate float64
	// Duration (open model) is how long arrivals go on. Default 60 s.
	Duration time.Duration
	// Workers (open model) bounds requests in flight (and connections).
	// Default 256.
	Workers int
	// Scale multiplies every stage duration and Duration. Default 1.
	Scale float64
	// MaxRequests, when positive, ends the run after that many requests.
	MaxRequests int64

	// DuplicateRatio (0..1) is the share of requests that re-send an event
	// among the last 1,000 new ones instead of a new event.
	DuplicateRatio float64
	// Retries is how many times a 429/502/503/504 or transport error is
	// re-sent (0: never). RetryWait caps one wait (default 2 s); without a
	// Retry-After the wait is 100 ms doubled per attempt.
	Retries   int
	RetryWait time.Duration
	// Timeout bounds one attempt, connection included. Default 10 s.
	Timeout time.Duration

	// IDPrefix starts every event id. Default: 12 random hex digits, so
	// runs never collide.
	IDPrefix string
	// Records keeps one Record per request in Result.Records.
	Records bool
	// Header is sent with every request.
	Header http.Header
	// Sign, when set, returns headers to add for a body (a signature).
	Sign func(body []byte) http.Header

	// NewSender replaces the HTTP client (for baselines that measure
	// something else with the same scheduling and statistics). It is called
	// once per worker.
	NewSender func(worker int) (Sender, error)
}

// Event is one request's event.
type Event struct {
	Seq  int64  // index of the event in this run; ID is IDPrefix-Seq
	ID   string // event id
	Body []byte // the envelope; valid only during Send
}

// Response is what a Sender got back.
type Response struct {
	Status     int // HTTP status, 0 when Err is set
	Duplicate  bool
	JobID      string        // only filled when Options.Records is set
	RetryAfter time.Duration // from a Retry-After header
	Err        error         // transport error
}

// Sender sends one event and waits for its answer. A Sender is used by one
// goroutine at a time.
type Sender interface {
	Send(ctx context.Context, ev Event) Response
	Close() error
}

// Record is what one request (all its attempts) got.
type Record struct {
	Seq       int64
	EventID   string
	Resend    bool          // re-sent an event already sent in this run
	Start     time.Duration // since the run started (scheduled time, open model)
	Latency   time.Duration // first send to final answer, retries included
	Attempts  int
	Status    int    // final HTTP status, 0 on a transport error
	Accepted  bool   // got a 202
	Duplicate bool   // the 202 said "duplicate":true
	JobID     string // from the 202
	Cause     string // failure cause, "" when accepted
}

// Result is a run's outcome.
type Result struct {
	Options    Options // as run, defaults filled in
	Elapsed    time.Duration
	MaxWorkers int

	Requests         int // requests that completed (retries count once)
	Attempts         int
	Accepted         int // requests answered 202
	DuplicateAnswers int // 202s with "duplicate":true
	UniqueAccepted   int // distinct events with at least one 202
	Resent           int // requests that re-sent an earlier event
	Events           int64
	Failures         map[string]int // cause → requests

	Latency         Stats // every completed request
	AcceptedLatency Stats // requests answered 202
	Records         []Record

	accepted []uint64 // bitset over Seq
}

// EventID is the id of event seq of this run.
func (r *Result) EventID(seq int64) string { return eventID(r.Options.IDPrefix, seq) }

// WasAccepted reports whether event seq got at least one 202.
func (r *Result) WasAccepted(seq int64) bool {
	if seq < 0 || seq>>6 >= int64(len(r.accepted)) {
		return false
	}
	return r.accepted[seq>>6]&(1<<(seq&63)) != 0
}

func eventID(prefix string, seq int64) string { return prefix + "-" + strconv.FormatInt(seq, 10) }

// ParseSeq returns the seq of an event id made by a run with prefix, or
// false when id is not one of them.
func ParseSeq(prefix, id string) (int64, bool) {
	if len(id) <= len(prefix)+1 || id[:len(prefix)] != prefix || id[len(prefix)] != '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(id[len(prefix)+1:], 10, 64)
	return n, err == nil && n >= 0
}

func (o *Options) defaults() error {
	if len(o.Targets) == 0 && o.NewSender == nil {
		return errors.New("runner: no target")
	}
	if o.Provider == "" {
		o.Provider = "loadtest"
	}
	if o.Model == "" {
		o.Model = Closed
	}
	if o.Model != Closed && o.Model != Open {
		return fmt.Errorf("runner: unknown model %q", o.Model)
	}
	if o.Stages == nil {
		o.Stages = SeedStages()
	}
	if o.Pacing == 0 {
		o.Pacing = 100 * time.Millisecond
	}
	if o.Model == Open && o.Rate <= 0 {
		return errors.New("runner: open model needs a Rate")
	}
	if o.Duration == 0 {
		o.Duration = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 256
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.RetryWait <= 0 {
		o.RetryWait = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.IDPrefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.IDPrefix = hex.EncodeToString(b[:])
	}
	return nil
}

// worker is one virtual user (closed) or one concurrent slot (open).
type worker struct {
	r      *run
	id     int
	sender Sender
	rng    *mrand.Rand
	body   []byte

	lat, acceptedLat []time.Duration
	acceptedSeqs     []int64
	records          []Record
	failures         map[string]int
	requests         int
	attempts         int
	accepted, dups   int
	resent           int
}

type run struct {
	opts    Options
	start   time.Time
	ts      string       // envelope timestamp
	newSeq  atomic.Int64 // events created so far
	drops   atomic.Int64 // open model: arrivals with no free worker
	issued  atomic.Int64 // closed model: requests started
	stopped atomic.Bool
}

// Run drives load as opts say and returns what happened. Cancelling ctx ends
// the run early; requests in flight still complete (within Timeout) so the
// result stays exact.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := &run{opts: opts, start: time.Now()}
	r.ts = r.start.UTC().Format(time.RFC3339Nano)

	n := opts.Workers
	if opts.Model == Closed {
		n = 0
		for _, s := range opts.Stages {
			n = max(n, s.Target)
		}
	}
	workers := make([]*worker, n)
	for i := range workers {
		w := &worker{r: r, id: i, rng: mrand.New(mrand.NewPCG(uint64(i), uint64(r.start.UnixNano()))), failures: map[string]int{}}
		var err error
		if opts.NewSender != nil {
			w.sender, err = opts.NewSender(i)
		} else {
			w.sender, err = newHTTPSender(opts.Targets[i%len(opts.Targets)], &opts)
		}
		if err != nil {
			for _, w := range workers[:i] {
				_ = w.sender.Close()
			}
			return nil, err
		}
		workers[i] = w
	}

	var wg sync.WaitGroup
	if opts.Model == Closed {
		r.closed(ctx, workers, &wg)
	} else {
		r.open(ctx, workers, &wg)
	}
	wg.Wait()
	elapsed := time.Since(r.start)
	for _, w := range workers {
		_ = w.sender.Close()
	}
	return r.result(workers, elapsed), nil
}

// closed runs one goroutine per virtual user; user i is active while i is
// below the current target, which a controller moves along the stages.
func (r *run) closed(ctx context.Context, workers []*worker, wg *sync.WaitGroup) {
	var active atomic.Int64
	stages := r.opts.Stages
	var total time.Duration
	for _, s := range stages {
		total += time.Duration(float64(s.Duration) * r.opts.Scale)
	}
	target := func(t time.Duration) int {
		prev := 0
		for _, s := range stages {
			d := time.Duration(float64(s.Duration) * r.opts.Scale)
			if t < d {
				return prev + int(float64(s.Target-prev)*float64(t)/float64(d))
			}
			t -= d
			prev = s.Target
		}
		return prev
	}
	for _, w := range workers {
		wg.Go(func() {
			for !r.stopped.Load() {
				if int64(w.id) >= active.Load() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if m := r.opts.MaxRequests; m > 0 && r.issued.Add(1) > m {
					r.stopped.Store(true)
					break
				}
				w.do(time.Now())
				if r.opts.Pacing > 0 {
					time.Sleep(r.opts.Pacing)
				}
			}
		})
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !r.stopped.Load() {
		t := time.Since(r.start)
		if t >= total {
			break
		}
		active.Store(int64(target(t)))
		select {
		case <-ctx.Done():
			r.stopped.Store(true)
			return
		case <-tick.C:
		}
	}
	r.stopped.Store(true)
}

// open schedules arrivals at Rate and hands each to a free worker.
func (r *run) open(ctx context.Context, workers []*worker, wg *sync.WaitGroup) {
	arrivals := make(chan time.Time, len(workers))
	for _, w := range workers {
		wg.Go(func() {
			for at := range arrivals {
				w.do(at)
			}
		})
	}
	defer close(arrivals)
	dur := time.Duration(float64(r.opts.Duration) * r.opts.Scale)
	interval := time.Duration(float64(time.Second) / r.opts.Rate)
	total := int64(dur.Seconds() * r.opts.Rate)
	if r.opts.MaxRequests > 0 {
		total = min(total, r.opts.MaxRequests)
	}
	var drops int64
	for sent := int64(0); sent < total; {
		due := min(int64(time.Since(r.start).Seconds()*r.opts.Rate)+1, total)
		for ; sent < due; sent++ {
			select {
			case arrivals <- r.start.Add(time.Duration(sent) * interval):
			default:
				drops++
			}
		}
		select {
		case <-ctx.Done():
			r.drops.Add(drops)
			return
		default:
		}
		// Sleep until the next arrival, but at least 500µs: at 20k/s waking
		// per arrival would cost the CPU we measure with. Latency counts from
		// the scheduled time, so this batching shows up in it (≤ 0.5 ms).
		time.Sleep(max(time.Until(r.start.Add(time.Duration(sent)*interval)), 500*time.Microsecond))
	}
	r.drops.Add(drops)
}

// do sends one request (retries included) and records it.
func (w *worker) do(at time.Time) {
	o := &w.r.opts
	var seq int64
	resend := false
	if o.DuplicateRatio > 0 && w.rng.Float64() < o.DuplicateRatio {
		if n := w.r.newSeq.Load(); n > 0 {
			seq = max(0, n-1000) + w.rng.Int64N(min(n, 1000))
			resend = true
		}
	}
	if !resend {
		seq = w.r.newSeq.Add(1) - 1
	}
	id := eventID(o.IDPrefix, seq)
	w.body = appendEnvelope(w.body[:0], o.Provider, id, w.r.ts, seq)
	ev := Event{Seq: seq, ID: id, Body: w.body}

	var resp Response
	attempts := 0
	for {
		attempts++
		resp = w.sender.Send(context.Background(), ev)
		if attempts > o.Retries || !retryable(resp) {
			break
		}
		wait := resp.RetryAfter
		if wait <= 0 {
			wait = 100 * time.Millisecond << min(attempts-1, 10)
		}
		time.Sleep(min(wait, o.RetryWait))
	}
	lat := time.Since(at)

	w.requests++
	w.attempts += attempts
	if resend {
		w.resent++
	}
	w.lat = append(w.lat, lat)
	cause := ""
	if resp.Err == nil && resp.Status == 202 {
		w.accepted++
		w.acceptedLat = append(w.acceptedLat, lat)
		w.acceptedSeqs = append(w.acceptedSeqs, seq)
		if resp.Duplicate {
			w.dups++
		}
	} else {
		cause = causeOf(resp)
		w.failures[cause]++
	}
	if o.Records {
		w.records = append(w.records, Record{
			Seq: seq, EventID: id, Resend: resend, Start: at.Sub(w.r.start), Latency: lat,
			Attempts: attempts, Status: resp.Status, Accepted: cause == "", Duplicate: resp.Duplicate,
			JobID: resp.JobID, Cause: cause,
		})
	}
}

func retryable(r Response) bool {
	if r.Err != nil {
		return true
	}
	switch r.Status {
	case 429, 502, 503, 504:
		return true
	}
	return false
}

func causeOf(r Response) string {
	if r.Err != nil {
		return classify(r.Err)
	}
	return "http_" + strconv.Itoa(r.Status)
}

// appendEnvelope writes the seed's envelope for event seq. The body of an
// event depends only on its seq, so a re-sent event is byte-identical.
func appendEnvelope(b []byte, provider, id, ts string, seq int64) []byte {
	b = append(b, `{"provider":"`...)
	b = append(b, provider...)
	b = append(b, `","eventId":"`...)
	b = append(b, id...)
	b = append(b, `","timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","data":{"type":"payment.succeeded","amount":`...)
	b = strconv.AppendInt(b, 100+seq*7919%99900, 10)
	b = append(b, `,"currency":"eur","customer":"cus_`...)
	b = strconv.AppendInt(b, seq%5000, 10)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `}}`...)
	return b
}

func (r *run) result(workers []*worker, elapsed time.Duration) *Result {
	res := &Result{
		Options:    r.opts,
		Elapsed:    elapsed,
		MaxWorkers: len(workers),
		Events:     r.newSeq.Load(),
		Failures:   map[string]int{},
	}
	var lat, alat []time.Duration
	res.accepted = make([]uint64, (res.Events+63)/64)
	for _, w := range workers {
		res.Requests += w.requests
		res.Attempts += w.attempts
		res.Accepted += w.accepted
		res.DuplicateAnswers += w.dups
		res.Resent += w.resent
		for c, n := range w.failures {
			res.Failures[c] += n
		}
		lat = append(lat, w.lat...)
		alat = append(alat, w.acceptedLat...)
		for _, s := range w.acceptedSeqs {
			res.accepted[s>>6] |= 1 << (s & 63)
		}
		res.Records = append(res.Records, w.records...)
	}
	if d := r.drops.Load(); d > 0 {
		res.Failures[CauseDropped] = int(d)
	}
	for _, x := range res.accepted {
		res.UniqueAccepted += bits.OnesCount64(x)
	}
	res.Latency = Summarize(lat)
	res.AcceptedLatency = Summarize(alat)
	return res
}
