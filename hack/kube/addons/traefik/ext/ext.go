// Package ext stands in for Traefik's nested module
// github.com/traefik/traefik/dynamic/ext, which Traefik's go.mod replaces
// with a local directory that its module zip does not contain. Upstream it
// holds only these empty extension points (for Traefik's commercial builds).
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}

// RouterIng is a RouterIng extension for ingress provider annotations.
type RouterIng struct{}

// ToRouter converts RouterIng to a Router.
func (r RouterIng) ToRouter() Router { return Router{} }
