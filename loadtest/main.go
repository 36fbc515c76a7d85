// Command loadtest drives the seed's load profile (or an open-model rate)
// against the ingress, waits for the worker to drain the queue, checks that
// every event answered 202 became exactly one row, prints a summary and exits
// non-zero when a threshold or the audit fails. It also measures the
// baselines the figures are compared with: a bare net/http 202 handler, a
// raw asynq Enqueue loop, asynq's own no-op processing rate, and the worker
// draining a pre-filled queue. See loadtest/README.md.
//
//	go run ./loadtest                                  # seed profile, 5 min, audit
//	go run ./loadtest -profile smoke                   # 20 s
//	go run ./loadtest -profile open -rate 20000 -duration 60s
//	go run ./loadtest -profile open -rate 20000 -against bare|enqueue
//	go run ./loadtest -drain 200000 [-against noop]
//
// It is a black box: it imports nothing from services/.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/webhook-ingestor/webhook-ingestor/loadtest/audit"
	"github.com/webhook-ingestor/webhook-ingestor/loadtest/runner"
)

type config struct {
	profile, against string
	targets          string
	provider         string
	scale            float64
	rate             float64
	duration         time.Duration
	workers          int
	dup              float64
	retries          int
	timeout          time.Duration

	redisAddr, redisPassword string
	redisDB                  int
	databaseURL              string
	audit                    bool
	drainTimeout             time.Duration
	drain                    int

	maxFailureRate float64
	p95, p99       time.Duration

	ingressMetrics, workerMetrics string
	serveBare                     string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("loadtest: ")
	cfg := parseFlags(os.Args[1:], os.Getenv)
	if cfg.serveBare != "" {
		if err := serveBare(cfg.serveBare); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string) config {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	redisDB, _ := strconv.Atoi(env("REDIS_DB", "0"))
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ExitOnError)
	fs.StringVar(&c.profile, "profile", "seed", "load shape: seed (k6 seed profile, closed model), smoke (20 s closed), open (constant arrival rate)")
	fs.StringVar(&c.against, "against", "ingress", "what receives the load: ingress, bare (a net/http handler that only answers 202, started as a child process), enqueue (asynq Enqueue, no HTTP); with -drain: worker or noop")
	fs.StringVar(&c.targets, "target", env("TARGET_URL", "http://127.0.0.1:8080"), "ingress base URL(s), comma-separated [$TARGET_URL]")
	fs.StringVar(&c.provider, "provider", "loadtest", "provider path segment")
	fs.Float64Var(&c.scale, "scale", 1, "multiply every stage duration (and -duration) by this")
	fs.Float64Var(&c.rate, "rate", 20000, "open model: arrivals per second")
	fs.DurationVar(&c.duration, "duration", time.Minute, "open model: how long arrivals go on")
	fs.IntVar(&c.workers, "workers", 256, "open model: max requests in flight (connections)")
	fs.Float64Var(&c.dup, "dup", 0, "share of requests (0..1) that re-send an earlier event")
	fs.IntVar(&c.retries, "retries", 0, "re-send a 429/502/503/504 or transport error up to this many times, honouring Retry-After")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-attempt timeout")
	fs.StringVar(&c.redisAddr, "redis", env("REDIS_ADDR", "127.0.0.1:6379"), "Redis of the stack, to watch the queue [$REDIS_ADDR]")
	c.redisPassword = getenv("REDIS_PASSWORD")
	fs.IntVar(&c.redisDB, "redis-db", redisDB, "Redis database [$REDIS_DB]")
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", "postgres://postgres@localhost:5432/webhooks?sslmode=disable"), "PostgreSQL of the stack, to count rows [$DATABASE_URL]")
	fs.BoolVar(&c.audit, "audit", true, "after the run, wait for the queue to drain and check rows == unique accepted")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 10*time.Minute, "how long the audit waits for the queue to drain")
	fs.IntVar(&c.drain, "drain", 0, "worker benchmark: pause the queue, fill it with this many tasks, unpause, time the drain")
	fs.Float64Var(&c.maxFailureRate, "max-failure-rate", 0.01, "threshold: fail when this share of requests (0..1) or more fails")
	fs.DurationVar(&c.p95, "p95", 100*time.Millisecond, "threshold: fail when the p95 of the 202s is this or more (0: off)")
	fs.DurationVar(&c.p99, "p99", 0, "threshold: fail when the p99 of the 202s is this or more (0: off)")
	fs.StringVar(&c.ingressMetrics, "ingress-metrics", env("INGRESS_METRICS_URL", ""), "ingress /metrics URL: report its CPU and peak RSS (e.g. http://127.0.0.1:9090/metrics)")
	fs.StringVar(&c.workerMetrics, "worker-metrics", env("WORKER_METRICS_URL", ""), "worker /metrics URL: report its CPU, peak RSS and accept→commit latency (e.g. http://127.0.0.1:9091/metrics)")
	fs.StringVar(&c.serveBare, "serve-bare", "", "internal: serve the bare 202 baseline on this address")
	_ = fs.Parse(args)
	return c
}

func (c config) redisOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: c.redisAddr, Password: c.redisPassword, DB: c.redisDB, PoolSize: 64}
}

// run does what cfg says and reports whether every threshold held.
func run(ctx context.Context, cfg config, out io.Writer) (bool, error) {
	if cfg.drain > 0 {
		return drain(ctx, cfg, out)
	}
	opts := runner.Options{
		Targets:        strings.Split(cfg.targets, ","),
		Provider:       cfg.provider,
		Scale:          cfg.scale,
		DuplicateRatio: cfg.dup,
		Retries:        cfg.retries,
		Timeout:        cfg.timeout,
	}
	switch cfg.profile {
	case "seed":
		opts.Model, opts.Stages = runner.Closed, runner.SeedStages()
	case "smoke":
		opts.Model = runner.Closed
		opts.Stages = []runner.Stage{{Duration: 5 * time.Second, Target: 10}, {Duration: 10 * time.Second, Target: 10}, {Duration: 5 * time.Second, Target: 0}}
	case "open":
		opts.Model, opts.Rate, opts.Duration, opts.Workers = runner.Open, cfg.rate, cfg.duration, cfg.workers
	default:
		return false, fmt.Errorf("unknown -profile %q", cfg.profile)
	}
	auditing := cfg.audit
	switch cfg.against {
	case "ingress":
	case "bare":
		addr, stopBare, err := startBare(ctx)
		if err != nil {
			return false, err
		}
		defer stopBare()
		opts.Targets = []string{"http://" + addr}
		auditing = false
	case "enqueue":
		newSender, closeClient := enqueueSenders(cfg.redisOpt(), cfg.provider)
		defer closeClient()
		opts.NewSender = newSender
		auditing = false
	default:
		return false, fmt.Errorf("unknown -against %q", cfg.against)
	}

	mon := startMonitor(ctx, cfg)
	fmt.Fprintf(out, "profile %s against %s %v (scale %g, dup %g)\n", cfg.profile, cfg.against, opts.Targets, cfg.scale, cfg.dup)
	res, err := runner.Run(ctx, opts)
	if err != nil {
		return false, err
	}
	mon.stopLoad()
	res.Print(out)
	ok := thresholds(cfg, res, out)

	if auditing {
		aok, err := runAudit(ctx, cfg, res, out)
		if err != nil {
			return false, err
		}
		mon.drained()
		ok = ok && aok
	}
	mon.report(out, res.Accepted)
	if ok {
		fmt.Fprintln(out, "PASS")
	} else {
		fmt.Fprintln(out, "FAIL")
	}
	return ok, nil
}

func thresholds(cfg config, res *runner.Result, out io.Writer) bool {
	ok := true
	check := func(pass bool, format string, args ...any) {
		mark := "ok  "
		if !pass {
			mark, ok = "FAIL", false
		}
		fmt.Fprintf(out, "  %s "+format+"\n", append([]any{mark}, args...)...)
	}
	fmt.Fprintln(out, "thresholds")
	check(res.FailureRate() < cfg.maxFailureRate, "failure rate %.4f %% < %.4f %%", 100*res.FailureRate(), 100*cfg.maxFailureRate)
	if cfg.p95 > 0 {
		check(res.AcceptedLatency.P95 < cfg.p95, "p95(202) %s < %s", res.AcceptedLatency.P95, cfg.p95)
	}
	if cfg.p99 > 0 {
		check(res.AcceptedLatency.P99 < cfg.p99, "p99(202) %s < %s", res.AcceptedLatency.P99, cfg.p99)
	}
	check(res.Accepted > 0, "some requests accepted (%d)", res.Accepted)
	return ok
}

func runAudit(ctx context.Context, cfg config, res *runner.Result, out io.Writer) (bool, error) {
	insp := asynq.NewInspector(cfg.redisOpt())
	defer insp.Close()
	dctx, cancel := context.WithTimeout(ctx, cfg.drainTimeout)
	defer cancel()
	last := time.Time{}
	backlog, waited, err := audit.WaitDrained(dctx, insp, audit.Queue, 250*time.Millisecond, func(b audit.Backlog) {
		if time.Since(last) > 5*time.Second {
			fmt.Fprintf(out, "  draining: %s\n", b)
			last = time.Now()
		}
	})
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "queue drained %s after the run (%s)\n", waited.Round(time.Millisecond), backlog)
	rep, err := audit.Rows(ctx, cfg.databaseURL, res)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "audit         %s\n", rep)
	if !rep.OK() {
		fmt.Fprintln(out, "  FAIL rows != unique accepted, or lost/duplicated events")
	}
	if backlog.Archived > 0 {
		fmt.Fprintf(out, "  note: %d archived (dead-letter) tasks in the queue, maybe from earlier runs\n", backlog.Archived)
	}
	return rep.OK(), nil
}
