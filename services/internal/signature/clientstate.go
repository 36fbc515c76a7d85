package signature

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"
)

// ClientState verifies Microsoft Graph change notifications, which carry no
// signature: the subscriber chooses a clientState when it subscribes, and
// every notification of the body's "value" array carries it back. Each one
// must equal a configured secret (several for rotation; notifications of
// different subscriptions may carry different ones). Like Token, this
// authenticates the sender but not the content: only TLS protects a
// delivery in transit.
//
// Keys are matched exactly ("value", "clientState"), never case-folded as
// encoding/json does for struct fields, so the field checked is the field
// stored; a body repeating a key is refused later by the JSON guard.
type ClientState struct {
	sums [][sha256.Size]byte
}

// NewClientState returns a clientState verifier.
func NewClientState(secrets [][]byte) (*ClientState, error) {
	if err := checkCount(len(secrets)); err != nil {
		return nil, err
	}
	c := &ClientState{}
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errNoSecrets
		}
		c.sums = append(c.sums, sha256.Sum256(s))
	}
	return c, nil
}

// Verify implements Verifier: ErrMissing when the body has no notification
// or a notification has no clientState, ErrInvalid when the body is not a
// notification collection or any clientState matches no secret. States are
// compared as SHA-256 digests in constant time.
func (c *ClientState) Verify(_ http.Header, body []byte, _ time.Time) error {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return ErrInvalid
	}
	raw, ok := doc["value"]
	if !ok {
		return ErrMissing
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return ErrInvalid
	}
	if len(items) == 0 {
		return ErrMissing
	}
	for _, item := range items {
		rs, ok := item["clientState"]
		if !ok {
			return ErrMissing
		}
		var state string
		if json.Unmarshal(rs, &state) != nil || state == "" {
			return ErrInvalid
		}
		sum := sha256.Sum256([]byte(state))
		match := 0
		for i := range c.sums {
			match |= subtle.ConstantTimeCompare(sum[:], c.sums[i][:])
		}
		if match != 1 {
			return ErrInvalid
		}
	}
	return nil
}
