// Package signature verifies webhook signatures the way the providers send
// them: Stripe (Stripe-Signature), GitHub (X-Hub-Signature-256), Standard
// Webhooks (webhook-id/-timestamp/-signature, used by Svix and others) and a
// generic HMAC-SHA256 header.
//
// Every scheme is computed over the exact raw bytes received (never a
// re-serialised body), compared with hmac.Equal, accepts several secrets so
// they can be rotated, and reports only one of three sentinel errors:
// ErrMissing, ErrInvalid or ErrExpired. Callers must not tell the sender more
// than that (which secret, which part or how close a guess was).
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The only errors a Verifier returns.
var (
	// ErrMissing: the request carries no signature (or misses a header the
	// scheme signs, such as a timestamp).
	ErrMissing = errors.New("signature missing")
	// ErrInvalid: a signature is present but malformed or does not match
	// any configured secret.
	ErrInvalid = errors.New("signature invalid")
	// ErrExpired: the signed timestamp is outside the tolerance window
	// (too old, or too far in the future).
	ErrExpired = errors.New("signature expired")
)

// Verifier checks one request's signature over its raw body.
type Verifier interface {
	// Verify returns nil when the request is signed by one of the configured
	// secrets (and, for timestamped schemes, within the tolerance of now),
	// else ErrMissing, ErrInvalid or ErrExpired. h must hold canonical keys,
	// as net/http's server produces.
	Verify(h http.Header, body []byte, now time.Time) error
}

// Scheme names, as written in PROVIDER_<NAME>_SCHEME.
const (
	SchemeNone     = "none"
	SchemeStripe   = "stripe"
	SchemeGitHub   = "github"
	SchemeStandard = "standard"
	SchemeHMAC     = "hmac-sha256"
)

// DefaultTolerance is how far a signed timestamp may be from the server clock
// (in either direction) for the timestamped schemes; Stripe's and Standard
// Webhooks' own default.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds how many candidate signatures one header may carry;
// extra ones are ignored. Providers send one or two (during rotation).
const maxSignatures = 8

// MaxSecrets bounds the secrets (or public keys) of one verifier: rotation
// needs two or three.
const MaxSecrets = 16

var errNoSecrets = errors.New("signature: at least one secret is required")
var errTooManySecrets = fmt.Errorf("signature: more than %d secrets", MaxSecrets)

// checkCount refuses no secret at all and more than MaxSecrets.
func checkCount(n int) error {
	if n == 0 {
		return errNoSecrets
	}
	if n > MaxSecrets {
		return errTooManySecrets
	}
	return nil
}

// ValidHeaderName reports whether s can be a header name: an RFC 9110
// token (letters, digits and !#$%&'*+-.^_`|~) of 1 to 128 bytes. It is the
// project's one rule for a configured header name.
func ValidHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// key is one secret with a pool of keyed HMAC states, so the hot path does not
// rebuild the HMAC (two SHA-256 states) on every request.
type key struct {
	pool sync.Pool
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newKeys(secrets [][]byte) ([]*key, error) {
	if err := checkCount(len(secrets)); err != nil {
		return nil, err
	}
	keys := make([]*key, 0, len(secrets))
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errNoSecrets
		}
		secret := append([]byte(nil), s...)
		k := &key{}
		k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
		keys = append(keys, k)
	}
	return keys, nil
}

// mac writes HMAC-SHA256(secret, [a "."] [b "."] body) into out. a and b are
// written only when non-empty; they are the exact header bytes the sender
// signed (Standard Webhooks: id and timestamp; Stripe: the timestamp).
func (k *key) mac(a, b string, body []byte, out *[sha256.Size]byte) {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	if a != "" || b != "" {
		st.buf = st.buf[:0]
		if a != "" {
			st.buf = append(st.buf, a...)
			st.buf = append(st.buf, '.')
		}
		if b != "" {
			st.buf = append(st.buf, b...)
			st.buf = append(st.buf, '.')
		}
		st.h.Write(st.buf)
	}
	st.h.Write(body)
	*out = [sha256.Size]byte(st.h.Sum(st.sum[:0]))
	if cap(st.buf) <= 512 { // don't keep a huge buffer from a hostile header
		k.pool.Put(st)
	}
}

// matchAny reports whether any of the candidate MACs equals the MAC of the
// message under any key, comparing in constant time. Every key and candidate
// is tried, so the time taken does not depend on which one matched.
func matchAny(keys []*key, a, b string, body []byte, cands [][sha256.Size]byte) bool {
	ok := 0
	var sum [sha256.Size]byte
	for _, k := range keys {
		k.mac(a, b, body, &sum)
		for i := range cands {
			if hmac.Equal(sum[:], cands[i][:]) {
				ok = 1
			}
		}
	}
	return ok == 1
}

// single returns the only value of a header: ErrMissing when absent or empty,
// ErrInvalid when sent more than once (an ambiguity we refuse to resolve).
func single(h http.Header, canonicalKey string) (string, error) {
	v := h[canonicalKey]
	switch {
	case len(v) == 0 || (len(v) == 1 && v[0] == ""):
		return "", ErrMissing
	case len(v) > 1:
		return "", ErrInvalid
	}
	return v[0], nil
}

// parseUnix parses a positive decimal count of seconds (at most 12 digits,
// which covers dates until the year 33658) without allocating.
func parseUnix(s string) (int64, bool) { return parseDigits(s, 12) }

// parseDigits parses 1 to maxDigits decimal digits without allocating.
func parseDigits(s string, maxDigits int) (int64, bool) {
	if len(s) == 0 || len(s) > maxDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// withinTolerance reports whether ts (Unix seconds) is at most tol away from
// now in either direction.
func withinTolerance(ts int64, now time.Time, tol time.Duration) bool {
	d := now.Unix() - ts
	if d < 0 {
		d = -d
	}
	return d <= int64(tol/time.Second)
}

// decodeHex decodes exactly 64 hex digits (either case) into out.
func decodeHex(s string, out *[sha256.Size]byte) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < sha256.Size; i++ {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		out[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Headers lists the request headers v reads (for CORS, and to tell a
// request that carries no signature at all before its body is read).
func Headers(v Verifier) []string {
	switch v := v.(type) {
	case *Stripe:
		return []string{StripeHeader}
	case *GitHub:
		return []string{GitHubHeader}
	case *Standard:
		return []string{StandardIDHeader, StandardTimestampHeader, StandardSignatureHeader,
			SvixIDHeader, SvixTimestampHeader, SvixSignatureHeader}
	case *HMAC:
		return []string{v.Header()}
	case *TemplateVerifier:
		return v.Headers()
	case *Token:
		return []string{v.Header()}
	case *Discord:
		return []string{DiscordSignatureHeader, DiscordTimestampHeader}
	case *SendGrid:
		return []string{SendGridSignatureHeader, SendGridTimestampHeader}
	}
	return nil
}

// StandardIDOf returns the id header value a Standard verifier authenticated
// for h: webhook-id, or svix-id when no webhook-* header is present (the
// same rule Verify applies), so the event id is always the signed one.
func StandardIDOf(h http.Header) []string {
	if len(h[StandardIDHeader]) == 0 && len(h[StandardTimestampHeader]) == 0 && len(h[StandardSignatureHeader]) == 0 {
		return h[SvixIDHeader]
	}
	return h[StandardIDHeader]
}
