package signature

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"time"
)

// GitHubHeader is the header GitHub signs with (canonical form).
const GitHubHeader = "X-Hub-Signature-256"

// GitHub verifies `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256(secret,
// raw body). GitHub signs no timestamp: replays are caught by the event id
// (X-GitHub-Delivery) deduplication downstream, not here.
type GitHub struct {
	keys []*key
}

// NewGitHub returns a GitHub verifier.
func NewGitHub(secrets [][]byte) (*GitHub, error) {
	keys, err := newKeys(secrets)
	if err != nil {
		return nil, err
	}
	return &GitHub{keys: keys}, nil
}

// Verify implements Verifier.
func (g *GitHub) Verify(h http.Header, body []byte, _ time.Time) error {
	v, err := single(h, GitHubHeader)
	if err != nil {
		return err
	}
	var sig [1][sha256.Size]byte
	if err := ParseGitHubHeader(v, &sig[0]); err != nil {
		return err
	}
	if !matchAny(g.keys, "", "", body, sig[:]) {
		return ErrInvalid
	}
	return nil
}

// ParseGitHubHeader decodes "sha256=<64 hex digits>" into sig, or returns
// ErrInvalid. It never panics and does not allocate.
func ParseGitHubHeader(v string, sig *[sha256.Size]byte) error {
	hexSig, ok := strings.CutPrefix(v, "sha256=")
	if !ok || !decodeHex(hexSig, sig) {
		return ErrInvalid
	}
	return nil
}
