package ratelimit_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ratelimit"
)

func req(remote string, xff ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientAddr(t *testing.T) {
	trusted, err := ratelimit.ParseCIDRs("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	l := ratelimit.New(ratelimit.Config{IPRate: 1, TrustedProxies: trusted})
	for _, tc := range []struct {
		name string
		r    *http.Request
		want string
	}{
		{"direct", req("203.0.113.7:5000"), "203.0.113.7"},
		{"spoofed XFF from untrusted peer is ignored", req("203.0.113.7:5000", "1.2.3.4"), "203.0.113.7"},
		{"trusted proxy", req("10.1.2.3:80", "198.51.100.9"), "198.51.100.9"},
		{"client-supplied prefix is skipped", req("10.1.2.3:80", "1.2.3.4, 198.51.100.9"), "198.51.100.9"},
		{"chain of trusted proxies", req("10.1.2.3:80", "198.51.100.9, 192.168.1.1, 10.9.9.9"), "198.51.100.9"},
		{"several header lines", req("10.1.2.3:80", "1.2.3.4", "198.51.100.9, 10.0.0.5"), "198.51.100.9"},
		{"all trusted", req("10.1.2.3:80", "10.0.0.7, 10.0.0.8"), "10.0.0.7"},
		{"garbage hop stops the walk", req("10.1.2.3:80", "198.51.100.9, not-an-ip, 10.0.0.8"), "10.0.0.8"},
		{"trusted without XFF", req("10.1.2.3:80"), "10.1.2.3"},
		{"ipv6 peer", req("[2001:db8::1]:443"), "2001:db8::1"},
		{"ipv4-mapped peer", req("[::ffff:203.0.113.7]:443"), "203.0.113.7"},
		{"unparsable peer", req("@"), "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.ClientAddr(tc.r).String(); got != tc.want {
				t.Errorf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPerClientBucket(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{IPRate: 2, IPBurst: 3})
	now := time.Unix(1000, 0)
	a, b := req("203.0.113.7:1"), req("198.51.100.1:1")
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(a, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, retry := l.Allow(a, now)
	if ok || retry != time.Second {
		t.Fatalf("4th request: ok=%v retry=%v, want refused with 1s", ok, retry)
	}
	if ok, _ := l.Allow(b, now); !ok {
		t.Fatal("another client is throttled by the first one's bucket")
	}
	if ok, _ := l.Allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Fatal("bucket did not refill at 2/s")
	}
	// Same /64 shares a bucket.
	l = ratelimit.New(ratelimit.Config{IPRate: 1, IPBurst: 1})
	if ok, _ := l.Allow(req("[2001:db8:0:1::1]:1"), now); !ok {
		t.Fatal("first v6 request refused")
	}
	if ok, _ := l.Allow(req("[2001:db8:0:1::ffff]:1"), now); ok {
		t.Fatal("another address of the same /64 got its own bucket")
	}
	if ok, _ := l.Allow(req("[2001:db8:0:2::1]:1"), now); !ok {
		t.Fatal("another /64 shares the bucket")
	}
}

func TestGlobalBucket(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{GlobalRate: 0.1, GlobalBurst: 2})
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow(req("203.0.113."+strconv.Itoa(i)+":1"), now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, retry := l.Allow(req("203.0.113.99:1"), now)
	if ok || retry != 10*time.Second {
		t.Fatalf("ok=%v retry=%v, want refused, 10s (one token per 10s)", ok, retry)
	}
}

func TestDisabled(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{})
	if l.Enabled() {
		t.Fatal("Enabled with no rates")
	}
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow(req("203.0.113.7:1"), time.Unix(1000, 0)); !ok {
			t.Fatal("refused with limits disabled")
		}
	}
}

// A flood of distinct (spoofed) addresses keeps the table bounded.
func TestBoundedClients(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{IPRate: 1, IPBurst: 1, MaxClients: 640})
	now := time.Unix(1000, 0)
	for i := 0; i < 100000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(req(netip.AddrPortFrom(a, 1).String()), now)
	}
	if n := l.Clients(); n > 640 {
		t.Fatalf("%d buckets kept, want at most 640", n)
	}
}

// sameShard returns n distinct IPv4 addresses whose buckets share a shard.
func sameShard(n int) []*http.Request {
	var out []*http.Request
	want := -1
	for i := 0; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if want < 0 {
			want = ratelimit.ShardOf(a)
		}
		if ratelimit.ShardOf(a) == want {
			out = append(out, req(netip.AddrPortFrom(a, 1).String()))
		}
	}
	return out
}

// A full shard drops its idle clients first, and a live client only when
// that did not make room: a live sender whose bucket is empty must not get
// a fresh burst because a new address arrived.
func TestEvictionKeepsLiveClients(t *testing.T) {
	const perShard = 10
	l := ratelimit.New(ratelimit.Config{IPRate: 0.001, IPBurst: 1, MaxClients: perShard * ratelimit.ShardCount})
	r := sameShard(perShard + 1)
	idle, live, newcomer := r[0], r[1:perShard], r[perShard]
	t0 := time.Unix(1000, 0)
	if ok, _ := l.Allow(idle, t0); !ok {
		t.Fatal("first request of the idle client refused")
	}
	now := t0.Add(2 * time.Minute)
	for i, c := range live {
		if ok, _ := l.Allow(c, now); !ok {
			t.Fatalf("first request of live client %d refused", i)
		}
	}
	if ok, _ := l.Allow(newcomer, now); !ok { // the shard is full: evicts
		t.Fatal("the new client was refused")
	}
	for i, c := range live {
		if ok, _ := l.Allow(c, now); ok {
			t.Errorf("live client %d got a fresh burst: its bucket was dropped though dropping the idle one made room", i)
		}
	}
	if n := l.Clients(); n != perShard {
		t.Errorf("%d buckets kept, want %d (the idle one replaced by the new one)", n, perShard)
	}

	// Still full after the sweep (nobody idle): a live client makes room.
	late := sameShard(perShard + 2)[perShard+1]
	if ok, _ := l.Allow(late, now); !ok {
		t.Fatal("a new client in a shard of live clients was refused")
	}
	if n := l.Clients(); n > perShard {
		t.Errorf("%d buckets kept, want at most %d", n, perShard)
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ratelimit.ParseCIDRs(" 10.0.0.0/8 ,,::1, 172.16.5.4/12")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "::1/128", "172.16.0.0/12"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "1.2.3"} {
		if _, err := ratelimit.ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) = nil error", bad)
		}
	}
}

func TestAllowAllocs(t *testing.T) {
	trusted, _ := ratelimit.ParseCIDRs("10.0.0.0/8")
	l := ratelimit.New(ratelimit.Config{GlobalRate: 1e9, GlobalBurst: 1e9, IPRate: 1e9, IPBurst: 1e9, TrustedProxies: trusted})
	r := req("10.0.0.1:80", "198.51.100.9, 10.0.0.2")
	now := time.Unix(1000, 0)
	l.Allow(r, now)
	if n := testing.AllocsPerRun(100, func() { l.Allow(r, now) }); n != 0 {
		t.Errorf("Allow allocates %v times for a known client", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(ratelimit.Config{GlobalRate: 1e9, GlobalBurst: 1e9, IPRate: 1e9, IPBurst: 1e9})
	r := req("203.0.113.7:5000")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(r, time.Now())
		}
	})
}
