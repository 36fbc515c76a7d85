package signature

import (
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
)

// maxStandardID bounds webhook-id: it becomes the event id (1–255 chars).
const maxStandardID = 255

// Standard verifies Standard Webhooks (https://www.standardwebhooks.com, the
// scheme Svix and others send): `webhook-signature` is a space-separated list
// of `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`;
// entries of other versions (v1a, asymmetric) are skipped. Keys are the
// base64-decoded secrets (see ParseStandardSecret).
type Standard struct {
	keys      []*key
	tolerance time.Duration
}

// NewStandard returns a Standard Webhooks verifier over decoded keys;
// tolerance <= 0 means DefaultTolerance.
func NewStandard(keys [][]byte, tolerance time.Duration) (*Standard, error) {
	k, err := newKeys(keys)
	if err != nil {
		return nil, err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	return &Standard{keys: k, tolerance: tolerance}, nil
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
	id, err := single(h, StandardIDHeader)
	if err != nil {
		return err
	}
	tsRaw, err := single(h, StandardTimestampHeader)
	if err != nil {
		return err
	}
	sigHeader, err := single(h, StandardSignatureHeader)
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
