package ingest

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
)

// Precheck refuses from the headers alone, and only what Accept would
// refuse anyway: for every profile, a Precheck refusal carries the same
// error the verifier returns for those headers.
func TestPrecheckAgreesWithVerify(t *testing.T) {
	providers, err := provider.Load([]string{
		"PROVIDERS_ALLOWED=st,gh,sv,hm,open",
		"PROVIDER_ST_SCHEME=stripe", "PROVIDER_ST_SECRETS=whsec_x",
		"PROVIDER_GH_SCHEME=github", "PROVIDER_GH_SECRETS=x",
		"PROVIDER_SV_SCHEME=standard", "PROVIDER_SV_SECRETS=whsec_c3RhbmRhcmQtd2ViaG9va3MtdGVzdC1rZXktMzJieXQ=",
		"PROVIDER_HM_SCHEME=hmac-sha256", "PROVIDER_HM_SECRETS=x", "PROVIDER_HM_HEADER=X-Sig",
		"PROVIDER_OPEN_SCHEME=none",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), WithProviders(providers))
	headers := []http.Header{
		{},
		{"Stripe-Signature": {""}},
		{"Stripe-Signature": {"t=1,v1=00"}},
		{"Stripe-Signature": {"a", "b"}},
		{"X-Hub-Signature-256": {"sha256=00"}},
		{"X-Hub-Signature-256": {"a", "b"}},
		{"Webhook-Id": {"i"}, "Webhook-Timestamp": {"1"}},
		{"Webhook-Id": {"i"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,x"}},
		{"Webhook-Id": {"i", "j"}, "Webhook-Signature": {"v1,x"}},
		{"Svix-Id": {"i"}, "Svix-Timestamp": {"1"}, "Svix-Signature": {"v1,x"}},
		{"Svix-Id": {"i"}, "Svix-Timestamp": {"1"}},
		{"Svix-Id": {"i"}, "Svix-Timestamp": {"1"}, "Svix-Signature": {"v1,x"}, "Webhook-Id": {"i"}},
		{"X-Sig": {"00"}},
		{"X-Sig": {"00", "11"}},
	}
	refused := 0
	for _, name := range []string{"st", "gh", "sv", "hm", "open"} {
		prof, _ := providers.Lookup(name)
		for _, h := range headers {
			err := s.Precheck(name, h)
			if err == nil {
				continue
			}
			refused++
			var sigErr *SignatureError
			if !errors.As(err, &sigErr) {
				t.Fatalf("%s %v: Precheck = %v, want a SignatureError", name, h, err)
			}
			if prof.Verifier == nil {
				t.Fatalf("%s (unsigned) refused by Precheck: %v", name, err)
			}
			if verr := prof.Verifier.Verify(h, []byte(`{}`), time.Now()); !errors.Is(verr, sigErr.Err) {
				t.Errorf("%s %v: Precheck says %v, Verify says %v", name, h, sigErr.Err, verr)
			}
		}
	}
	if refused < 10 {
		t.Errorf("Precheck refused only %d header sets; the table should exercise every scheme", refused)
	}
	if err := s.Precheck("nope", http.Header{}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("unknown provider: %v, want ErrNotAllowed", err)
	}
	var invalid *InvalidError
	if err := s.Precheck("Bad", http.Header{}); !errors.As(err, &invalid) {
		t.Errorf("invalid name: %v, want InvalidError", err)
	}
	if err := s.Precheck("open", http.Header{}); err != nil {
		t.Errorf("unsigned provider: %v", err)
	}
}
