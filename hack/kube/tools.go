//go:build tools

// Package tools pins the binaries built from this module that no Go file
// imports: kwok (fake nodes and pods). go.mod/go.sum then fix its version and
// hack/kube/build.sh builds it with the same dependency graph as the control
// plane.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
