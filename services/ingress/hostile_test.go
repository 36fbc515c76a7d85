package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ops"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// envMap is a lookuper that can also list its variables, as run needs for
// the PROVIDER_* profiles.
type envMap map[string]string

func (m envMap) Lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

func (m envMap) Environ() []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// runningIngress boots the real ingress (run) on loopback ports against a
// test Redis database and returns its public and ops addresses.
func runningIngress(t *testing.T, extra envMap) (public, opsAddr string, pending func() int) {
	t.Helper()
	rdb := testenv.Redis(t)
	public = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	opsAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	env := envMap{
		"HTTP_ADDR": public, "OPS_ADDR": opsAddr,
		"REDIS_ADDR": rdb.Addr, "REDIS_DB": strconv.Itoa(rdb.DB),
		"LOG_LEVEL": "error", "DRAIN_DELAY": "0s", "SHUTDOWN_TIMEOUT": "2s",
		"MAX_BODY_BYTES": "65536",
	}
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + opsAddr + "/live")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingress did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := redis.NewClient(&redis.Options{Addr: rdb.Addr, DB: rdb.DB})
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspectorFromRedisClient(client)
	pending = func() int {
		info, err := insp.GetQueueInfo(job.Queue)
		if err != nil {
			return 0
		}
		return info.Pending + info.Scheduled + info.Retry
	}
	return public, opsAddr, pending
}

// raw sends bytes on a fresh connection and reads one response.
func raw(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no HTTP response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func post(path, contentType, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: ingress\r\nConnection: close\r\n", path)
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func chunked(path string, chunks int, chunk string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: ingress\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", path)
	for i := 0; i < chunks; i++ {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// TestHostileInputAgainstRunningIngress sends each class of hostile input to
// a running ingress over real TCP: each gets its precise 4xx (a problem+json
// body wherever our code answers), nothing is queued, and the process stays
// healthy (/live answers, a valid webhook is still accepted afterwards).
func TestHostileInputAgainstRunningIngress(t *testing.T) {
	public, opsAddr, pending := runningIngress(t, envMap{
		"PROVIDER_SIGNED_SCHEME":  "github",
		"PROVIDER_SIGNED_SECRETS": "hostile-test-secret",
	})
	big := strings.Repeat("a", 70000)
	for _, c := range []struct {
		name    string
		request string
		status  int
		ptype   string // problem type; "" when net/http itself answers
	}{
		{"oversized body (Content-Length)", post("/webhooks/p", "application/json", `{"eventId":"big","data":{"x":"`+big+`"}}`), 413, typeTooLarge},
		{"chunked body over the limit", chunked("/webhooks/p", 20, strings.Repeat("b", 4096)), 413, typeTooLarge},
		{"deep JSON", post("/webhooks/p", "application/json", `{"eventId":"deep","data":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), 400, typeInvalid},
		{"duplicate keys", post("/webhooks/p", "application/json", `{"eventId":"a","data":{},"eventId":"b"}`), 400, typeInvalid},
		{"non-UTF-8", post("/webhooks/p", "application/json", "{\"eventId\":\"\xc3\x28\"}"), 400, typeInvalid},
		{"NUL escape", post("/webhooks/p", "application/json", `{"eventId":"a\u0000"}`), 400, typeInvalid},
		{"malformed JSON", post("/webhooks/p", "application/json", `{"eventId":"x",`), 400, typeInvalid},
		{"JSON with trailing garbage", post("/webhooks/p", "application/json", `{"eventId":"x"}{"eventId":"y"}`), 400, typeInvalid},
		{"signed GitHub body that is not JSON", post("/webhooks/signed", "application/json", `{"zen":"x"} trailing`,
			"X-Hub-Signature-256: sha256="+hexMAC("hostile-test-secret", `{"zen":"x"} trailing`)), 400, typeInvalid},
		{"signed GitHub bare word", post("/webhooks/signed", "application/json", `challenge_string`,
			"X-Hub-Signature-256: sha256="+hexMAC("hostile-test-secret", `challenge_string`)), 400, typeInvalid},
		{"text/plain", post("/webhooks/p", "text/plain", `{"eventId":"ct-1"}`), 415, typeMediaType},
		{"form", post("/webhooks/p", "application/x-www-form-urlencoded", `eventId=ct-2`), 415, typeMediaType},
		{"multipart", post("/webhooks/p", "multipart/form-data; boundary=x", "--x--"), 415, typeMediaType},
		{"no content type", post("/webhooks/p", "", `{"eventId":"ct-3"}`), 415, typeMediaType},
		{"bogus content type", post("/webhooks/p", "application/json; charset=\"", `{"eventId":"ct-4"}`), 415, typeMediaType},
		{"dot-dot path", post("/webhooks/../webhooks/p", "application/json", `{"eventId":"path-1"}`), 404, typeNotFound},
		{"encoded dot-dot", post("/webhooks/%2e%2e/p", "application/json", `{"eventId":"path-2"}`), 404, typeNotFound},
		{"encoded slash", post("/webhooks/a%2Fb", "application/json", `{"eventId":"path-3"}`), 400, typeInvalid},
		{"double slash", post("//webhooks/p", "application/json", `{"eventId":"path-4"}`), 404, typeNotFound},
		{"upper-case provider", post("/webhooks/P", "application/json", `{"eventId":"path-5"}`), 400, typeInvalid},
		{"unsigned to a signed provider", post("/webhooks/signed", "application/json", `{"zen":"x"}`, "X-GitHub-Delivery: d-1"), 401, typeSignature},
		{"forged signature", post("/webhooks/signed", "application/json", `{"zen":"x"}`, "X-GitHub-Delivery: d-2", "X-Hub-Signature-256: sha256="+strings.Repeat("0", 64)), 401, typeSignature},
		{"oversized headers", post("/webhooks/p", "application/json", `{"eventId":"h"}`, "X-Big: "+strings.Repeat("h", 70<<10)), 431, ""},
		{"invalid header bytes", post("/webhooks/p", "application/json", `{"eventId":"h2"}`, "X-Bad\x01: x"), 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := raw(t, public, c.request)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, c.status, body)
			}
			if c.ptype != "" {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				var p problem.Problem
				if err := json.Unmarshal(body, &p); err != nil || p.Type != c.ptype || p.Status != c.status || p.Title == "" || p.Detail == "" {
					t.Errorf("problem %s (%v), want type %s", body, err, c.ptype)
				}
				checkSecurityHeaders(t, resp.Header, "")
			}
			if n := pending(); n != 0 {
				t.Errorf("queue grew to %d", n)
			}
			live(t, opsAddr)
		})
	}

	t.Run("slow-loris headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", public)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		_, _ = io.WriteString(conn, "POST /webhooks/p HTTP/1.1\r\nHost: ingress\r\n")
		// Trickle a header byte every 500ms; ReadHeaderTimeout (5s) ends it.
		closed := make(chan time.Duration, 1)
		go func() {
			buf := make([]byte, 512)
			_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			for {
				if _, err := conn.Read(buf); err != nil {
					closed <- time.Since(start)
					return
				}
			}
		}()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case d := <-closed:
				if d > 8*time.Second {
					t.Fatalf("connection held for %s", d)
				}
				live(t, opsAddr)
				return
			case <-tick.C:
				_, _ = io.WriteString(conn, "X")
				live(t, opsAddr) // the server keeps serving meanwhile
			}
		}
	})

	t.Run("still healthy", func(t *testing.T) {
		resp, body := raw(t, public, post("/webhooks/p", "application/json", `{"eventId":"after-the-storm"}`))
		if resp.StatusCode != 202 {
			t.Fatalf("valid webhook after the hostile ones: %d %s", resp.StatusCode, body)
		}
		if pending() != 1 {
			t.Errorf("pending %d, want 1", pending())
		}
	})

	// Content-Length together with Transfer-Encoding: net/http reads the
	// body by Transfer-Encoding alone (RFC 9112 §6.3), never by the length.
	t.Run("Content-Length and Transfer-Encoding", func(t *testing.T) {
		req := strings.Replace(chunked("/webhooks/p", 1, `{"eventId":"te-wins"}`),
			"Transfer-Encoding: chunked\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 1)
		resp, body := raw(t, public, req)
		if resp.StatusCode != 202 || !strings.Contains(string(body), job.ID("p", "te-wins")) {
			t.Fatalf("status %d %s, want 202 for the chunked body's event", resp.StatusCode, body)
		}
	})
}

// The limits net/http enforces before our code runs (README "Security").
func TestServerLimits(t *testing.T) {
	s := ops.NewServer(":0", http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 15*time.Second || s.MaxHeaderBytes != 64<<10 {
		t.Errorf("ReadHeaderTimeout %s, ReadTimeout %s, MaxHeaderBytes %d; the README says 5s, 15s, 64 KiB",
			s.ReadHeaderTimeout, s.ReadTimeout, s.MaxHeaderBytes)
	}
}

func live(t *testing.T, opsAddr string) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + opsAddr + "/live")
	if err != nil {
		t.Fatalf("/live: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/live: %d", resp.StatusCode)
	}
}

// A bad provider configuration stops the ingress at start (fail closed).
func TestBadProviderConfigFailsStart(t *testing.T) {
	rdb := testenv.Redis(t)
	err := run(context.Background(), envMap{
		"HTTP_ADDR": "127.0.0.1:0", "OPS_ADDR": "127.0.0.1:0", "REDIS_ADDR": rdb.Addr,
		"PROVIDER_STRIPE_SCHEME": "stripe-v2", "PROVIDER_STRIPE_SECRETS": "whsec_x",
	})
	if err == nil || !strings.Contains(err.Error(), "PROVIDER_STRIPE_SCHEME") || strings.Contains(err.Error(), "whsec_x") {
		t.Fatalf("run = %v, want an error naming PROVIDER_STRIPE_SCHEME without the secret", err)
	}
}
