package signature

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's and some providers' scheme: HMAC-SHA1 is still a sound MAC
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
)

// PartKind is one piece of a signed string.
type PartKind int

// The pieces a provider's signed string is made of.
const (
	// PartText is literal text (Part.Text).
	PartText PartKind = iota
	// PartTimestamp is the timestamp exactly as sent.
	PartTimestamp
	// PartBody is the raw body.
	PartBody
	// PartURL is the configured public URL of the endpoint.
	PartURL
	// PartMethod is the request method (always POST for webhooks).
	PartMethod
	// PartFormParams is Twilio's: every form field of the body, sorted by
	// name, written as name+value (a repeated field: its distinct values
	// sorted, each as name+value).
	PartFormParams
)

// Part is one piece of a signed string.
type Part struct {
	Kind PartKind
	Text string
}

// Template describes an HMAC over a signed string built from the request:
// Slack (`v0:{ts}:{body}`), Zoom, Paddle (`{ts}:{body}`, header `ts=…;h1=…`),
// HubSpot v3 (`POST{url}{body}{ts}`), Square (`{url}{body}`), Twilio
// (`{url}{sorted form params}`, SHA-1; a JSON body: `{url}?bodySHA256={hex}`,
// see BodyHashParam), and plain body HMACs with SHA-1 or SHA-512.
type Template struct {
	// Algorithm: "sha1", "sha256" or "sha512".
	Algorithm string
	// Header carries the signature.
	Header string
	// Encoding of the MAC: EncodingHex or EncodingBase64.
	Encoding string
	// Prefix precedes the encoded MAC in the header ("v0=", "sha256=").
	Prefix string
	// Parts is the signed string, in order.
	Parts []Part
	// TimestampHeader, when set, carries the signed timestamp (Unix
	// seconds, or milliseconds with TimestampMillis).
	TimestampHeader string
	TimestampMillis bool
	// BodyTimestamp, when set, is a top-level JSON number of the signed body
	// holding the send time in milliseconds (Linear's webhookTimestamp); it
	// must be within Tolerance.
	BodyTimestamp string
	// ListSep, when set, makes Header a list such as Paddle's
	// `ts=1671552777;h1=abc…`: items separated by ListSep, the timestamp
	// under TimestampKey and one or more MACs under SignatureKey.
	ListSep, TimestampKey, SignatureKey string
	// URL is the endpoint's public URL exactly as configured at the
	// provider (PartURL).
	URL string
	// BodyHashParam, when set, is how Twilio signs a body that is not
	// form-encoded (JSON): it appends ?<BodyHashParam>=<hex SHA-256 of the
	// body> (& when URL has a query already) to the URL it requests and
	// signs that URL alone, with no form fields. The hash is computed here
	// from the body received, so a changed body breaks the signature.
	BodyHashParam string
	// Tolerance bounds the timestamp's distance from now (DefaultTolerance
	// when 0); unused without a timestamp.
	Tolerance time.Duration
}

// TemplateVerifier verifies a Template.
type TemplateVerifier struct {
	t       Template
	newHash func() hash.Hash
	secrets [][]byte
	size    int
}

// NewTemplate returns a verifier for t under the given secrets.
func NewTemplate(secrets [][]byte, t Template) (*TemplateVerifier, error) {
	if err := checkCount(len(secrets)); err != nil {
		return nil, err
	}
	v := &TemplateVerifier{t: t}
	switch t.Algorithm {
	case "sha1":
		v.newHash, v.size = sha1.New, sha1.Size
	case "sha256", "":
		v.newHash, v.size = sha256.New, sha256.Size
	case "sha512":
		v.newHash, v.size = sha512.New, sha512.Size
	default:
		return nil, errors.New("signature: algorithm must be sha1, sha256 or sha512")
	}
	if t.Encoding != EncodingHex && t.Encoding != EncodingBase64 {
		return nil, errors.New("signature: encoding must be hex or base64")
	}
	if !ValidHeaderName(t.Header) || (t.TimestampHeader != "" && !ValidHeaderName(t.TimestampHeader)) {
		return nil, errors.New("signature: invalid header name")
	}
	v.t.Header = textproto.CanonicalMIMEHeaderKey(t.Header)
	if t.TimestampHeader != "" {
		v.t.TimestampHeader = textproto.CanonicalMIMEHeaderKey(t.TimestampHeader)
	}
	if v.t.Tolerance <= 0 {
		v.t.Tolerance = DefaultTolerance
	}
	for _, p := range t.Parts {
		if p.Kind == PartURL && t.URL == "" {
			return nil, errors.New("signature: this scheme signs the endpoint URL; configure it")
		}
	}
	for _, s := range secrets {
		if len(s) == 0 {
			return nil, errNoSecrets
		}
		v.secrets = append(v.secrets, append([]byte(nil), s...))
	}
	return v, nil
}

// Headers are the request headers the scheme reads.
func (v *TemplateVerifier) Headers() []string {
	if v.t.TimestampHeader != "" {
		return []string{v.t.Header, v.t.TimestampHeader}
	}
	return []string{v.t.Header}
}

func (v *TemplateVerifier) timestamped() bool {
	if v.t.TimestampHeader != "" || v.t.TimestampKey != "" || v.t.BodyTimestamp != "" {
		return true
	}
	return slices.ContainsFunc(v.t.Parts, func(p Part) bool { return p.Kind == PartTimestamp })
}

// Verify implements Verifier.
func (v *TemplateVerifier) Verify(h http.Header, body []byte, now time.Time) error {
	val, err := single(h, v.t.Header)
	if err != nil {
		return err
	}
	var tsRaw string
	var sigs [][]byte
	if v.t.ListSep != "" {
		for _, item := range strings.Split(val, v.t.ListSep) {
			k, s, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				return ErrInvalid
			}
			switch k {
			case v.t.TimestampKey:
				if tsRaw != "" {
					return ErrInvalid
				}
				tsRaw = s
			case v.t.SignatureKey:
				if len(sigs) < maxSignatures {
					mac, ok := v.decode(s)
					if !ok {
						return ErrInvalid
					}
					sigs = append(sigs, mac)
				}
			}
		}
		if len(sigs) == 0 || (v.t.TimestampKey != "" && tsRaw == "") {
			return ErrInvalid
		}
	} else {
		enc, ok := strings.CutPrefix(val, v.t.Prefix)
		if !ok {
			return ErrInvalid
		}
		mac, ok := v.decode(enc)
		if !ok {
			return ErrInvalid
		}
		sigs = append(sigs, mac)
	}
	if v.t.TimestampHeader != "" {
		if tsRaw, err = single(h, v.t.TimestampHeader); err != nil {
			return err
		}
	}
	if v.t.BodyTimestamp != "" {
		var doc map[string]json.RawMessage
		if json.Unmarshal(body, &doc) != nil {
			return ErrInvalid
		}
		raw, ok := doc[v.t.BodyTimestamp]
		if !ok {
			return ErrMissing
		}
		tsRaw = string(raw)
	}
	if v.timestamped() {
		var ts int64
		var ok bool
		if v.t.TimestampMillis || v.t.BodyTimestamp != "" {
			ts, ok = parseMillis(tsRaw)
		} else {
			ts, ok = parseUnix(tsRaw)
		}
		if !ok {
			return ErrInvalid
		}
		if !withinTolerance(ts, now, v.t.Tolerance) {
			return ErrExpired
		}
	}
	var form url.Values
	signedURL := v.t.URL
	if slices.ContainsFunc(v.t.Parts, func(p Part) bool { return p.Kind == PartFormParams }) {
		if v.t.BodyHashParam != "" && !formEncoded(h) {
			signedURL = withBodyHash(v.t.URL, v.t.BodyHashParam, body)
		} else if form, err = url.ParseQuery(string(body)); err != nil {
			return ErrInvalid
		}
	}
	ok := 0
	for _, secret := range v.secrets {
		m := hmac.New(v.newHash, secret)
		for _, p := range v.t.Parts {
			switch p.Kind {
			case PartText:
				m.Write([]byte(p.Text))
			case PartTimestamp:
				m.Write([]byte(tsRaw))
			case PartBody:
				m.Write(body)
			case PartURL:
				m.Write([]byte(signedURL))
			case PartMethod:
				m.Write([]byte(http.MethodPost))
			case PartFormParams:
				writeFormParams(m, form)
			}
		}
		sum := m.Sum(nil)
		for _, s := range sigs {
			if hmac.Equal(sum, s) {
				ok = 1
			}
		}
	}
	if ok != 1 {
		return ErrInvalid
	}
	return nil
}

func (v *TemplateVerifier) decode(s string) ([]byte, bool) {
	var b []byte
	var err error
	if v.t.Encoding == EncodingBase64 {
		b, err = base64.StdEncoding.DecodeString(s)
	} else {
		b, err = hex.DecodeString(s)
	}
	if err != nil || len(b) != v.size {
		return nil, false
	}
	return b, true
}

// writeFormParams writes Twilio's canonical form: fields sorted by name,
// each value as name+value; a repeated field's distinct values sorted.
func writeFormParams(w hash.Hash, form url.Values) {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vals := slices.Clone(form[k])
		slices.Sort(vals)
		vals = slices.Compact(vals)
		for _, val := range vals {
			w.Write([]byte(k))
			w.Write([]byte(val))
		}
	}
}

// formEncoded reports whether the request's Content-Type is
// application/x-www-form-urlencoded.
func formEncoded(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// withBodyHash is the URL Twilio requests, and signs, for a JSON body:
// u with <param>=<hex SHA-256 of body> appended to its query.
func withBodyHash(u, param string, body []byte) string {
	sum := sha256.Sum256(body)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + param + "=" + hex.EncodeToString(sum[:])
}

// parseMillis parses a Unix time in milliseconds (at most 15 digits) into
// seconds.
func parseMillis(s string) (int64, bool) {
	n, ok := parseDigits(s, 15)
	return n / 1000, ok
}
