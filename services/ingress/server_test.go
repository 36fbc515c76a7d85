package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/config"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// testServer is the ingress HTTP layer on a real Redis.
type testServer struct {
	handler   http.Handler
	inspector *asynq.Inspector
}

func newTestServer(t *testing.T, redisCfg config.Redis) testServer {
	t.Helper()
	cfg := Config{Redis: redisCfg, MaxBodyBytes: 1024, MaxBodyBytesInFlight: 32 << 20, EnqueueTimeout: time.Second, RetryAfter: 7 * time.Second}
	rdb := queue.NewRedis(cfg.Redis)
	t.Cleanup(func() { rdb.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := ingest.NewService(queue.NewEnqueuer(rdb), log)
	s := newServer(cfg, svc, newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log)
	return testServer{handler: s.routes(), inspector: asynq.NewInspectorFromRedisClient(rdb)}
}

func redisConfig(addr string, db int) config.Redis {
	return config.Redis{Addr: addr, DB: db, PoolSize: 4, Timeout: 500 * time.Millisecond}
}

func (s testServer) post(t *testing.T, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, req)
	return w
}

func (s testServer) pending(t *testing.T) int {
	t.Helper()
	info, err := s.inspector.GetQueueInfo(job.Queue)
	if err != nil {
		return 0 // the queue does not exist until the first enqueue
	}
	return info.Pending
}

func TestWebhookResponses(t *testing.T) {
	rdb := testenv.Redis(t)
	srv := newTestServer(t, redisConfig(rdb.Addr, rdb.DB))

	valid := `{"provider":"stripe","eventId":"evt-1","timestamp":"2026-01-02T03:04:05Z","data":{"a":1}}`
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		wantStatus  int
		wantType    string            // problem type, for errors
		wantFields  map[string]string // problem errors
		wantDup     bool
		wantPending int // tasks in the queue afterwards
	}{
		{name: "accepted", path: "/webhooks/stripe", contentType: "application/json", body: valid,
			wantStatus: 202, wantPending: 1},
		{name: "duplicate while queued", path: "/webhooks/stripe", contentType: "application/json; charset=utf-8", body: valid,
			wantStatus: 202, wantDup: true, wantPending: 1},
		{name: "same event id, other provider", path: "/webhooks/github", contentType: "application/json",
			body: `{"eventId":"evt-1"}`, wantStatus: 202, wantPending: 2},
		{name: "vendor json type", path: "/webhooks/github", contentType: "application/vnd.github+json",
			body: `{"eventId":"evt-2"}`, wantStatus: 202, wantPending: 3},
		{name: "field errors", path: "/webhooks/stripe", contentType: "application/json",
			body:       `{"provider":"github","eventId":"","timestamp":"yesterday","data":[1]}`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3,
			wantFields: map[string]string{
				"provider":  `must equal the provider in the path ("stripe")`,
				"eventId":   "cannot be blank",
				"timestamp": "must be an RFC 3339 date-time",
				"data":      "must be a JSON object",
			}},
		{name: "event id too long", path: "/webhooks/stripe", contentType: "application/json",
			body:       `{"eventId":"` + strings.Repeat("x", 256) + `"}`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3,
			wantFields: map[string]string{"eventId": "the length must be between 1 and 255"}},
		{name: "wrong field type", path: "/webhooks/stripe", contentType: "application/json", body: `{"eventId":42}`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3, wantFields: map[string]string{"eventId": "must be a string"}},
		{name: "malformed json", path: "/webhooks/stripe", contentType: "application/json", body: `{"eventId":`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3},
		{name: "not an object", path: "/webhooks/stripe", contentType: "application/json", body: `["evt-1"]`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3},
		{name: "invalid provider name", path: "/webhooks/Not_Valid", contentType: "application/json", body: `{"eventId":"e"}`,
			wantStatus: 400, wantType: typeInvalid, wantPending: 3,
			wantFields: map[string]string{"provider": "must match ^[a-z0-9][a-z0-9_-]{0,63}$"}},
		{name: "too large", path: "/webhooks/stripe", contentType: "application/json",
			body:       `{"eventId":"big","data":{"x":"` + strings.Repeat("a", 2000) + `"}}`,
			wantStatus: 413, wantType: typeTooLarge, wantPending: 3},
		{name: "not json", path: "/webhooks/stripe", contentType: "text/plain", body: valid,
			wantStatus: 415, wantType: typeMediaType, wantPending: 3},
		{name: "no content type", path: "/webhooks/stripe", body: valid,
			wantStatus: 415, wantType: typeMediaType, wantPending: 3},
		{name: "unknown route", path: "/hooks/stripe", contentType: "application/json", body: valid,
			wantStatus: 404, wantType: typeNotFound, wantPending: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := srv.post(t, tt.path, tt.contentType, tt.body)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == http.StatusAccepted {
				checkAccepted(t, w, tt.wantDup)
			} else {
				p := decodeProblem(t, w)
				if p.Type != tt.wantType || p.Status != tt.wantStatus || p.Title == "" || p.Detail == "" {
					t.Errorf("problem = %+v, want type %s status %d with title and detail", p, tt.wantType, tt.wantStatus)
				}
				if tt.wantFields != nil {
					if diff := cmp.Diff(tt.wantFields, p.Errors); diff != "" {
						t.Errorf("errors (-want +got):\n%s", diff)
					}
				}
			}
			if got := srv.pending(t); got != tt.wantPending {
				t.Errorf("pending tasks = %d, want %d", got, tt.wantPending)
			}
		})
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	rdb := testenv.Redis(t)
	srv := newTestServer(t, redisConfig(rdb.Addr, rdb.DB))
	body := `{"eventId":"chunked","data":{"x":"` + strings.Repeat("a", 4096) + `"}}`
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1 // unknown length, as with chunked encoding
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	srv.handler.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", w.Code)
	}
	if got := srv.pending(t); got != 0 {
		t.Errorf("pending tasks = %d, want 0", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rdb := testenv.Redis(t)
	srv := newTestServer(t, redisConfig(rdb.Addr, rdb.DB))
	w := httptest.NewRecorder()
	srv.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhooks/stripe", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
		t.Fatalf("status = %d, Allow = %q; want 405 and POST", w.Code, w.Header().Get("Allow"))
	}
	if p := decodeProblem(t, w); p.Type != typeMethod {
		t.Errorf("type = %s, want %s", p.Type, typeMethod)
	}
}

func TestRedisDownIs503NeverAccepted(t *testing.T) {
	addr, stop := testenv.StartRedis(t)
	srv := newTestServer(t, redisConfig(addr, 0))
	body := `{"eventId":"evt-1"}`
	if w := srv.post(t, "/webhooks/stripe", "application/json", body); w.Code != http.StatusAccepted {
		t.Fatalf("with Redis up: status = %d, want 202", w.Code)
	}

	stop()
	w := srv.post(t, "/webhooks/stripe", "application/json", `{"eventId":"evt-2"}`)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down: status = %d, want 503; body %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want 7", got)
	}
	if p := decodeProblem(t, w); p.Type != typeUnavailable {
		t.Errorf("type = %s, want %s", p.Type, typeUnavailable)
	}
}

func TestHealth(t *testing.T) {
	var draining atomic.Bool
	s := newServer(Config{RetryAfter: time.Second}, nil, newMetrics(prometheus.NewRegistry()), &draining, slog.Default())
	h := s.routes()
	for _, tt := range []struct {
		draining bool
		want     int
	}{{false, 200}, {true, 503}} {
		draining.Store(tt.draining)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health", nil))
		if w.Code != tt.want || !json.Valid(w.Body.Bytes()) {
			t.Errorf("draining=%v: status %d body %q, want %d and JSON", tt.draining, w.Code, w.Body, tt.want)
		}
	}
}

func TestPanicBecomes500Problem(t *testing.T) {
	s := newServer(Config{MaxBodyBytes: 1024, MaxBodyBytesInFlight: 32 << 20, EnqueueTimeout: time.Second, RetryAfter: time.Second},
		panicking{}, newMetrics(prometheus.NewRegistry()), new(atomic.Bool), slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest(http.MethodPost, "/webhooks/x", bytes.NewBufferString(`{"eventId":"e"}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.routes().ServeHTTP(w, req)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", w.Code)
	}
	if p := decodeProblem(t, w); p.Type != typeInternal {
		t.Errorf("type = %s, want %s", p.Type, typeInternal)
	}
}

type panicking struct{}

func (panicking) Accept(context.Context, ingest.Request) (ingest.Result, error) { panic("boom") }

func checkAccepted(t *testing.T, w *httptest.ResponseRecorder, wantDup bool) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got struct {
		Accepted  bool   `json:"accepted"`
		JobID     string `json:"jobId"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("202 body %q: %v", w.Body, err)
	}
	if !got.Accepted || len(got.JobID) != 32 || got.Duplicate != wantDup {
		t.Errorf("202 body = %+v, want accepted, a 32-char jobId, duplicate=%v", got, wantDup)
	}
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) problem.Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	return p
}
