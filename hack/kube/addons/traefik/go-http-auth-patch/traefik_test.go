package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckSecret(t *testing.T) {
	// Users and passwords of v0.4.0's own test.htpasswd and basic_test.go.
	for secret, password := range map[string]string{
		"{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=":                            "hello",
		"$apr1$a0j62R97$mYqFkloXH0/UOaUnAiV2b0":                        "hello2",
		"$2y$05$ih3C91zUBSTFcAh2mQnZYuob0UOZVEf16wl/ukgjDhjvj.xgM1WwS": "hello3",
	} {
		if !CheckSecret(password, secret) {
			t.Errorf("CheckSecret(%s, %s) = false, want true", password, secret)
		}
		if CheckSecret(password+"x", secret) {
			t.Errorf("CheckSecret(%sx, %s) = true, want false", password, secret)
		}
	}
}

func TestRequireAuthStale(t *testing.T) {
	da := NewDigestAuthenticator("example.com", func(string, string) string { return "" })
	for _, stale := range []bool{false, true} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if stale {
			da.RequireAuthStale(rec, req)
		} else {
			da.RequireAuth(rec, req)
		}
		got := rec.Header().Get("WWW-Authenticate")
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(got, `Digest realm="example.com"`) {
			t.Fatalf("stale=%v: %d %q, want 401 with a digest challenge", stale, rec.Code, got)
		}
		if strings.Contains(got, `stale="true"`) != stale {
			t.Errorf("stale=%v: challenge %q", stale, got)
		}
	}
}
