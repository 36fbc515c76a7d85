package provider

import (
	"slices"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// Preset is a provider's whole profile as PROVIDER_<NAME>_* settings; the
// explicit settings of a provider override its preset's.
type Preset struct {
	Settings map[string]string
}

// templates are the signed-string schemes, by scheme name.
var templates = map[string]signature.Template{
	// Slack: X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).
	"slack": {Algorithm: "sha256", Header: "X-Slack-Signature", Encoding: signature.EncodingHex, Prefix: "v0=",
		TimestampHeader: "X-Slack-Request-Timestamp",
		Parts:           []signature.Part{{Kind: signature.PartText, Text: "v0:"}, {Kind: signature.PartTimestamp}, {Kind: signature.PartText, Text: ":"}, {Kind: signature.PartBody}}},
	// Zoom: x-zm-signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).
	"zoom": {Algorithm: "sha256", Header: "X-Zm-Signature", Encoding: signature.EncodingHex, Prefix: "v0=",
		TimestampHeader: "X-Zm-Request-Timestamp",
		Parts:           []signature.Part{{Kind: signature.PartText, Text: "v0:"}, {Kind: signature.PartTimestamp}, {Kind: signature.PartText, Text: ":"}, {Kind: signature.PartBody}}},
	// Paddle Billing: Paddle-Signature: ts=…;h1=hex(HMAC-SHA256(secret, "{ts}:{body}")).
	"paddle": {Algorithm: "sha256", Header: "Paddle-Signature", Encoding: signature.EncodingHex,
		ListSep: ";", TimestampKey: "ts", SignatureKey: "h1",
		Parts: []signature.Part{{Kind: signature.PartTimestamp}, {Kind: signature.PartText, Text: ":"}, {Kind: signature.PartBody}}},
	// HubSpot v3: base64(HMAC-SHA256(secret, "POST{url}{body}{ts ms}")).
	"hubspot-v3": {Algorithm: "sha256", Header: "X-Hubspot-Signature-V3", Encoding: signature.EncodingBase64,
		TimestampHeader: "X-Hubspot-Request-Timestamp", TimestampMillis: true,
		Parts: []signature.Part{{Kind: signature.PartMethod}, {Kind: signature.PartURL}, {Kind: signature.PartBody}, {Kind: signature.PartTimestamp}}},
	// Square: x-square-hmacsha256-signature: base64(HMAC-SHA256(key, "{url}{body}")).
	"square": {Algorithm: "sha256", Header: "X-Square-Hmacsha256-Signature", Encoding: signature.EncodingBase64,
		Parts: []signature.Part{{Kind: signature.PartURL}, {Kind: signature.PartBody}}},
	// Linear: Linear-Signature: hex(HMAC-SHA256(secret, body)); the body's
	// webhookTimestamp (ms) must be within a minute, as Linear's SDK checks.
	"linear": {Algorithm: "sha256", Header: "Linear-Signature", Encoding: signature.EncodingHex,
		BodyTimestamp: "webhookTimestamp", Tolerance: time.Minute,
		Parts: []signature.Part{{Kind: signature.PartBody}}},
	// Twilio: X-Twilio-Signature: base64(HMAC-SHA1(auth token, "{url}{sorted form name+value}"));
	// a JSON body: "{url}?bodySHA256={hex SHA-256 of the body}" alone (BodyHashParam).
	"twilio": {Algorithm: "sha1", Header: "X-Twilio-Signature", Encoding: signature.EncodingBase64,
		Parts: []signature.Part{{Kind: signature.PartURL}, {Kind: signature.PartFormParams}}},
}

// Presets are the named providers of PROVIDER_<NAME>_PRESET. The README's
// provider table lists each with what it verifies; presets_test.go signs a
// delivery of each with the provider's own library or published vectors.
var Presets = map[string]Preset{
	"stripe": {map[string]string{keyScheme: "stripe", keyEventID: "id", keyEventType: "field:type",
		keyKeepHeaders: "Stripe-Signature"}},
	"github": {map[string]string{keyScheme: "github", keyEventID: "digest", keyEventType: "header:X-GitHub-Event",
		keyKeepHeaders: "X-GitHub-Event,X-GitHub-Delivery,X-GitHub-Hook-ID,X-Hub-Signature-256"}},
	"standard": {standardWebhooks},
	"svix":     {standardWebhooks},
	"clerk":    {standardWebhooks},
	"resend":   {standardWebhooks},
	"shopify": {map[string]string{keyScheme: "hmac-sha256", keyHeader: "X-Shopify-Hmac-Sha256", keyEncoding: "base64",
		keyEventID: "digest", keyEventType: "header:X-Shopify-Topic",
		keyKeepHeaders: "X-Shopify-Topic,X-Shopify-Webhook-Id,X-Shopify-Event-Id,X-Shopify-Shop-Domain,X-Shopify-Api-Version,X-Shopify-Triggered-At,X-Shopify-Hmac-Sha256"}},
	"linear": {map[string]string{keyScheme: "linear",
		keyEventID: "digest", keyEventType: "header:Linear-Event", keyKeepHeaders: "Linear-Delivery,Linear-Event,Linear-Signature"}},
	"slack": {map[string]string{keyScheme: "slack", keyEventID: "field:event_id,field:trigger_id,digest",
		keyEventType: "field:event.type,field:command,field:type", keyContentTypes: "json,form", keyHandshake: HandshakeSlack,
		keyKeepHeaders: "X-Slack-Signature,X-Slack-Request-Timestamp,X-Slack-Retry-Num,X-Slack-Retry-Reason"}},
	"zoom": {map[string]string{keyScheme: "zoom", keyEventID: "digest", keyEventType: "field:event", keyHandshake: HandshakeZoom,
		keyKeepHeaders: "X-Zm-Signature,X-Zm-Request-Timestamp,X-Zm-Trackingid"}},
	"paddle": {map[string]string{keyScheme: "paddle", keyEventID: "field:event_id", keyEventType: "field:event_type",
		keyKeepHeaders: "Paddle-Signature"}},
	"hubspot": {map[string]string{keyScheme: "hubspot-v3", keyEventID: "digest", keyEventType: "field:0.subscriptionType",
		keyKeepHeaders: "X-HubSpot-Signature-v3,X-HubSpot-Request-Timestamp"}},
	"square": {map[string]string{keyScheme: "square", keyEventID: "field:event_id", keyEventType: "field:type",
		keyKeepHeaders: "X-Square-Hmacsha256-Signature"}},
	"twilio": {map[string]string{keyScheme: "twilio", keyEventID: "digest",
		keyEventType: "field:MessageStatus,field:SmsStatus,field:CallStatus,field:0.type", keyContentTypes: "form,json",
		keyKeepHeaders: "X-Twilio-Signature,I-Twilio-Idempotency-Token"}},
	"gitlab": {map[string]string{keyScheme: "token", keyHeader: "X-Gitlab-Token", keyEventID: "digest",
		keyEventType: "header:X-Gitlab-Event", keyKeepHeaders: "X-Gitlab-Event,X-Gitlab-Event-UUID,X-Gitlab-Webhook-UUID,X-Gitlab-Instance"}},
	"postmark": {map[string]string{keyScheme: "basic", keyEventID: "digest", keyEventType: "field:RecordType"}},
	"discord": {map[string]string{keyScheme: "discord", keyEventID: "field:id", keyEventType: "field:type", keyHandshake: HandshakeDiscord,
		keyKeepHeaders: "X-Signature-Ed25519,X-Signature-Timestamp"}},
	"sendgrid": {map[string]string{keyScheme: "sendgrid", keyEventID: "digest", keyEventType: "field:0.event",
		keyKeepHeaders: "X-Twilio-Email-Event-Webhook-Signature,X-Twilio-Email-Event-Webhook-Timestamp"}},
	"meta": {map[string]string{keyScheme: "github", keyEventID: "digest", keyEventType: "field:object", keyHandshake: HandshakeMeta,
		keyKeepHeaders: "X-Hub-Signature-256"}},
	"x":       {xWebhooks},
	"twitter": {xWebhooks},
	// Microsoft Graph change and lifecycle notifications: {"value":[{…,
	// "clientState":…}]}; POST ?validationToken=… is echoed.
	"msgraph": {map[string]string{keyScheme: schemeClientState, keyEventID: "digest",
		keyEventType: "field:value.0.changeType,field:value.0.lifecycleEvent", keyHandshake: HandshakeMSGraph}},
}

// xWebhooks: X (Twitter) Account Activity webhooks. x-twitter-webhooks-signature:
// sha256=base64(HMAC-SHA256(consumer secret, body)); the event type is the
// body's first "*_events" key ("tweet_create_events"), or "user_event".
var xWebhooks = map[string]string{keyScheme: signature.SchemeHMAC, keyHeader: "X-Twitter-Webhooks-Signature", keyEncoding: "base64",
	keyPrefix: "sha256=", keyEventID: "digest", keyEventType: "key:*_events,key:user_event", keyHandshake: HandshakeX,
	keyKeepHeaders: "X-Twitter-Webhooks-Signature"}

// standardWebhooks: Standard Webhooks and Svix (Clerk, Resend, Brex…): the
// signed webhook-id (or svix-id) is the event id.
var standardWebhooks = map[string]string{keyScheme: "standard", keyEventID: "header:Webhook-Id", keyEventType: "field:type",
	keyKeepHeaders: "Webhook-Id,Webhook-Timestamp,Webhook-Signature,Svix-Id,Svix-Timestamp,Svix-Signature"}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	out := make([]string, 0, len(Presets))
	for n := range Presets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
