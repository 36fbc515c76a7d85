package verify

import (
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// renderWith renders the chart with a values file and --set flags.
func renderWith(t *testing.T, valuesFile string, set ...string) rendered {
	t.Helper()
	var extra []string
	for _, s := range set {
		extra = append(extra, "--set", s)
	}
	out, err := template(t, valuesFile, extra...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{all: objs, deployments: find[*appsv1.Deployment](objs), services: find[*corev1.Service](objs)}
}

func workerEnv(t *testing.T, r rendered) map[string]corev1.EnvVar {
	t.Helper()
	d := r.deployments[fullname+"-worker"]
	if d == nil {
		t.Fatal("no worker Deployment")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	return env
}

// The read API is off by default: no Service, Secret, NetworkPolicy, port or
// READ_API_ADDR; retention is off but partition maintenance settings are set.
func TestChartReadAPIOffByDefault(t *testing.T) {
	r := renderWith(t, "")
	if _, ok := r.services[fullname+"-read-api"]; ok {
		t.Error("read API Service rendered by default")
	}
	for _, o := range r.all {
		if strings.HasSuffix(o.Name, "-read-api") {
			t.Errorf("%s %s rendered by default", o.GVK.Kind, o.Name)
		}
	}
	env := workerEnv(t, r)
	if _, ok := env["READ_API_ADDR"]; ok {
		t.Error("READ_API_ADDR set by default")
	}
	if env["RETENTION"].Value != "off" || env["DEDUP_RETENTION"].Value != "7d" {
		t.Errorf("RETENTION=%q DEDUP_RETENTION=%q", env["RETENTION"].Value, env["DEDUP_RETENTION"].Value)
	}
}

func TestChartReadAPIEnabled(t *testing.T) {
	r := renderWith(t, filepath.Join(chartDir(t), "ci", "read-api-values.yaml"))
	svc := r.services[fullname+"-read-api"]
	if svc == nil || svc.Spec.Ports[0].TargetPort.String() != "read-api" {
		t.Fatalf("read API Service = %+v", svc)
	}
	d := r.deployments[fullname+"-worker"]
	ports := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["read-api"] != 8081 || ports["ops"] == 0 {
		t.Errorf("worker ports = %v", ports)
	}
	env := workerEnv(t, r)
	if env["READ_API_ADDR"].Value != ":8081" || env["RETENTION"].Value != "30d" || env["READ_API_MAX_WAIT"].Value != "30s" {
		t.Errorf("env = %v", env)
	}
	ref := env["READ_API_KEYS"].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != fullname+"-read-api" || ref.SecretKeyRef.Key != "READ_API_KEYS" {
		t.Fatalf("READ_API_KEYS = %+v", env["READ_API_KEYS"])
	}
	if d.Spec.Template.Annotations["checksum/read-api-secret"] == "" {
		t.Error("no checksum of the key Secret: a rotation would not restart the workers")
	}
	secrets := find[*corev1.Secret](r.all)
	s := secrets[fullname+"-read-api"]
	if s == nil || s.StringData["READ_API_KEYS"] != "consumer-key-2026-11-aaaaaaaa,consumer-key-2026-12-bbbbbbbb" {
		t.Errorf("key Secret = %+v", s)
	}
	np := find[*networkingv1.NetworkPolicy](r.all)[fullname+"-read-api"]
	if np == nil || len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "read-api" ||
		len(np.Spec.Ingress[0].From) != 1 || np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "worker" {
		t.Errorf("read API NetworkPolicy = %+v", np)
	}
}

func TestChartReadAPIExistingSecret(t *testing.T) {
	r := renderWith(t, "", "readAPI.enabled=true", "readAPI.existingSecret=consumer-keys", "readAPI.existingSecretKey=keys")
	if s := find[*corev1.Secret](r.all)[fullname+"-read-api"]; s != nil {
		t.Error("chart created a key Secret although existingSecret is set")
	}
	ref := workerEnv(t, r)["READ_API_KEYS"].ValueFrom
	if ref == nil || ref.SecretKeyRef.Name != "consumer-keys" || ref.SecretKeyRef.Key != "keys" {
		t.Errorf("READ_API_KEYS from %+v", ref)
	}
	// Enabled with neither keys nor a Secret is refused.
	if out, err := template(t, "", "--set", "readAPI.enabled=true"); err == nil {
		t.Errorf("enabled without keys rendered:\n%s", out)
	}
	// Short keys are refused by the schema.
	if _, err := template(t, "", "--set", "readAPI.enabled=true", "--set", "readAPI.keys[0]=short"); err == nil {
		t.Error("a 5-character key was accepted")
	}
}
