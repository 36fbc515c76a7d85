package signature

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Standard Webhooks headers (canonical form).
const (
	StandardIDHeader        = "Webhook-Id"
	StandardTimestampHeader = "Webhook-Timestamp"
	StandardSignatureHeader = "Webhook-Signature"

	// Svix sends the same scheme under its own names (Clerk, Resend, Brex…).
	SvixIDHeader        = "Svix-Id"
	SvixTimestampHeader = "Svix-Timestamp"
	SvixSignatureHeader = "Svix-Signature"
)

// maxStandardID bounds webhook-id: it becomes the event id (1–255 chars).
const maxStandardID = 255

// Standard verifies Standard Webhooks (https://www.standardwebhooks.com, the
// scheme Svix and others send): `webhook-signature` is a space-separated list
// of `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`
// and, with public keys configured, `v1a,<base64 Ed25519 signature>` over the
// same string; entries of other versions are skipped. Svix's `svix-id`,
// `svix-timestamp`, `svix-signature` are read when the webhook-* headers are
// absent. Keys are the base64-decoded secrets (see ParseStandardSecret).
type Standard struct {
	keys      []*key
	pubs      []ed25519.PublicKey
	tolerance time.Duration
}

// NewStandard returns a Standard Webhooks verifier over decoded keys;
// tolerance <= 0 means DefaultTolerance.
func NewStandard(keys [][]byte, tolerance time.Duration) (*Standard, error) {
	return NewStandardKeys(keys, nil, tolerance)
}

// NewStandardKeys returns a Standard Webhooks verifier over symmetric keys
// (v1) and Ed25519 public keys (v1a); at least one of either.
func NewStandardKeys(keys, publicKeys [][]byte, tolerance time.Duration) (*Standard, error) {
	s := &Standard{tolerance: tolerance}
	if s.tolerance <= 0 {
		s.tolerance = DefaultTolerance
	}
	if err := checkCount(len(keys) + len(publicKeys)); err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		k, err := newKeys(keys)
		if err != nil {
			return nil, err
		}
		s.keys = k
	}
	for _, pk := range publicKeys {
		if len(pk) != ed25519.PublicKeySize {
			return nil, errors.New("signature: not an Ed25519 public key")
		}
		s.pubs = append(s.pubs, ed25519.PublicKey(pk))
	}
	return s, nil
}

// ParseStandardPublicKey decodes a Standard Webhooks public key:
// "whpk_" followed by the base64 Ed25519 key.
func ParseStandardPublicKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whpk_"))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("signature: public key is not whpk_<base64 Ed25519 key>")
	}
	return b, nil
}

// ParseStandardSecret decodes a Standard Webhooks secret: "whsec_" followed by
// standard base64 (the prefix is optional, as in the reference libraries). The
// error never contains the secret.
func ParseStandardSecret(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(b) == 0 {
		return nil, errors.New("signature: secret is not whsec_<base64>")
	}
	return b, nil
}

// Verify implements Verifier.
func (s *Standard) Verify(h http.Header, body []byte, now time.Time) error {
	idH, tsH, sigH := StandardIDHeader, StandardTimestampHeader, StandardSignatureHeader
	if len(h[idH]) == 0 && len(h[tsH]) == 0 && len(h[sigH]) == 0 {
		idH, tsH, sigH = SvixIDHeader, SvixTimestampHeader, SvixSignatureHeader
	}
	id, err := single(h, idH)
	if err != nil {
		return err
	}
	tsRaw, err := single(h, tsH)
	if err != nil {
		return err
	}
	sigHeader, err := single(h, sigH)
	if err != nil {
		return err
	}
	if len(id) > maxStandardID {
		return ErrInvalid
	}
	ts, ok := parseUnix(tsRaw)
	if !ok {
		return ErrInvalid
	}
	if len(s.pubs) > 0 {
		return s.verifyAsymmetric(id, tsRaw, ts, sigHeader, body, now)
	}
	var sigs [maxSignatures][sha256.Size]byte
	n, err := ParseStandardSignatures(sigHeader, &sigs)
	if err != nil {
		return err
	}
	if !withinTolerance(ts, now, s.tolerance) {
		return ErrExpired
	}
	if !matchAny(s.keys, id, tsRaw, body, sigs[:n]) {
		return ErrInvalid
	}
	return nil
}

// verifyAsymmetric accepts a v1a entry under a public key or, when
// symmetric keys are configured too, a v1 entry under one of them.
func (s *Standard) verifyAsymmetric(id, tsRaw string, ts int64, sigHeader string, body []byte, now time.Time) error {
	var v1 [maxSignatures][sha256.Size]byte
	n, seen := 0, 0
	var msg []byte
	ok := false
	for _, item := range strings.Split(sigHeader, " ") {
		if item == "" {
			continue
		}
		version, sig, found := strings.Cut(item, ",")
		if !found {
			return ErrInvalid
		}
		switch version {
		case "v1":
			if len(s.keys) > 0 && n < len(v1) && decodeBase64(base64.StdEncoding, sig, &v1[n]) {
				n++
			}
		case "v1a":
			if seen++; seen > maxSignatures {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(sig)
			if err != nil || len(raw) != ed25519.SignatureSize {
				return ErrInvalid
			}
			if msg == nil {
				msg = make([]byte, 0, len(id)+len(tsRaw)+2+len(body))
				msg = append(append(append(append(append(msg, id...), '.'), tsRaw...), '.'), body...)
			}
			for _, k := range s.pubs {
				if ed25519.Verify(k, msg, raw) {
					ok = true
				}
			}
		}
	}
	if n == 0 && seen == 0 {
		return ErrInvalid
	}
	if !withinTolerance(ts, now, s.tolerance) {
		return ErrExpired
	}
	if !ok && (n == 0 || !matchAny(s.keys, id, tsRaw, body, v1[:n])) {
		return ErrInvalid
	}
	return nil
}

// ParseStandardSignatures parses a webhook-signature value: space-separated
// "<version>,<base64>" entries. v1 entries must decode to 32 bytes; entries of
// other versions are skipped, as are v1 entries beyond len(sigs). No v1 entry
// at all, or a malformed one, gives ErrInvalid. It never panics and does not
// allocate.
func ParseStandardSignatures(v string, sigs *[maxSignatures][sha256.Size]byte) (int, error) {
	n := 0
	for rest := v; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, " ")
		if item == "" {
			continue
		}
		version, sig, ok := strings.Cut(item, ",")
		if !ok {
			return 0, ErrInvalid
		}
		if version != "v1" {
			continue
		}
		if n == len(sigs) {
			continue
		}
		if !decodeBase64(base64.StdEncoding, sig, &sigs[n]) {
			return 0, ErrInvalid
		}
		n++
	}
	if n == 0 {
		return 0, ErrInvalid
	}
	return n, nil
}

// decodeBase64 decodes s (which must encode exactly 32 bytes) into out
// without allocating.
func decodeBase64(enc *base64.Encoding, s string, out *[sha256.Size]byte) bool {
	var src [64]byte
	if len(s) == 0 || len(s) > len(src) {
		return false
	}
	copy(src[:], s)
	var dst [48]byte
	n, err := enc.Decode(dst[:], src[:len(s)])
	if err != nil || n != sha256.Size {
		return false
	}
	copy(out[:], dst[:n])
	return true
}
