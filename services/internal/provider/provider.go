// Package provider turns the environment into provider profiles: for each
// webhook provider (the {provider} of POST /webhooks/{provider}) how its
// signature is verified and where its event id comes from, plus the optional
// allow-list of providers.
//
// Environment (NAME is the provider upper-cased, "-" becoming "_"):
//
//	PROVIDERS_ALLOWED          comma-separated provider names; empty = any valid name
//	PROVIDER_<NAME>_SCHEME     none | stripe | github | standard | hmac-sha256
//	PROVIDER_<NAME>_SECRETS    comma-separated secrets (several = rotation); required
//	                           for every scheme but none, refused with none
//	PROVIDER_<NAME>_TOLERANCE  stripe, standard: timestamp window, Go duration (default 5m, 1s–1h)
//	PROVIDER_<NAME>_HEADER     hmac-sha256: signature header (default X-Signature)
//	PROVIDER_<NAME>_ENCODING   hmac-sha256: hex (default) | base64
//	PROVIDER_<NAME>_PREFIX     hmac-sha256: text before the MAC, e.g. "sha256=" (default none)
//	PROVIDER_<NAME>_EVENT_ID   eventId | id | header:<Header-Name> (default by scheme)
//
// Anything inconsistent (unknown scheme, a signing scheme without secrets, a
// setting the scheme does not use, a secret that does not decode) is an error
// naming the variable, never its value: the ingress refuses to start rather
// than run a provider unverified (fail closed). Other PROVIDER_* variables
// (such as Kubernetes' injected PROVIDER_X_SERVICE_HOST) are ignored.
package provider

import (
	"fmt"
	"log/slog"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// IDSource says where a provider's event id is read from, and so which body
// format it sends.
type IDSource int

const (
	// IDEnvelope: the body is the seed's envelope and the id is its "eventId".
	IDEnvelope IDSource = iota
	// IDBody: the body is the provider's own JSON object with a string "id"
	// at the top level (Stripe events).
	IDBody
	// IDHeader: the body is the provider's own JSON and the id is a request
	// header (GitHub's X-GitHub-Delivery, Standard Webhooks' webhook-id).
	IDHeader
)

func (s IDSource) String() string {
	switch s {
	case IDBody:
		return "id"
	case IDHeader:
		return "header"
	}
	return "eventId"
}

// Profile is how one provider's requests are checked.
type Profile struct {
	// Scheme is one of the signature.Scheme* names.
	Scheme string
	// Verifier checks the signature; nil for scheme none.
	Verifier signature.Verifier
	// EventID says where the event id comes from.
	EventID IDSource
	// EventIDHeader is the canonical header name when EventID is IDHeader.
	EventIDHeader string

	secrets int
}

// Native reports whether the body is the provider's own JSON rather than the
// seed's envelope.
func (p *Profile) Native() bool { return p.EventID != IDEnvelope }

// Default is the profile of providers with no configuration: the seed's
// envelope, no signature.
var Default = &Profile{Scheme: signature.SchemeNone, EventID: IDEnvelope}

// Registry resolves a provider name to its profile.
type Registry struct {
	allowed  map[string]struct{} // nil: any valid name
	profiles map[string]*Profile // by NAME
}

// Lookup returns the profile for provider, and false when an allow-list is
// set and provider is not on it (the caller answers 404). provider is
// expected to have passed the route's name check already. It does not
// allocate.
func (r *Registry) Lookup(provider string) (*Profile, bool) {
	if r.allowed != nil {
		if _, ok := r.allowed[provider]; !ok {
			return nil, false
		}
	}
	if len(r.profiles) == 0 {
		return Default, true
	}
	var buf [maxName]byte
	if len(provider) > len(buf) {
		return Default, true // longer than any configurable NAME
	}
	for i := 0; i < len(provider); i++ {
		c := provider[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		buf[i] = c
	}
	if p, ok := r.profiles[string(buf[:len(provider)])]; ok {
		return p, true
	}
	return Default, true
}

// Allowed returns the allow-list (nil when any provider is accepted).
func (r *Registry) Allowed() []string {
	if r.allowed == nil {
		return nil
	}
	out := make([]string, 0, len(r.allowed))
	for n := range r.allowed {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// LogValue describes the configuration for the start-up log: names,
// schemes, secret counts and id sources, never a secret.
func (r *Registry) LogValue() slog.Value {
	names := make([]string, 0, len(r.profiles))
	for n := range r.profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	attrs := make([]slog.Attr, 0, len(names)+1)
	if r.allowed != nil {
		attrs = append(attrs, slog.String("allowed", strings.Join(r.Allowed(), ",")))
	}
	for _, n := range names {
		p := r.profiles[n]
		desc := fmt.Sprintf("scheme=%s secrets=%d eventId=%s", p.Scheme, p.secrets, p.EventID)
		if p.EventID == IDHeader {
			desc += ":" + p.EventIDHeader
		}
		attrs = append(attrs, slog.String(n, desc))
	}
	return slog.GroupValue(attrs...)
}

const (
	maxName      = 64
	envAllowed   = "PROVIDERS_ALLOWED"
	envPrefix    = "PROVIDER_"
	keyScheme    = "SCHEME"
	keySecrets   = "SECRETS"
	keyTolerance = "TOLERANCE"
	keyHeader    = "HEADER"
	keyEncoding  = "ENCODING"
	keyPrefix    = "PREFIX"
	keyEventID   = "EVENT_ID"
)

var keys = []string{keyScheme, keySecrets, keyTolerance, keyHeader, keyEncoding, keyPrefix, keyEventID}

// Load reads the provider configuration from an os.Environ()-style list
// ("KEY=value" entries; later entries win, as in the process environment).
func Load(environ []string) (*Registry, error) {
	settings := map[string]map[string]string{} // NAME → key → value
	var allowed *string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if k == envAllowed {
			allowed = &v
			continue
		}
		rest, ok := strings.CutPrefix(k, envPrefix)
		if !ok {
			continue
		}
		for _, key := range keys {
			name, ok := strings.CutSuffix(rest, "_"+key)
			if !ok || name == "" {
				continue
			}
			if !validName(name) {
				return nil, fmt.Errorf("%s: %q is not a valid provider NAME (upper-case letters, digits, _; at most %d)", k, name, maxName)
			}
			if settings[name] == nil {
				settings[name] = map[string]string{}
			}
			settings[name][key] = v
			break
		}
	}

	r := &Registry{profiles: make(map[string]*Profile, len(settings))}
	if allowed != nil {
		for _, n := range strings.Split(*allowed, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if !validProvider(n) {
				return nil, fmt.Errorf("%s: %q is not a valid provider name (^[a-z0-9][a-z0-9_-]{0,63}$)", envAllowed, n)
			}
			if r.allowed == nil {
				r.allowed = map[string]struct{}{}
			}
			r.allowed[n] = struct{}{}
		}
	}
	for name, s := range settings {
		p, err := build(name, s)
		if err != nil {
			return nil, err
		}
		r.profiles[name] = p
	}
	return r, nil
}

func build(name string, s map[string]string) (*Profile, error) {
	env := func(key string) string { return envPrefix + name + "_" + key }
	rawScheme, ok := s[keyScheme]
	if !ok {
		set := make([]string, 0, len(s))
		for k := range s {
			set = append(set, env(k))
		}
		slices.Sort(set)
		return nil, fmt.Errorf("%s is required when %s is set", env(keyScheme), strings.Join(set, ", "))
	}
	scheme := strings.ToLower(strings.TrimSpace(rawScheme))

	// Which settings each scheme understands; anything else is a mistake.
	uses := map[string]bool{keyScheme: true, keySecrets: true, keyEventID: true}
	switch scheme {
	case signature.SchemeNone, signature.SchemeGitHub:
	case signature.SchemeStripe, signature.SchemeStandard:
		uses[keyTolerance] = true
	case signature.SchemeHMAC:
		uses[keyHeader], uses[keyEncoding], uses[keyPrefix] = true, true, true
	default:
		return nil, fmt.Errorf("%s: unknown scheme %q (want none, stripe, github, standard or hmac-sha256)", env(keyScheme), rawScheme)
	}
	for k := range s {
		if !uses[k] {
			return nil, fmt.Errorf("%s is not used by scheme %s; remove it", env(k), scheme)
		}
	}

	var secrets []string
	for _, sec := range strings.Split(s[keySecrets], ",") {
		if sec = strings.TrimSpace(sec); sec != "" {
			secrets = append(secrets, sec)
		}
	}
	if scheme == signature.SchemeNone {
		if len(secrets) > 0 {
			return nil, fmt.Errorf("%s is set but %s is none: set a signing scheme or remove the secrets", env(keySecrets), env(keyScheme))
		}
	} else if len(secrets) == 0 {
		return nil, fmt.Errorf("%s: scheme %s needs at least one secret", env(keySecrets), scheme)
	}
	raw := make([][]byte, 0, len(secrets))
	for i, sec := range secrets {
		if scheme == signature.SchemeStandard {
			b, err := signature.ParseStandardSecret(sec)
			if err != nil {
				return nil, fmt.Errorf("%s: secret #%d is not whsec_<base64>", env(keySecrets), i+1)
			}
			raw = append(raw, b)
			continue
		}
		raw = append(raw, []byte(sec))
	}

	tolerance := signature.DefaultTolerance
	if v, ok := s[keyTolerance]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < time.Second || d > time.Hour {
			return nil, fmt.Errorf("%s: %q is not a duration between 1s and 1h", env(keyTolerance), v)
		}
		tolerance = d
	}

	p := &Profile{Scheme: scheme, secrets: len(raw)}
	var err error
	switch scheme {
	case signature.SchemeStripe:
		p.Verifier, err = signature.NewStripe(raw, tolerance)
		p.EventID = IDBody
	case signature.SchemeGitHub:
		p.Verifier, err = signature.NewGitHub(raw)
		p.EventID, p.EventIDHeader = IDHeader, "X-Github-Delivery"
	case signature.SchemeStandard:
		p.Verifier, err = signature.NewStandard(raw, tolerance)
		p.EventID, p.EventIDHeader = IDHeader, signature.StandardIDHeader
	case signature.SchemeHMAC:
		header := strings.TrimSpace(s[keyHeader])
		if header == "" {
			header = "X-Signature"
		}
		enc := strings.ToLower(strings.TrimSpace(s[keyEncoding]))
		if enc == "" {
			enc = signature.EncodingHex
		}
		if enc != signature.EncodingHex && enc != signature.EncodingBase64 {
			return nil, fmt.Errorf("%s: %q is not hex or base64", env(keyEncoding), s[keyEncoding])
		}
		p.Verifier, err = signature.NewHMAC(raw, header, enc, s[keyPrefix])
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a valid header name", env(keyHeader), header)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env(keySecrets), err)
	}

	if v, ok := s[keyEventID]; ok {
		v = strings.TrimSpace(v)
		switch {
		case v == "eventId":
			p.EventID, p.EventIDHeader = IDEnvelope, ""
		case v == "id":
			p.EventID, p.EventIDHeader = IDBody, ""
		case strings.HasPrefix(v, "header:") && validHeader(v[len("header:"):]):
			p.EventID, p.EventIDHeader = IDHeader, textproto.CanonicalMIMEHeaderKey(v[len("header:"):])
		default:
			return nil, fmt.Errorf("%s: %q is not eventId, id or header:<Header-Name>", env(keyEventID), v)
		}
	}
	return p, nil
}

// validName: NAME as used in variable names.
func validName(s string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' && i > 0) {
			return false
		}
	}
	return true
}

// validProvider: ^[a-z0-9][a-z0-9_-]{0,63}$, the route's provider names.
func validProvider(s string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || (c == '_' || c == '-') && i > 0) {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a valid provider name for the route,
// ^[a-z0-9][a-z0-9_-]{0,63}$, without a regexp.
func ValidName(s string) bool { return validProvider(s) }

func validHeader(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Headers lists the request headers the configured profiles read (signature
// and event id headers), for the CORS allow-list of request headers.
func (r *Registry) Headers() []string {
	set := map[string]bool{}
	for _, p := range r.profiles {
		switch v := p.Verifier.(type) {
		case *signature.Stripe:
			set[signature.StripeHeader] = true
		case *signature.GitHub:
			set[signature.GitHubHeader] = true
		case *signature.Standard:
			set[signature.StandardIDHeader], set[signature.StandardTimestampHeader], set[signature.StandardSignatureHeader] = true, true, true
		case *signature.HMAC:
			set[v.Header()] = true
		}
		if p.EventIDHeader != "" {
			set[p.EventIDHeader] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}
