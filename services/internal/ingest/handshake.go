package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// Handshakes: a provider checks that an endpoint is its own before (and,
// for Zoom every 72 hours, for X hourly, while) it sends events. Each is
// answered only for profiles configured with it, and the POST ones only
// after the request's signature verified: the answer never tells anyone
// without the secret anything, and Zoom's HMAC is computed only over the
// documented token shape, so the endpoint is no signing oracle.
//
// Two are answered without a signature, because the provider sends none:
// X's GET CRC (its answer, HMAC-SHA256(consumer secret, crc_token), is the
// same MAC as X's POST signature over a body, so the crc_token is limited to
// characters no JSON object can start with, and an x profile accepts JSON
// objects only: a CRC answer never verifies as a delivery), and Microsoft
// Graph's POST ?validationToken=…, which echoes the token and involves no
// secret at all.

// maxChallenge bounds echoed challenges and tokens.
const maxChallenge = 128

// handshake answers the profile's handshake when the verified body is one;
// nil, nil when it is an ordinary event.
func handshake(prof *provider.Profile, b *body) (*Response, error) {
	switch prof.Handshake {
	case provider.HandshakeSlack:
		if t, _, err := b.field([]string{"type"}, true); err != nil || t != "url_verification" {
			return nil, err
		}
		c, _, _ := b.field([]string{"challenge"}, false)
		if !token(c) {
			return nil, &InvalidError{Detail: "the url_verification challenge is missing or malformed",
				Fields: map[string]string{"challenge": "must be 1 to 128 letters, digits, - or _"}}
		}
		return jsonResponse(map[string]string{"challenge": c}), nil
	case provider.HandshakeZoom:
		if e, _, err := b.field([]string{"event"}, false); err != nil || e != "endpoint.url_validation" {
			return nil, err
		}
		plain, _, _ := b.field([]string{"payload", "plainToken"}, false)
		if !token(plain) {
			return nil, &InvalidError{Detail: "the url_validation plainToken is missing or malformed",
				Fields: map[string]string{"payload.plainToken": "must be 1 to 128 letters, digits, - or _"}}
		}
		m := hmac.New(sha256.New, prof.HandshakeKey)
		m.Write([]byte(plain))
		return jsonResponse(map[string]string{"plainToken": plain, "encryptedToken": hex.EncodeToString(m.Sum(nil))}), nil
	case provider.HandshakeDiscord:
		if t, _, err := b.field([]string{"type"}, true); err != nil || t != "1" {
			return nil, err
		}
		return &Response{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"type":1}`)}, nil
	case provider.HandshakeX:
		if !isJSONObject(b.raw) { // see above: the CRC must never sign a delivery
			return nil, &InvalidError{Detail: "X deliveries are JSON objects", Fields: map[string]string{"body": "must be a JSON object"}}
		}
	}
	return nil, nil
}

// Verification answers a GET verification request (Meta's hub.challenge,
// X's crc_token). It returns ErrNotAllowed when the provider is unknown or
// has no GET handshake (the caller answers as for any GET: 405 or 404).
func (s *Service) Verification(providerName string, q url.Values) (*Response, error) {
	if !provider.ValidName(providerName) {
		return nil, ErrNotAllowed
	}
	prof, ok := s.providers.Lookup(providerName)
	switch {
	case !ok:
		return nil, ErrNotAllowed
	case prof.Handshake == provider.HandshakeMeta:
		return metaVerification(prof, q)
	case prof.Handshake == provider.HandshakeX:
		return xCRC(prof, q)
	}
	return nil, ErrNotAllowed
}

// metaVerification: GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
// answered with the challenge when the verify token is the configured one.
func metaVerification(prof *provider.Profile, q url.Values) (*Response, error) {
	if len(q["hub.verify_token"]) != 1 || len(q["hub.challenge"]) != 1 || q.Get("hub.mode") != "subscribe" {
		return nil, &SignatureError{Err: signature.ErrMissing}
	}
	got := sha256.Sum256([]byte(q.Get("hub.verify_token")))
	want := sha256.Sum256([]byte(prof.VerifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return nil, &SignatureError{Err: signature.ErrInvalid}
	}
	c := q.Get("hub.challenge")
	if !token(c) {
		return nil, &InvalidError{Detail: "hub.challenge is malformed", Fields: map[string]string{"hub.challenge": "must be 1 to 128 letters, digits, - or _"}}
	}
	return &Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(c)}, nil
}

// maxCRCToken bounds X's crc_token.
const maxCRCToken = 255

// xCRC: GET ?crc_token=… (X also sends a nonce, ignored) answered
// {"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}.
func xCRC(prof *provider.Profile, q url.Values) (*Response, error) {
	v := q["crc_token"]
	if len(v) != 1 || !crcToken(v[0]) {
		return nil, &InvalidError{Detail: "crc_token is missing or malformed",
			Fields: map[string]string{"crc_token": "must be 1 to 255 letters, digits, +, /, =, - or _"}}
	}
	m := hmac.New(sha256.New, prof.HandshakeKey)
	m.Write([]byte(v[0]))
	return jsonResponse(map[string]string{"response_token": "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))}), nil
}

// crcToken: 1 to maxCRCToken of the base64 and base64url alphabets. None of
// them starts a JSON object (see the comment at the top).
func crcToken(s string) bool {
	if s == "" || len(s) > maxCRCToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// HasVerification reports whether GET /webhooks/{provider} is a
// verification endpoint for this provider.
func (s *Service) HasVerification(providerName string) bool {
	prof, ok := s.providers.Lookup(providerName)
	return ok && (prof.Handshake == provider.HandshakeMeta || prof.Handshake == provider.HandshakeX)
}

// maxValidationToken bounds Microsoft Graph's validationToken (its tokens
// are about 110 characters: "Validation: Testing client application
// reachability for subscription Request-Id: <uuid>").
const maxValidationToken = 1024

// Validation answers Microsoft Graph's subscription validation, POST
// /webhooks/{provider}?validationToken=…, with the token URL-decoded as
// text/plain (Graph requires it within 10 seconds; it sends no
// notification in that request). nil, nil when the request is no
// validation request, because the provider has no msgraph handshake or
// the query no validationToken: the caller handles it as a delivery. The
// caller needs neither the body nor a signature: Graph signs nothing, and
// the answer holds only what the request held.
func (s *Service) Validation(providerName string, q url.Values) (*Response, error) {
	if !provider.ValidName(providerName) {
		return nil, nil
	}
	prof, ok := s.providers.Lookup(providerName)
	if !ok || prof.Handshake != provider.HandshakeMSGraph {
		return nil, nil
	}
	v, ok := q["validationToken"]
	if !ok {
		return nil, nil
	}
	if len(v) != 1 || !printable(v[0], maxValidationToken) {
		return nil, &InvalidError{Detail: "validationToken is malformed",
			Fields: map[string]string{"validationToken": "must be 1 to 1024 printable ASCII characters, once"}}
	}
	return &Response{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(v[0])}, nil
}

// printable: 1 to max bytes of printable ASCII (space to tilde): no
// control characters, nothing to reinterpret.
func printable(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// token: 1 to maxChallenge of [A-Za-z0-9_-], so an echoed value can carry
// no markup and no header tricks.
func token(s string) bool {
	if s == "" || len(s) > maxChallenge {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func jsonResponse(v map[string]string) *Response {
	b, _ := json.Marshal(v)
	return &Response{Status: http.StatusOK, ContentType: "application/json", Body: b}
}

// AcceptsMediaType reports whether provider takes bodies of contentType, so
// the HTTP layer can answer 415 before it reads a body. A provider that is
// not accepted at all reports true: Accept answers it (404).
func (s *Service) AcceptsMediaType(providerName, contentType string) bool {
	prof, ok := s.providers.Lookup(providerName)
	if !ok || !provider.ValidName(providerName) {
		return true
	}
	return prof.AcceptsMediaType(mediaType(contentType))
}
