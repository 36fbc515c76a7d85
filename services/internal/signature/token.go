package signature

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// Token checks a shared secret sent as is in a header (GitLab's
// X-Gitlab-Token) or as HTTP Basic credentials (Postmark, Mailgun routes:
// secrets are "user:password"). Nothing is signed: the token authenticates
// the sender but not the body, so only TLS protects a delivery in transit.
type Token struct {
	header string
	basic  bool
	sums   [][sha256.Size]byte
}

// NewToken returns a shared-token verifier reading header; with basic the
// header is Authorization and holds "Basic base64(user:password)".
func NewToken(secrets [][]byte, header string, basic bool) (*Token, error) {
	if err := checkCount(len(secrets)); err != nil {
		return nil, err
	}
	if basic {
		header = "Authorization"
	}
	if !ValidHeaderName(header) {
		return nil, errors.New("signature: invalid header name")
	}
	t := &Token{header: textproto.CanonicalMIMEHeaderKey(header), basic: basic}
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errNoSecrets
		}
		if basic && !strings.Contains(string(s), ":") {
			return nil, errors.New("signature: basic credentials must be user:password")
		}
		t.sums = append(t.sums, sha256.Sum256(s))
	}
	return t, nil
}

// Header is the header the token is read from.
func (t *Token) Header() string { return t.header }

// Verify implements Verifier. Tokens are compared as SHA-256 digests in
// constant time, so neither their content nor their length leaks.
func (t *Token) Verify(h http.Header, _ []byte, _ time.Time) error {
	v, err := single(h, t.header)
	if err != nil {
		return err
	}
	if t.basic {
		enc, ok := strings.CutPrefix(v, "Basic ")
		if !ok {
			return ErrInvalid
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return ErrInvalid
		}
		v = string(b)
	}
	sum := sha256.Sum256([]byte(v))
	ok := 0
	for i := range t.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], t.sums[i][:])
	}
	if ok != 1 {
		return ErrInvalid
	}
	return nil
}
