package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// Every preset against the provider's own library (testenv.ProviderLib:
// stripe, @octokit/webhooks-methods, standardwebhooks, svix, twilio, square,
// @paddle/paddle-node-sdk, @hubspot/api-client, @linear/sdk,
// discord-interactions, @sendgrid/eventwebhook) or, where the provider has
// none, its documented algorithm and published vectors (Slack's, X's and
// Standard Webhooks' v1a below; Microsoft Graph's documented notifications).
// Each: valid, rotation, wrong secret, tampered body, expired timestamp,
// every signature header missing; and the event id, event type and kept
// headers of the accepted event.

type captureQueue struct{ events []job.Event }

func (q *captureQueue) Enqueue(_ context.Context, e job.Event) (string, bool, error) {
	q.events = append(q.events, e)
	return job.ID(e.Provider, e.EventID), false, nil
}

func service(t *testing.T, env []string, now func() time.Time) (*ingest.Service, *captureQueue) {
	t.Helper()
	reg, err := provider.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	q := &captureQueue{}
	opts := []ingest.Option{ingest.WithProviders(reg)}
	if now != nil {
		opts = append(opts, ingest.WithClock(now))
	}
	return ingest.NewService(q, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...), q
}

type presetCase struct {
	name        string // the subtest; "" = preset
	preset      string
	secret      string // as configured; "" for key pairs (discord, sendgrid)
	other       string // another valid secret, for rotation and wrong-secret
	url         string
	id          string // signed id (Standard Webhooks)
	body        string // contains "TAMPER" somewhere it can be changed
	contentType string
	wantID      string // "" = digest of the body
	wantType    string
	wantKept    []string // headers that must be stored
	timestamped bool
	keys        bool
}

func (c presetCase) label() string {
	if c.name != "" {
		return c.name
	}
	return c.preset
}

func digest(body string) string {
	s := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(s[:])
}

func presetCases() []presetCase {
	stdSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("standard-webhooks-secret-32bytes"))
	stdOther := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-standard-secret-32-bytes"))
	svix := func(p, typ string) presetCase {
		return presetCase{preset: p, secret: stdSecret, other: stdOther, id: "msg_2Lh9KRb0pzN4LePd3XiA2qLAboT",
			body:   `{"type":"` + typ + `","data":{"id":"TAMPER_1","object":"event"}}`,
			wantID: "msg_2Lh9KRb0pzN4LePd3XiA2qLAboT", wantType: typ, wantKept: []string{"Svix-Id", "Svix-Signature"}, timestamped: true}
	}
	return []presetCase{
		{preset: "stripe", secret: "whsec_stripe_test", other: "whsec_rolled", body: `{"id":"evt_1TAMPER","object":"event","type":"invoice.paid","data":{"object":{}}}`,
			wantID: "evt_1TAMPER", wantType: "invoice.paid", wantKept: []string{"Stripe-Signature"}, timestamped: true},
		{preset: "github", secret: "gh-secret", other: "gh-rotated", body: `{"action":"opened","issue":{"title":"TAMPER"}}`,
			wantType: "issues", wantKept: []string{"X-Github-Delivery", "X-Github-Event", "X-Hub-Signature-256"}},
		{preset: "standard", secret: stdSecret, other: stdOther, id: "msg_std_1", body: `{"type":"invoice.paid","data":{"n":"TAMPER"}}`,
			wantID: "msg_std_1", wantType: "invoice.paid", wantKept: []string{"Webhook-Id", "Webhook-Signature"}, timestamped: true},
		svix("svix", "message.attempt.exhausted"),
		svix("clerk", "user.created"),
		svix("resend", "email.delivered"),
		{preset: "twilio", secret: "12345", other: "67890", url: "https://mycompany.com/myapp.php?foo=1&bar=2", contentType: "application/x-www-form-urlencoded",
			body:     "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212&MessageStatus=delivered&Body=TAMPER",
			wantType: "delivered", wantKept: []string{"X-Twilio-Signature"}},
		{preset: "square", secret: "sq-signature-key", other: "sq-other", url: "https://example.com/webhooks/square",
			body:   `{"merchant_id":"M1","type":"payment.updated","event_id":"ev-TAMPER-1","data":{}}`,
			wantID: "ev-TAMPER-1", wantType: "payment.updated", wantKept: []string{"X-Square-Hmacsha256-Signature"}},
		{preset: "paddle", secret: "pdl_ntfset_01_secret", other: "pdl_ntfset_02_secret",
			body:   `{"event_id":"evt_01TAMPER","event_type":"transaction.completed","occurred_at":"2026-01-01T00:00:00Z","data":{}}`,
			wantID: "evt_01TAMPER", wantType: "transaction.completed", wantKept: []string{"Paddle-Signature"}, timestamped: true},
		{preset: "hubspot", secret: "hs-client-secret", other: "hs-other", url: "https://example.com/webhooks/hubspot",
			body: `[{"eventId":1,"subscriptionType":"contact.creation","objectId":123,"note":"TAMPER"}]`, wantType: "contact.creation",
			wantKept: []string{"X-Hubspot-Signature-V3"}, timestamped: true},
		{preset: "linear", secret: "lin_wh_secret", other: "lin_wh_other",
			body:     `{"action":"create","type":"Issue","data":{"title":"TAMPER"},"webhookTimestamp":WEBHOOK_TS}`, // sign.mjs fills in the time
			wantType: "Issue", wantKept: []string{"Linear-Signature", "Linear-Event"}, timestamped: true},
		{preset: "discord", keys: true, body: `{"id":"1234567890123456789","type":2,"data":{"name":"TAMPER"}}`,
			wantID: "1234567890123456789", wantType: "2", wantKept: []string{"X-Signature-Ed25519"}},
		{preset: "sendgrid", keys: true, body: `[{"email":"a@example.com","event":"delivered","sg_event_id":"TAMPER"}]`,
			wantType: "delivered", wantKept: []string{"X-Twilio-Email-Event-Webhook-Signature"}},
		// Documented algorithms, no official library (see sign.mjs).
		{preset: "slack", secret: "8f742231b10e8888abcd99yyyzzz85a5", other: "slack-rotated",
			body:   `{"type":"event_callback","event_id":"Ev0TAMPER","event":{"type":"app_mention","text":"hi"}}`,
			wantID: "Ev0TAMPER", wantType: "app_mention", wantKept: []string{"X-Slack-Signature"}, timestamped: true},
		{preset: "zoom", secret: "zoom-secret-token", other: "zoom-other",
			body:     `{"event":"meeting.started","event_ts":1626230691572,"payload":{"object":{"id":"TAMPER"}}}`,
			wantType: "meeting.started", wantKept: []string{"X-Zm-Signature"}, timestamped: true},
		{preset: "shopify", secret: "shpss_secret", other: "shpss_other", body: `{"id":820982911946154508,"email":"TAMPER@example.com"}`,
			wantKept: []string{"X-Shopify-Hmac-Sha256"}},
		// X's Account Activity delivery (documented algorithm; X's published
		// vectors in TestXPublishedVectors).
		{preset: "x", secret: "x-consumer-secret", other: "x-rotated-secret",
			body:     `{"for_user_id":"2244994945","tweet_create_events":[{"id_str":"1TAMPER","text":"hi"}]}`,
			wantType: "tweet_create_events", wantKept: []string{"X-Twitter-Webhooks-Signature"}},
		// Twilio's JSON bodies (Event Streams): the URL carries bodySHA256.
		{name: "twilio-json", preset: "twilio", secret: "12345", other: "67890", url: "https://mycompany.com/myapp.php?foo=1&bar=2", contentType: "application/json",
			body:     `[{"specversion":"1.0","type":"com.twilio.messaging.message.delivered","id":"EZ-TAMPER","data":{}}]`,
			wantType: "com.twilio.messaging.message.delivered", wantKept: []string{"X-Twilio-Signature"}},
		// Standard Webhooks' Ed25519 v1a, whpk_ public keys (no library signs
		// v1a: node:crypto follows the spec; its published vector below).
		{name: "standard-v1a", preset: "standard", keys: true, id: "msg_v1a_1", body: `{"type":"invoice.paid","data":{"n":"TAMPER"}}`,
			wantID: "msg_v1a_1", wantType: "invoice.paid", wantKept: []string{"Webhook-Id", "Webhook-Signature"}, timestamped: true},
	}
}

func TestPresetsWithProviderLibraries(t *testing.T) {
	cases := presetCases()
	// Key pairs for the public-key schemes, made by node:crypto.
	var keyReqs []map[string]any
	for _, c := range cases {
		if c.keys {
			keyReqs = append(keyReqs, map[string]any{"preset": c.preset}, map[string]any{"preset": c.preset})
		}
	}
	var pairs []struct{ Public, Private string }
	testenv.ProviderLib(t, "keys", keyReqs, &pairs)
	type keyPair struct{ pub, priv string }
	keyOf := map[string][2]keyPair{}
	for i, j := 0, 0; i < len(cases); i++ {
		if cases[i].keys {
			keyOf[cases[i].label()] = [2]keyPair{{pairs[j].Public, pairs[j].Private}, {pairs[j+1].Public, pairs[j+1].Private}}
			j += 2
		}
	}

	old := time.Now().Add(-time.Hour)
	type variant struct {
		name   string
		secret int       // 0: the secret, 1: the other one
		at     time.Time // zero: signed by node at its now (Paddle's library allows 5 s)
	}
	variants := []variant{{"valid", 0, time.Time{}}, {"other", 1, time.Time{}}, {"expired", 0, old}}
	var reqs []map[string]any
	for _, c := range cases {
		for _, v := range variants {
			r := map[string]any{"preset": c.preset, "body": c.body, "url": c.url, "id": c.id, "contentType": c.contentType}
			if !v.at.IsZero() {
				r["ts"], r["tsMillis"] = v.at.Unix(), v.at.UnixMilli()
			}
			if c.keys {
				k := keyOf[c.label()][v.secret]
				r["public"], r["private"] = k.pub, k.priv
			} else if v.secret == 0 {
				r["secret"] = c.secret
			} else {
				r["secret"] = c.other
			}
			reqs = append(reqs, r)
		}
	}
	var signed []struct {
		Headers map[string]string
		Body    string // when the library put the time into the body (Linear)
		LibOK   bool
	}
	testenv.ProviderLib(t, "sign", reqs, &signed)
	for i := range signed {
		if signed[i].Body == "" {
			signed[i].Body = cases[i/len(variants)].body
		}
	}

	for i, c := range cases {
		t.Run(c.label(), func(t *testing.T) {
			valid, other, expired := signed[3*i], signed[3*i+1], signed[3*i+2]
			if !valid.LibOK {
				t.Fatalf("%s's library does not accept its own vector: %v", c.preset, valid.Headers)
			}
			secret, otherSecret := c.secret, c.other
			if c.keys {
				secret, otherSecret = keyOf[c.label()][0].pub, keyOf[c.label()][1].pub
			}
			env := func(secrets string) []string {
				e := []string{"PROVIDERS_ALLOWED=p", "PROVIDER_P_PRESET=" + c.preset, "PROVIDER_P_SECRETS=" + secrets}
				if c.url != "" {
					e = append(e, "PROVIDER_P_URL="+c.url)
				}
				return e
			}
			header := func(h map[string]string) http.Header {
				out := http.Header{}
				for k, v := range h {
					out.Set(k, v)
				}
				ct := c.contentType
				if ct == "" {
					ct = "application/json"
				}
				out.Set("Content-Type", ct)
				out.Set("X-Github-Event", "issues")
				out.Set("X-Github-Delivery", "d-1")
				out.Set("Linear-Event", "Issue")
				return out
			}
			accept := func(svc *ingest.Service, h http.Header, body string) (ingest.Result, error) {
				return svc.Accept(context.Background(), ingest.Request{Provider: "p", Header: h, Body: []byte(body)})
			}
			svc, q := service(t, env(secret), nil)

			// Valid: accepted with the preset's id, type and kept headers.
			body := valid.Body
			if _, err := accept(svc, header(valid.Headers), body); err != nil {
				t.Fatalf("valid delivery refused: %v", err)
			}
			e := q.events[len(q.events)-1]
			wantID := c.wantID
			if wantID == "" {
				wantID = digest(body)
			}
			if e.EventID != wantID || e.EventType != c.wantType || string(e.Body) != body {
				t.Errorf("event id %q type %q body %q; want %q %q", e.EventID, e.EventType, e.Body, wantID, c.wantType)
			}
			for _, k := range c.wantKept {
				if e.Headers[k] == "" {
					t.Errorf("header %s not kept: %v", k, e.Headers)
				}
			}
			// Rotation: the old and the new secret both verify.
			rot, _ := service(t, env(otherSecret+","+secret), nil)
			if _, err := accept(rot, header(other.Headers), other.Body); err != nil {
				t.Errorf("rotation: the other secret's delivery refused: %v", err)
			}
			if _, err := accept(rot, header(valid.Headers), body); err != nil {
				t.Errorf("rotation: the first secret's delivery refused: %v", err)
			}
			// Wrong secret.
			if _, err := accept(svc, header(other.Headers), other.Body); !errors.Is(err, signature.ErrInvalid) {
				t.Errorf("wrong secret: %v, want signature invalid", err)
			}
			// Tampered body.
			if _, err := accept(svc, header(valid.Headers), strings.Replace(body, "TAMPER", "TAMPEX", 1)); !errors.Is(err, signature.ErrInvalid) {
				t.Errorf("tampered body: %v, want signature invalid", err)
			}
			// Expired timestamp (Linear's is inside the signed body).
			if c.timestamped {
				if _, err := accept(svc, header(expired.Headers), expired.Body); !errors.Is(err, signature.ErrExpired) {
					t.Errorf("expired: %v, want signature expired", err)
				}
			}
			// Every header the library set, missing in turn.
			for k := range valid.Headers {
				h := header(valid.Headers)
				h.Del(k)
				_, err := accept(svc, h, body)
				if !errors.Is(err, signature.ErrMissing) {
					t.Errorf("without %s: %v, want signature missing", k, err)
				}
			}
		})
	}
}

// Slack's published example (api.slack.com/authentication/verifying-requests-from-slack):
// a slash command, form-encoded, with its signature and timestamp.
func TestSlackPublishedVector(t *testing.T) {
	const (
		secret = "8f742231b10e8888abcd99yyyzzz85a5"
		ts     = "1531420618"
		body   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		sig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	at := time.Unix(1531420618, 0)
	svc, q := service(t, []string{"PROVIDER_SLACK_PRESET=slack", "PROVIDER_SLACK_SECRETS=" + secret}, func() time.Time { return at })
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Slack-Signature": {sig}, "X-Slack-Request-Timestamp": {ts}}
	if _, err := svc.Accept(context.Background(), ingest.Request{Provider: "slack", Header: h, Body: []byte(body)}); err != nil {
		t.Fatalf("Slack's published request refused: %v", err)
	}
	e := q.events[0]
	if e.EventID != "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c" || e.EventType != "/webhook-collect" {
		t.Errorf("slash command: id %q type %q; want the trigger_id and the command", e.EventID, e.EventType)
	}
	if _, err := svc.Accept(context.Background(), ingest.Request{Provider: "slack", Header: h, Body: []byte(body + "x")}); !errors.Is(err, signature.ErrInvalid) {
		t.Errorf("tampered: %v", err)
	}
	late, _ := service(t, []string{"PROVIDER_SLACK_PRESET=slack", "PROVIDER_SLACK_SECRETS=" + secret}, func() time.Time { return at.Add(6 * time.Minute) })
	if _, err := late.Accept(context.Background(), ingest.Request{Provider: "slack", Header: h, Body: []byte(body)}); !errors.Is(err, signature.ErrExpired) {
		t.Errorf("replayed after 6 minutes: %v", err)
	}
}
