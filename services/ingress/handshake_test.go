package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
)

// Handshakes through the HTTP layer, with each provider's documented
// request: answered synchronously after the signature check, never queued,
// and only for providers configured with that preset.

const (
	slackSecret = "slack-signing-secret"
	zoomSecret  = "zoom-secret-token"
	metaToken   = "meatyhamhock"
	xSecret     = "x-consumer-secret"
	graphState  = "secretClientValue"
)

func handshakeServer(t *testing.T, discordPub ed25519.PublicKey) edgeServer {
	return newEdgeServer(t, []string{
		"PROVIDERS_ALLOWED=slack,zoom,discord,meta,plain,form,xml,x,graph",
		"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=" + xSecret,
		"PROVIDER_GRAPH_PRESET=msgraph", "PROVIDER_GRAPH_SECRETS=" + graphState,
		"PROVIDER_SLACK_PRESET=slack", "PROVIDER_SLACK_SECRETS=" + slackSecret,
		"PROVIDER_ZOOM_PRESET=zoom", "PROVIDER_ZOOM_SECRETS=" + zoomSecret,
		"PROVIDER_DISCORD_PRESET=discord", "PROVIDER_DISCORD_SECRETS=" + hex.EncodeToString(discordPub),
		"PROVIDER_META_PRESET=meta", "PROVIDER_META_SECRETS=meta-app-secret", "PROVIDER_META_VERIFY_TOKEN=" + metaToken,
		"PROVIDER_PLAIN_SCHEME=none",
		"PROVIDER_FORM_SCHEME=none", "PROVIDER_FORM_CONTENT_TYPES=form", "PROVIDER_FORM_EVENT_ID=field:MessageSid", "PROVIDER_FORM_EVENT_TYPE=field:SmsStatus",
		"PROVIDER_XML_SCHEME=none", "PROVIDER_XML_CONTENT_TYPES=xml", "PROVIDER_XML_EVENT_ID=digest",
	}, nil)
}

func v0Headers(prefix, secret, body string) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := "v0=" + hexMAC(secret, "v0:"+ts+":"+body)
	if prefix == "slack" {
		return http.Header{"X-Slack-Signature": {sig}, "X-Slack-Request-Timestamp": {ts}}
	}
	return http.Header{"X-Zm-Signature": {sig}, "X-Zm-Request-Timestamp": {ts}}
}

func TestHandshakes(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	srv := handshakeServer(t, pub)

	// Slack's documented url_verification event.
	slackBody := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	// Zoom's documented endpoint.url_validation request.
	zoomBody := `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`
	zm := hmac.New(sha256.New, []byte(zoomSecret))
	zm.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
	zoomAnswer := `{"encryptedToken":"` + hex.EncodeToString(zm.Sum(nil)) + `","plainToken":"qgg8vlvZRS6UYooatFL8Aw"}`
	// Discord's PING.
	ping := `{"id":"1","type":1,"application_id":"2","token":"t","version":1}`
	dts := strconv.FormatInt(time.Now().Unix(), 10)
	dsig := hex.EncodeToString(ed25519.Sign(priv, []byte(dts+ping)))

	for _, c := range []struct {
		name, provider, body string
		h                    http.Header
		status               int
		answer               string
	}{
		{"slack url_verification", "slack", slackBody, v0Headers("slack", slackSecret, slackBody), 200, `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`},
		{"slack unsigned", "slack", slackBody, nil, 401, ""},
		{"slack wrong secret", "slack", slackBody, v0Headers("slack", "nope", slackBody), 401, ""},
		{"slack challenge with markup", "slack", strings.Replace(slackBody, "3eZbrw", "<b>", 1), v0Headers("slack", slackSecret, strings.Replace(slackBody, "3eZbrw", "<b>", 1)), 400, ""},
		{"zoom url_validation", "zoom", zoomBody, v0Headers("zoom", zoomSecret, zoomBody), 200, zoomAnswer},
		// No oracle: without Zoom's signature nothing is computed.
		{"zoom unsigned", "zoom", zoomBody, nil, 401, ""},
		{"zoom signed by someone else", "zoom", zoomBody, v0Headers("zoom", "attacker", zoomBody), 401, ""},
		{"zoom token not the documented shape", "zoom", strings.Replace(zoomBody, "qgg8vlvZRS6UYooatFL8Aw", "any text/to sign", 1),
			v0Headers("zoom", zoomSecret, strings.Replace(zoomBody, "qgg8vlvZRS6UYooatFL8Aw", "any text/to sign", 1)), 400, ""},
		{"discord ping", "discord", ping, http.Header{"X-Signature-Ed25519": {dsig}, "X-Signature-Timestamp": {dts}}, 200, `{"type":1}`},
		{"discord ping forged", "discord", ping, http.Header{"X-Signature-Ed25519": {strings.Repeat("0", 128)}, "X-Signature-Timestamp": {dts}}, 401, ""},
		// A url_verification body sent to a provider without the preset is
		// an ordinary (here: invalid) webhook, never answered.
		{"slack body elsewhere", "plain", slackBody, nil, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := srv.pending()
			w := srv.do(t, http.MethodPost, "/webhooks/"+c.provider, c.h, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.answer != "" && strings.TrimSpace(w.Body.String()) != c.answer {
				t.Errorf("answer %s, want %s", w.Body, c.answer)
			}
			if srv.pending() != before {
				t.Errorf("a handshake was queued")
			}
		})
	}
}

// Meta's GET hub.challenge, as its documentation shows it.
func TestMetaVerification(t *testing.T) {
	srv := handshakeServer(t, make(ed25519.PublicKey, ed25519.PublicKeySize))
	for _, c := range []struct {
		name, path string
		status     int
		body       string
	}{
		{"documented request", "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + metaToken, 200, "1158201444"},
		{"wrong token", "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess", 401, ""},
		{"no token", "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444", 401, ""},
		{"challenge with markup", "/webhooks/meta?hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token=" + metaToken, 400, ""},
		{"provider without the preset", "/webhooks/slack?hub.mode=subscribe&hub.challenge=1&hub.verify_token=" + metaToken, 405, ""},
		{"unknown provider", "/webhooks/nobody?hub.mode=subscribe&hub.challenge=1&hub.verify_token=" + metaToken, 405, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := srv.do(t, http.MethodGet, c.path, nil, "")
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.body != "" && (w.Body.String() != c.body || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain")) {
				t.Errorf("answer %q (%s), want %q as text/plain", w.Body, w.Header().Get("Content-Type"), c.body)
			}
		})
	}
}

// JSON-only stays the default; form and XML bodies only where configured.
func TestContentTypesPerProvider(t *testing.T) {
	srv := handshakeServer(t, make(ed25519.PublicKey, ed25519.PublicKeySize))
	form := "MessageSid=SM1234&SmsStatus=received&Body=hello"
	xml := `<?xml version="1.0"?><event id="x"/>`
	for _, c := range []struct {
		name, provider, ct, body string
		status                   int
		id                       string
	}{
		{"form to a JSON provider", "plain", "application/x-www-form-urlencoded", "eventId=x", 415, ""},
		{"xml to a JSON provider", "plain", "application/xml", xml, 415, ""},
		{"form where configured", "form", "application/x-www-form-urlencoded", form, 202, "SM1234"},
		{"json where only form is", "form", "application/json", `{"MessageSid":"SM9"}`, 415, ""},
		{"form without the id field", "form", "application/x-www-form-urlencoded", "Body=x", 400, ""},
		{"xml where configured", "xml", "text/xml; charset=utf-8", xml, 202, bodyDigest(xml)},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := srv.do(t, http.MethodPost, "/webhooks/"+c.provider, http.Header{"Content-Type": {c.ct}}, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.id != "" && !strings.Contains(w.Body.String(), jobIDOf(c.provider, c.id)) {
				t.Errorf("jobId not from id %q: %s", c.id, w.Body)
			}
		})
	}
}

func jobIDOf(provider, id string) string { return job.ID(provider, id) }

func xSignature(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// X's CRC as its documentation shows it (GET ?crc_token=…, answered with
// {"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, token)>"}),
// and its deliveries (x-twitter-webhooks-signature over the body).
func TestXCRC(t *testing.T) {
	srv := handshakeServer(t, make(ed25519.PublicKey, ed25519.PublicKeySize))
	const token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
	for _, c := range []struct {
		name, path string
		status     int
		body       string
	}{
		{"documented request", "/webhooks/x?crc_token=" + token + "&nonce=MTUxMzk2OTk5", 200, `{"response_token":"` + xSignature(xSecret, token) + `"}`},
		{"base64 token", "/webhooks/x?crc_token=" + url.QueryEscape("dGVzdA+/=="), 200, `{"response_token":"` + xSignature(xSecret, "dGVzdA+/==") + `"}`},
		{"no token", "/webhooks/x", 400, ""},
		{"token with markup", "/webhooks/x?crc_token=%3Cscript%3E", 400, ""},
		{"token shaped as a JSON object", "/webhooks/x?crc_token=" + url.QueryEscape(`{"a":1}`), 400, ""},
		{"provider without the preset", "/webhooks/slack?crc_token=" + token, 405, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := srv.pending()
			w := srv.do(t, http.MethodGet, c.path, nil, "")
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.body != "" && (strings.TrimSpace(w.Body.String()) != c.body || w.Header().Get("Content-Type") != "application/json") {
				t.Errorf("answer %q (%s), want %q as JSON", w.Body, w.Header().Get("Content-Type"), c.body)
			}
			if srv.pending() != before {
				t.Error("a CRC was queued")
			}
		})
	}

	delivery := `{"for_user_id":"2244994945","favorite_events":[{"id":"a7ba59eab0bfcba386f7acedac279542"}]}`
	for _, c := range []struct {
		name, body, sig string
		status          int
	}{
		{"delivery", delivery, xSignature(xSecret, delivery), 202},
		{"delivery signed with another secret", delivery, xSignature("guess", delivery), 401},
		{"unsigned", delivery, "", 401},
		// The CRC answer for "12345" is X's signature of the body 12345:
		// valid JSON, but no object, so refused.
		{"CRC answer replayed as a delivery", "12345", xSignature(xSecret, "12345"), 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.sig != "" {
				h.Set("X-Twitter-Webhooks-Signature", c.sig)
			}
			w := srv.do(t, http.MethodPost, "/webhooks/x", h, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status == 202 && !strings.Contains(w.Body.String(), jobIDOf("x", bodyDigest(c.body))) {
				t.Errorf("jobId not from the body digest: %s", w.Body)
			}
		})
	}
}

// Microsoft Graph's validation (POST ?validationToken=…, text/plain, no
// body to speak of) and a notification verified by its clientState.
func TestMSGraphHTTP(t *testing.T) {
	srv := handshakeServer(t, make(ed25519.PublicKey, ed25519.PublicKeySize))
	const token = "Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7"
	notification := `{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","clientState":"` + graphState +
		`","changeType":"created","resource":"Users/{user_guid}/Messages/{id}","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}`
	text := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	for _, c := range []struct {
		name, method, path string
		h                  http.Header
		body               string
		status             int
		answer             string
	}{
		{"documented validation", "POST", "/webhooks/graph?validationToken=" + url.QueryEscape(token), text, "", 200, token},
		{"validation with a body", "POST", "/webhooks/graph?validationToken=abc", text, "ignored", 200, "abc"},
		{"control character in the token", "POST", "/webhooks/graph?validationToken=a%0d%0ab", text, "", 400, ""},
		{"validation to a provider without the preset", "POST", "/webhooks/slack?validationToken=abc", text, "", 415, ""},
		{"validation to a JSON provider without the preset", "POST", "/webhooks/slack?validationToken=abc", nil, "{}", 401, ""},
		{"validation by GET", "GET", "/webhooks/graph?validationToken=abc", nil, "", 405, ""},
		{"notification", "POST", "/webhooks/graph", nil, notification, 202, ""},
		{"notification with a query", "POST", "/webhooks/graph?tenant=1", nil, strings.Replace(notification, "created", "updated", 1), 202, ""},
		{"notification with another clientState", "POST", "/webhooks/graph", nil, strings.Replace(notification, graphState, "guessed", 1), 401, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := srv.pending()
			w := srv.do(t, c.method, c.path, c.h, c.body)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.answer != "" && (w.Body.String() != c.answer || w.Header().Get("Content-Type") != "text/plain; charset=utf-8") {
				t.Errorf("answer %q (%s), want %q as text/plain", w.Body, w.Header().Get("Content-Type"), c.answer)
			}
			if queued := srv.pending() != before; queued != (c.status == 202) {
				t.Errorf("queued: %v", queued)
			}
		})
	}
}
