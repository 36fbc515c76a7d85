// Command worker takes webhook jobs off the asynq queue and persists each
// event exactly once in PostgreSQL.
//
//	worker                      run the asynq server (migrating first unless DB_MIGRATE=false)
//	worker migrate [-create-database] [-to N]   apply migrations (or move to version N) and exit
//	worker deadletters list|replay|purge|archive [filters]   dead-letter operations (webhook_dead_letters)
//	worker replay [filters]     the same as `worker deadletters replay`
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/idempotency"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// version is stamped at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "migrate":
		err = migrate(ctx, os.Args[2:], nil)
	case len(os.Args) > 1 && os.Args[1] == "deadletters":
		err = deadLetters(ctx, os.Args[2:], nil, os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "replay":
		err = deadLetters(ctx, append([]string{"replay"}, os.Args[2:]...), nil, os.Stdout)
	default:
		err = run(ctx, nil)
	}
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("worker stopped", "err", err)
		os.Exit(1)
	}
}

// migrate is `worker migrate`: apply migrations and exit.
func migrate(ctx context.Context, args []string, lookup envconfig.Lookuper) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	create := fs.Bool("create-database", false, "create the database named in DATABASE_URL when it does not exist (local runs)")
	to := fs.Int("to", -1, "move the schema to this version, up or down (default: the latest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg Config
	if err := config.Load(ctx, &cfg, lookup); err != nil {
		return err
	}
	log := ops.NewLogger(os.Stdout, cfg.LogLevel)
	if *create {
		if err := store.CreateDatabase(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	v, err := store.MigrateTo(ctx, cfg.DatabaseURL, int32(*to))
	if err != nil {
		return err
	}
	log.Info("migrations applied", "version", v)
	return nil
}

// run reads top to bottom: config, dependencies, servers, wait, shutdown.
func run(ctx context.Context, lookup envconfig.Lookuper) error {
	var cfg Config
	if err := config.Load(ctx, &cfg, lookup); err != nil {
		return err
	}
	log := ops.NewLogger(os.Stdout, cfg.LogLevel)

	if cfg.DBMigrate {
		v, err := store.Migrate(ctx, cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("migrate (set DB_MIGRATE=false to skip): %w", err)
		}
		log.Info("migrations applied", "version", v)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return err
	}
	defer st.Close()

	rdb := queue.NewRedis(cfg.Redis)
	defer rdb.Close()
	if _, err := queue.CheckAtStart(ctx, rdb, cfg.Redis.Check, log); err != nil {
		return err
	}
	keysClient, err := queue.NewKeysClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer keysClient.Close()

	reg := ops.NewRegistry()
	m := newMetrics(reg)
	storage := newStorageMetrics(reg)
	reg.MustRegister(newQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
	health := ops.NewHealth(reg)
	health.AddDependency("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	health.AddDependency("postgres", st.Ping)

	h := &handler{
		keys:    idempotency.NewKeys(keysClient, cfg.IdempotencyTTL),
		store:   st,
		metrics: m,
		log:     log,
	}
	h.batch = newBatcher(cfg.BatchSize, cfg.BatchWait, h.flush)
	stopBatches := make(chan struct{})
	var flushers sync.WaitGroup
	for range cfg.BatchFlushers {
		flushers.Go(func() { h.batch.Run(stopBatches) })
	}

	// Several asynq servers share the work (WORKER_DEQUEUERS): each fetches
	// its tasks one round trip at a time.
	asynqCfg := asynq.Config{
		Queues:            map[string]int{job.Queue: 1},
		TaskCheckInterval: cfg.TaskCheckInterval,
		// Due retries, and the tasks of a killed worker once asynq recovered
		// them, go back to pending this often (asynq's default: 5s).
		DelayedTaskCheckInterval: cfg.RetryCheckInterval,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           h.retryDelay,
		IsFailure:                isFailure,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynqLevel(cfg.LogLevel),
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			log.WarnContext(ctx, "task failed", "err", err)
		}),
	}
	mux := asynq.NewServeMux()
	mux.Handle(job.TypeIngest, h)
	srv := make(servers, cfg.Dequeuers)
	for i, n := range shares(cfg.Concurrency, cfg.Dequeuers) {
		c := asynqCfg
		c.Concurrency = n
		srv[i] = asynq.NewServerFromRedisClient(rdb, c)
		if err := srv[i].Start(mux); err != nil {
			srv[:i].Shutdown()
			return fmt.Errorf("start asynq server: %w", err)
		}
	}

	// Tasks an earlier release left in asynq's archive move to
	// webhook_dead_letters before asynq trims them away.
	go func() {
		n, err := importArchive(ctx, st, asynq.NewInspectorFromRedisClient(rdb), log)
		if err != nil {
			log.Error("moving asynq's archive to webhook_dead_letters failed; run `worker deadletters archive`", "moved", n, "err", err)
		} else if n > 0 {
			log.Warn("archived tasks moved to webhook_dead_letters", "tasks", n)
		}
	}()

	opsSrv := ops.NewServer(cfg.OpsAddr, ops.Handler(health, reg), log)
	ln, err := ops.Listen(opsSrv)
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("listen on %s (OPS_ADDR): %w", cfg.OpsAddr, err)
	}
	errc := make(chan error, 2)
	go func() {
		if err := opsSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	api, err := startReadAPI(ctx, cfg.ReadAPI, st, log, errc)
	if err != nil {
		srv.Shutdown()
		_ = opsSrv.Close()
		return err
	}
	mctx, stopMaintenance := context.WithCancel(ctx)
	var maintenance sync.WaitGroup
	maintenance.Go(func() { maintain(mctx, st, cfg.Retention, storage, log) })
	log.Info("worker started", "version", version, "ops_addr", cfg.OpsAddr, "redis_addr", cfg.Redis.Addr,
		"concurrency", cfg.Concurrency, "dequeuers", cfg.Dequeuers, "batch_size", cfg.BatchSize, "batch_wait", cfg.BatchWait)

	select {
	case err = <-errc:
	case <-ctx.Done():
	}

	// Stop pulling tasks, let those in flight finish (asynq hands unfinished
	// ones back to Redis after ShutdownTimeout), then stop the batchers.
	log.Info("shutting down")
	health.Drain()
	stopMaintenance()
	srv.Stop()
	srv.Shutdown()
	close(stopBatches)
	flushers.Wait()
	maintenance.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = errors.Join(err, opsSrv.Shutdown(sctx), api.Shutdown(sctx))
	log.Info("worker stopped", "err", err)
	return err
}

// shares splits total tasks in flight between n servers, the remainder one
// each to the first, so they add up to total (10 between 4: 3, 3, 2, 2).
// Validate keeps n between 1 and total.
func shares(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

// servers are the asynq servers of this process, stopped together.
type servers []*asynq.Server

// Stop makes every server stop pulling new tasks.
func (s servers) Stop() {
	for _, srv := range s {
		srv.Stop()
	}
}

// Shutdown shuts every server down at once, so the whole takes at most one
// ShutdownTimeout.
func (s servers) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range s {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}
