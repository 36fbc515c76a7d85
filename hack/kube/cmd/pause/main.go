// Command pause is the pod sandbox ("pause") container of the local node:
// it holds the pod's namespaces and waits for SIGTERM/SIGINT. No registry is
// reachable here, so the node's containerd gets this image imported instead
// of registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	// As PID 1 of the pod it also reaps zombies: SIGCHLD is not ignored by
	// default, so a wait loop would be needed only if children were started.
	<-sig
}
