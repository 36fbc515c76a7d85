package ingest

import (
	"net/http"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/provider"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/signature"
)

// Precheck decides what can be decided from the path and the headers alone,
// before a byte of the body is read: an invalid provider name (InvalidError),
// a provider outside the allow-list (ErrNotAllowed), and a signed profile
// whose signature headers are missing or repeated (SignatureError with
// signature.ErrMissing or ErrInvalid, exactly what Verify would return).
// A nil error says nothing about the signature itself: Accept still checks
// everything, so Precheck can only refuse earlier, never accept more.
func (s *Service) Precheck(name string, h http.Header) error {
	if !provider.ValidName(name) {
		return errInvalidName
	}
	prof, ok := s.providers.Lookup(name)
	if !ok {
		return ErrNotAllowed
	}
	if prof.Verifier == nil {
		return nil
	}
	for _, k := range signedHeaders(prof.Verifier, h) {
		// The same rule as the verifiers' own: absent or empty is missing,
		// sent twice is invalid.
		switch v := h[k]; {
		case len(v) == 0 || len(v) == 1 && v[0] == "":
			return &SignatureError{Err: signature.ErrMissing}
		case len(v) > 1:
			return &SignatureError{Err: signature.ErrInvalid}
		}
	}
	return nil
}

// signedHeaders lists, in the order its Verify reads them, the canonical
// names of the headers a verifier cannot do without. A verifier may declare
// them itself (SignedHeaders); an unknown one gets no precheck. Standard
// Webhooks takes either its own webhook-* headers or Svix's svix-* ones.
func signedHeaders(v signature.Verifier, h http.Header) []string {
	switch v := v.(type) {
	case interface{ SignedHeaders() []string }:
		return v.SignedHeaders()
	case *signature.Stripe:
		return stripeHeaders
	case *signature.GitHub:
		return githubHeaders
	case *signature.Standard:
		// Verify's own rule: no webhook-* header at all means svix-*.
		if len(h[signature.StandardIDHeader]) == 0 && len(h[signature.StandardTimestampHeader]) == 0 && len(h[signature.StandardSignatureHeader]) == 0 {
			return svixHeaders
		}
		return standardHeaders
	case *signature.HMAC:
		return []string{v.Header()}
	}
	return nil
}

var (
	stripeHeaders   = []string{signature.StripeHeader}
	githubHeaders   = []string{signature.GitHubHeader}
	standardHeaders = []string{signature.StandardIDHeader, signature.StandardTimestampHeader, signature.StandardSignatureHeader}
	svixHeaders     = []string{signature.SvixIDHeader, signature.SvixTimestampHeader, signature.SvixSignatureHeader}
)
