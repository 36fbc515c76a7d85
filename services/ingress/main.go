// Command ingress receives webhooks on POST /webhooks/{provider}, validates
// them and answers 202 once the job is in Redis (asynq queue "webhooks").
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/shedding"
)

// version is stamped at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, nil); err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("ingress stopped", "err", err)
		os.Exit(1)
	}
}

// run reads top to bottom: config, dependencies, servers, wait, shutdown.
// lookup is the environment (nil: the process's), so tests boot the real thing.
func run(ctx context.Context, lookup envconfig.Lookuper) error {
	var cfg Config
	if err := config.Load(ctx, &cfg, lookup); err != nil {
		return err
	}
	log := ops.NewLogger(os.Stdout, cfg.LogLevel)
	// Provider profiles fail closed: a bad PROVIDER_* setting stops the start.
	providers, perr := provider.Load(environ(lookup))
	if perr != nil {
		return fmt.Errorf("config: %w", perr)
	}

	rdb := queue.NewRedis(cfg.Redis)
	defer rdb.Close()
	if _, err := queue.CheckAtStart(ctx, rdb, cfg.Redis.Check, log); err != nil {
		return err
	}
	reg := ops.NewRegistry()
	enq, closeEnq, err := newEnqueuer(cfg, rdb, reg)
	if err != nil {
		return err
	}
	defer closeEnq()
	// Load shedding (and the queue's series, so the queue alerts need no
	// worker): sampled in the background, read per request.
	shedder := shedding.New(cfg.Shed, rdb, reg, log)
	sampleCtx, stopSampling := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSampling()
	go shedder.Run(sampleCtx)
	health := ops.NewHealth(reg)
	health.AddDependency("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })

	var draining atomic.Bool
	srv := newServer(cfg, ingest.NewService(enq, log, ingest.WithProviders(providers)), newMetrics(reg), &draining, log)
	srv.corsHeaders = providers.Headers()
	srv.shedder = shedder
	srv.labels = providers.Label
	if warn := providers.Warning(); warn != "" {
		log.Warn(warn, "providers_allowed", "", "unsigned_from_anyone", true)
		health.Note("providers", "WARNING: "+warn)
	}
	public := ops.NewServer(cfg.HTTPAddr, srv.routes(), log)
	opsSrv := ops.NewServer(cfg.OpsAddr, ops.Handler(health, reg), log)

	errc := make(chan error, 2)
	for _, s := range []*http.Server{public, opsSrv} {
		ln, err := ops.Listen(s)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", s.Addr, err)
		}
		if s == public {
			conns := limitConnections(ln, cfg.MaxConnections)
			registerEdgeGauges(reg, srv.bodies, conns)
			ln = conns
		}
		go func() {
			if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", s.Addr, err)
			}
		}()
	}
	log.Info("ingress started", "version", version, "http_addr", cfg.HTTPAddr, "ops_addr", cfg.OpsAddr,
		"redis_addr", cfg.Redis.Addr, "max_body_bytes", cfg.MaxBodyBytes,
		"max_body_bytes_in_flight", cfg.MaxBodyBytesInFlight, "max_connections", cfg.MaxConnections, "providers", providers,
		"cors_origins", cfg.CORSAllowedOrigins, "rate_limit_ip_rps", cfg.RateLimitIPRPS,
		"rate_limit_global_rps", cfg.RateLimitGlobalRPS, "trusted_proxies", cfg.TrustedProxyCIDRs,
		"shed_max_queued_events", cfg.Shed.MaxQueuedEvents, "shed_max_memory_ratio", cfg.Shed.MaxMemoryRatio)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	// Drain: report unready, give load balancers time to notice, then stop
	// taking connections and finish the requests in flight.
	log.Info("shutting down", "drain_delay", cfg.DrainDelay)
	health.Drain()
	draining.Store(true)
	time.Sleep(cfg.DrainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout-cfg.DrainDelay)
	defer cancel()
	err = errors.Join(public.Shutdown(sctx), opsSrv.Shutdown(sctx))
	log.Info("ingress stopped", "err", err)
	return err
}

// environ lists the variables run sees: the process's, or a test lookuper's
// when it can list them. Provider profiles need the list (their variable
// names contain the provider); a lookuper that cannot list gives none.
func environ(lookup envconfig.Lookuper) []string {
	if lookup == nil {
		return os.Environ()
	}
	if l, ok := lookup.(interface{ Environ() []string }); ok {
		return l.Environ()
	}
	return nil
}
