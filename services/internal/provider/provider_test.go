package provider_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

func TestLoadEmpty(t *testing.T) {
	r, err := provider.Load([]string{"PATH=/bin", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stripe", "github", "any-provider_1"} {
		p, ok := r.Lookup(name)
		if !ok || p != provider.Default || p.Verifier != nil || len(p.EventID) != 1 || p.EventID[0].Kind != provider.FromEnvelope {
			t.Errorf("Lookup(%q) = %+v, %v; want the default envelope profile", name, p, ok)
		}
	}
	if r.Allowed() != nil {
		t.Errorf("Allowed() = %v, want nil", r.Allowed())
	}
}

func TestLoadProfiles(t *testing.T) {
	r, err := provider.Load([]string{
		"PROVIDER_STRIPE_SCHEME=stripe",
		"PROVIDER_STRIPE_SECRETS=whsec_a, whsec_b",
		"PROVIDER_STRIPE_TOLERANCE=2m",
		"PROVIDER_GITHUB_SCHEME=GitHub",
		"PROVIDER_GITHUB_SECRETS=s3cret",
		"PROVIDER_SVIX_SCHEME=standard",
		"PROVIDER_SVIX_SECRETS=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"PROVIDER_MY_SHOP_SCHEME=hmac-sha256",
		"PROVIDER_MY_SHOP_SECRETS=k1,k2",
		"PROVIDER_MY_SHOP_HEADER=x-shop-hmac",
		"PROVIDER_MY_SHOP_ENCODING=base64",
		"PROVIDER_MY_SHOP_PREFIX=sha256=",
		"PROVIDER_MY_SHOP_EVENT_ID=field:order.id,digest",
		"PROVIDER_PLAIN_SCHEME=none",
		"PROVIDER_PLAIN_EVENT_ID=id",
		"PROVIDER_KUBE_SERVICE_HOST=10.0.0.1",       // Kubernetes service env: ignored
		"PROVIDER_KUBE_PORT_8080_TCP_ADDR=10.0.0.1", // likewise
		"PROVIDERS_API_SERVICE_PORT_HTTP=8080",      // likewise
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, scheme string
		ids          string
	}{
		{"stripe", "stripe", "id"},
		{"github", "github", "digest"},
		{"svix", "standard", "header:Webhook-Id"},
		{"my_shop", "hmac-sha256", "order.id,digest"},
		{"plain", "none", "id"},
		{"other", "none", "eventId"},
	} {
		p, ok := r.Lookup(tc.name)
		if !ok {
			t.Fatalf("Lookup(%q) not ok", tc.name)
		}
		ids := make([]string, len(p.EventID))
		for i, s := range p.EventID {
			ids[i] = s.String()
			if s.Kind == provider.FromField {
				ids[i] = s.Name
			}
		}
		if p.Scheme != tc.scheme || strings.Join(ids, ",") != tc.ids {
			t.Errorf("Lookup(%q) = scheme %s ids %v; want %s %s", tc.name, p.Scheme, ids, tc.scheme, tc.ids)
		}
		if (p.Verifier == nil) != (tc.scheme == "none") {
			t.Errorf("Lookup(%q): verifier %v for scheme %s", tc.name, p.Verifier, tc.scheme)
		}
	}

	// The profiles verify with the configured secrets, header and encoding.
	body := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	p, _ := r.Lookup("github")
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	h := http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}}
	if err := p.Verifier.Verify(h, body, now); err != nil {
		t.Errorf("github profile: %v", err)
	}
	p, _ = r.Lookup("my_shop")
	if err := p.Verifier.Verify(http.Header{"X-Shop-Hmac": {"sha256=garbage"}}, body, now); !errors.Is(err, signature.ErrInvalid) {
		t.Errorf("my-shop profile with a bad signature: %v", err)
	}
	p, _ = r.Lookup("stripe")
	old := now.Add(-3 * time.Minute) // inside the default 5m, outside the configured 2m
	ts := old.Unix()
	m = hmac.New(sha256.New, []byte("whsec_b"))
	m.Write([]byte(itoa(ts) + "." + string(body)))
	h = http.Header{"Stripe-Signature": {"t=" + itoa(ts) + ",v1=" + hex.EncodeToString(m.Sum(nil))}}
	if err := p.Verifier.Verify(h, body, old); err != nil {
		t.Errorf("stripe profile, rotated secret: %v", err)
	}
	if err := p.Verifier.Verify(h, body, now); !errors.Is(err, signature.ErrExpired) {
		t.Errorf("stripe profile, configured tolerance: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAllowList(t *testing.T) {
	r, err := provider.Load([]string{"PROVIDERS_ALLOWED= stripe ,github,,", "PROVIDER_STRIPE_SCHEME=stripe", "PROVIDER_STRIPE_SECRETS=x",
		"PROVIDER_GITHUB_SCHEME=none"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"stripe": true, "github": true, "other": false, "STRIPE": false, "stripe ": false} {
		if _, ok := r.Lookup(name); ok != want {
			t.Errorf("Lookup(%q) ok = %v, want %v", name, ok, want)
		}
	}
	if got := strings.Join(r.Allowed(), ","); got != "github,stripe" {
		t.Errorf("Allowed() = %q", got)
	}
	// Set but empty: any provider.
	r, err = provider.Load([]string{"PROVIDERS_ALLOWED="})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("anything"); !ok {
		t.Error("empty PROVIDERS_ALLOWED must allow any provider")
	}
}

// Every misconfiguration fails at start, naming the variable and never
// printing a secret.
func TestLoadFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		wantVar string
	}{
		{"unknown scheme", []string{"PROVIDER_X_SCHEME=hmac-md5", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SCHEME"},
		{"unknown preset", []string{"PROVIDER_X_PRESET=stripe2", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_PRESET"},
		{"misspelt SECRET", []string{"PROVIDER_X_SCHEME=github", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_SECRET=topsecret"}, "PROVIDER_X_SECRET"},
		{"misspelt SCHEMA", []string{"PROVIDER_X_SCHEMA=github", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SCHEMA"},
		{"misspelt PROVIDERS_ALLOW", []string{"PROVIDERS_ALLOW=x", "PROVIDER_X_SCHEME=none"}, "PROVIDERS_ALLOW"},
		{"allowed without profile", []string{"PROVIDERS_ALLOWED=x,github", "PROVIDER_X_SCHEME=none"}, "PROVIDER_GITHUB_"},
		{"profile not allowed", []string{"PROVIDERS_ALLOWED=x", "PROVIDER_X_SCHEME=none", "PROVIDER_Y_SCHEME=none"}, "PROVIDER_Y_"},
		{"both spellings allowed", []string{"PROVIDERS_ALLOWED=my-shop,my_shop", "PROVIDER_MY_SHOP_SCHEME=none"}, "PROVIDER_MY_SHOP_"},
		{"unsigned id header", []string{"PROVIDER_X_SCHEME=github", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_EVENT_ID=header:X-GitHub-Delivery"}, "PROVIDER_X_EVENT_ID"},
		{"unsigned id header on hmac", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_EVENT_ID=header:X-Id"}, "PROVIDER_X_EVENT_ID"},
		{"digest not last", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_ID=digest,id"}, "PROVIDER_X_EVENT_ID"},
		{"square without URL", []string{"PROVIDER_X_PRESET=square", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_URL"},
		{"twilio without form", []string{"PROVIDER_X_PRESET=twilio", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_URL=https://h/x", "PROVIDER_X_CONTENT_TYPES=json"}, "PROVIDER_X_CONTENT_TYPES"},
		{"credential kept", []string{"PROVIDER_X_PRESET=gitlab", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_KEEP_HEADERS=X-Gitlab-Token"}, "PROVIDER_X_KEEP_HEADERS"},
		{"meta without verify token", []string{"PROVIDER_X_PRESET=meta", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_VERIFY_TOKEN"},
		{"zoom handshake without zoom", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HANDSHAKE=zoom"}, "PROVIDER_X_HANDSHAKE"},
		{"x handshake on github", []string{"PROVIDER_X_SCHEME=github", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HANDSHAKE=x"}, "PROVIDER_X_HANDSHAKE"},
		{"x handshake with form bodies", []string{"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_CONTENT_TYPES=json,form"}, "PROVIDER_X_HANDSHAKE"},
		{"msgraph handshake on hmac", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HANDSHAKE=msgraph"}, "PROVIDER_X_HANDSHAKE"},
		{"msgraph without clientState", []string{"PROVIDER_X_PRESET=msgraph"}, "PROVIDER_X_SECRETS"},
		{"header on msgraph", []string{"PROVIDER_X_PRESET=msgraph", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=X-Sig"}, "PROVIDER_X_HEADER"},
		{"unknown handshake", []string{"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HANDSHAKE=twitter"}, "PROVIDER_X_HANDSHAKE"},
		{"key source as event id", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_ID=key:id"}, "PROVIDER_X_EVENT_ID"},
		{"bare key wildcard", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_TYPE=key:*"}, "PROVIDER_X_EVENT_TYPE"},
		{"dotted key", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_TYPE=key:a.b"}, "PROVIDER_X_EVENT_TYPE"},
		{"discord key not hex", []string{"PROVIDER_X_PRESET=discord", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SECRETS"},
		{"sendgrid key not DER", []string{"PROVIDER_X_PRESET=sendgrid", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SECRETS"},
		{"bad content type", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_CONTENT_TYPES=yaml"}, "PROVIDER_X_CONTENT_TYPES"},
		{"signing scheme without secrets", []string{"PROVIDER_X_SCHEME=github"}, "PROVIDER_X_SECRETS"},
		{"only blank secrets", []string{"PROVIDER_X_SCHEME=stripe", "PROVIDER_X_SECRETS= , ,"}, "PROVIDER_X_SECRETS"},
		{"secrets without scheme", []string{"PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SCHEME"},
		{"secrets with scheme none", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SECRETS"},
		{"standard secret not base64", []string{"PROVIDER_X_SCHEME=standard", "PROVIDER_X_SECRETS=whsec_topsecret!"}, "PROVIDER_X_SECRETS"},
		{"bad tolerance", []string{"PROVIDER_X_SCHEME=stripe", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_TOLERANCE=forever"}, "PROVIDER_X_TOLERANCE"},
		{"zero tolerance", []string{"PROVIDER_X_SCHEME=stripe", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_TOLERANCE=0s"}, "PROVIDER_X_TOLERANCE"},
		{"tolerance on github", []string{"PROVIDER_X_SCHEME=github", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_TOLERANCE=1m"}, "PROVIDER_X_TOLERANCE"},
		{"header on stripe", []string{"PROVIDER_X_SCHEME=stripe", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=X-Sig"}, "PROVIDER_X_HEADER"},
		{"bad encoding", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_ENCODING=base32"}, "PROVIDER_X_ENCODING"},
		{"bad header", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=X Sig"}, "PROVIDER_X_HEADER"},
		{"bad event id", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_ID=body.id"}, "PROVIDER_X_EVENT_ID"},
		{"bad event type", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_TYPE=digest"}, "PROVIDER_X_EVENT_TYPE"},
		{"bad event id header", []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_ID=header:"}, "PROVIDER_X_EVENT_ID"},
		{"bad NAME", []string{"PROVIDER_x-y_SCHEME=none"}, "PROVIDER_x-y_SCHEME"},
		{"bad allow-list", []string{"PROVIDERS_ALLOWED=Stripe"}, "PROVIDERS_ALLOWED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provider.Load(tc.env)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantVar) {
				t.Errorf("error %q does not name %s", err, tc.wantVar)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

// More secrets than a verifier takes: the error names PROVIDER_<NAME>_SECRETS
// and the limit, whatever the scheme (and never a header).
func TestTooManySecrets(t *testing.T) {
	secrets := func(n int, f func(i int) string) string {
		var s []string
		for i := range n {
			s = append(s, f(i))
		}
		return strings.Join(s, ",")
	}
	plain := func(i int) string { return "topsecret" + strconv.Itoa(i) }
	ed := func(i int) string { // a hex Ed25519 public key
		pub, _, _ := ed25519.GenerateKey(nil)
		return hex.EncodeToString(pub)
	}
	max := signature.MaxSecrets
	for _, tc := range []struct {
		name string
		env  []string
		key  func(int) string
	}{
		{"hmac-sha256", []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_HEADER=X-Sig"}, plain},
		{"hmac-sha512", []string{"PROVIDER_X_SCHEME=hmac-sha512"}, plain},
		{"stripe", []string{"PROVIDER_X_SCHEME=stripe"}, plain},
		{"github", []string{"PROVIDER_X_SCHEME=github"}, plain},
		{"token", []string{"PROVIDER_X_SCHEME=token", "PROVIDER_X_HEADER=X-Token"}, plain},
		{"slack", []string{"PROVIDER_X_PRESET=slack"}, plain},
		{"discord", []string{"PROVIDER_X_PRESET=discord"}, ed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := provider.Load(append(tc.env, "PROVIDER_X_SECRETS="+secrets(max, tc.key))); err != nil {
				t.Fatalf("%d secrets refused: %v", max, err)
			}
			_, err := provider.Load(append(tc.env, "PROVIDER_X_SECRETS="+secrets(max+1, tc.key)))
			if err == nil {
				t.Fatalf("%d secrets accepted", max+1)
			}
			msg := err.Error()
			for _, want := range []string{"PROVIDER_X_SECRETS", strconv.Itoa(max+1) + " secrets", "at most " + strconv.Itoa(max)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "header") || strings.Contains(msg, "topsecret") {
				t.Errorf("error %q speaks of a header or leaks a secret", msg)
			}
		})
	}
}

// Every configured header name follows one rule, signature.ValidHeaderName
// (an RFC 9110 token), and a refusal names the variable it came from.
func TestHeaderNameRule(t *testing.T) {
	names := map[string]bool{
		"X-Sig": true, "x_sig": true, "X.Sig+2": true, "X-!#$%&'*+-.^_`|~": true, strings.Repeat("h", 128): true,
		"X Sig": false, "X:Sig": false, "X(Sig)": false, "X/Sig": false, "X\"Sig": false, "Ünïcode": false, strings.Repeat("h", 129): false,
	}
	places := []struct {
		variable string
		env      func(name string) []string
	}{
		{"PROVIDER_X_HEADER", func(n string) []string {
			return []string{"PROVIDER_X_SCHEME=hmac-sha256", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=" + n}
		}},
		{"PROVIDER_X_HEADER", func(n string) []string {
			return []string{"PROVIDER_X_SCHEME=hmac-sha1", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=" + n}
		}},
		{"PROVIDER_X_HEADER", func(n string) []string {
			return []string{"PROVIDER_X_SCHEME=token", "PROVIDER_X_SECRETS=topsecret", "PROVIDER_X_HEADER=" + n}
		}},
		{"PROVIDER_X_KEEP_HEADERS", func(n string) []string {
			return []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_KEEP_HEADERS=User-Agent," + n}
		}},
		{"PROVIDER_X_EVENT_TYPE", func(n string) []string {
			return []string{"PROVIDER_X_SCHEME=none", "PROVIDER_X_EVENT_TYPE=header:" + n}
		}},
	}
	for name, valid := range names {
		if signature.ValidHeaderName(name) != valid {
			t.Fatalf("signature.ValidHeaderName(%q) = %v", name, !valid)
		}
		for _, p := range places {
			env := p.env(name)
			_, err := provider.Load(env)
			switch {
			case valid && err != nil:
				t.Errorf("%v: %v", env, err)
			case !valid && err == nil:
				t.Errorf("%v: accepted", env)
			case !valid && !strings.Contains(err.Error(), p.variable):
				t.Errorf("%v: error %q does not name %s", env, err, p.variable)
			}
		}
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	r, err := provider.Load([]string{"PROVIDERS_ALLOWED=stripe", "PROVIDER_STRIPE_SCHEME=stripe", "PROVIDER_STRIPE_SECRETS=whsec_topsecret,whsec_other"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "providers", r)
	out := b.String()
	if strings.Contains(out, "topsecret") || !strings.Contains(out, "secrets=2") || !strings.Contains(out, "scheme=stripe") {
		t.Errorf("log line %q", out)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"stripe": true, "a": true, "0-x_y": true, strings.Repeat("a", 64): true,
		"": false, "-a": false, "_a": false, "Stripe": false, "a/b": false, "a.b": false, "..": false,
		strings.Repeat("a", 65): false, "é": false, "a b": false, "a%2fb": false,
	} {
		if got := provider.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLookupAllocs(t *testing.T) {
	r, _ := provider.Load([]string{"PROVIDERS_ALLOWED=my-shop,other", "PROVIDER_MY_SHOP_SCHEME=github", "PROVIDER_MY_SHOP_SECRETS=x",
		"PROVIDER_OTHER_SCHEME=none"})
	if n := testing.AllocsPerRun(100, func() { r.Lookup("my-shop"); r.Lookup("other") }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// Issue: "my-shop" and "my_shop" share the variables PROVIDER_MY_SHOP_*; a
// profile answers to one spelling only, so the other is neither a second
// dedup key nor, in open mode, an unsigned way around the signature.
func TestOneSpellingPerProfile(t *testing.T) {
	env := []string{"PROVIDER_MY_SHOP_SCHEME=github", "PROVIDER_MY_SHOP_SECRETS=x"}
	open, err := provider.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := open.Lookup("my_shop"); !ok || p.Scheme != "github" {
		t.Errorf("open mode: my_shop = %+v, %v; want the github profile", p, ok)
	}
	if p, ok := open.Lookup("my-shop"); ok {
		t.Errorf("open mode: my-shop = %+v accepted; want refused (it is the same NAME)", p)
	}
	listed, err := provider.Load(append([]string{"PROVIDERS_ALLOWED=my-shop"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := listed.Lookup("my-shop"); !ok || p.Scheme != "github" {
		t.Errorf("allow-list my-shop = %+v, %v", p, ok)
	}
	if _, ok := listed.Lookup("my_shop"); ok {
		t.Error("allow-list: my_shop accepted; only the listed spelling may be")
	}
}

func TestOpenModeWarns(t *testing.T) {
	open, err := provider.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !open.Open() || !strings.Contains(open.Warning(), "UNSIGNED") {
		t.Errorf("open mode: Open %v, Warning %q", open.Open(), open.Warning())
	}
	closed, err := provider.Load([]string{"PROVIDERS_ALLOWED=demo", "PROVIDER_DEMO_SCHEME=none"})
	if err != nil {
		t.Fatal(err)
	}
	if closed.Open() || closed.Warning() != "" {
		t.Errorf("allow-list: Open %v, Warning %q", closed.Open(), closed.Warning())
	}
	if p, ok := closed.Lookup("demo"); !ok || p.Verifier != nil {
		t.Errorf("explicit none: %+v %v", p, ok)
	}
}

// Metric labels: a configured provider's name, else "other", whatever the
// path says.
func TestLabelIsBounded(t *testing.T) {
	open, _ := provider.Load([]string{"PROVIDER_STRIPE_SCHEME=stripe", "PROVIDER_STRIPE_SECRETS=x"})
	listed, _ := provider.Load([]string{"PROVIDERS_ALLOWED=stripe,demo", "PROVIDER_STRIPE_SCHEME=stripe", "PROVIDER_STRIPE_SECRETS=x", "PROVIDER_DEMO_SCHEME=none"})
	for _, tc := range []struct {
		r          *provider.Registry
		name, want string
	}{
		{open, "stripe", "stripe"}, {open, "random-1234", "other"}, {open, "STRIPE", "other"},
		{listed, "stripe", "stripe"}, {listed, "demo", "demo"}, {listed, "random", "other"},
	} {
		if got := tc.r.Label(tc.name); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for i := range 2000 {
		seen[open.Label("p"+strconv.Itoa(i))] = true
	}
	if len(seen) != 1 {
		t.Errorf("2000 random names gave %d labels", len(seen))
	}
}

func TestPresetsLoad(t *testing.T) {
	secrets := map[string]string{
		"standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "svix": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"clerk": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "resend": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"discord":  "e3a1c2d4e3a1c2d4e3a1c2d4e3a1c2d4e3a1c2d4e3a1c2d4e3a1c2d4e3a1c2d4",
		"sendgrid": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
		"postmark": "user:pass",
	}
	for _, name := range provider.PresetNames() {
		t.Run(name, func(t *testing.T) {
			sec := secrets[name]
			if sec == "" {
				sec = "test-secret"
			}
			env := []string{"PROVIDER_P_PRESET=" + name, "PROVIDER_P_SECRETS=" + sec,
				"PROVIDER_P_URL=https://hooks.example.com/webhooks/p", "PROVIDER_P_VERIFY_TOKEN=verify-token-1"}
			var kept []string
			for _, kv := range env {
				k, _, _ := strings.Cut(kv, "=")
				switch {
				case strings.HasSuffix(k, "_URL") && !slices.Contains([]string{"square", "twilio", "hubspot"}, name):
					continue
				case strings.HasSuffix(k, "_VERIFY_TOKEN") && name != "meta":
					continue
				}
				kept = append(kept, kv)
			}
			r, err := provider.Load(kept)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := r.Lookup("p")
			if !ok || p.Preset != name || p.Verifier == nil || len(p.EventID) == 0 {
				t.Fatalf("preset %s: %+v", name, p)
			}
		})
	}
}

// The x preset (also spelt twitter) answers X's CRC with the first secret;
// twilio takes JSON bodies besides form ones; msgraph reads no header.
func TestNewPresetProfiles(t *testing.T) {
	r, err := provider.Load([]string{
		"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=new-secret,old-secret",
		"PROVIDER_TW_PRESET=twitter", "PROVIDER_TW_SECRETS=s",
		"PROVIDER_TWILIO_PRESET=twilio", "PROVIDER_TWILIO_SECRETS=s", "PROVIDER_TWILIO_URL=https://h/twilio",
		"PROVIDER_GRAPH_PRESET=msgraph", "PROVIDER_GRAPH_SECRETS=state-a,state-b",
	})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := r.Lookup("x")
	tw, _ := r.Lookup("tw")
	if x.Handshake != provider.HandshakeX || string(x.HandshakeKey) != "new-secret" || tw.Handshake != provider.HandshakeX {
		t.Errorf("x: handshake %q key %q; twitter: %q", x.Handshake, x.HandshakeKey, tw.Handshake)
	}
	if got := x.EventType; len(got) != 2 || got[0].Kind != provider.FromKey || got[0].String() != "key:*_events" {
		t.Errorf("x event type %v", got)
	}
	twilio, _ := r.Lookup("twilio")
	if !twilio.AcceptsMediaType(provider.MediaForm) || !twilio.AcceptsMediaType(provider.MediaJSON) {
		t.Errorf("twilio media types %v", twilio.MediaTypes)
	}
	graph, _ := r.Lookup("graph")
	if graph.Handshake != provider.HandshakeMSGraph || len(graph.SignatureHeaders()) != 0 || graph.EventID[0].Kind != provider.FromDigest {
		t.Errorf("msgraph: %+v", graph)
	}
}
