//go:build tools

// Package tools pins Traefik (the cluster's Gateway API entry on the real
// node); hack/kube/addons/build.sh builds github.com/traefik/traefik/v3/cmd/traefik
// from this module, whose go.mod repeats Traefik's own replace directives
// (a dependency's replaces are ignored).
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
