package signature

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"time"
)

// StripeHeader is the header Stripe signs with (canonical form).
const StripeHeader = "Stripe-Signature"

// Stripe verifies `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: the v1
// values are HMAC-SHA256(secret, "<t>.<raw body>") in hex. Any v1 may match
// any secret (Stripe sends several v1 while a secret is rolled). The secret is
// used as-is, "whsec_" prefix included, as Stripe's libraries do.
type Stripe struct {
	keys      []*key
	tolerance time.Duration
}

// NewStripe returns a Stripe verifier; tolerance <= 0 means DefaultTolerance.
func NewStripe(secrets [][]byte, tolerance time.Duration) (*Stripe, error) {
	keys, err := newKeys(secrets)
	if err != nil {
		return nil, err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	return &Stripe{keys: keys, tolerance: tolerance}, nil
}

// Verify implements Verifier.
func (s *Stripe) Verify(h http.Header, body []byte, now time.Time) error {
	v, err := single(h, StripeHeader)
	if err != nil {
		return err
	}
	var sigs [maxSignatures][sha256.Size]byte
	ts, tsRaw, n, err := ParseStripeHeader(v, &sigs)
	if err != nil {
		return err
	}
	if !withinTolerance(ts, now, s.tolerance) {
		return ErrExpired
	}
	if !matchAny(s.keys, "", tsRaw, body, sigs[:n]) {
		return ErrInvalid
	}
	return nil
}

// ParseStripeHeader parses a Stripe-Signature value: comma-separated
// key=value pairs with exactly one t (Unix seconds) and at least one v1 (64
// hex digits). Other keys (v0, future schemes) are ignored, as are v1 values
// beyond the first len(sigs). It returns the timestamp, its exact text (the
// signed bytes), and how many v1 values were decoded into sigs; any malformed
// part gives ErrInvalid. It never panics and does not allocate.
func ParseStripeHeader(v string, sigs *[maxSignatures][sha256.Size]byte) (ts int64, tsRaw string, n int, err error) {
	seenT := false
	for rest := v; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return 0, "", 0, ErrInvalid
		}
		switch k {
		case "t":
			if seenT {
				return 0, "", 0, ErrInvalid
			}
			seenT = true
			if ts, ok = parseUnix(val); !ok {
				return 0, "", 0, ErrInvalid
			}
			tsRaw = val
		case "v1":
			if n == len(sigs) {
				continue
			}
			if !decodeHex(val, &sigs[n]) {
				return 0, "", 0, ErrInvalid
			}
			n++
		}
	}
	if !seenT || n == 0 {
		return 0, "", 0, ErrInvalid
	}
	return ts, tsRaw, n, nil
}
