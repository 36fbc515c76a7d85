package ingest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
)

// invalidJSON are bodies that are not one JSON text (RFC 8259), with the
// byte offset the refusal must name.
var invalidJSON = []struct {
	name, body string
	offset     int
}{
	{"empty body", ``, 0},
	{"bare word", `challenge_string`, 0},
	{"trailing garbage", `{"a":1} trailing`, 8},
	{"two objects", `{"a":1}{"a":2}`, 7},
	{"unterminated array", `{"a":[1,2`, 9},
	{"unterminated object", `{"a":{"b":1}`, 12},
	{"missing comma", `{"a":1 "b":2}`, 7},
	{"missing colon", `{"a" 1}`, 5},
	{"leading zero", `{"n":007}`, 5},
	{"NaN", `{"n":NaN}`, 5},
	{"single quotes", `{'a':1}`, 1},
	{"trailing comma", `{"a":[1,]}`, 8},
	{"raw newline in a string", "{\"a\":\"x\ny\"}", 7},
	{"invalid escape", `{"a":"\q"}`, 6},
}

func hmacOf(secret, body string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return m.Sum(nil)
}

// TestInvalidJSONIsRefused: a correctly signed body that is not JSON text
// is refused with the offset of the problem, never queued, also by presets
// whose event id is the body's digest and that read no body field (the
// body would otherwise only fail at PostgreSQL's jsonb, as a dead letter).
// The signatures are GitHub's and Shopify's documented HMAC-SHA256 over
// the body, computed here with crypto/hmac.
func TestInvalidJSONIsRefused(t *testing.T) {
	profiles := []struct {
		name string
		env  []string
		sign func(body string) http.Header
	}{
		{"github", []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=github", "PROVIDER_P_SECRETS=gh-secret"}, func(body string) http.Header {
			return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(hmacOf("gh-secret", body))}, "X-Github-Event": {"push"}}
		}},
		{"shopify", []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=shopify", "PROVIDER_P_SECRETS=shop-secret"}, func(body string) http.Header {
			return http.Header{"X-Shopify-Hmac-Sha256": {base64.StdEncoding.EncodeToString(hmacOf("shop-secret", body))}}
		}},
		{"gitlab", []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=gitlab", "PROVIDER_P_SECRETS=gl-token"}, func(string) http.Header {
			return http.Header{"X-Gitlab-Token": {"gl-token"}}
		}},
		{"envelope (no configuration)", nil, func(string) http.Header { return http.Header{} }},
	}
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			svc, q := service(t, p.env, nil)
			accept := func(body string) error {
				h := p.sign(body)
				h.Set("Content-Type", "application/json")
				_, err := svc.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(body)})
				return err
			}
			// The signing is right: a valid body is accepted.
			if err := accept(`{"eventId":"e-1","data":{}}`); err != nil || len(q.events) != 1 {
				t.Fatalf("valid body: %v, %d queued", err, len(q.events))
			}
			for _, c := range invalidJSON {
				err := accept(c.body)
				var inv *ingest.InvalidError
				if !errors.As(err, &inv) {
					t.Errorf("%s %q: %v, want an InvalidError", c.name, c.body, err)
					continue
				}
				if want := fmt.Sprintf("at byte %d", c.offset); !strings.HasPrefix(inv.Detail, "the body is not valid JSON: ") || !strings.Contains(inv.Detail, want) {
					t.Errorf("%s %q: detail %q, want not valid JSON %s", c.name, c.body, inv.Detail, want)
				}
			}
			if len(q.events) != 1 {
				t.Errorf("%d events queued, want only the valid one", len(q.events))
			}
		})
	}
}

// TestTopLevelScalars: any JSON value is a JSON text (RFC 8259) and jsonb
// stores it, so a preset that reads nothing from the body takes a scalar
// body; the envelope and X, which need an object, refuse it as before.
func TestTopLevelScalars(t *testing.T) {
	gh, q := service(t, []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=github", "PROVIDER_P_SECRETS=gh-secret"}, nil)
	for _, body := range []string{`"a string"`, `42`, `true`, `null`, ` [1,2] `} {
		h := http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(hmacOf("gh-secret", body))}}
		if _, err := gh.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(body)}); err != nil {
			t.Errorf("github %q: %v", body, err)
		}
	}
	if len(q.events) != 5 {
		t.Errorf("%d queued, want 5", len(q.events))
	}

	env, q := service(t, nil, nil)
	h := http.Header{"Content-Type": {"application/json"}}
	_, err := env.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(`"evt-1"`)})
	var inv *ingest.InvalidError
	if !errors.As(err, &inv) || inv.Detail != "the body must be a JSON object" || len(q.events) != 0 {
		t.Errorf("envelope, scalar body: %v, %d queued; want the body must be a JSON object", err, len(q.events))
	}

	x, q := service(t, []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=x", "PROVIDER_P_SECRETS=x-secret"}, nil)
	h = http.Header{"Content-Type": {"application/json"}, "X-Twitter-Webhooks-Signature": {"sha256=" + base64.StdEncoding.EncodeToString(hmacOf("x-secret", `"a"`))}}
	if _, err := x.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(`"a"`)}); !errors.As(err, &inv) || len(q.events) != 0 {
		t.Errorf("x, scalar body: %v, %d queued; want an InvalidError", err, len(q.events))
	}
}

// TestDuplicateKeyNamesOffset: the refusal of a repeated key names the key
// and where its second spelling starts.
func TestDuplicateKeyNamesOffset(t *testing.T) {
	svc, _ := service(t, nil, nil)
	h := http.Header{"Content-Type": {"application/json"}}
	_, err := svc.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(`{"eventId":"a","EventID":"b"}`)})
	var inv *ingest.InvalidError
	if !errors.As(err, &inv) || inv.Detail != "the body repeats a top-level key (at byte 15)" || inv.Fields["EventID"] != "duplicate key" {
		t.Errorf("%v %+v", err, inv)
	}
}
