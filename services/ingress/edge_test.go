package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/queue"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// Tests of the edge through the real HTTP layer on a real Redis: provider
// profiles, signatures, native payloads, security headers, CORS, rate limits.
// Signatures are computed here with crypto/hmac, independently of the
// signature package.

const (
	stripeSecret = "whsec_stripe_test_secret"
	githubSecret = "github test secret"
	shopSecret   = "shop-secret"
)

var standardKey = []byte("standard-webhooks-test-key-32byt")

func edgeEnv() []string {
	return []string{
		"PROVIDERS_ALLOWED=stripe,github,svix,shop,plain",
		"PROVIDER_STRIPE_SCHEME=stripe",
		"PROVIDER_STRIPE_SECRETS=whsec_old_rotated_out," + stripeSecret,
		"PROVIDER_GITHUB_SCHEME=github",
		"PROVIDER_GITHUB_SECRETS=" + githubSecret,
		"PROVIDER_SVIX_SCHEME=standard",
		"PROVIDER_SVIX_SECRETS=whsec_" + base64.StdEncoding.EncodeToString(standardKey),
		"PROVIDER_SHOP_SCHEME=hmac-sha256",
		"PROVIDER_SHOP_SECRETS=" + shopSecret,
		"PROVIDER_SHOP_HEADER=X-Shop-Signature",
		"PROVIDER_SHOP_ENCODING=base64",
		"PROVIDER_PLAIN_SCHEME=none",
	}
}

type edgeServer struct {
	handler   http.Handler
	inspector *asynq.Inspector
}

func newEdgeServer(t *testing.T, environ []string, tweak func(*Config)) edgeServer {
	t.Helper()
	rdb := testenv.Redis(t)
	cfg := Config{Redis: redisConfig(rdb.Addr, rdb.DB), MaxBodyBytes: 4096, MaxBodyBytesInFlight: 32 << 20, MaxConnections: 1, EnqueueTimeout: time.Second, RetryAfter: time.Second}
	cfg.ShutdownTimeout = time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	providers, err := provider.Load(environ)
	if err != nil {
		t.Fatal(err)
	}
	client := queue.NewRedis(cfg.Redis)
	t.Cleanup(func() { client.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newServer(cfg, ingest.NewService(queue.NewEnqueuer(client), log, ingest.WithProviders(providers)),
		newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log)
	s.corsHeaders = providers.Headers()
	return edgeServer{handler: s.routes(), inspector: asynq.NewInspectorFromRedisClient(client)}
}

func (s edgeServer) do(t *testing.T, method, path string, h http.Header, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" && method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, req)
	return w
}

func (s edgeServer) pending() int {
	info, err := s.inspector.GetQueueInfo(job.Queue)
	if err != nil {
		return 0
	}
	return info.Pending
}

func hexMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func b64MAC(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func stripeHeader(secret string, at time.Time, body string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	return http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hexMAC(secret, ts+"."+body)}}
}

func standardHeader(key []byte, id string, at time.Time, body string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {"v1," + b64MAC(key, id+"."+ts+"."+body)}}
}

func with(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func TestProviderSignaturesAndNativePayloads(t *testing.T) {
	srv := newEdgeServer(t, edgeEnv(), nil)
	now := time.Now()
	stripeBody := `{"id":"evt_1NativeStripe","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1"}}}`
	ghBody := `{"action":"opened","issue":{"number":1},"repository":{"full_name":"o/r"}}`
	svixBody := `{"type":"user.created","data":{"id":"u_1"}}`
	shopBody := `{"eventId":"shop-1","data":{"order":7}}`
	tooOld, tooNew := now.Add(-6*time.Minute), now.Add(6*time.Minute)

	type tc struct {
		name, provider string
		h              http.Header
		body           string
		status         int
		detail         string // 401 detail or "" to skip
		eventID        string // 202: the event id the jobId must be derived from
	}
	cases := []tc{
		// Stripe: its own event JSON, id from the body.
		{"stripe valid", "stripe", stripeHeader(stripeSecret, now, stripeBody), stripeBody, 202, "", "evt_1NativeStripe"},
		{"stripe rotated secret", "stripe", stripeHeader("whsec_old_rotated_out", now, strings.Replace(stripeBody, "evt_1", "evt_2", 1)), strings.Replace(stripeBody, "evt_1", "evt_2", 1), 202, "", "evt_2NativeStripe"},
		{"stripe missing", "stripe", nil, stripeBody, 401, "signature missing", ""},
		{"stripe wrong secret", "stripe", stripeHeader("whsec_wrong", now, stripeBody), stripeBody, 401, "signature invalid", ""},
		{"stripe tampered", "stripe", stripeHeader(stripeSecret, now, stripeBody), strings.Replace(stripeBody, "paid", "pai", 1) + "d", 401, "signature invalid", ""},
		{"stripe expired", "stripe", stripeHeader(stripeSecret, tooOld, stripeBody), stripeBody, 401, "signature expired", ""},
		{"stripe future", "stripe", stripeHeader(stripeSecret, tooNew, stripeBody), stripeBody, 401, "signature expired", ""},
		{"stripe signed but no id", "stripe", stripeHeader(stripeSecret, now, `{"object":"event"}`), `{"object":"event"}`, 400, "", ""},
		{"stripe id not a string", "stripe", stripeHeader(stripeSecret, now, `{"id":42}`), `{"id":42}`, 400, "", ""},
		// GitHub: its payload; GitHub signs only the body, so the id is a
		// digest of it (X-GitHub-Delivery is not authenticated).
		{"github valid", "github", http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, ghBody)}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"}}, ghBody, 202, "", bodyDigest(ghBody)},
		{"github missing", "github", http.Header{"X-Github-Delivery": {"d-2"}}, ghBody, 401, "signature missing", ""},
		{"github wrong secret", "github", http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC("nope", ghBody)}, "X-Github-Delivery": {"d-3"}}, ghBody, 401, "signature invalid", ""},
		// Standard Webhooks: id from webhook-id (which is signed too).
		{"standard valid", "svix", standardHeader(standardKey, "msg_1", now, svixBody), svixBody, 202, "", "msg_1"},
		{"standard id swapped", "svix", with(standardHeader(standardKey, "msg_1", now, svixBody), "Webhook-Id", "msg_other"), svixBody, 401, "signature invalid", ""},
		{"standard expired", "svix", standardHeader(standardKey, "msg_2", tooOld, svixBody), svixBody, 401, "signature expired", ""},
		{"standard missing", "svix", http.Header{"Webhook-Id": {"msg_3"}}, svixBody, 401, "signature missing", ""},
		// Generic HMAC over the seed envelope.
		{"hmac valid", "shop", http.Header{"X-Shop-Signature": {b64MAC([]byte(shopSecret), shopBody)}}, shopBody, 202, "", "shop-1"},
		{"hmac tampered", "shop", http.Header{"X-Shop-Signature": {b64MAC([]byte(shopSecret), shopBody)}}, strings.Replace(shopBody, "7", "8", 1), 401, "signature invalid", ""},
		{"hmac missing", "shop", nil, shopBody, 401, "signature missing", ""},
		// Unsigned, allowed provider: the seed envelope, as with no configuration.
		{"plain envelope", "plain", nil, `{"eventId":"p-1","data":{}}`, 202, "", "p-1"},
		{"plain native refused", "plain", nil, `{"id":"x"}`, 400, "", ""},
		// Not on the allow-list.
		{"not allowed", "other", nil, `{"eventId":"o-1"}`, 404, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := srv.pending()
			w := srv.do(t, http.MethodPost, "/webhooks/"+c.provider, c.h, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			if c.status == 202 {
				checkAccepted(t, w, false)
				if want := job.ID(c.provider, c.eventID); !strings.Contains(w.Body.String(), want) {
					t.Errorf("jobId is not job.ID(%q, %q): %s", c.provider, c.eventID, w.Body)
				}
				if srv.pending() != before+1 {
					t.Errorf("pending %d, want %d", srv.pending(), before+1)
				}
				return
			}
			p := decodeProblem(t, w)
			if p.Status != c.status {
				t.Errorf("problem status %d", p.Status)
			}
			if c.status == 401 && (p.Type != typeSignature || p.Detail != c.detail) {
				t.Errorf("problem %+v, want type %s detail %q", p, typeSignature, c.detail)
			}
			if c.status == 404 && p.Type != typeNotFound {
				t.Errorf("problem %+v, want type %s", p, typeNotFound)
			}
			if srv.pending() != before {
				t.Errorf("a refused request was queued: pending %d, want %d", srv.pending(), before)
			}
		})
	}

	// Replays: the same signed delivery again is a duplicate (nothing new
	// queued); an old capture replayed later fails the timestamp window.
	t.Run("replay", func(t *testing.T) {
		h := stripeHeader(stripeSecret, now, stripeBody)
		w := srv.do(t, http.MethodPost, "/webhooks/stripe", h, stripeBody)
		if w.Code != 202 || !strings.Contains(w.Body.String(), `"duplicate":true`) {
			t.Fatalf("replayed delivery: %d %s, want 202 duplicate", w.Code, w.Body)
		}
	})
	// Issue: a captured GitHub delivery re-sent with a new X-GitHub-Delivery
	// and a forged X-GitHub-Event is still the same event.
	t.Run("github replay with a new delivery id", func(t *testing.T) {
		before := srv.pending()
		h := http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, ghBody)},
			"X-Github-Delivery": {"00000000-replayed"}, "X-Github-Event": {"forged"}}
		w := srv.do(t, http.MethodPost, "/webhooks/github", h, ghBody)
		if w.Code != 202 || !strings.Contains(w.Body.String(), `"duplicate":true`) || srv.pending() != before {
			t.Fatalf("replayed GitHub delivery: %d %s, pending %d→%d; want 202 duplicate, nothing queued", w.Code, w.Body, before, srv.pending())
		}
	})
}

func bodyDigest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// GitHub's event type lives only in a header: it is stored with the event.
func TestGitHubEventHeaderKept(t *testing.T) {
	srv := newEdgeServer(t, edgeEnv(), nil)
	body := `{"zen":"Keep it logically awesome."}`
	h := http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, body)},
		"X-Github-Delivery": {"d-ping"}, "X-Github-Event": {"ping"}}
	if w := srv.do(t, http.MethodPost, "/webhooks/github", h, body); w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	tasks, err := srv.inspector.ListPendingTasks(job.Queue)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("pending tasks %v, %v", tasks, err)
	}
	payload, err := job.Decode(tasks[0].Payload)
	if err != nil || len(payload.Events) != 1 {
		t.Fatal(payload, err)
	}
	p := payload.Events[0]
	// The delivery id is kept for tracing; the signature too, so the stored
	// body can be re-verified (a MAC is no secret).
	if p.EventID != bodyDigest(body) || p.EventType != "ping" || p.Headers["X-Github-Event"] != "ping" ||
		p.Headers["X-Github-Delivery"] != "d-ping" || p.Headers["X-Hub-Signature-256"] == "" || string(p.Body) != body {
		t.Errorf("payload %+v", p)
	}
}

// The seed's envelope needs no configuration at all (the k6 script's case).
func TestNoConfigurationAcceptsEnvelope(t *testing.T) {
	srv := newEdgeServer(t, nil, nil)
	w := srv.do(t, http.MethodPost, "/webhooks/any-provider", nil, `{"provider":"any-provider","eventId":"e-1","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	if w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestHostileJSONIsRefused(t *testing.T) {
	srv := newEdgeServer(t, nil, nil)
	for _, c := range []struct {
		name, body string
		field      string
	}{
		{"duplicate key", `{"eventId":"a","eventId":"b"}`, "eventId"},
		{"escaped duplicate key", `{"eventId":"a","event\u0049d":"b"}`, "eventId"},
		{"deep", `{"eventId":"d","data":` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70) + "}", ""},
		{"non-utf8", "{\"eventId\":\"\xff\xfe\"}", ""},
		{"nul escape", `{"eventId":"a\u0000b"}`, ""},
		{"lone surrogate", `{"eventId":"x","data":{"s":"\ud800"}}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := srv.do(t, http.MethodPost, "/webhooks/p", nil, c.body)
			if w.Code != 400 {
				t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Type != typeInvalid || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			if c.field != "" && p.Errors[c.field] != "duplicate key" {
				t.Errorf("errors %v, want %s: duplicate key", p.Errors, c.field)
			}
			if srv.pending() != 0 {
				t.Error("queued")
			}
		})
	}
}

// TestInvalidJSONIsRefused: a body that is not one JSON text gets a 400
// problem naming what is wrong and its byte offset, also when it is
// correctly signed for GitHub, whose event id is the body's digest and
// which reads no body field (before, such a body was queued and failed at
// PostgreSQL's jsonb, a dead letter).
func TestInvalidJSONIsRefused(t *testing.T) {
	srv := newEdgeServer(t, edgeEnv(), nil)
	for _, c := range []struct {
		name, body, detail string
	}{
		{"empty body", ``, "expected a value at byte 0, found the end of the body (the body is empty or only whitespace)"},
		{"bare word", `challenge_string`, "expected a value (object, array, string, number, true, false or null) at byte 0, found 'c'"},
		{"trailing garbage", `{"a":1} trailing`, "expected the end of the body after the top-level value (a body is one JSON value) at byte 8, found 't'"},
		{"unterminated array", `[1,2`, "expected ',' or ']' at byte 4, found the end of the body (an array is not closed)"},
		{"unterminated object", `{"a":{}`, "expected ',' or '}' at byte 7, found the end of the body (an object is not closed)"},
		{"missing comma", `{"a":1 "b":2}`, `expected ',' or '}' after an object member at byte 7, found '"'`},
		{"missing colon", `{"a" 1}`, "expected ':' after an object key at byte 5, found '1'"},
		{"leading zero", `{"n":0123}`, "the number at byte 5 has a leading zero"},
		{"NaN", `{"n":NaN}`, "expected a value (object, array, string, number, true, false or null) at byte 5, found 'N'"},
		{"single quotes", `{'a':1}`, `expected a double-quoted object key at byte 1, found '\''`},
	} {
		for _, to := range []struct {
			provider string
			h        http.Header
		}{
			{"github", http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, c.body)}, "X-Github-Event": {"push"}}},
			{"plain", nil},
		} {
			t.Run(c.name+" to "+to.provider, func(t *testing.T) {
				w := srv.do(t, http.MethodPost, "/webhooks/"+to.provider, to.h, c.body)
				if w.Code != 400 {
					t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
				}
				p := decodeProblem(t, w)
				if want := "the body is not valid JSON: " + c.detail; p.Type != typeInvalid || p.Status != 400 || p.Detail != want {
					t.Errorf("problem %+v, want type %s, detail %q", p, typeInvalid, want)
				}
				if srv.pending() != 0 {
					t.Error("queued")
				}
			})
		}
	}
	// The same signing, a valid body: accepted (so the 400s above are the
	// body's, not the signature's).
	body := `{"a":1}`
	h := http.Header{"X-Hub-Signature-256": {"sha256=" + hexMAC(githubSecret, body)}}
	if w := srv.do(t, http.MethodPost, "/webhooks/github", h, body); w.Code != 202 || srv.pending() != 1 {
		t.Fatalf("valid GitHub body: %d %s, pending %d", w.Code, w.Body, srv.pending())
	}
}

var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"Cache-Control":           "no-store",
}

func checkSecurityHeaders(t *testing.T, h http.Header, hsts string) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := h.Get("Strict-Transport-Security"); got != hsts {
		t.Errorf("Strict-Transport-Security = %q, want %q", got, hsts)
	}
	if s := h.Get("Server"); s != "" {
		t.Errorf("Server header %q sent", s)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	for _, hsts := range []time.Duration{0, 365 * 24 * time.Hour} {
		srv := newEdgeServer(t, edgeEnv(), func(c *Config) {
			c.HSTSMaxAge = hsts
			c.RateLimitIPRPS, c.RateLimitIPBurst = 0.001, 6 // every request spends a token, the non-canonical one too
		})
		want := ""
		if hsts > 0 {
			want = "max-age=31536000; includeSubDomains"
		}
		for _, r := range []struct {
			method, path, body string
			status             int
		}{
			{"POST", "/webhooks/plain", `{"eventId":"h-1"}`, 202},
			{"POST", "/webhooks/plain", `{`, 400},
			{"POST", "/webhooks/stripe", `{"id":"x"}`, 401},
			{"POST", "/webhooks/other", `{}`, 404},
			{"GET", "/webhooks/plain", "", 405},
			{"POST", "/webhooks/../admin", "", 404},
			{"POST", "/webhooks/plain", `{"eventId":"h-2"}`, 429},
			{"GET", "/health", "", 200},
		} {
			w := srv.do(t, r.method, r.path, nil, r.body)
			if w.Code != r.status {
				t.Fatalf("%s %s: status %d, want %d", r.method, r.path, w.Code, r.status)
			}
			checkSecurityHeaders(t, w.Header(), want)
		}
	}
}

func TestCORS(t *testing.T) {
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"content-type,stripe-signature"}}

	t.Run("off by default", func(t *testing.T) {
		srv := newEdgeServer(t, edgeEnv(), nil)
		w := srv.do(t, http.MethodOptions, "/webhooks/plain", preflight, "")
		if w.Code != 405 {
			t.Errorf("preflight without CORS: status %d, want 405", w.Code)
		}
		w2 := srv.do(t, http.MethodPost, "/webhooks/plain", http.Header{"Origin": {"https://app.example"}}, `{"eventId":"c-0"}`)
		for _, h := range []http.Header{w.Header(), w2.Header()} {
			for k := range h {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("CORS header %s sent with CORS off", k)
				}
			}
		}
	})
	t.Run("allowed origins", func(t *testing.T) {
		srv := newEdgeServer(t, edgeEnv(), func(c *Config) { c.CORSAllowedOrigins = []string{" https://app.example", ""} })
		w := srv.do(t, http.MethodOptions, "/webhooks/stripe", preflight, "")
		if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Allow-Headers")), "stripe-signature") {
			t.Errorf("preflight: %d %v", w.Code, w.Header())
		}
		checkSecurityHeaders(t, w.Header(), "")
		evil := with(preflight, "Origin", "https://evil.example")
		w = srv.do(t, http.MethodOptions, "/webhooks/stripe", evil, "")
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("disallowed origin got Access-Control-Allow-Origin %q", got)
		}
		w = srv.do(t, http.MethodPost, "/webhooks/plain", http.Header{"Origin": {"https://app.example"}}, `{"eventId":"c-1"}`)
		if w.Code != 202 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Errorf("actual request: %d %v", w.Code, w.Header())
		}
	})
}

func TestRateLimit(t *testing.T) {
	srv := newEdgeServer(t, nil, func(c *Config) {
		c.RateLimitIPRPS, c.RateLimitIPBurst = 0.5, 2
		c.TrustedProxyCIDRs = "10.0.0.0/8"
	})
	post := func(remote, xff, id string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/p", strings.NewReader(`{"eventId":"`+id+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		srv.handler.ServeHTTP(w, req)
		return w
	}
	for i := 0; i < 2; i++ {
		if w := post("203.0.113.1:1000", "", "r-"+strconv.Itoa(i)); w.Code != 202 {
			t.Fatalf("request %d in the burst: %d", i, w.Code)
		}
	}
	w := post("203.0.113.1:1000", "198.51.100.77", "r-2") // XFF from an untrusted peer changes nothing
	if w.Code != 429 {
		t.Fatalf("over the limit: status %d, want 429", w.Code)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After = %q, want 1-2 seconds", w.Header().Get("Retry-After"))
	}
	if p := decodeProblem(t, w); p.Type != typeRateLimited || p.Status != 429 {
		t.Errorf("problem %+v", p)
	}
	if srv.pending() != 2 {
		t.Errorf("pending %d, want 2", srv.pending())
	}
	if w := post("203.0.113.2:1000", "", "r-3"); w.Code != 202 {
		t.Errorf("another client: %d, want 202", w.Code)
	}
	// Behind a trusted proxy each client has its own bucket: three clients
	// through one proxy address, whose own bucket would allow only two.
	for i := 0; i < 3; i++ {
		if w := post("10.1.1.1:80", "198.51.100."+strconv.Itoa(i+1), "px-"+strconv.Itoa(i)); w.Code != 202 {
			t.Errorf("client %d behind the proxy: %d", i, w.Code)
		}
	}
	if w := health(srv); w.Code != 200 {
		t.Errorf("/health is rate limited: %d", w.Code)
	}
}

func health(srv edgeServer) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	srv.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health", nil))
	return w
}

func TestPathTricks(t *testing.T) {
	srv := newEdgeServer(t, []string{"PROVIDERS_ALLOWED=stripe", "PROVIDER_STRIPE_SCHEME=none"}, nil)
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/webhooks/../webhooks/stripe", 404},
		{"/webhooks/./stripe", 404},
		{"//webhooks/stripe", 404},
		{"/webhooks//stripe", 404},
		{"/webhooks/stripe/", 404},
		{"/webhooks/stripe/extra", 404},
		{"/webhooks/", 404},
		{"/webhooks/%2e%2e", 404},
		{"/webhooks/a%2Fb", 400},
		{"/webhooks/stripe%00", 400},
		{"/webhooks/STRIPE", 400},
		{"/webhooks/" + strings.Repeat("a", 65), 400},
		{"/webhooks/str%69pe", 202}, // percent-encoding of an allowed name is the same name
	} {
		t.Run(c.path, func(t *testing.T) {
			w := srv.do(t, http.MethodPost, c.path, nil, `{"eventId":"path-1"}`)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status != 202 {
				decodeProblem(t, w)
			}
		})
	}
}

type okAcceptor struct{}

func (okAcceptor) Accept(context.Context, ingest.Request) (ingest.Result, error) {
	return ingest.Result{JobID: "0123456789abcdef0123456789abcdef"}, nil
}

// BenchmarkEdge is the HTTP layer without Redis (a stub accepts
// everything), with the edge as deployed by default (security headers,
// canonical path, both token buckets) and with the rate limiter off, to
// show what the edge costs per request.
func BenchmarkEdge(b *testing.B) {
	body := []byte(`{"provider":"stripe","eventId":"bench-1","timestamp":"2026-11-29T10:00:00Z","data":{"type":"payment.succeeded","amount":4242}}`)
	for _, bc := range []struct {
		name     string
		ip, glob float64
	}{{"limits-default", 30000 * 1e3, 100000 * 1e3}, {"limits-off", 0, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{MaxBodyBytes: 1 << 20, MaxBodyBytesInFlight: 32 << 20, EnqueueTimeout: time.Second, RetryAfter: time.Second,
				RateLimitIPRPS: bc.ip, RateLimitIPBurst: 1 << 30, RateLimitGlobalRPS: bc.glob, RateLimitGlobalBurst: 1 << 30}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			h := newServer(cfg, okAcceptor{}, newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log).routes()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusAccepted {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}
