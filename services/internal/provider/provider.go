// Package provider turns the environment into provider profiles: for each
// webhook provider (the {provider} of POST /webhooks/{provider}) how its
// signature is verified, which bodies it sends, where its event id and
// event type come from and which headers are kept, plus the allow-list.
//
// Environment (NAME is the provider upper-cased, "-" becoming "_"):
//
//	PROVIDERS_ALLOWED           comma-separated provider names. Every listed
//	                            provider needs a profile (SCHEME or PRESET;
//	                            SCHEME=none accepts it unsigned on purpose).
//	                            Unset: "open mode" for local use, any valid
//	                            name is accepted and names without a profile
//	                            are accepted UNSIGNED (logged loudly).
//	PROVIDER_<NAME>_PRESET      a provider's whole profile in one line (see
//	                            Presets); explicit keys below override it
//	PROVIDER_<NAME>_SCHEME      none | stripe | github | standard | hmac-sha256 |
//	                            hmac-sha1 | hmac-sha512 | slack | zoom | paddle |
//	                            hubspot-v3 | square | twilio | linear | token | basic |
//	                            discord | sendgrid | clientstate
//	PROVIDER_<NAME>_SECRETS     comma-separated secrets (several = rotation, at
//	                            most signature.MaxSecrets);
//	                            public keys for discord/sendgrid (and whpk_ keys
//	                            for standard's v1a), user:password for basic,
//	                            the subscriptions' clientState for clientstate
//	PROVIDER_<NAME>_TOLERANCE   timestamped schemes: window, Go duration (default 5m)
//	PROVIDER_<NAME>_HEADER      hmac-*, token: the header carrying the MAC/token
//	                            (every header name: signature.ValidHeaderName)
//	PROVIDER_<NAME>_ENCODING    hmac-*: hex (default) | base64
//	PROVIDER_<NAME>_PREFIX      hmac-*: text before the MAC, e.g. "sha256="
//	PROVIDER_<NAME>_URL         square, twilio, hubspot-v3: the endpoint's public
//	                            URL exactly as configured at the provider (signed)
//	PROVIDER_<NAME>_EVENT_ID    comma-separated sources, first present wins:
//	                            eventId (the seed's envelope) | id | field:<a.b> |
//	                            header:<Name> (only a header the scheme signs) |
//	                            digest (sha256 of the signed bytes)
//	PROVIDER_<NAME>_EVENT_TYPE  comma-separated sources: field:<a.b> | header:<Name> |
//	                            key:<name> or key:*<suffix> (the name of the JSON
//	                            body's first top-level key that matches)
//	PROVIDER_<NAME>_CONTENT_TYPES  json (default) | form | text | xml | type/subtype, comma-separated
//	PROVIDER_<NAME>_KEEP_HEADERS   extra request headers stored with the event
//	PROVIDER_<NAME>_HANDSHAKE   slack | zoom | discord | meta | x | msgraph: answered
//	                            synchronously, never queued
//	PROVIDER_<NAME>_VERIFY_TOKEN   meta: the verify token of GET hub.challenge
//
// Anything inconsistent (an unknown PROVIDER_* variable, an unknown scheme,
// a signing scheme without secrets, a setting the scheme does not use, an
// allowed provider without a profile) is an error naming the variable, never
// its value: the ingress refuses to start rather than run a provider
// unverified (fail closed). Kubernetes' injected service variables
// (PROVIDER_X_SERVICE_HOST, PROVIDER_X_PORT_80_TCP…) are ignored.
package provider

import (
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// SourceKind says where a value (event id, event type) is read from.
type SourceKind int

const (
	// FromEnvelope: the body is the seed's envelope; the id is its "eventId".
	FromEnvelope SourceKind = iota
	// FromField: a field of the body (a JSON object, dotted path; or a
	// form field).
	FromField
	// FromHeader: a request header.
	FromHeader
	// FromDigest: "sha256:<hex>" of the body, for schemes whose signature
	// covers no delivery id: a replayed delivery is a duplicate whatever
	// unsigned header it carries.
	FromDigest
	// FromKey (event types only): the name of the JSON body's first
	// top-level key, in the order sent, that equals Name or, when Name
	// starts with "*", ends with the rest of it (X's "tweet_create_events").
	FromKey
)

// Source is one place a value is read from.
type Source struct {
	Kind SourceKind
	// Name: the canonical header name, or the field path as written.
	Name string
	// Path: the field path split at dots.
	Path []string
}

func (s Source) String() string {
	switch s.Kind {
	case FromField:
		return "field:" + s.Name
	case FromHeader:
		return "header:" + s.Name
	case FromDigest:
		return "digest"
	case FromKey:
		return "key:" + s.Name
	}
	return "eventId"
}

// Media types as configured in CONTENT_TYPES.
const (
	MediaJSON = "application/json" // also application/*+json
	MediaForm = "application/x-www-form-urlencoded"
)

// Handshakes a profile may answer.
const (
	HandshakeSlack   = "slack"   // POST {"type":"url_verification","challenge":…}
	HandshakeZoom    = "zoom"    // POST endpoint.url_validation (plainToken → encryptedToken)
	HandshakeDiscord = "discord" // POST PING (type 1) → PONG
	HandshakeMeta    = "meta"    // GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
	HandshakeX       = "x"       // GET ?crc_token=… → {"response_token":"sha256=<base64 HMAC>"}
	HandshakeMSGraph = "msgraph" // POST ?validationToken=… → the token as text/plain
)

// Profile is how one provider's requests are checked and stored.
type Profile struct {
	// Name is the one path spelling this profile answers to.
	Name string
	// Preset is the PRESET this profile starts from ("" for none).
	Preset string
	// Scheme is one of the scheme names in the package comment.
	Scheme string
	// Verifier checks the signature; nil for scheme none.
	Verifier signature.Verifier
	// EventID are the id sources, tried in order.
	EventID []Source
	// EventType are the event type sources, tried in order (may be empty).
	EventType []Source
	// MediaTypes accepted (MediaJSON covers application/*+json).
	MediaTypes []string
	// Keep are the canonical names of the request headers stored.
	Keep []string
	// Handshake is one of the Handshake* names, or "".
	Handshake string
	// HandshakeKey is the key of a handshake's HMAC: Zoom's secret (the
	// encryptedToken key), X's consumer secret (the CRC response_token key);
	// the first of SECRETS.
	HandshakeKey []byte
	// VerifyToken is Meta's verify token.
	VerifyToken string

	secrets int
}

// AcceptsMediaType reports whether the profile takes bodies of media type mt
// (lower-case, no parameters).
func (p *Profile) AcceptsMediaType(mt string) bool {
	for _, m := range p.MediaTypes {
		if m == mt || m == MediaJSON && strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") {
			return true
		}
	}
	return false
}

// SignatureHeaders lists the headers the profile's scheme reads (none for
// scheme none).
func (p *Profile) SignatureHeaders() []string { return signature.Headers(p.Verifier) }

// baseKept are stored for every provider: enough to trace a delivery, never
// a credential.
var baseKept = []string{"User-Agent", "X-Request-Id"}

// Default is the profile of providers with no configuration in open mode:
// the seed's envelope, no signature.
var Default = &Profile{
	Scheme:     signature.SchemeNone,
	EventID:    []Source{{Kind: FromEnvelope}},
	MediaTypes: []string{MediaJSON},
	Keep:       []string{"User-Agent", "X-Request-Id", "X-Github-Event"},
}

// Registry resolves a provider name to its profile.
type Registry struct {
	allowed  map[string]struct{} // nil: open mode
	profiles map[string]*Profile // by NAME
}

// Lookup returns the profile for provider, and false when the name is not
// accepted (the caller answers 404): not on the allow-list, or a spelling
// of a configured NAME other than the profile's own ("my-shop" when the
// profile answers to "my_shop"), which would otherwise be the same profile
// under a second name (and a second dedup key), or in open mode a way
// around its signature. provider is expected to have passed the route's
// name check already. It does not allocate.
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
		return Default, r.allowed == nil // longer than any configurable NAME
	}
	for i := 0; i < len(provider); i++ {
		buf[i] = envChar(provider[i])
	}
	if p, ok := r.profiles[string(buf[:len(provider)])]; ok {
		return p, p.Name == provider
	}
	return Default, true
}

// Label is the provider's metric label: its name when it has a profile or is
// on the allow-list, else "other", so random names in paths cannot create
// series.
func (r *Registry) Label(provider string) string {
	p, ok := r.Lookup(provider)
	switch {
	case !ok:
		return "other"
	case p != Default:
		return p.Name
	case r.allowed != nil:
		return provider // allowed, so one of a fixed set
	}
	return "other"
}

// Open reports open mode: no allow-list, so any valid name is accepted and
// names without a profile unsigned.
func (r *Registry) Open() bool { return r.allowed == nil }

// Warning is what the ingress says loudly at start and in /ready?full=1 in
// open mode; "" otherwise.
func (r *Registry) Warning() string {
	if !r.Open() {
		return ""
	}
	return "PROVIDERS_ALLOWED is not set: any provider name is accepted, and every name without a PROVIDER_<NAME>_* profile " +
		"is accepted UNSIGNED from anyone. Fine on a laptop; in production list the providers in PROVIDERS_ALLOWED."
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

// Profiles returns the configured profiles sorted by name.
func (r *Registry) Profiles() []*Profile {
	out := make([]*Profile, 0, len(r.profiles))
	for _, p := range r.profiles {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LogValue describes the configuration for the start-up log: names,
// schemes, secret counts and sources, never a secret.
func (r *Registry) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(r.profiles)+2)
	if r.allowed != nil {
		attrs = append(attrs, slog.String("allowed", strings.Join(r.Allowed(), ",")))
	} else {
		attrs = append(attrs, slog.Bool("open_mode_unsigned_from_anyone", true))
	}
	for _, p := range r.Profiles() {
		ids := make([]string, len(p.EventID))
		for i, s := range p.EventID {
			ids[i] = s.String()
		}
		desc := fmt.Sprintf("scheme=%s secrets=%d eventId=%s", p.Scheme, p.secrets, strings.Join(ids, ","))
		if p.Preset != "" {
			desc = "preset=" + p.Preset + " " + desc
		}
		if p.Handshake != "" {
			desc += " handshake=" + p.Handshake
		}
		attrs = append(attrs, slog.String(p.Name, desc))
	}
	return slog.GroupValue(attrs...)
}

const (
	maxName          = 64
	envAllowed       = "PROVIDERS_ALLOWED"
	envPrefix        = "PROVIDER_"
	keyScheme        = "SCHEME"
	keySecrets       = "SECRETS"
	keyTolerance     = "TOLERANCE"
	keyHeader        = "HEADER"
	keyEncoding      = "ENCODING"
	keyPrefix        = "PREFIX"
	keyEventID       = "EVENT_ID"
	keyPreset        = "PRESET"
	keyEventType     = "EVENT_TYPE"
	keyContentTypes  = "CONTENT_TYPES"
	keyKeepHeaders   = "KEEP_HEADERS"
	keyURL           = "URL"
	keyHandshake     = "HANDSHAKE"
	keyVerifyToken   = "VERIFY_TOKEN"
	schemeHMACSHA1   = "hmac-sha1"
	schemeHMACSHA512 = "hmac-sha512"
	// schemeClientState: Microsoft Graph's clientState in every notification.
	schemeClientState = "clientstate"
)

// keys, longest first so a suffix match picks the longest key.
var keys = []string{keyContentTypes, keyKeepHeaders, keyVerifyToken, keyEventType, keyHandshake, keyTolerance,
	keyEncoding, keyEventID, keySecrets, keyScheme, keyPreset, keyHeader, keyPrefix, keyURL}

// kubernetesEnv matches the variables Kubernetes injects for a Service
// whose name starts with "provider-".
var kubernetesEnv = regexp.MustCompile(`_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

// Load reads the provider configuration from an os.Environ()-style list
// ("KEY=value" entries; later entries win, as in the process environment).
func Load(environ []string) (*Registry, error) {
	settings := map[string]map[string]string{} // NAME → key → value
	var allowed *string
	var unknown []string
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
			if strings.HasPrefix(k, "PROVIDERS_") && !kubernetesEnv.MatchString(k) {
				unknown = append(unknown, k)
			}
			continue
		}
		if kubernetesEnv.MatchString(rest) {
			continue
		}
		matched := false
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
			matched = true
			break
		}
		if !matched {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("unknown provider setting %s: a provider is configured with PROVIDERS_ALLOWED and PROVIDER_<NAME>_{%s}",
			strings.Join(slices.Compact(unknown), ", "), strings.Join(sortedKeys(), ","))
	}

	r := &Registry{profiles: make(map[string]*Profile, len(settings))}
	spelling := map[string]string{} // NAME → the allow-list's spelling
	if allowed != nil {
		r.allowed = map[string]struct{}{}
		for _, n := range strings.Split(*allowed, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if !validProvider(n) {
				return nil, fmt.Errorf("%s: %q is not a valid provider name (^[a-z0-9][a-z0-9_-]{0,63}$)", envAllowed, n)
			}
			name := toEnvName(n)
			if prev, ok := spelling[name]; ok && prev != n {
				return nil, fmt.Errorf("%s lists both %q and %q, which share the settings PROVIDER_%s_*: list one of them", envAllowed, prev, n, name)
			}
			spelling[name] = n
			r.allowed[n] = struct{}{}
		}
		if len(r.allowed) == 0 {
			r.allowed, allowed = nil, nil // set but blank: open mode, as when unset
		}
		var missing []string
		for name, n := range spelling {
			if _, ok := settings[name]; !ok {
				missing = append(missing, fmt.Sprintf("%s (PROVIDER_%s_PRESET or _SCHEME; SCHEME=none to accept it unsigned)", n, name))
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return nil, fmt.Errorf("%s: every allowed provider needs a profile; missing for %s", envAllowed, strings.Join(missing, ", "))
		}
	}
	for name, s := range settings {
		p, err := build(name, s)
		if err != nil {
			return nil, err
		}
		if allowed != nil {
			n, ok := spelling[name]
			if !ok {
				return nil, fmt.Errorf("PROVIDER_%s_* is set but no spelling of it is in %s: add it there or remove the settings", name, envAllowed)
			}
			p.Name = n
		} else {
			p.Name = strings.ToLower(name)
		}
		r.profiles[name] = p
	}
	return r, nil
}

func sortedKeys() []string {
	out := slices.Clone(keys)
	slices.Sort(out)
	return out
}

func envChar(c byte) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return c - ('a' - 'A')
	case c == '-':
		return '_'
	}
	return c
}

func toEnvName(provider string) string {
	b := []byte(provider)
	for i := range b {
		b[i] = envChar(b[i])
	}
	return string(b)
}

// schemeKeys are the settings each scheme understands beyond the common
// ones; anything else is a mistake.
var schemeKeys = map[string][]string{
	signature.SchemeNone:     nil,
	signature.SchemeGitHub:   nil,
	signature.SchemeStripe:   {keyTolerance},
	signature.SchemeStandard: {keyTolerance},
	signature.SchemeHMAC:     {keyHeader, keyEncoding, keyPrefix},
	schemeHMACSHA1:           {keyHeader, keyEncoding, keyPrefix},
	schemeHMACSHA512:         {keyHeader, keyEncoding, keyPrefix},
	"slack":                  {keyTolerance},
	"zoom":                   {keyTolerance},
	"paddle":                 {keyTolerance},
	"linear":                 {keyTolerance},
	"hubspot-v3":             {keyTolerance, keyURL},
	"square":                 {keyURL},
	"twilio":                 {keyURL},
	"token":                  {keyHeader},
	"basic":                  nil,
	"discord":                nil,
	"sendgrid":               nil,
	schemeClientState:        nil,
}

var commonKeys = []string{keyScheme, keySecrets, keyEventID, keyPreset, keyEventType, keyContentTypes, keyKeepHeaders, keyHandshake, keyVerifyToken}

func build(name string, explicit map[string]string) (*Profile, error) {
	env := func(key string) string { return envPrefix + name + "_" + key }
	s := map[string]string{}
	presetName := ""
	if v, ok := explicit[keyPreset]; ok {
		presetName = strings.ToLower(strings.TrimSpace(v))
		preset, ok := Presets[presetName]
		if !ok {
			return nil, fmt.Errorf("%s: unknown preset %q (want one of %s)", env(keyPreset), v, strings.Join(PresetNames(), ", "))
		}
		for k, v := range preset.Settings {
			s[k] = v
		}
	}
	if presetName == "" {
		// SCHEME=stripe|github|standard alone means that provider's preset:
		// its event id, event type and kept headers.
		if base, ok := Presets[strings.ToLower(strings.TrimSpace(explicit[keyScheme]))]; ok && slices.Contains([]string{"stripe", "github", "standard"}, base.Settings[keyScheme]) && base.Settings[keyScheme] == strings.ToLower(strings.TrimSpace(explicit[keyScheme])) {
			for k, v := range base.Settings {
				s[k] = v
			}
		}
	}
	for k, v := range explicit {
		s[k] = v
	}
	rawScheme, ok := s[keyScheme]
	if !ok {
		set := make([]string, 0, len(s))
		for k := range s {
			set = append(set, env(k))
		}
		slices.Sort(set)
		return nil, fmt.Errorf("%s (or %s) is required when %s is set", env(keyScheme), env(keyPreset), strings.Join(set, ", "))
	}
	scheme := strings.ToLower(strings.TrimSpace(rawScheme))
	extra, known := schemeKeys[scheme]
	if !known {
		names := make([]string, 0, len(schemeKeys))
		for n := range schemeKeys {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%s: unknown scheme %q (want %s)", env(keyScheme), rawScheme, strings.Join(names, ", "))
	}
	for k := range explicit {
		if !slices.Contains(commonKeys, k) && !slices.Contains(extra, k) {
			return nil, fmt.Errorf("%s is not used by scheme %s; remove it", env(k), scheme)
		}
	}
	for k := range s { // preset settings another scheme does not use are dropped
		if !slices.Contains(commonKeys, k) && !slices.Contains(extra, k) {
			delete(s, k)
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
	} else if len(secrets) > signature.MaxSecrets {
		return nil, fmt.Errorf("%s: %d secrets given, at most %d are allowed (rotation needs two or three)",
			env(keySecrets), len(secrets), signature.MaxSecrets)
	}

	tolerance := signature.DefaultTolerance
	if v, ok := s[keyTolerance]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < time.Second || d > time.Hour {
			return nil, fmt.Errorf("%s: %q is not a duration between 1s and 1h", env(keyTolerance), v)
		}
		tolerance = d
	}
	endpoint := strings.TrimSpace(s[keyURL])
	if slices.Contains(extra, keyURL) {
		u, err := url.Parse(endpoint)
		if endpoint == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("%s: scheme %s signs the endpoint's public URL; set it exactly as configured at the provider (https://…)", env(keyURL), scheme)
		}
	}

	p := &Profile{Scheme: scheme, Preset: presetName, secrets: len(secrets)}
	raw := make([][]byte, 0, len(secrets))
	for _, sec := range secrets {
		raw = append(raw, []byte(sec))
	}
	var err error
	badSecret := func(i int, what string) error {
		return fmt.Errorf("%s: secret #%d is not %s", env(keySecrets), i+1, what)
	}
	switch scheme {
	case signature.SchemeStripe:
		p.Verifier, err = signature.NewStripe(raw, tolerance)
	case signature.SchemeGitHub:
		p.Verifier, err = signature.NewGitHub(raw)
	case signature.SchemeStandard:
		var sym, pub [][]byte
		for i, sec := range secrets {
			if strings.HasPrefix(sec, "whpk_") {
				b, err := signature.ParseStandardPublicKey(sec)
				if err != nil {
					return nil, badSecret(i, "whpk_<base64 Ed25519 public key>")
				}
				pub = append(pub, b)
				continue
			}
			b, err := signature.ParseStandardSecret(sec)
			if err != nil {
				return nil, badSecret(i, "whsec_<base64>")
			}
			sym = append(sym, b)
		}
		p.Verifier, err = signature.NewStandardKeys(sym, pub, tolerance)
	case signature.SchemeHMAC, schemeHMACSHA1, schemeHMACSHA512:
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
		if !signature.ValidHeaderName(header) {
			return nil, errHeaderName(env(keyHeader), header)
		}
		if scheme == signature.SchemeHMAC {
			p.Verifier, err = signature.NewHMAC(raw, header, enc, s[keyPrefix])
		} else {
			p.Verifier, err = signature.NewTemplate(raw, signature.Template{
				Algorithm: strings.TrimPrefix(scheme, "hmac-"), Header: header, Encoding: enc, Prefix: s[keyPrefix],
				Parts: []signature.Part{{Kind: signature.PartBody}},
			})
		}
	case "slack", "zoom", "paddle", "hubspot-v3", "square", "twilio", "linear":
		t := templates[scheme]
		if _, set := s[keyTolerance]; set || t.Tolerance == 0 {
			t.Tolerance = tolerance
		}
		t.URL = endpoint
		if scheme == "twilio" {
			t.BodyHashParam = "bodySHA256" // JSON bodies: the URL carries their hash
		}
		p.Verifier, err = signature.NewTemplate(raw, t)
		if scheme == "zoom" {
			p.HandshakeKey = raw[0]
		}
	case "token", "basic":
		header := strings.TrimSpace(s[keyHeader])
		if scheme == "token" && header == "" {
			return nil, fmt.Errorf("%s: scheme token needs the header carrying the token", env(keyHeader))
		}
		if scheme == "token" && !signature.ValidHeaderName(header) {
			return nil, errHeaderName(env(keyHeader), header)
		}
		p.Verifier, err = signature.NewToken(raw, header, scheme == "basic")
	case "discord":
		keys := make([][]byte, 0, len(secrets))
		for i, sec := range secrets {
			b, err := signature.ParseEd25519Hex(sec)
			if err != nil {
				return nil, badSecret(i, "a hex Ed25519 public key")
			}
			keys = append(keys, b)
		}
		p.Verifier, err = signature.NewDiscord(keys)
	case "sendgrid":
		keys := make([]*ecdsa.PublicKey, 0, len(secrets))
		for i, sec := range secrets {
			k, err := signature.ParseECDSAPublicKey(sec)
			if err != nil {
				return nil, badSecret(i, "a base64 DER ECDSA public key")
			}
			keys = append(keys, k)
		}
		p.Verifier, err = signature.NewSendGrid(keys)
	case schemeClientState:
		p.Verifier, err = signature.NewClientState(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env(keySecrets), err)
	}

	// Event id: by default where the scheme's provider puts it.
	idSpec, ok := s[keyEventID]
	if !ok {
		idSpec = map[string]string{signature.SchemeStripe: "id", signature.SchemeGitHub: "digest",
			signature.SchemeStandard: "header:Webhook-Id"}[scheme]
		if idSpec == "" {
			idSpec = "eventId"
		}
	}
	if p.EventID, err = parseSources(idSpec, true); err != nil {
		return nil, fmt.Errorf("%s: %w", env(keyEventID), err)
	}
	for i, src := range p.EventID {
		if src.Kind != FromHeader || scheme == signature.SchemeNone {
			continue
		}
		if scheme == signature.SchemeStandard && (src.Name == signature.StandardIDHeader || src.Name == signature.SvixIDHeader) {
			p.EventID[i].Name = signature.StandardIDHeader // the id the signature covers, webhook-id or svix-id
			continue
		}
		return nil, fmt.Errorf("%s: scheme %s does not sign the header %s, so a replayed delivery with a new %s would be stored again; use digest or field:<name>",
			env(keyEventID), scheme, src.Name, src.Name)
	}
	if v := s[keyEventType]; strings.TrimSpace(v) != "" {
		if p.EventType, err = parseSources(v, false); err != nil {
			return nil, fmt.Errorf("%s: %w", env(keyEventType), err)
		}
	}

	ct := s[keyContentTypes]
	if strings.TrimSpace(ct) == "" {
		ct = "json"
	}
	for _, m := range strings.Split(ct, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		switch m {
		case "json":
			p.MediaTypes = append(p.MediaTypes, MediaJSON)
		case "form":
			p.MediaTypes = append(p.MediaTypes, MediaForm)
		case "text":
			p.MediaTypes = append(p.MediaTypes, "text/plain")
		case "xml":
			p.MediaTypes = append(p.MediaTypes, "application/xml", "text/xml")
		case "":
		default:
			t, sub, ok := strings.Cut(m, "/")
			if !ok || !signature.ValidHeaderName(t) || !signature.ValidHeaderName(sub) { // RFC 9110: both are tokens
				return nil, fmt.Errorf("%s: %q is not json, form, text, xml or a media type", env(keyContentTypes), m)
			}
			p.MediaTypes = append(p.MediaTypes, m)
		}
	}
	if scheme == "twilio" && !slices.Contains(p.MediaTypes, MediaForm) {
		return nil, fmt.Errorf("%s: scheme twilio signs form fields; include form", env(keyContentTypes))
	}

	p.Keep = slices.Clone(baseKept)
	for _, h := range strings.Split(s[keyKeepHeaders], ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if !signature.ValidHeaderName(h) {
			return nil, errHeaderName(env(keyKeepHeaders), h)
		}
		h = textproto.CanonicalMIMEHeaderKey(h)
		if credentialHeader(h, p.Verifier) {
			return nil, fmt.Errorf("%s: %s carries a credential and is never stored", env(keyKeepHeaders), h)
		}
		if !slices.Contains(p.Keep, h) {
			p.Keep = append(p.Keep, h)
		}
	}

	p.Handshake = strings.ToLower(strings.TrimSpace(s[keyHandshake]))
	p.VerifyToken = s[keyVerifyToken]
	switch p.Handshake {
	case "":
	case HandshakeSlack, HandshakeZoom, HandshakeDiscord:
		if scheme != p.Handshake {
			return nil, fmt.Errorf("%s: the %s handshake is answered only after a %s signature; set %s=%s", env(keyHandshake), p.Handshake, p.Handshake, env(keyScheme), p.Handshake)
		}
	case HandshakeMeta:
		if len(p.VerifyToken) < 8 {
			return nil, fmt.Errorf("%s: the meta handshake needs a verify token of at least 8 characters", env(keyVerifyToken))
		}
	case HandshakeX:
		// X's CRC answer is HMAC-SHA256(secret, crc_token) for anyone who
		// asks, and its POST signature is HMAC-SHA256(secret, body): the
		// same MAC. A crc_token can never be a JSON object (the ingest
		// package allows no '{' in it), so deliveries must be JSON objects
		// and nothing else, or the CRC would sign them.
		if scheme != signature.SchemeHMAC {
			return nil, fmt.Errorf("%s: the x handshake answers with the HMAC-SHA256 of the body scheme; set %s=%s", env(keyHandshake), env(keyScheme), signature.SchemeHMAC)
		}
		if len(p.MediaTypes) != 1 || p.MediaTypes[0] != MediaJSON {
			return nil, fmt.Errorf("%s: with the x handshake only JSON bodies are accepted (its answer signs any non-JSON text); set %s=json", env(keyHandshake), env(keyContentTypes))
		}
		p.HandshakeKey = raw[0]
	case HandshakeMSGraph:
		if scheme != schemeClientState {
			return nil, fmt.Errorf("%s: the msgraph handshake belongs to Microsoft Graph's clientState; set %s=%s", env(keyHandshake), env(keyScheme), schemeClientState)
		}
	default:
		return nil, fmt.Errorf("%s: %q is not slack, zoom, discord, meta, x or msgraph", env(keyHandshake), s[keyHandshake])
	}
	if p.VerifyToken != "" && p.Handshake != HandshakeMeta {
		return nil, fmt.Errorf("%s is used only with %s=meta", env(keyVerifyToken), env(keyHandshake))
	}
	return p, nil
}

// credentialHeader: headers that carry a secret rather than a signature.
func credentialHeader(h string, v signature.Verifier) bool {
	switch h {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return true
	}
	if t, ok := v.(*signature.Token); ok && t.Header() == h {
		return true
	}
	return false
}

// parseSources parses a comma-separated list of sources. ids also allows
// eventId, id and digest.
func parseSources(spec string, ids bool) ([]Source, error) {
	var out []Source
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case ids && item == "eventId":
			out = append(out, Source{Kind: FromEnvelope})
		case ids && item == "digest":
			out = append(out, Source{Kind: FromDigest})
		case ids && item == "id":
			out = append(out, Source{Kind: FromField, Name: "id", Path: []string{"id"}})
		case strings.HasPrefix(item, "field:") && validPath(item[len("field:"):]):
			f := item[len("field:"):]
			out = append(out, Source{Kind: FromField, Name: f, Path: strings.Split(f, ".")})
		case strings.HasPrefix(item, "header:") && signature.ValidHeaderName(item[len("header:"):]):
			out = append(out, Source{Kind: FromHeader, Name: textproto.CanonicalMIMEHeaderKey(item[len("header:"):])})
		case !ids && strings.HasPrefix(item, "key:") && validKeyPattern(item[len("key:"):]):
			out = append(out, Source{Kind: FromKey, Name: item[len("key:"):]})
		default:
			if ids {
				return nil, fmt.Errorf("%q is not eventId, id, digest, field:<name> or header:<Header-Name>", item)
			}
			return nil, fmt.Errorf("%q is not field:<name>, header:<Header-Name>, key:<name> or key:*<suffix>", item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no source given")
	}
	for i, s := range out {
		if (s.Kind == FromEnvelope || s.Kind == FromDigest) && i != len(out)-1 {
			return nil, fmt.Errorf("%s must come last: it always gives a value", s)
		}
	}
	return out, nil
}

// errHeaderName is the error for a configured header name that is not one.
func errHeaderName(variable, name string) error {
	return fmt.Errorf("%s: %q is not a header name (RFC 9110 token: letters, digits and !#$%%&'*+-.^_`|~, at most 128)", variable, name)
}

func validPath(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validKeyPattern: a key name, or "*" followed by a non-empty suffix, of
// the characters validPath allows (no dots).
func validKeyPattern(s string) bool {
	s = strings.TrimPrefix(s, "*")
	return s != "" && !strings.Contains(s, ".") && validPath(s)
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

// Headers lists the request headers the configured profiles read (signature
// and event id headers), for the CORS allow-list of request headers.
func (r *Registry) Headers() []string {
	set := map[string]bool{}
	for _, p := range r.profiles {
		for _, h := range p.SignatureHeaders() {
			set[h] = true
		}
		for _, s := range append(slices.Clone(p.EventID), p.EventType...) {
			if s.Kind == FromHeader {
				set[s.Name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}
