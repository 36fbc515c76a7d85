package eventapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/eventapi"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/store"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

type fixture struct {
	st  *store.Store
	srv *httptest.Server
}

func setup(t *testing.T, keys ...string) fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dbURL := testenv.Postgres(t)
	if _, err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	n := store.NewNotifier()
	listening := n.C() // Listen wakes it once LISTEN is in place
	go st.Listen(ctx, n, 100*time.Millisecond)
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatal("LISTEN not established")
	}
	h := eventapi.Handler(eventapi.Config{Store: st, Keys: keys, Notifier: n, MaxWait: 10 * time.Second,
		PollInterval: 5 * time.Second, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return fixture{st: st, srv: srv}
}

func (f fixture) get(t *testing.T, key, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type page struct {
	Events []struct {
		Provider, EventID, EventType, ContentType, Cursor string
		Body                                              []byte
		Payload, Headers                                  json.RawMessage
		ReceivedAt, StoredAt                              time.Time
	}
	Next string
}

func ev(provider, id string) store.Event {
	return store.Event{Provider: provider, EventID: id, EventType: "invoice.paid", ContentType: "application/json",
		Body: []byte(`{"id": "` + id + `"}`), Payload: []byte(`{"id": "` + id + `"}`), Headers: []byte(`{"User-Agent":"t"}`),
		ReceivedAt: time.Now()}
}

func TestAuth(t *testing.T) {
	f := setup(t, "old-key", "new-key")
	for _, tc := range []struct {
		name, key string
		status    int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "nope", http.StatusUnauthorized},
		{"prefix of a key", "old", http.StatusUnauthorized},
		{"old key during rotation", "old-key", http.StatusOK},
		{"new key", "new-key", http.StatusOK},
	} {
		resp, body := f.get(t, tc.key, "/v1/events")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, body)
		}
		if tc.status == http.StatusUnauthorized {
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: content type %q, WWW-Authenticate %q", tc.name, ct, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	// A wrong scheme is refused too.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Basic new-key")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Basic scheme: %v, %v", resp.StatusCode, err)
	}
	// After rotation the old key no longer opens anything.
	rotated := setup(t, "new-key")
	if resp, _ := rotated.get(t, "old-key", "/v1/events"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("retired key: status %d, want 401", resp.StatusCode)
	}
}

func TestFollowStreamAndGetOne(t *testing.T) {
	ctx := context.Background()
	f := setup(t, "k")
	var evs []store.Event
	for i := range 25 {
		p := "stripe"
		if i%5 == 0 {
			p = "github"
		}
		evs = append(evs, ev(p, fmt.Sprintf("e%02d", i)))
	}
	if _, err := f.st.Insert(ctx, evs); err != nil {
		t.Fatal(err)
	}

	// Follow with small pages: every event once, in order.
	seen := map[string]int{}
	after := ""
	for range 10 {
		resp, body := f.get(t, "k", "/v1/events?limit=7&after="+url.QueryEscape(after))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			seen[e.EventID]++
		}
		after = p.Next
		if len(p.Events) == 0 {
			break
		}
	}
	if len(seen) != 25 {
		t.Errorf("followed %d events, want 25", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", id, n)
		}
	}

	// A filter.
	_, body := f.get(t, "k", "/v1/events?provider=github")
	var p page
	if err := json.Unmarshal(body, &p); err != nil || len(p.Events) != 5 {
		t.Errorf("provider=github: %d events, %v", len(p.Events), err)
	}

	// One event, JSON and raw.
	resp, body := f.get(t, "k", "/v1/events/stripe/e01")
	var one struct {
		Provider, EventID, EventType, ContentType string
		Body                                      []byte
		Headers                                   map[string]string
		ReceivedAt, StoredAt                      time.Time
	}
	if err := json.Unmarshal(body, &one); err != nil || resp.StatusCode != 200 {
		t.Fatalf("get one: %d %s", resp.StatusCode, body)
	}
	if string(one.Body) != `{"id": "e01"}` || one.Headers["User-Agent"] != "t" || one.ContentType != "application/json" ||
		one.EventType != "invoice.paid" || one.ReceivedAt.IsZero() || one.StoredAt.Before(one.ReceivedAt.Add(-time.Second)) {
		t.Errorf("get one = %+v", one)
	}
	resp, body = f.get(t, "k", "/v1/events/stripe/e01/body")
	if string(body) != `{"id": "e01"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("raw body = %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	resp, body = f.get(t, "k", "/v1/events/stripe/nope")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown event: %d %s", resp.StatusCode, body)
	}
}

func TestInvalidQueries(t *testing.T) {
	f := setup(t, "k")
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=garbage", "wait=11s", "wait=-1", "wait=soon"} {
		resp, body := f.get(t, "k", "/v1/events?"+q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid-query") {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer k")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp.StatusCode, err)
	}
	if resp, _ := f.get(t, "k", "/v2/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown route: %d", resp.StatusCode)
	}
}

// A long poll returns as soon as an event commits: the NOTIFY wakes it well
// before its poll interval (5s here).
func TestLongPollWakesOnInsert(t *testing.T) {
	ctx := context.Background()
	f := setup(t, "k")
	_, body := f.get(t, "k", "/v1/events")
	var p page
	if err := json.Unmarshal(body, &p); err != nil || len(p.Events) != 0 {
		t.Fatalf("empty stream: %s", body)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		if _, err := f.st.Insert(ctx, []store.Event{ev("stripe", "late")}); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	_, body = f.get(t, "k", "/v1/events?wait=9s&after="+url.QueryEscape(p.Next))
	took := time.Since(start)
	if err := json.Unmarshal(body, &p); err != nil || len(p.Events) != 1 || p.Events[0].EventID != "late" {
		t.Fatalf("long poll = %s", body)
	}
	if took > 4*time.Second {
		t.Errorf("long poll took %s: not woken by the insert", took)
	}
	// With nothing to come it returns empty at its deadline.
	start = time.Now()
	_, body = f.get(t, "k", "/v1/events?wait=1&after="+url.QueryEscape(p.Next))
	if err := json.Unmarshal(body, &p); err != nil || len(p.Events) != 0 || time.Since(start) < time.Second {
		t.Errorf("idle long poll = %s after %s", body, time.Since(start))
	}
}

// openapi.yaml documents every route the handler serves.
func TestOpenAPIDocumentsRoutes(t *testing.T) {
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/v1/events:", "/v1/events/{provider}/{eventId}:", "/v1/events/{provider}/{eventId}/body:",
		"name: after", "name: limit", "name: provider", "name: type", "name: wait", "unauthorized, invalid-query, not-found"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("openapi.yaml lacks %q", want)
		}
	}
}
