// Package dns is lego's DNS-01 provider factory with every provider taken
// out: about a dozen of their SDK modules are not served by the Go module
// proxy this project builds from, and the local cluster's Traefik issues no
// ACME certificates. hack/kube/addons/build.sh puts this file over lego's
// generated one in a copy of the module (lego-nodns/, not committed).
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName fails for every name: no DNS providers here.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s (DNS-01 providers are not built into this Traefik)", name)
}
