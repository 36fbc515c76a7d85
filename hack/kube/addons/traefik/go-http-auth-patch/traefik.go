// This file is added to github.com/abbot/go-http-auth v0.4.0 by
// hack/kube/addons/build.sh (which copies the release into
// traefik/go-http-auth/). Traefik pins a fork of that release that the module
// proxy does not serve; the fork adds exactly these two identifiers, which
// Traefik's BasicAuth and DigestAuth middlewares call.

package auth

import (
	"net/http"
	"strings"
)

// CheckSecret reports whether password matches secret, an htpasswd entry in
// any of the formats BasicAuth accepts (bcrypt, {SHA}, $apr1$ and $1$ MD5,
// or plain text).
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, cmp := range compareFuncs[1:] {
		if strings.HasPrefix(secret, cmp.prefix) {
			compare = cmp.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale is RequireAuth with stale="true" in the challenge
// (RFC 7616 section 3.3): the credentials were right but the nonce was not,
// so the client may retry without asking its user again.
func (da *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
	da.RequireAuth(staleWriter{w, da.Headers.V().Authenticate}, r)
}

// staleWriter adds stale="true" to the challenge header just before the
// status line goes out.
type staleWriter struct {
	http.ResponseWriter
	header string
}

func (s staleWriter) WriteHeader(code int) {
	if v := s.Header().Get(s.header); v != "" {
		s.Header().Set(s.header, v+`, stale="true"`)
	}
	s.ResponseWriter.WriteHeader(code)
}
