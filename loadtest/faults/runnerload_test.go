//go:build faults

package faults

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/loadtest/runner"
)

// runWithRunner drives a constant-rate load with the project's load runner
// (loadtest/runner, open model: arrivals at Rate whatever the server does,
// retries like a provider) and records every attempt through a Sender, so a
// scenario can tell when each 202 or cut-off happened.
func (l *load) runWithRunner(ctx context.Context) *loadResult {
	res := newResult()
	tr := &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 256,
		DialContext:     (&net.Dialer{Timeout: time.Second}).DialContext,
		IdleConnTimeout: 30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var rr atomic.Uint64
	retries := 0
	if l.Retry {
		// Bounded by time rather than count: at most GiveUp of waits of MaxBackoff.
		retries = int(l.GiveUp/l.MaxBackoff) + 50
	}
	// Enough workers that arrivals are not dropped while every request in
	// flight sits in a Retry-After wait (an outage): rate × longest wait, bounded.
	workers := min(max(l.Concurrency, l.Rate*int(l.MaxBackoff/time.Second+2)), 8192)
	out, err := runner.Run(ctx, runner.Options{
		Targets: l.Targets, Provider: l.Provider, IDPrefix: l.Prefix,
		Model: runner.Open, Rate: float64(l.Rate), Duration: l.Duration, Workers: workers,
		Retries: retries, RetryWait: l.MaxBackoff, Timeout: 5 * time.Second,
		NewSender: func(int) (runner.Sender, error) {
			return &recSender{l: l, client: client, rr: &rr, res: res}, nil
		},
	})
	if err != nil {
		panic(err) // options are the suite's own: a bug here
	}
	res.Elapsed = out.Elapsed
	res.Dropped = out.Failures[runner.CauseDropped]
	return res
}

// recSender posts with net/http to the targets in turn and records each attempt.
type recSender struct {
	l      *load
	client *http.Client
	rr     *atomic.Uint64
	res    *loadResult
}

func (s *recSender) Send(ctx context.Context, ev runner.Event) runner.Response {
	target := s.l.Targets[s.rr.Add(1)%uint64(len(s.l.Targets))]
	a := post(ctx, s.client, target+"/webhooks/"+s.l.Provider, ev.Body)
	a.Done = time.Now()
	s.res.record(ev.ID, a)
	resp := runner.Response{Status: a.Code, Duplicate: a.Duplicate}
	if a.Code == 0 {
		resp.Err = errors.New(a.Err)
	}
	if n, err := strconv.Atoi(a.RetryAft); err == nil {
		resp.RetryAfter = time.Duration(n) * time.Second
	}
	return resp
}

func (s *recSender) Close() error { return nil }
