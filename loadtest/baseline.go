package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/loadtest/audit"
	"github.com/webhook-ingestor/webhook-ingestor/loadtest/runner"
)

// The job contract, restated from the outside (services/README.md "The job contract": queue "webhooks",
// task type "webhook:ingest", TaskID = the job id of (provider, event id)),
// so the baselines enqueue what the ingress enqueues without importing it.
const taskType = "webhook:ingest"

type jobPayload struct {
	Provider   string            `json:"provider"`
	EventID    string            `json:"eventId"`
	ReceivedAt time.Time         `json:"receivedAt"`
	Body       json.RawMessage   `json:"body"`
	Headers    map[string]string `json:"headers,omitempty"`
}

func jobID(provider, eventID string) string {
	h := sha256.New()
	h.Write([]byte(provider))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// serveBare answers every request 202 {"accepted":true,...} after reading
// its body: the ceiling of any net/http ingress on this machine. It runs in
// its own process (see startBare), as the ingress does.
func serveBare(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	body := []byte(`{"accepted":true,"jobId":"00000000000000000000000000000000"}`)
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write(body)
		}),
	}
	return srv.Serve(ln)
}

// startBare runs this program with -serve-bare as a child process and
// returns its address and a function that stops it (by its pid).
func startBare(ctx context.Context) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-serve-bare", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("bare server did not start: %q %v", line, err)
	}
	return addr, stop, nil
}

// enqueueSender enqueues each event as the ingress would (same payload, same
// TaskID), without HTTP, into a scratch queue nobody processes: the raw
// asynq Enqueue baseline.
type enqueueSender struct {
	client   *asynq.Client
	queue    string
	provider string
}

const scratchQueue = "loadtest-enqueue"

func enqueueSenders(opt asynq.RedisClientOpt, provider string) (func(int) (runner.Sender, error), func()) {
	client := asynq.NewClient(opt)
	newSender := func(int) (runner.Sender, error) {
		return &enqueueSender{client: client, queue: scratchQueue, provider: provider}, nil
	}
	cleanup := func() {
		_ = client.Close()
		insp := asynq.NewInspector(opt)
		defer insp.Close()
		if err := insp.DeleteQueue(scratchQueue, true); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			fmt.Fprintf(os.Stderr, "loadtest: delete scratch queue %s: %v\n", scratchQueue, err)
		}
	}
	return newSender, cleanup
}

func (s *enqueueSender) Send(ctx context.Context, ev runner.Event) runner.Response {
	b, err := json.Marshal(jobPayload{Provider: s.provider, EventID: ev.ID, ReceivedAt: time.Now().UTC(), Body: ev.Body})
	if err != nil {
		return runner.Response{Err: err}
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(taskType, b), asynq.Queue(s.queue), asynq.TaskID(jobID(s.provider, ev.ID)))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return runner.Response{Status: http.StatusAccepted, Duplicate: true}
	case err != nil:
		return runner.Response{Err: err}
	}
	return runner.Response{Status: http.StatusAccepted}
}

func (s *enqueueSender) Close() error { return nil }

// drain measures how fast a pre-filled queue is emptied: by the real worker
// (queue "webhooks" is paused while it is filled, then resumed, and the rows
// are audited), or by an in-process asynq server whose handler does nothing
// (asynq's own ceiling on this machine).
func drain(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	opt := cfg.redisOpt()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	queue := audit.Queue
	noop := cfg.against == "noop"
	if noop {
		queue = "loadtest-noop"
	} else if cfg.against != "worker" && cfg.against != "ingress" {
		return false, fmt.Errorf("-drain runs -against worker or noop, not %q", cfg.against)
	}
	if b, err := audit.QueueBacklog(insp, queue); err != nil {
		return false, err
	} else if b.Left() > 0 {
		return false, fmt.Errorf("queue %s is not empty (%s): drain it first", queue, b)
	}
	if noop {
		// A worker busy with the real queue meanwhile would share the CPU.
		if b, err := audit.QueueBacklog(insp, audit.Queue); err == nil && b.Left() > 0 {
			fmt.Fprintf(out, "warning: queue %s holds work (%s); the worker will compete with this measurement\n", audit.Queue, b)
		}
	}

	// Fill, with the queue paused so nothing is processed meanwhile.
	if !noop {
		if err := insp.PauseQueue(queue); err != nil {
			return false, fmt.Errorf("pause %s: %w", queue, err)
		}
	}
	paused := !noop
	defer func() {
		if paused {
			_ = insp.UnpauseQueue(queue)
		}
	}()
	client := asynq.NewClient(opt)
	defer client.Close()
	fill := runner.Options{
		Provider: cfg.provider, Stages: []runner.Stage{{Duration: 0, Target: 64}, {Duration: time.Hour, Target: 64}}, Pacing: -1,
		MaxRequests: int64(cfg.drain),
		NewSender: func(int) (runner.Sender, error) {
			return &enqueueSender{client: client, queue: queue, provider: cfg.provider}, nil
		},
	}
	fmt.Fprintf(out, "filling queue %s with %d tasks\n", queue, cfg.drain)
	res, err := runner.Run(ctx, fill)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "filled in %s (%.0f enqueues/s), failures %v\n", res.Elapsed.Round(time.Millisecond), res.AcceptedRPS(), res.Failures)

	var srv *asynq.Server
	var handled atomic.Int64
	mon := startMonitor(ctx, cfg)
	start := time.Now()
	if noop {
		srv = asynq.NewServer(opt, asynq.Config{Concurrency: 50, Queues: map[string]int{queue: 1}, LogLevel: asynq.WarnLevel})
		if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
			handled.Add(1)
			return nil
		})); err != nil {
			return false, err
		}
	} else {
		if err := insp.UnpauseQueue(queue); err != nil {
			return false, fmt.Errorf("unpause %s: %w", queue, err)
		}
		paused = false
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.drainTimeout)
	defer cancel()
	_, _, err = audit.WaitDrained(dctx, insp, queue, 50*time.Millisecond, nil)
	took := time.Since(start)
	if srv != nil {
		srv.Shutdown()
		_ = insp.DeleteQueue(queue, true)
	}
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "drained %d tasks in %s: %.0f tasks/s\n", res.Accepted, took.Round(time.Millisecond), float64(res.Accepted)/took.Seconds())
	mon.stopLoad()
	ok := true
	if !noop {
		rep, err := audit.Rows(ctx, cfg.databaseURL, res)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(out, "audit         %s\n", rep)
		ok = rep.OK()
	}
	mon.report(out, res.Accepted)
	return ok, nil
}
