package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// TestKindConfig strictly decodes kind-config.yaml into kind's own config
// type (what `kind create cluster --config` reads).
func TestKindConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c kindv1alpha4.Cluster
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("kind-config.yaml: %v", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		t.Errorf("kind/apiVersion = %s %s", c.Kind, c.APIVersion)
	}
	if c.Name != "webhook-ingestor" {
		t.Errorf("cluster name %q; hack/kind.sh and the Tiltfile expect webhook-ingestor", c.Name)
	}
	var ingressReady int
	for _, n := range c.Nodes {
		labelled := false
		for _, p := range n.KubeadmConfigPatches {
			labelled = labelled || strings.Contains(p, `node-labels: "ingress-ready=true"`)
		}
		for k, v := range n.Labels {
			labelled = labelled || (k == "ingress-ready" && v == "true")
		}
		if !labelled {
			continue
		}
		ingressReady++
		ports := map[int32]bool{}
		for _, m := range n.ExtraPortMappings {
			if m.ContainerPort == m.HostPort {
				ports[m.HostPort] = true
			}
		}
		if !ports[80] || !ports[443] {
			t.Errorf("ingress-ready node maps %v, want 80 and 443", n.ExtraPortMappings)
		}
	}
	if ingressReady != 1 {
		t.Errorf("%d ingress-ready nodes, want 1 (k8s/gateway's Traefik selects it)", ingressReady)
	}
	var registry bool
	for _, p := range c.ContainerdConfigPatches {
		registry = registry || strings.Contains(p, `config_path = "/etc/containerd/certs.d"`)
	}
	if !registry {
		t.Error("no containerd certs.d patch: the local registry would not be reachable from the nodes")
	}
}
