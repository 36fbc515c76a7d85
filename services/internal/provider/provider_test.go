package provider_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
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
		if !ok || p != provider.Default || p.Verifier != nil || p.Native() {
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
		"PROVIDER_MY_SHOP_EVENT_ID=header:X-Shop-Event",
		"PROVIDER_PLAIN_SCHEME=none",
		"PROVIDER_PLAIN_EVENT_ID=id",
		"PROVIDER_KUBE_SERVICE_HOST=10.0.0.1", // Kubernetes service env: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, scheme string
		id           provider.IDSource
		header       string
	}{
		{"stripe", "stripe", provider.IDBody, ""},
		{"github", "github", provider.IDHeader, "X-Github-Delivery"},
		{"svix", "standard", provider.IDHeader, "Webhook-Id"},
		{"my-shop", "hmac-sha256", provider.IDHeader, "X-Shop-Event"},
		{"my_shop", "hmac-sha256", provider.IDHeader, "X-Shop-Event"}, // same NAME
		{"plain", "none", provider.IDBody, ""},
		{"other", "none", provider.IDEnvelope, ""},
	} {
		p, ok := r.Lookup(tc.name)
		if !ok {
			t.Fatalf("Lookup(%q) not ok", tc.name)
		}
		if p.Scheme != tc.scheme || p.EventID != tc.id || p.EventIDHeader != tc.header {
			t.Errorf("Lookup(%q) = scheme %s id %v header %q; want %s %v %q", tc.name, p.Scheme, p.EventID, p.EventIDHeader, tc.scheme, tc.id, tc.header)
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
	p, _ = r.Lookup("my-shop")
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
	r, err := provider.Load([]string{"PROVIDERS_ALLOWED= stripe ,github,,", "PROVIDER_STRIPE_SCHEME=stripe", "PROVIDER_STRIPE_SECRETS=x"})
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
		{"unknown scheme", []string{"PROVIDER_X_SCHEME=hmac-sha1", "PROVIDER_X_SECRETS=topsecret"}, "PROVIDER_X_SCHEME"},
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
	r, _ := provider.Load([]string{"PROVIDERS_ALLOWED=my-shop,other", "PROVIDER_MY_SHOP_SCHEME=github", "PROVIDER_MY_SHOP_SECRETS=x"})
	if n := testing.AllocsPerRun(100, func() { r.Lookup("my-shop"); r.Lookup("other") }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}
