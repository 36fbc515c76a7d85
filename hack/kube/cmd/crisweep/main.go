// Command crisweep stops and removes every pod sandbox on a CRI endpoint, the
// way the kubelet does when it tears a pod down: containerd then runs the CNI
// DEL for each (veth, IP allocation, network namespace). hack/kube/node.sh
// runs it on `down`, after the kubelet has stopped, so nothing the node made
// outlives it. (Debian packages no crictl.)
//
//	crisweep unix:///path/to/containerd.sock
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crisweep unix:///path/to/cri.sock")
		os.Exit(2)
	}
	if err := sweep(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "crisweep:", err)
		os.Exit(1)
	}
}

func sweep(endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var failed int
	for _, sb := range resp.Items {
		name := sb.GetMetadata().GetNamespace() + "/" + sb.GetMetadata().GetName()
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "crisweep: stop %s: %v\n", name, err)
			failed++
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "crisweep: remove %s: %v\n", name, err)
			failed++
		}
	}
	fmt.Fprintf(os.Stderr, "crisweep: %d pod sandboxes removed, %d failed\n", len(resp.Items)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d sandboxes not removed", failed)
	}
	return nil
}
