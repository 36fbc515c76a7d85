package ops_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
)

func status(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.String()
}

func TestLiveIgnoresDependenciesReadyDoesNot(t *testing.T) {
	reg := ops.NewRegistry()
	health := ops.NewHealth(reg)
	var depErr error
	health.AddDependency("redis", func(context.Context) error { return depErr })
	h := ops.Handler(health, reg)

	if code, _ := status(t, h, "/ready"); code != http.StatusOK {
		t.Fatalf("/ready with a healthy dependency = %d, want 200", code)
	}
	depErr = errors.New("connection refused")
	if code, body := status(t, h, "/ready?full=1"); code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") {
		t.Errorf("/ready with a dead dependency = %d %s, want 503 naming the failure", code, body)
	}
	if code, _ := status(t, h, "/live"); code != http.StatusOK {
		t.Errorf("/live with a dead dependency = %d, want 200: a dead database must not restart pods", code)
	}

	depErr = nil
	health.Drain()
	if code, _ := status(t, h, "/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready while draining = %d, want 503", code)
	}
	if code, body := status(t, h, "/metrics"); code != http.StatusOK || !strings.Contains(body, `webhook_healthcheck_status{check="redis"}`) {
		t.Errorf("/metrics = %d, want 200 with the health check gauges", code)
	}
}

func TestDependencyCheckTimesOut(t *testing.T) {
	reg := ops.NewRegistry()
	health := ops.NewHealth(reg)
	health.AddDependency("slow", func(ctx context.Context) error {
		<-ctx.Done() // a hung dependency: only the 1 s bound ends it
		return ctx.Err()
	})
	if code, _ := status(t, ops.Handler(health, reg), "/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready with a hung dependency = %d, want 503", code)
	}
}

// Liveness must not depend on load: 25,000 parked goroutines (each idle
// keep-alive connection holds one) failed /live before, which made the
// kubelet restart a pod because it was busy.
func TestLiveIgnoresLoad(t *testing.T) {
	reg := ops.NewRegistry()
	h := ops.Handler(ops.NewHealth(reg), reg)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 25000 {
		wg.Go(func() { <-stop })
	}
	code, body := status(t, h, "/live?full=1")
	close(stop)
	wg.Wait()
	if code != http.StatusOK {
		t.Errorf("/live with 25,000 goroutines = %d %s, want 200", code, body)
	}
}
