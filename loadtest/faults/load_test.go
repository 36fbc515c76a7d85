//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// load is the suite's own small provider simulator: it delivers events at a
// fixed rate and, like a real webhook provider, retries every delivery that
// did not get a 202 (honouring Retry-After) until it does or gives up. It
// records, per event, every attempt's outcome, so an audit can tell "got a
// 202" from "was cut off".
type load struct {
	Targets     []string      // ingress base URLs, used round-robin
	Provider    string        // path segment and body "provider"
	Prefix      string        // event ids are Prefix-<n>
	Rate        int           // events per second
	Duration    time.Duration // how long new events are produced
	Events      int           // alternatively: a fixed number of events (Rate 0 = as fast as Concurrency allows)
	Copies      int           // deliveries per event (duplicate storm); default 1
	Concurrency int
	Retry       bool          // retry non-202 like a provider
	GiveUp      time.Duration // per-event retry budget (default 2 min)
	MaxBackoff  time.Duration // cap on Retry-After / backoff (default 5s)
}

// attempt is one HTTP delivery.
type attempt struct {
	At        time.Time // sent
	Done      time.Time // answered or failed
	Code      int       // 0 = no response
	Err       string    // transport error class when Code == 0
	Duplicate bool      // 202 with "duplicate":true
	RetryAft  string    // Retry-After header of a non-202
}

type eventRec struct {
	ID       string
	Accepted bool // some attempt got a 202
	Attempts []attempt
}

// loadResult is what a run saw.
type loadResult struct {
	Events   map[string]*eventRec
	Requests int
	Codes    map[int]int    // status → count (202, 503, ...)
	Errors   map[string]int // transport error class → count
	// FirstTry counts events whose first delivery got a 202.
	FirstTry int
	// Non202 counts attempts that were not a 202 (failed requests as a provider sees them).
	Non202 int
	// No503RetryAfter counts 503 answers without a Retry-After header (a contract violation).
	No503RetryAfter int
	Elapsed         time.Duration
	// Dropped counts arrivals the runner could not send (every worker busy).
	Dropped int

	mu                       sync.Mutex
	start, firstBad, lastBad time.Time
}

func newResult() *loadResult {
	return &loadResult{Events: map[string]*eventRec{}, Codes: map[int]int{}, Errors: map[string]int{}, start: time.Now()}
}

func (r *loadResult) Accepted() []string {
	var ids []string
	for id, e := range r.Events {
		if e.Accepted {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (r *loadResult) Summary() string {
	codes := make([]string, 0, len(r.Codes))
	for c, n := range r.Codes {
		codes = append(codes, fmt.Sprintf("%d×%d", c, n))
	}
	sort.Strings(codes)
	errs := make([]string, 0, len(r.Errors))
	for e, n := range r.Errors {
		errs = append(errs, fmt.Sprintf("%s×%d", e, n))
	}
	sort.Strings(errs)
	window := ""
	if r.Non202 > 0 {
		window = fmt.Sprintf(" (between %.1fs and %.1fs into the run)", r.firstBad.Sub(r.start).Seconds(), r.lastBad.Sub(r.start).Seconds())
	}
	return fmt.Sprintf("events=%d accepted=%d requests=%d (%.0f req/s) first-try-202=%d non-202=%d%s codes=[%s] transport-errors=[%s] dropped-arrivals=%d",
		len(r.Events), len(r.Accepted()), r.Requests, float64(r.Requests)/r.Elapsed.Seconds(), r.FirstTry, r.Non202, window,
		strings.Join(codes, " "), strings.Join(errs, " "), r.Dropped)
}

func (l *load) defaults() {
	if l.Concurrency == 0 {
		l.Concurrency = 32
	}
	if l.Copies == 0 {
		l.Copies = 1
	}
	if l.GiveUp == 0 {
		l.GiveUp = 2 * time.Minute
	}
	if l.MaxBackoff == 0 {
		l.MaxBackoff = 5 * time.Second // the ingress's default Retry-After
	}
	if l.Provider == "" {
		l.Provider = "faults"
	}
}

type delivery struct{ rec *eventRec }

// record adds one attempt of event id to the result.
func (r *loadResult) record(id string, a attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.Events[id]
	if e == nil {
		e = &eventRec{ID: id}
		r.Events[id] = e
	}
	first := len(e.Attempts) == 0
	e.Attempts = append(e.Attempts, a)
	r.Requests++
	if a.Code == 0 {
		r.Errors[a.Err]++
	} else {
		r.Codes[a.Code]++
	}
	if a.Code == http.StatusAccepted {
		e.Accepted = true
		if first {
			r.FirstTry++
		}
	} else {
		r.Non202++
		if r.firstBad.IsZero() || a.At.Before(r.firstBad) {
			r.firstBad = a.At
		}
		if a.At.After(r.lastBad) {
			r.lastBad = a.At
		}
	}
	if a.Code == http.StatusServiceUnavailable && a.RetryAft == "" {
		r.No503RetryAfter++
	}
}

// Run delivers the events and returns when every delivery ended (202 or given up).
func (l *load) Run(ctx context.Context) *loadResult {
	l.defaults()
	if l.Rate > 0 && l.Copies == 1 {
		return l.runWithRunner(ctx)
	}
	tr := &http.Transport{
		MaxIdleConns: l.Concurrency * 2, MaxIdleConnsPerHost: l.Concurrency,
		DialContext:     (&net.Dialer{Timeout: time.Second}).DialContext,
		IdleConnTimeout: 30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	res := newResult()
	jobs := make(chan delivery, l.Concurrency*4)
	var rr atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range l.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				l.deliver(ctx, client, d, &rr, res)
			}
		}()
	}

	// Producer: Rate events per second for Duration, or Events as fast as possible.
	n := 0
	emit := func() {
		id := fmt.Sprintf("%s-%07d", l.Prefix, n)
		n++
		rec := &eventRec{ID: id}
		res.mu.Lock()
		res.Events[id] = rec
		res.mu.Unlock()
		for range l.Copies {
			jobs <- delivery{rec: rec}
		}
	}
	switch {
	case l.Rate > 0:
		const tick = 10 * time.Millisecond
		tk := time.NewTicker(tick)
		credit := 0.0
		for now := range tk.C {
			if now.Sub(start) >= l.Duration || ctx.Err() != nil {
				break
			}
			credit += float64(l.Rate) * tick.Seconds()
			for ; credit >= 1; credit-- {
				emit()
			}
		}
		tk.Stop()
	default:
		for range l.Events {
			emit()
		}
	}
	close(jobs)
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

func (l *load) deliver(ctx context.Context, client *http.Client, d delivery, rr *atomic.Uint64, res *loadResult) {
	body, _ := json.Marshal(map[string]any{
		"provider":  l.Provider,
		"eventId":   d.rec.ID,
		"timestamp": time.Now().UTC().Format(time.RFC3339),
		"data":      map[string]any{"id": d.rec.ID, "source": "faults"},
	})
	deadline := time.Now().Add(l.GiveUp)
	backoff := 100 * time.Millisecond
	for {
		target := l.Targets[rr.Add(1)%uint64(len(l.Targets))]
		a := post(ctx, client, target+"/webhooks/"+l.Provider, body)
		a.Done = time.Now()

		res.record(d.rec.ID, a)

		if a.Code == http.StatusAccepted || !l.Retry || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		if a.Code >= 400 && a.Code < 500 && a.Code != http.StatusTooManyRequests {
			return // a provider does not retry a client error
		}
		wait := backoff
		if s, err := strconv.Atoi(a.RetryAft); err == nil && s >= 0 {
			wait = time.Duration(s) * time.Second
		}
		wait = min(wait, l.MaxBackoff)
		backoff = min(backoff*2, l.MaxBackoff)
		time.Sleep(wait)
	}
}

func post(ctx context.Context, client *http.Client, url string, body []byte) attempt {
	a := attempt{At: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Err = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		a.Err = errClass(err)
		return a
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		a.Err = "body: " + errClass(err)
		return a
	}
	a.Code = resp.StatusCode
	a.RetryAft = resp.Header.Get("Retry-After")
	if a.Code == http.StatusAccepted {
		var v struct {
			Accepted  bool `json:"accepted"`
			Duplicate bool `json:"duplicate"`
		}
		if json.Unmarshal(b, &v) != nil || !v.Accepted {
			// A 202 that does not say accepted is a broken contract: record it as such.
			a.Code, a.Err = 0, "202 without accepted:true"
		}
		a.Duplicate = v.Duplicate
	}
	return a
}

// errClass names a transport error by kind, for the summary.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}
