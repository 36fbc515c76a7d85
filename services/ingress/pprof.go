//go:build pprof

package main

// Built with -tags pprof (see loadtest/README.md), the ingress serves
// net/http/pprof on PPROF_ADDR (default 127.0.0.1:6060) for profiling under
// load. Never in release builds.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
