//go:build faults

package faults

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy is a tiny stand-in for a Kubernetes Service in front of ingress pods:
// it sends each request to a backend whose /ready answered 200 at the last
// probe (every 100 ms, like a short readinessProbe period), round-robin. A
// request that could not be delivered at all (connection refused or reset
// before any response) is tried on the next ready backend; that is safe here
// because a delivery is idempotent by (provider, event id).
type proxy struct {
	URL    string
	srv    *http.Server
	client *http.Client

	mu       sync.Mutex
	backends []*backend
	rr       atomic.Uint64
	stop     chan struct{}
	Retried  atomic.Int64
	NoTarget atomic.Int64
}

type backend struct {
	sv    *Service
	ready atomic.Bool
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{
		URL:    "http://" + l.Addr().String(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 10 * time.Second},
		stop:   make(chan struct{}),
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	go p.probe()
	t.Cleanup(func() {
		close(p.stop)
		_ = p.srv.Close()
	})
	return p
}

// Add registers a backend; it takes traffic once its /ready answers 200.
func (p *proxy) Add(sv *Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append(p.backends, &backend{sv: sv})
}

// Remove drops a backend (its pod is gone).
func (p *proxy) Remove(sv *Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.backends {
		if b.sv == sv {
			p.backends = append(p.backends[:i], p.backends[i+1:]...)
			return
		}
	}
}

func (p *proxy) probe() {
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		p.mu.Lock()
		bs := append([]*backend(nil), p.backends...)
		p.mu.Unlock()
		for _, b := range bs {
			b.ready.Store(b.sv.Running() && b.sv.Ready())
		}
		select {
		case <-p.stop:
			return
		case <-tk.C:
		}
	}
}

func (p *proxy) ready() []*backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*backend
	for _, b := range p.backends {
		if b.ready.Load() {
			out = append(out, b)
		}
	}
	return out
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	bs := p.ready()
	if len(bs) == 0 {
		p.NoTarget.Add(1)
		http.Error(w, "no ready backend", http.StatusBadGateway)
		return
	}
	start := int(p.rr.Add(1))
	for i := range bs {
		b := bs[(start+i)%len(bs)]
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, b.sv.HTTP+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			p.Retried.Add(1)
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "all backends failed", http.StatusBadGateway)
}
