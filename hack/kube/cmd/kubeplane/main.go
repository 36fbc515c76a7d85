// Command kubeplane is a multi-call binary holding a whole Kubernetes control
// plane for the chart tests: one link of the shared k8s.io packages instead of
// four (the cold build is the expensive part, ≈10 min on 2 cores).
//
//	kubeplane etcd --data-dir DIR --listen-client-urls URL --listen-peer-urls URL
//	kubeplane apiserver|controller-manager|scheduler|kubectl [their usual flags]
//	kubeplane kubelet|proxy [their usual flags]  (the real node: hack/kube/node.sh)
//	kubeplane freeport N   (prints N free 127.0.0.1 TCP ports)
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	_ "time/tzdata" // CronJob time zones, as upstream's mains do

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kubeplane etcd|apiserver|controller-manager|scheduler|kubelet|proxy|kubectl|freeport [args]")
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	// The cobra commands parse os.Args[1:]; drop the sub-command name.
	os.Args = append([]string{os.Args[0] + " " + name}, args...)
	switch name {
	case "etcd":
		os.Exit(runEtcd(args))
	case "apiserver", "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "controller-manager", "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "scheduler", "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "proxy", "kube-proxy":
		os.Exit(cli.Run(proxy.NewProxyCommand()))
	case "kubectl":
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	case "freeport":
		os.Exit(freePorts(args))
	default:
		fmt.Fprintf(os.Stderr, "kubeplane: unknown component %q\n", name)
		os.Exit(2)
	}
}

// freePorts prints N distinct free loopback ports, one a line. The listeners
// stay open until all are chosen so the N ports differ; another process may
// still take one before our component binds it (rare; `up` then fails loudly).
func freePorts(args []string) int {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "freeport: N must be a positive integer")
			return 2
		}
		n = v
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "freeport:", err)
			return 1
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return 0
}
