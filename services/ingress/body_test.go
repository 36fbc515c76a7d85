package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/problem"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
)

// Tests of the reading path (body.go, listen.go) on real connections: what
// a sender can make the process hold, and what is refused before the body.
// The queue is a stub: none of this reaches Redis.

type stubQueue struct{ n atomic.Int64 }

func (q *stubQueue) Enqueue(context.Context, job.Event) (string, bool, error) {
	return fmt.Sprintf("%032x", q.n.Add(1)), false, nil
}

// liveServer runs the public routes on a real listener (capped at
// maxConns when > 0) with the real ingest service over a stub queue.
func liveServer(t testing.TB, environ []string, tweak func(*Config), maxConns int) (*server, string, *connLimiter) {
	t.Helper()
	cfg := Config{MaxBodyBytes: 1 << 20, MaxBodyBytesInFlight: 32 << 20, EnqueueTimeout: time.Second, RetryAfter: 3 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	providers, err := provider.Load(environ)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := ingest.NewService(&stubQueue{}, log, ingest.WithProviders(providers))
	s := newServer(cfg, svc, newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns *connLimiter
	if maxConns > 0 {
		conns = limitConnections(ln, maxConns)
		ln = conns
	}
	hs := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return s, ln.Addr().String(), conns
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// head is a request's head announcing contentLength body bytes.
func head(path string, contentLength int, extra ...string) string {
	h := "POST " + path + " HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n"
	for _, e := range extra {
		h += e + "\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\n\r\n", contentLength)
}

// answer reads one response from c within a second.
func answer(t testing.TB, c net.Conn) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within a second: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Finding 1: 200 connections that announce 1 MiB, send one byte and stall
// took 1 MiB of heap each (1,062,957 bytes measured before the fix). Now
// each holds a first chunk and the connection's own buffers.
func TestStalledConnectionsHoldKilobytes(t *testing.T) {
	const n = 200
	s, addr, _ := liveServer(t, nil, nil, 0)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		c := dial(t, addr)
		if _, err := io.WriteString(c, head("/webhooks/demo", 1<<20)+"{"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every connection to be reading its body", func() bool { return s.bodies.inUse.Load() == n*firstChunk })
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per stalled connection: %d bytes (%d connections, Content-Length 1 MiB, one byte sent)", perConn, n)
	if perConn > 32<<10 {
		t.Errorf("heap per stalled connection = %d bytes, want at most 32 KiB", perConn)
	}
}

// Past MAX_BODY_BYTES_IN_FLIGHT a request is refused with 503 and
// Retry-After before its body is read; once bytes are freed, it is served.
func TestBodyBytesInFlightCap(t *testing.T) {
	s, addr, _ := liveServer(t, nil, func(c *Config) { c.MaxBodyBytes, c.MaxBodyBytesInFlight = 4096, 4096 }, 0)
	body := `{"eventId":"e-1","data":{"pad":"` + strings.Repeat("x", 4096-35) + `"}}` // 4096 bytes
	if len(body) != 4096 {
		t.Fatalf("body is %d bytes", len(body))
	}
	hog := dial(t, addr)
	if _, err := io.WriteString(hog, head("/webhooks/demo", len(body))+body[:3000]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled body to hold the whole budget", func() bool { return s.bodies.inUse.Load() == 4096 })

	c := dial(t, addr)
	small := `{"eventId":"e-2"}`
	if _, err := io.WriteString(c, head("/webhooks/demo", len(small))+small); err != nil {
		t.Fatal(err)
	}
	resp, b := answer(t, c)
	var p problem.Problem
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || json.Unmarshal([]byte(b), &p) != nil || p.Type != typeBusy {
		t.Fatalf("over the budget: %d Retry-After %q %s, want 503 server-busy with Retry-After 3", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}

	if _, err := io.WriteString(hog, body[3000:]); err != nil {
		t.Fatal(err)
	}
	if resp, b := answer(t, hog); resp.StatusCode != 202 {
		t.Fatalf("the stalled request, completed: %d %s", resp.StatusCode, b)
	}
	waitFor(t, "the budget to be free", func() bool { return s.bodies.inUse.Load() == 0 })
	c2 := dial(t, addr)
	_, _ = io.WriteString(c2, head("/webhooks/demo", len(small))+small)
	if resp, b := answer(t, c2); resp.StatusCode != 202 {
		t.Fatalf("after the budget freed: %d %s", resp.StatusCode, b)
	}
}

// An unknown provider (allow-list set) gets 404 and a signed provider
// without its signature header 401, from the headers alone: the answer
// comes while the announced body has not been sent, nothing is held, and
// the connection is closed rather than waited on.
func TestRefusedBeforeTheBody(t *testing.T) {
	s, addr, _ := liveServer(t, []string{
		"PROVIDERS_ALLOWED=gh,shop",
		"PROVIDER_GH_SCHEME=github", "PROVIDER_GH_SECRETS=s3cret",
		"PROVIDER_SHOP_SCHEME=hmac-sha256", "PROVIDER_SHOP_SECRETS=s3cret", "PROVIDER_SHOP_HEADER=X-Shop-Signature",
	}, nil, 0)
	for _, c := range []struct {
		name   string
		head   string
		status int
		ptype  string
	}{
		{"unknown provider", head("/webhooks/other", 1<<20), 404, typeNotFound},
		{"github without signature", head("/webhooks/gh", 1<<20, "X-GitHub-Delivery: d-1"), 401, typeSignature},
		{"hmac without its header", head("/webhooks/shop", 1<<20), 401, typeSignature},
		{"hmac header twice", head("/webhooks/shop", 1<<20, "X-Shop-Signature: a", "X-Shop-Signature: b"), 401, typeSignature},
		{"gzip", head("/webhooks/gh", 1<<20, "Content-Encoding: gzip"), 415, typeEncoding},
		{"invalid provider name", head("/webhooks/A", 1<<20), 400, typeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, addr)
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			resp, b := answer(t, conn)
			var p problem.Problem
			if resp.StatusCode != c.status || json.Unmarshal([]byte(b), &p) != nil || p.Type != c.ptype {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, c.status, c.ptype)
			}
			if !resp.Close {
				t.Error("the connection is kept open although its body was never read")
			}
			if n := s.bodies.inUse.Load(); n != 0 {
				t.Errorf("%d body bytes held for a refused request", n)
			}
		})
	}
}

// Content-Encoding other than identity is refused with 415: the ingress
// decodes none, and gzip bytes labelled JSON must not be stored as JSON.
func TestContentEncoding(t *testing.T) {
	_, addr, _ := liveServer(t, nil, nil, 0)
	body := `{"eventId":"enc-1"}`
	for _, c := range []struct {
		encoding string
		status   int
	}{
		{"gzip", 415}, {"br", 415}, {"identity, gzip", 415}, {"x-anything", 415},
		{"identity", 202}, {"IDENTITY", 202}, {"", 202},
	} {
		t.Run(c.encoding, func(t *testing.T) {
			conn := dial(t, addr)
			var extra []string
			if c.encoding != "" {
				extra = append(extra, "Content-Encoding: "+c.encoding)
			}
			_, _ = io.WriteString(conn, head("/webhooks/demo", len(body), extra...)+body)
			resp, b := answer(t, conn)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, c.status)
			}
			if c.status == 415 {
				var p problem.Problem
				if json.Unmarshal([]byte(b), &p) != nil || p.Type != typeEncoding || resp.Header.Get("Accept-Encoding") != "identity" {
					t.Errorf("problem %s, Accept-Encoding %q", b, resp.Header.Get("Accept-Encoding"))
				}
			}
		})
	}
}

// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding
// is answered, then the connection is closed.
func TestContentLengthWithTransferEncodingClosesConnection(t *testing.T) {
	_, addr, _ := liveServer(t, nil, nil, 0)
	body := `{"eventId":"te-1"}`
	conn := dial(t, addr)
	req := "POST /webhooks/demo HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n" +
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || !resp.Close {
		t.Errorf("status %d, Connection %q: want an answer with Connection: close", resp.StatusCode, resp.Header.Get("Connection"))
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer the connection is still open (read: %v), want EOF", err)
	}
}

// Past MAX_CONNECTIONS a new connection is answered 503 (problem+json,
// Retry-After) and closed; idle keep-alive connections count; a freed slot
// is reused.
func TestConnectionCap(t *testing.T) {
	_, addr, conns := liveServer(t, nil, nil, 2)
	body := `{"eventId":"cap-1"}`
	idle := make([]net.Conn, 2)
	for i := range idle {
		idle[i] = dial(t, addr)
		_, _ = io.WriteString(idle[i], head("/webhooks/demo", len(body))+body)
		if resp, b := answer(t, idle[i]); resp.StatusCode != 202 {
			t.Fatalf("connection %d: %d %s", i, resp.StatusCode, b)
		}
	}
	waitFor(t, "two open connections", func() bool { return conns.open() == 2 })

	resp, err := (&http.Client{Timeout: 2 * time.Second}).Post("http://"+addr+"/webhooks/demo", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("past the cap the client got no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p problem.Problem
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || json.Unmarshal(b, &p) != nil || p.Type != typeBusy || !resp.Close {
		t.Fatalf("past the cap: %d %v %s, want 503 server-busy, Retry-After, Connection: close", resp.StatusCode, resp.Header, b)
	}
	if conns.rejected.Load() != 1 {
		t.Errorf("rejected = %d, want 1", conns.rejected.Load())
	}

	idle[0].Close()
	waitFor(t, "the slot to be freed", func() bool { return conns.open() == 1 })
	c := dial(t, addr)
	_, _ = io.WriteString(c, head("/webhooks/demo", len(body))+body)
	if resp, b := answer(t, c); resp.StatusCode != 202 {
		t.Fatalf("after a slot freed: %d %s", resp.StatusCode, b)
	}
}

// Non-canonical paths and CORS preflights spend rate-limit tokens too:
// before, they were answered ahead of the limiter, for free.
func TestRateLimitCoversEveryRoute(t *testing.T) {
	srv := newEdgeServerNoRedis(t, func(c *Config) {
		c.RateLimitIPRPS, c.RateLimitIPBurst = 0.001, 1
		c.CORSAllowedOrigins = []string{"https://app.example"}
	})
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}
	first := srv.do(t, http.MethodOptions, "/webhooks/demo", preflight, "")
	if first.Code != 204 {
		t.Fatalf("first preflight: %d, want 204", first.Code)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodOptions, "/webhooks/demo"},
		{http.MethodPost, "//webhooks/demo"},
		{http.MethodPost, "/webhooks/../x"},
		{http.MethodGet, "/nowhere"},
	} {
		h := http.Header{}
		if c.method == http.MethodOptions {
			h = preflight
		}
		if w := srv.do(t, c.method, c.path, h, `{"eventId":"x"}`); w.Code != 429 {
			t.Errorf("%s %s over the limit: %d, want 429", c.method, c.path, w.Code)
		}
	}
	if w := health(srv); w.Code != 200 {
		t.Errorf("/health over the limit: %d, want 200 (exempt)", w.Code)
	}
}

// newEdgeServerNoRedis is the public routes over the stub queue.
func newEdgeServerNoRedis(t *testing.T, tweak func(*Config)) edgeServer {
	t.Helper()
	cfg := Config{MaxBodyBytes: 4096, MaxBodyBytesInFlight: 1 << 20, EnqueueTimeout: time.Second, RetryAfter: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newServer(cfg, ingest.NewService(&stubQueue{}, log), newMetrics(prometheus.NewRegistry()), new(atomic.Bool), log)
	return edgeServer{handler: s.routes()}
}
