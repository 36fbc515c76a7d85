package signature

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"
)

// Public-key schemes: the provider signs with a private key and we hold only
// its public key, so a leaked configuration cannot forge a delivery.

// Discord headers (canonical form).
const (
	DiscordSignatureHeader = "X-Signature-Ed25519"
	DiscordTimestampHeader = "X-Signature-Timestamp"
)

// Discord verifies Ed25519 over "<X-Signature-Timestamp><body>", the
// signature in hex, keys as the application's hex public key. Discord
// documents no timestamp window (and its library checks none); none is
// enforced, the interaction id in the body dedups a replay.
type Discord struct{ keys []ed25519.PublicKey }

// ParseEd25519Hex decodes a hex Ed25519 public key.
func ParseEd25519Hex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("signature: not a hex Ed25519 public key")
	}
	return b, nil
}

// NewDiscord returns a Discord verifier over raw Ed25519 public keys.
func NewDiscord(keys [][]byte) (*Discord, error) {
	d := &Discord{}
	if err := checkCount(len(keys)); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("signature: not an Ed25519 public key")
		}
		d.keys = append(d.keys, ed25519.PublicKey(k))
	}
	return d, nil
}

// Verify implements Verifier.
func (d *Discord) Verify(h http.Header, body []byte, _ time.Time) error {
	sigHex, err := single(h, DiscordSignatureHeader)
	if err != nil {
		return err
	}
	ts, err := single(h, DiscordTimestampHeader)
	if err != nil {
		return err
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrInvalid
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	for _, k := range d.keys {
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	}
	return ErrInvalid
}

// SendGrid headers (canonical form).
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// SendGrid verifies the Event Webhook's ECDSA (P-256, SHA-256) signature over
// "<timestamp><body>": the signature is base64 ASN.1 DER, the key the
// base64 DER public key SendGrid shows. Like its library, no timestamp
// window is enforced (SendGrid batches and retries for up to 24 hours);
// the body digest dedups a replay.
type SendGrid struct{ keys []*ecdsa.PublicKey }

// ParseECDSAPublicKey decodes a base64 DER (SubjectPublicKeyInfo) ECDSA key.
func ParseECDSAPublicKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("signature: not a base64 public key")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("signature: not a DER public key")
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("signature: not an ECDSA public key")
	}
	return pub, nil
}

// NewSendGrid returns a SendGrid verifier.
func NewSendGrid(keys []*ecdsa.PublicKey) (*SendGrid, error) {
	if err := checkCount(len(keys)); err != nil {
		return nil, err
	}
	return &SendGrid{keys: keys}, nil
}

// Verify implements Verifier.
func (s *SendGrid) Verify(h http.Header, body []byte, _ time.Time) error {
	sigB64, err := single(h, SendGridSignatureHeader)
	if err != nil {
		return err
	}
	ts, err := single(h, SendGridTimestampHeader)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) > 80 {
		return ErrInvalid
	}
	d := sha256.New()
	d.Write([]byte(ts))
	d.Write(body)
	sum := d.Sum(nil)
	for _, k := range s.keys {
		if ecdsa.VerifyASN1(k, sum, sig) {
			return nil
		}
	}
	return ErrInvalid
}
