//go:build tools

// Package tools pins metrics-server (resource metrics for the HPA on the
// real node); hack/kube/addons/build.sh builds its cmd/metrics-server.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
