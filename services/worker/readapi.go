package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/eventapi"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
)

// ReadAPIConfig configures the read API the worker serves on a listener of
// its own (never the ingress' public port).
type ReadAPIConfig struct {
	// Addr is where the read API listens; empty (the default) turns it off.
	Addr string `env:"READ_API_ADDR"`
	// Keys are the accepted API keys, comma-separated; several at once allow
	// rotation. Required when Addr is set.
	Keys []string `env:"READ_API_KEYS"`
	// MaxWait caps a long poll's wait=.
	MaxWait time.Duration `env:"READ_API_MAX_WAIT, default=30s"`
}

// Validate checks values envconfig cannot.
func (c ReadAPIConfig) Validate() error {
	if c.Addr == "" {
		return nil
	}
	n := 0
	for _, k := range c.Keys {
		if k = strings.TrimSpace(k); k != "" {
			n++
			if len(k) < 16 {
				return fmt.Errorf("READ_API_KEYS: every key must be at least 16 characters")
			}
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("READ_API_KEYS must hold at least one key when READ_API_ADDR is set")
	case c.MaxWait < 0 || c.MaxWait > 5*time.Minute:
		return fmt.Errorf("READ_API_MAX_WAIT must be between 0 and 5m, got %s", c.MaxWait)
	}
	return nil
}

// RetentionConfig configures partition maintenance and retention.
type RetentionConfig struct {
	// Events is how long events are kept (RETENTION, e.g. 30d); 0 or off
	// (the default) keeps them for ever.
	Events days `env:"RETENTION, default=off"`
	// Dedup is how long a re-delivery is still recognised after its event,
	// at least: keys are kept max(DEDUP_RETENTION, RETENTION+1d).
	Dedup days `env:"DEDUP_RETENTION, default=7d"`
	// DaysAhead is how many days of partitions are created ahead of today.
	DaysAhead int `env:"PARTITIONS_AHEAD, default=3"`
	// Interval is how often partitions are maintained (by one elected
	// worker) and the storage gauges refreshed (by each).
	Interval time.Duration `env:"MAINTENANCE_INTERVAL, default=1m"`
}

// Validate checks values envconfig cannot.
func (c RetentionConfig) Validate() error {
	switch {
	case c.Events < 0 || (c.Events > 0 && time.Duration(c.Events) < 24*time.Hour):
		return fmt.Errorf("RETENTION must be off or at least 1d, got %s", time.Duration(c.Events))
	case c.Dedup < 0:
		return fmt.Errorf("DEDUP_RETENTION must not be negative")
	case c.DaysAhead < 1 || c.DaysAhead > 60:
		return fmt.Errorf("PARTITIONS_AHEAD must be between 1 and 60, got %d", c.DaysAhead)
	case c.Interval < time.Second:
		return fmt.Errorf("MAINTENANCE_INTERVAL must be at least 1s, got %s", c.Interval)
	}
	return nil
}

func (c RetentionConfig) policy() store.Retention {
	return store.Retention{Events: time.Duration(c.Events), Dedup: time.Duration(c.Dedup), DaysAhead: c.DaysAhead}
}

// days is a duration that also takes whole days ("30d"), and "off" or 0
// for none.
type days time.Duration

// EnvDecode implements envconfig.Decoder.
func (d *days) EnvDecode(val string) error {
	val = strings.TrimSpace(val)
	switch {
	case val == "" || val == "off" || val == "0":
		*d = 0
		return nil
	case strings.HasSuffix(val, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(val, "d"))
		if err != nil || n < 0 {
			return fmt.Errorf("%q: want whole days like 30d", val)
		}
		*d = days(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(val)
	if err != nil {
		return fmt.Errorf("%q: want 30d, 720h or off", val)
	}
	*d = days(v)
	return nil
}

// storageMetrics are the gauges of what webhook_events holds.
type storageMetrics struct {
	oldest      prometheus.Gauge
	partitions  prometheus.Gauge
	bytes       *prometheus.GaugeVec
	dropped     prometheus.Counter
	maintenance *prometheus.CounterVec
}

func newStorageMetrics(reg prometheus.Registerer) *storageMetrics {
	m := &storageMetrics{
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_events_oldest_age_seconds", Help: "Age of the oldest stored event (received_at); 0 when none.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_events_partitions", Help: "Partitions of webhook_events, the default one included.",
		}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webhook_events_bytes", Help: "Bytes on disk (indexes and TOAST included), by table: events (all partitions) or keys (dedup keys).",
		}, []string{"table"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_events_partitions_dropped_total", Help: "Partitions dropped by retention in this process.",
		}),
		maintenance: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_events_maintenance_total", Help: "Partition maintenance runs by result: done (this worker was elected), skipped (another one was), error.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.oldest, m.partitions, m.bytes, m.dropped, m.maintenance)
	return m
}

// maintain runs partition maintenance and refreshes the storage gauges
// every cfg.Interval until ctx ends (at once on start, so partitions exist
// ahead before the first insert of a new deployment).
func maintain(ctx context.Context, st *store.Store, cfg RetentionConfig, m *storageMetrics, log *slog.Logger) {
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		maintainOnce(ctx, st, cfg.policy(), m, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func maintainOnce(ctx context.Context, st *store.Store, policy store.Retention, m *storageMetrics, log *slog.Logger) {
	res, err := st.Maintain(ctx, policy, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		m.maintenance.WithLabelValues("error").Inc()
		log.WarnContext(ctx, "partition maintenance failed; retrying next interval", "err", err)
	case err != nil:
	case !res.Elected:
		m.maintenance.WithLabelValues("skipped").Inc()
	default:
		m.maintenance.WithLabelValues("done").Inc()
		m.dropped.Add(float64(len(res.Dropped)))
		if res.Created > 0 || len(res.Dropped) > 0 || res.KeysDeleted > 0 {
			log.InfoContext(ctx, "partition maintenance", "created", res.Created, "dropped", res.Dropped, "keys_deleted", res.KeysDeleted)
		}
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "read storage stats", "err", err)
		}
		return
	}
	age := 0.0
	if !stats.Oldest.IsZero() {
		age = max(0, time.Since(stats.Oldest).Seconds())
	}
	m.oldest.Set(age)
	m.partitions.Set(float64(stats.Partitions))
	m.bytes.WithLabelValues("events").Set(float64(stats.EventBytes))
	m.bytes.WithLabelValues("keys").Set(float64(stats.KeyBytes))
}

// readAPI is the read API's server, started by startReadAPI when
// READ_API_ADDR is set.
type readAPI struct {
	srv  *http.Server
	stop context.CancelFunc
}

// startReadAPI binds cfg.Addr and serves the read API; errc receives a
// serving error. A nil *readAPI (API off) is valid to Shutdown.
func startReadAPI(ctx context.Context, cfg ReadAPIConfig, st *store.Store, log *slog.Logger, errc chan<- error) (*readAPI, error) {
	if cfg.Addr == "" {
		return nil, nil
	}
	var keys []string
	for _, k := range cfg.Keys {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	n := store.NewNotifier()
	go st.Listen(lctx, n, time.Second)
	h := eventapi.Handler(eventapi.Config{Store: st, Keys: keys, Notifier: n, MaxWait: cfg.MaxWait, Done: lctx.Done(), Log: log})
	srv := ops.NewServer(cfg.Addr, h, log)
	srv.WriteTimeout = cfg.MaxWait + 15*time.Second // a long poll holds its response up to MaxWait
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		stop()
		return nil, fmt.Errorf("listen on %s (READ_API_ADDR): %w", cfg.Addr, err)
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("read API: %w", err)
		}
	}()
	log.Info("read API started", "addr", ln.Addr().String(), "keys", len(keys))
	return &readAPI{srv: srv, stop: stop}, nil
}

// Shutdown ends long polls and stops the server.
func (a *readAPI) Shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.stop()
	return a.srv.Shutdown(ctx)
}
