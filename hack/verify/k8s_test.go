package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's type these directories use.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace,omitempty"`
	Resources  []string         `json:"resources"`
	Labels     []map[string]any `json:"labels,omitempty"`
	Patches    []map[string]any `json:"patches,omitempty"`
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return k
}

// kustomizeLocal concatenates a kustomization's local resources (what
// `kubectl kustomize` starts from; the Tiltfile test uses it too).
func kustomizeLocal(t *testing.T, dir string) []byte {
	t.Helper()
	k := readKustomization(t, dir)
	var out bytes.Buffer
	for _, r := range k.Resources {
		if strings.Contains(r, "://") {
			t.Fatalf("%s: remote resource %s in a local kustomization", dir, r)
		}
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(b)
		out.WriteString("\n")
	}
	return out.Bytes()
}

// TestK8sDev strictly decodes the dev cluster manifests and holds them to
// the restricted PodSecurity level their namespace enforces.
func TestK8sDev(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "k8s", "dev")
	k := readKustomization(t, dir)
	objs, err := decodeAll(t, kustomizeLocal(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	ns := find[*corev1.Namespace](objs)
	n, ok := ns[k.Namespace]
	if !ok {
		t.Fatalf("namespace %s not defined", k.Namespace)
	}
	if n.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce restricted", n.Name)
	}
	sts := find[*appsv1.StatefulSet](objs)
	for _, name := range []string{"postgres", "redis"} {
		s, ok := sts[name]
		if !ok {
			t.Errorf("no StatefulSet %s", name)
			continue
		}
		if len(s.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("%s has no PVC", name)
		}
		for _, c := range s.Spec.Template.Spec.Containers {
			checkResources(t, name, c)
		}
		checkPodSecurity(t, rendered{deployments: map[string]*appsv1.Deployment{
			name: {Spec: appsv1.DeploymentSpec{Template: s.Spec.Template}},
		}})
	}
	if img := sts["postgres"].Spec.Template.Spec.Containers[0].Image; img != "postgres:16-alpine" {
		t.Errorf("postgres image %s", img)
	}
	redis := sts["redis"].Spec.Template.Spec.Containers[0]
	if img := redis.Image; img != "redis:7-alpine" {
		t.Errorf("redis image %s", img)
	}
	if args := strings.Join(redis.Args, " "); !strings.Contains(args, "--appendonly yes") {
		t.Errorf("redis args %q: AOF must be on", args)
	}
	svcs := find[*corev1.Service](objs)
	for _, name := range []string{"postgres", "redis"} {
		if _, ok := svcs[name]; !ok {
			t.Errorf("no Service %s (values-dev.yaml points at it)", name)
		}
	}

	// values-dev.yaml reaches these Services by their in-cluster names.
	dev, err := os.ReadFile(filepath.Join(chartDir(t), "values-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"redis." + k.Namespace + ".svc:6379", "postgres." + k.Namespace + ".svc:5432"} {
		if !bytes.Contains(dev, []byte(host)) {
			t.Errorf("values-dev.yaml does not point at %s", host)
		}
	}
}

// TestK8sAddons: the cluster add-ons reference pinned upstream releases.
func TestK8sAddons(t *testing.T) {
	for dir, want := range map[string]string{
		"gateway":        "/gateway-api/releases/download/v",
		"metrics-server": "/releases/download/v",
	} {
		k := readKustomization(t, filepath.Join(repoRoot(t), "k8s", dir))
		if len(k.Resources) == 0 || !strings.Contains(k.Resources[0], want) {
			t.Errorf("k8s/%s: resources %v, want a pinned release first (%s...)", dir, k.Resources, want)
		}
	}
	// The Gateway's implementation is pinned by tag, not "latest".
	gw, err := os.ReadFile(filepath.Join(repoRoot(t), "k8s", "gateway", "traefik.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`image: traefik:v3\.\d+\.\d+\n`).Match(gw) {
		t.Error("k8s/gateway/traefik.yaml: want a pinned traefik:v3.x.y image")
	}
	ms := readKustomization(t, filepath.Join(repoRoot(t), "k8s", "metrics-server"))
	patched, _ := yaml.Marshal(ms.Patches)
	if !bytes.Contains(patched, []byte("--kubelet-insecure-tls")) {
		t.Error("metrics-server on kind needs --kubelet-insecure-tls")
	}
}
