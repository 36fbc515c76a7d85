package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
)

// panicky accepts every webhook, except provider "boom": it panics.
type panicky struct{}

func (panicky) Accept(_ context.Context, r ingest.Request) (ingest.Result, error) {
	if r.Provider == "boom" {
		panic("boom")
	}
	return ingest.Result{JobID: "00000000000000000000000000000000"}, nil
}

// requestCounts reads webhook_http_requests_total as "route code" → count,
// and checks the duration histogram timed the same answers.
func requestCounts(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, timed := map[string]int{}, map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "webhook_http_requests_total":
				counts[labels["route"]+" "+labels["code"]] += int(m.GetCounter().GetValue())
				timed[labels["route"]] -= int(m.GetCounter().GetValue())
			case "webhook_http_request_duration_seconds":
				timed[labels["route"]] += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for route, n := range timed {
		if n != 0 {
			t.Errorf("route %q: the duration histogram and the request counter disagree by %d", route, n)
		}
	}
	return counts
}

// Every answer of the public listener counts in the request metrics (but
// GET /health, a load balancers' probe), with a route label from a fixed
// set: the mux's 404 and 405, a recovered panic's 500, an answer given
// before routing.
func TestEveryAnswerIsCounted(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	cfg := Config{MaxBodyBytes: 1024, MaxBodyBytesInFlight: 1 << 20, EnqueueTimeout: time.Second, RetryAfter: time.Second,
		RateLimitIPRPS: 0.001, RateLimitIPBurst: 1000}
	h := newServer(cfg, panicky{}, newMetrics(reg), new(atomic.Bool), log).routes()
	do := func(method, path, remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://ingress.test/", strings.NewReader(`{"eventId":"e"}`))
		req.URL.Path, req.RequestURI = path, path
		req.RemoteAddr = remote
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/webhooks/demo", http.StatusAccepted},
		{http.MethodPost, "/webhooks/boom", http.StatusInternalServerError},
		{http.MethodPut, "/webhooks/demo", http.StatusMethodNotAllowed},
		{http.MethodGet, "/webhooks/demo", http.StatusMethodNotAllowed},
		{http.MethodPost, "/webhooks/demo/extra", http.StatusNotFound},
		{http.MethodGet, "/.env", http.StatusNotFound},
		{http.MethodPost, "/webhooks//demo", http.StatusNotFound},     // non-canonical: refused before the mux
		{http.MethodPost, "/x/../webhooks/demo", http.StatusNotFound}, // likewise
		{http.MethodGet, "/health", http.StatusOK},
	} {
		w := do(tc.method, tc.path, "192.0.2.1:1000")
		if w.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
		if tc.status == http.StatusInternalServerError {
			var p struct{ Status int }
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != 500 {
				t.Errorf("panic answered %s %q, want a 500 problem+json", ct, w.Body)
			}
		}
	}
	// Hostile paths do not add labels.
	for i := range 50 {
		do(http.MethodGet, "/probe-"+strconv.Itoa(i), "192.0.2.1:1000")
	}
	// A sender over its rate limit: refused before routing.
	for range 1001 {
		do(http.MethodPost, "/webhooks/demo", "192.0.2.9:1000")
	}

	got := requestCounts(t, reg)
	want := map[string]int{
		"POST /webhooks/{provider} 202": 1 + 1000,
		"POST /webhooks/{provider} 500": 1,
		"/webhooks/{provider} 405":      1,
		"GET /webhooks/{provider} 405":  1,
		"/ 404":                         2 + 50,
		"other 404":                     2,
		"other 429":                     1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("webhook_http_requests_total{%s} = %d, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series webhook_http_requests_total{%s} = %d", k, n)
		}
	}
}
