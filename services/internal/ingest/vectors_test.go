package ingest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/ingest"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// Published vectors and documented requests for the providers without a
// signing library in testenv.ProviderLib.

// X publishes no signed example in its documentation; its own webhook
// library, twitter-autohook (xdevplatform/autohook, test/signature.js),
// ships these two fixtures for validateSignature with consumer secret
// "test".
var xFixtures = []struct{ body, header string }{
	{`test=1&other_test=2`, "sha256=25Cu3iwbbiqBTwQRzcKJZwisjf736V2Q8UaTlkfLSoc="},
	{`{"test_number":1,"test_string":"two"}`, "sha256=YWHphPn/JFq43jkF0y4/w8R/SelmLjvpunhVFY8JhlI="},
}

func TestXPublishedVectors(t *testing.T) {
	env := []string{"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=test"}
	reg, err := provider.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := reg.Lookup("x")
	for _, f := range xFixtures {
		h := http.Header{"X-Twitter-Webhooks-Signature": {f.header}}
		if err := prof.Verifier.Verify(h, []byte(f.body), time.Now()); err != nil {
			t.Errorf("X's fixture %q refused: %v", f.body, err)
		}
		if err := prof.Verifier.Verify(h, []byte(f.body+" "), time.Now()); !errors.Is(err, signature.ErrInvalid) {
			t.Errorf("X's fixture %q with a byte added: %v", f.body, err)
		}
	}

	// The JSON fixture through the whole ingest path (the form one is not
	// a JSON object, which x refuses: see TestXCRCIsNoSigningOracle).
	svc, q := service(t, env, nil)
	h := http.Header{"Content-Type": {"application/json"}, "X-Twitter-Webhooks-Signature": {xFixtures[1].header}}
	if _, err := svc.Accept(context.Background(), ingest.Request{Provider: "x", Header: h, Body: []byte(xFixtures[1].body)}); err != nil {
		t.Fatalf("X's JSON fixture refused: %v", err)
	}
	if e := q.events[0]; e.EventID != digest(xFixtures[1].body) || e.EventType != "" {
		t.Errorf("id %q type %q; want the digest and no type (no *_events key)", e.EventID, e.EventType)
	}
	if _, err := svc.Accept(context.Background(), ingest.Request{Provider: "x", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(xFixtures[1].body)}); !errors.Is(err, signature.ErrMissing) {
		t.Errorf("unsigned: %v", err)
	}

	// The CRC answer is the same MAC as the delivery signature (X's docs:
	// HMAC-SHA256 keyed with the consumer secret, base64, "sha256="): the
	// answer for a token verifies, with the verifier the fixtures above pin,
	// as X's signature of a body holding exactly that token.
	const token = "9b4507b3-9040-4669-9ca3-6b94edb50553"
	resp, err := svc.Verification("x", url.Values{"crc_token": {token}, "nonce": {"MTUxMzk2OTk5"}})
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		ResponseToken string `json:"response_token"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil || resp.ContentType != "application/json" || resp.Status != http.StatusOK {
		t.Fatalf("CRC answer %d %s %q: %v", resp.Status, resp.ContentType, resp.Body, err)
	}
	if err := prof.Verifier.Verify(http.Header{"X-Twitter-Webhooks-Signature": {answer.ResponseToken}}, []byte(token), time.Now()); err != nil {
		t.Errorf("response_token %q is not X's MAC of the token: %v", answer.ResponseToken, err)
	}
}

// The CRC signs whatever crc_token it is given, and that is exactly X's
// delivery signature of a body equal to the token: the token's alphabet can
// start no JSON object, and an x profile accepts only JSON objects.
func TestXCRCIsNoSigningOracle(t *testing.T) {
	svc, q := service(t, []string{"PROVIDER_X_PRESET=x", "PROVIDER_X_SECRETS=test"}, nil)
	for _, c := range []struct {
		token string
		ok    bool
	}{
		{"12345", true}, {"challenge_string", true}, {"dGVzdA==", true}, {"a/b+c-d_e", true},
		{"", false}, {`{"a":1}`, false}, {"a b", false}, {"a&b=c", false}, {strings.Repeat("a", 256), false},
	} {
		resp, err := svc.Verification("x", url.Values{"crc_token": {c.token}})
		var inv *ingest.InvalidError
		if c.ok != (err == nil) || !c.ok && !errors.As(err, &inv) {
			t.Errorf("crc_token %q: %v", c.token, err)
			continue
		}
		if !c.ok {
			continue
		}
		var answer struct {
			ResponseToken string `json:"response_token"`
		}
		_ = json.Unmarshal(resp.Body, &answer)
		h := http.Header{"Content-Type": {"application/json"}, "X-Twitter-Webhooks-Signature": {answer.ResponseToken}}
		_, err = svc.Accept(context.Background(), ingest.Request{Provider: "x", Header: h, Body: []byte(c.token)})
		if !errors.As(err, &inv) {
			t.Errorf("the CRC answer for %q, sent as a delivery of that body: %v; want 400", c.token, err)
		}
	}
	if len(q.events) != 0 {
		t.Errorf("%d forged deliveries queued", len(q.events))
	}
	if _, err := svc.Verification("x", url.Values{"crc_token": {"a", "b"}}); err == nil {
		t.Error("two crc_tokens answered")
	}
	other, _ := service(t, []string{"PROVIDER_GH_PRESET=github", "PROVIDER_GH_SECRETS=test"}, nil)
	if _, err := other.Verification("gh", url.Values{"crc_token": {"12345"}}); !errors.Is(err, ingest.ErrNotAllowed) || other.HasVerification("gh") {
		t.Errorf("a CRC answered for a provider without the x preset: %v", err)
	}
}

// Standard Webhooks' v1a vector, published with the specification's
// reference Go library (libraries/go/webhook_asymmetric_test.go,
// TestAsymmetricWebhookSign; not in a released module version yet): the
// Ed25519 seed, id, timestamp and payload give exactly this signature. The
// whpk_ key is the seed's public key.
func TestStandardV1aPublishedVector(t *testing.T) {
	const (
		seedB64 = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
		msgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts      = "1614265330"
		payload = `{"test": 2432232314}`
		sig     = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
	)
	seed, _ := base64.StdEncoding.DecodeString(seedB64)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)
	at := time.Unix(1614265330, 0)
	env := []string{"PROVIDER_STD_PRESET=standard", "PROVIDER_STD_SECRETS=" + whpk}
	svc, q := service(t, env, func() time.Time { return at })
	h := http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {msgID}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
	accept := func(svc *ingest.Service, h http.Header, body string) error {
		_, err := svc.Accept(context.Background(), ingest.Request{Provider: "std", Header: h, Body: []byte(body)})
		return err
	}
	if err := accept(svc, h, payload); err != nil {
		t.Fatalf("the published v1a vector refused: %v", err)
	}
	if e := q.events[0]; e.EventID != msgID {
		t.Errorf("event id %q, want the signed webhook-id", e.EventID)
	}
	if err := accept(svc, h, strings.Replace(payload, "2432232314", "2432232315", 1)); !errors.Is(err, signature.ErrInvalid) {
		t.Errorf("tampered payload: %v", err)
	}
	h2 := h.Clone()
	h2.Set("Webhook-Id", "msg_other")
	if err := accept(svc, h2, payload); !errors.Is(err, signature.ErrInvalid) {
		t.Errorf("another id: %v", err)
	}
	late, _ := service(t, env, func() time.Time { return at.Add(6 * time.Minute) })
	if err := accept(late, h, payload); !errors.Is(err, signature.ErrExpired) {
		t.Errorf("replayed after 6 minutes: %v", err)
	}
	// A symmetric whsec_ key configured as well: v1a still verifies, and a
	// v1 entry under that key would too.
	both, _ := service(t, []string{"PROVIDER_STD_PRESET=standard", "PROVIDER_STD_SECRETS=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw," + whpk}, func() time.Time { return at })
	if err := accept(both, h, payload); err != nil {
		t.Errorf("v1a with a whsec_ key beside it: %v", err)
	}
}

// Microsoft Graph's documented notification (change-notifications-delivery-
// webhooks: "Example: change notification") and lifecycle notification
// ("reauthorizationRequired"), verified by their clientState.
const (
	graphNotification = `{
  "value": [
    {
      "id": "lsgTZMr9KwAAA",
      "subscriptionId": "{subscription_guid}",
      "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
      "clientState": "secretClientValue",
      "changeType": "created",
      "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
      "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
      "resourceData": {
        "@odata.type": "#Microsoft.Graph.Message",
        "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
        "@odata.etag": "W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\"",
        "id": "{long_id_string}"
      }
    }
  ]
}`
	graphLifecycle = `{
  "value": [
    {
      "subscriptionId": "<subscription_guid>",
      "subscriptionExpirationDateTime": "2019-09-18T00:00:00.0000000Z",
      "tenantId": "<tenant_guid>",
      "clientState": "secretClientValue",
      "lifecycleEvent": "reauthorizationRequired"
    }
  ]
}`
)

func TestMSGraphDocumentedNotifications(t *testing.T) {
	env := func(secrets string) []string {
		return []string{"PROVIDERS_ALLOWED=graph", "PROVIDER_GRAPH_PRESET=msgraph", "PROVIDER_GRAPH_SECRETS=" + secrets}
	}
	svc, q := service(t, env("secretClientValue"), nil)
	accept := func(svc *ingest.Service, body string) error {
		h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
		_, err := svc.Accept(context.Background(), ingest.Request{Provider: "graph", Header: h, Body: []byte(body)})
		return err
	}
	for _, c := range []struct{ name, body, wantType string }{
		{"change notification", graphNotification, "created"},
		{"lifecycle notification", graphLifecycle, "reauthorizationRequired"},
	} {
		if err := accept(svc, c.body); err != nil {
			t.Fatalf("%s refused: %v", c.name, err)
		}
		e := q.events[len(q.events)-1]
		if e.EventID != digest(c.body) || e.EventType != c.wantType {
			t.Errorf("%s: id %q type %q; want the digest and %q", c.name, e.EventID, e.EventType, c.wantType)
		}
	}

	second := strings.Replace(graphNotification, `"id": "lsgTZMr9KwAAA"`, `"id": "second"`, 1)
	batch := func(states ...string) string {
		items := make([]string, len(states))
		for i, s := range states {
			item := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(second), "{\n  \"value\": ["), "]\n}")
			items[i] = strings.Replace(item, `"clientState": "secretClientValue"`, s, 1)
		}
		return `{"value":[` + strings.Join(items, ",") + `]}`
	}
	for _, c := range []struct {
		name string
		svc  *ingest.Service
		body string
		want error
	}{
		{"two notifications, both with the state", svc, batch(`"clientState": "secretClientValue"`, `"clientState": "secretClientValue"`), nil},
		{"wrong clientState", svc, strings.Replace(graphNotification, "secretClientValue", "guessedValue", 1), signature.ErrInvalid},
		{"one of two wrong", svc, batch(`"clientState": "secretClientValue"`, `"clientState": "guessedValue"`), signature.ErrInvalid},
		{"one of two without clientState", svc, batch(`"clientState": "secretClientValue"`, `"other": "x"`), signature.ErrMissing},
		{"clientState not a string", svc, strings.Replace(graphNotification, `"secretClientValue"`, `1`, 1), signature.ErrInvalid},
		{"clientState differently cased key", svc, strings.Replace(graphNotification, `"clientState"`, `"ClientState"`, 1), signature.ErrMissing},
		{"no value", svc, `{"values":[]}`, signature.ErrMissing},
		{"empty value", svc, `{"value":[]}`, signature.ErrMissing},
		{"not a collection", svc, `{"value":{"clientState":"secretClientValue"}}`, signature.ErrInvalid},
		// Rotation: a batch may mix subscriptions made with the old and the new value.
		{"rotation", func() *ingest.Service { s, _ := service(t, env("newClientValue,secretClientValue"), nil); return s }(),
			batch(`"clientState": "secretClientValue"`, `"clientState": "newClientValue"`), nil},
	} {
		err := accept(c.svc, c.body)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// Graph's validation request: POST ?validationToken=… (URL-encoded, as
// Graph sends it), answered with the decoded token as text/plain, only for
// msgraph profiles.
func TestMSGraphValidation(t *testing.T) {
	svc, q := service(t, []string{"PROVIDER_GRAPH_PRESET=msgraph", "PROVIDER_GRAPH_SECRETS=secretClientValue",
		"PROVIDER_SLACK_PRESET=slack", "PROVIDER_SLACK_SECRETS=s"}, nil)
	const token = "Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7"
	query, _ := url.ParseQuery("validationToken=" + url.QueryEscape(token))
	resp, err := svc.Validation("graph", query)
	if err != nil || resp == nil {
		t.Fatalf("validation: %v %v", resp, err)
	}
	if resp.Status != http.StatusOK || resp.ContentType != "text/plain; charset=utf-8" || string(resp.Body) != token {
		t.Errorf("answer %d %s %q", resp.Status, resp.ContentType, resp.Body)
	}
	for _, c := range []struct {
		name, provider string
		q              url.Values
		handled        bool
	}{
		{"no validationToken", "graph", url.Values{"other": {"1"}}, false},
		{"provider without the preset", "slack", query, false},
		{"unknown provider", "nobody", query, false},
		{"invalid provider name", "../x", query, false},
		{"two tokens", "graph", url.Values{"validationToken": {"a", "b"}}, true},
		{"empty token", "graph", url.Values{"validationToken": {""}}, true},
		{"control character", "graph", url.Values{"validationToken": {"a\r\nSet-Cookie: x"}}, true},
		{"too long", "graph", url.Values{"validationToken": {strings.Repeat("a", 1025)}}, true},
	} {
		resp, err := svc.Validation(c.provider, c.q)
		var inv *ingest.InvalidError
		switch {
		case !c.handled && (resp != nil || err != nil):
			t.Errorf("%s: answered %v %v; want a delivery", c.name, resp, err)
		case c.handled && (resp != nil || !errors.As(err, &inv)):
			t.Errorf("%s: %v %v; want 400", c.name, resp, err)
		}
	}
	if len(q.events) != 0 {
		t.Errorf("a validation was queued")
	}
}

// The event type "key:" source reads top-level keys in the order sent.
func TestEventTypeFromKey(t *testing.T) {
	svc, q := service(t, []string{"PROVIDER_K_SCHEME=none", "PROVIDER_K_EVENT_ID=digest", "PROVIDER_K_EVENT_TYPE=key:*_events,key:user_event"}, nil)
	for _, c := range []struct{ body, want string }{
		{`{"for_user_id":"1","favorite_events":[{}],"tweet_create_events":[]}`, "favorite_events"},
		{`{"for_user_id":"1","nested":{"x_events":1},"follow_events":[]}`, "follow_events"},
		{`{"user_event":{"revoke":{}}}`, "user_event"},
		{`{"_events":1}`, ""}, // the suffix alone is no match
		{`{"events":[]}`, ""},
		{`[{"a_events":1}]`, ""},
	} {
		h := http.Header{"Content-Type": {"application/json"}}
		if _, err := svc.Accept(context.Background(), ingest.Request{Provider: "k", Header: h, Body: []byte(c.body)}); err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if got := q.events[len(q.events)-1].EventType; got != c.want {
			t.Errorf("%s: type %q, want %q", c.body, got, c.want)
		}
	}
}
