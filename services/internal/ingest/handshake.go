package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// Handshakes: a provider checks that an endpoint is its own before (and,
// for Zoom, every 72 hours while) it sends events. Each is answered only
// for profiles configured with it, and the POST ones only after the
// request's signature verified: the answer never tells anyone without the
// secret anything, and Zoom's HMAC is computed only over the documented
// token shape, so the endpoint is no signing oracle.

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
	}
	return nil, nil
}

// Verification answers a GET verification request (Meta's
// hub.challenge). It returns ErrNotAllowed when the provider is unknown or
// has no GET handshake (the caller answers as for any GET: 405 or 404).
func (s *Service) Verification(providerName string, q url.Values) (*Response, error) {
	if !provider.ValidName(providerName) {
		return nil, ErrNotAllowed
	}
	prof, ok := s.providers.Lookup(providerName)
	if !ok || prof.Handshake != provider.HandshakeMeta {
		return nil, ErrNotAllowed
	}
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

// HasVerification reports whether GET /webhooks/{provider} is a
// verification endpoint for this provider.
func (s *Service) HasVerification(providerName string) bool {
	prof, ok := s.providers.Lookup(providerName)
	return ok && prof.Handshake == provider.HandshakeMeta
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
