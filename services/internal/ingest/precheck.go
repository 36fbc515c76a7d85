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
	for _, k := range signedHeaders(prof.Verifier) {
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
// them itself (SignedHeaders); an unknown one gets no precheck.
func signedHeaders(v signature.Verifier) []string {
	switch v := v.(type) {
	case interface{ SignedHeaders() []string }:
		return v.SignedHeaders()
	case *signature.Stripe:
		return stripeHeaders
	case *signature.GitHub:
		return githubHeaders
	case *signature.Standard:
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
)
