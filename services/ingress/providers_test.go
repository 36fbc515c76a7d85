package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// Signed by default (issue: "unsigned by accident"): tests through the
// running binary.

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With no allow-list the binary starts (local use) but says so in
// /ready?full=1 without failing readiness; with one it says nothing.
func TestOpenModeSaysSoInReady(t *testing.T) {
	_, opsAddr, _ := runningIngress(t, nil)
	code, body := get(t, "http://"+opsAddr+"/ready?full=1")
	if code != 200 || !strings.Contains(body, "UNSIGNED") || !strings.Contains(body, `"providers"`) {
		t.Errorf("open mode /ready?full=1 = %d %s; want 200 with the unsigned warning", code, body)
	}
	_, opsAddr, _ = runningIngress(t, envMap{"PROVIDERS_ALLOWED": "demo", "PROVIDER_DEMO_SCHEME": "none"})
	if code, body := get(t, "http://"+opsAddr+"/ready?full=1"); code != 200 || strings.Contains(body, "UNSIGNED") {
		t.Errorf("allow-list /ready?full=1 = %d %s; want 200 without the warning", code, body)
	}
}

// An allowed provider without a profile, or a misspelt key, stops the start
// with a message naming it (never a secret).
func TestProviderMistakesFailStart(t *testing.T) {
	rdb := testenv.Redis(t)
	for _, tc := range []struct {
		env  envMap
		want string
	}{
		{envMap{"PROVIDERS_ALLOWED": "stripe,github", "PROVIDER_STRIPE_SCHEME": "stripe", "PROVIDER_STRIPE_SECRETS": "whsec_topsecret"}, "github"},
		{envMap{"PROVIDER_X_SCHEME": "github", "PROVIDER_X_SECRET": "topsecret"}, "PROVIDER_X_SECRET"},
		{envMap{"PROVIDER_X_SCHEMA": "github", "PROVIDER_X_SECRETS": "topsecret"}, "PROVIDER_X_SCHEMA"},
	} {
		env := envMap{"HTTP_ADDR": "127.0.0.1:0", "OPS_ADDR": "127.0.0.1:0", "REDIS_ADDR": rdb.Addr}
		for k, v := range tc.env {
			env[k] = v
		}
		err := run(context.Background(), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("run(%v) = %v; want an error naming %s without the secret", tc.env, err, tc.want)
		}
	}
}

// Random provider names in paths all count under "other".
func TestAcceptedLabelsBounded(t *testing.T) {
	public, opsAddr, _ := runningIngress(t, envMap{"PROVIDER_STRIPE_SCHEME": "none", "PROVIDER_STRIPE_EVENT_ID": "id"})
	for i := range 30 {
		name := "rnd" + strconv.Itoa(i)
		resp, err := http.Post("http://"+public+"/webhooks/"+name, "application/json",
			strings.NewReader(`{"eventId":"e-`+name+`","data":{}}`))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST %s: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post("http://"+public+"/webhooks/stripe", "application/json", strings.NewReader(`{"id":"evt_label"}`))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("POST stripe: %v %v", resp, err)
	}
	resp.Body.Close()
	_, metrics := get(t, "http://"+opsAddr+"/metrics")
	if !strings.Contains(metrics, `webhook_accepted_total{provider="other"} 30`) || !strings.Contains(metrics, `webhook_accepted_total{provider="stripe"} 1`) ||
		strings.Contains(metrics, `provider="rnd`) {
		t.Errorf("accepted series:\n%s", grepLines(metrics, "webhook_accepted_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
