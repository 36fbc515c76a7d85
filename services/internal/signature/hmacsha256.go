package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// Encodings of the generic HMAC-SHA256 scheme.
const (
	EncodingHex    = "hex"
	EncodingBase64 = "base64"
)

// HMAC verifies a generic `<Header>: <prefix><hex|base64 HMAC-SHA256(secret,
// raw body)>`, e.g. `X-Signature: sha256=…`. No timestamp is signed.
type HMAC struct {
	keys   []*key
	header string
	base64 bool
	prefix string
}

// NewHMAC returns a generic HMAC-SHA256 verifier. header is any valid header
// name; encoding is EncodingHex or EncodingBase64 (standard alphabet, padded);
// prefix (possibly empty) must precede the encoded MAC exactly.
func NewHMAC(secrets [][]byte, header, encoding, prefix string) (*HMAC, error) {
	keys, err := newKeys(secrets)
	if err != nil {
		return nil, err
	}
	if !ValidHeaderName(header) {
		return nil, errors.New("signature: invalid header name")
	}
	v := &HMAC{keys: keys, header: textproto.CanonicalMIMEHeaderKey(header), prefix: prefix}
	switch encoding {
	case EncodingHex:
	case EncodingBase64:
		v.base64 = true
	default:
		return nil, errors.New("signature: encoding must be hex or base64")
	}
	return v, nil
}

// Header is the canonical name of the header the signature is read from.
func (v *HMAC) Header() string { return v.header }

// Verify implements Verifier.
func (v *HMAC) Verify(h http.Header, body []byte, _ time.Time) error {
	val, err := single(h, v.header)
	if err != nil {
		return err
	}
	var sig [1][sha256.Size]byte
	if err := ParseHMACHeader(val, v.prefix, v.base64, &sig[0]); err != nil {
		return err
	}
	if !matchAny(v.keys, "", "", body, sig[:]) {
		return ErrInvalid
	}
	return nil
}

// ParseHMACHeader decodes "<prefix><encoded MAC>" into sig, or returns
// ErrInvalid. It never panics and does not allocate.
func ParseHMACHeader(val, prefix string, isBase64 bool, sig *[sha256.Size]byte) error {
	enc, ok := strings.CutPrefix(val, prefix)
	if !ok {
		return ErrInvalid
	}
	if isBase64 {
		ok = decodeBase64(base64.StdEncoding, enc, sig)
	} else {
		ok = decodeHex(enc, sig)
	}
	if !ok {
		return ErrInvalid
	}
	return nil
}
