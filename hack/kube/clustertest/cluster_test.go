// Package clustertest installs, upgrades, drains-checks and rolls back Helm
// charts on the local control plane of hack/kube (kube-apiserver, etcd,
// controller-manager, scheduler, kwok). Run it with `make test-cluster`; on
// its own (no cluster) every test skips.
package clustertest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// profiles of the charts under test. smoke is the harness's own throwaway
// chart (testdata/smoke); webhook-ingestor is the shipped chart.
func profiles(e *env) map[string]profile {
	return map[string]profile{
		"smoke": {
			dir:        filepath.Join(e.kubeDir, "testdata", "smoke"),
			upgradeSet: []string{"image.tag=1.0.1", "autoscaling.minReplicas=3", "autoscaling.maxReplicas=5"},
			upgradeTag: "1.0.1", upgradeMin: 3, upgradeMax: 5,
			namespacedSet: []string{}, // nothing cluster-scoped in it
		},
		"webhook-ingestor": {
			dir: filepath.Join(e.repo, "charts", "webhook-ingestor"),
			// *.image.digest= : ci/production-values.yaml pins each image by digest.
			upgradeSet: []string{"image.tag=0.1.1-upgrade", "ingress.image.digest=", "worker.image.digest=",
				"ingress.autoscaling.minReplicas=3", "ingress.autoscaling.maxReplicas=7",
				"worker.autoscaling.minReplicas=3", "worker.autoscaling.maxReplicas=7"},
			upgradeTag: "0.1.1-upgrade", upgradeMin: 3, upgradeMax: 7,
			// No allow-list renders only when unsigned webhooks are meant.
			baseSet:       []string{"config.acceptUnsignedFromAnyone=true"},
			namespacedSet: []string{},
			crdSet:        []string{"keda.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true"},
			crdKinds:      []string{"ScaledObject", "ServiceMonitor", "PrometheusRule"},
		},
	}
}

func TestCluster(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := e.kubectl(ctx, "apply", "-f", filepath.Join(e.kubeDir, "admission-policy.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Run("admission-policy-denies-violations", func(t *testing.T) { checkPolicyDenies(t, e) })

	want := strings.Split(os.Getenv("CLUSTER_CHARTS"), ",")
	ps := profiles(e)
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if want[0] != "" && !slices.Contains(want, name) {
			continue
		}
		p := ps[name]
		t.Run(name, func(t *testing.T) { runChart(t, e, name, p) })
	}
}

func runChart(t *testing.T, e *env, name string, p profile) {
	if _, err := os.Stat(filepath.Join(p.dir, "Chart.yaml")); err != nil {
		t.Skipf("no chart at %s", p.dir)
	}
	// Defaults first, while no CRD is installed: they must not need any.
	t.Run("values=default", func(t *testing.T) {
		if len(p.crdKinds) > 0 {
			requireNoCRDs(t, e)
		}
		r := e.install(t, p, name+"-default")
		r.checkAll(t)
	})
	if len(p.crdSet) > 0 {
		t.Run("extras-without-crds", func(t *testing.T) {
			requireNoCRDs(t, e)
			ns := e.newNamespace(t, name+"-nocrd")
			_, err := e.helmRun(context.Background(), append(append([]string{"install", "wi", p.dir, "-n", ns, "--wait", "--timeout", "2m"}, setArgs(p.baseSet)...), setArgs(p.crdSet)...)...)
			if err != nil {
				t.Logf("without the CRDs the extras fail to install, as expected: %s", lastLine(err.Error()))
			} else {
				t.Logf("without the CRDs the chart skipped the extras (it checks .Capabilities)")
			}
		})
		t.Run("install-crds", func(t *testing.T) {
			ctx := context.Background()
			if _, err := e.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(e.kubeDir, "crds")); err != nil {
				t.Fatal(err)
			}
			if _, err := e.kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "-f", filepath.Join(e.kubeDir, "crds")); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("extras-with-crds", func(t *testing.T) {
			r := e.install(t, p, name+"-extras", setArgs(p.crdSet)...)
			manifest, err := e.helmRun(context.Background(), "get", "manifest", r.name, "-n", r.ns)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range p.crdKinds {
				if !strings.Contains(manifest, "kind: "+k+"\n") {
					t.Errorf("extras on, but the release has no %s", k)
				}
			}
			r.checkAll(t)
		})
	}
	files, _ := filepath.Glob(filepath.Join(p.dir, "ci", "*-values.yaml"))
	for _, f := range files {
		t.Run("values="+filepath.Base(f), func(t *testing.T) {
			t.Parallel() // own namespaces; the CRD-dependent steps above are done
			r := e.install(t, p, name+"-"+strings.TrimSuffix(filepath.Base(f), "-values.yaml"), "-f", f)
			r.checkAll(t)
		})
	}
	if p.namespacedSet != nil {
		t.Run("namespaced-installer", func(t *testing.T) {
			t.Parallel()
			checkNamespacedInstaller(t, e, p)
		})
	}
}

func requireNoCRDs(t *testing.T, e *env) {
	t.Helper()
	out, err := e.kubectl(context.Background(), "get", "crd", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Skipf("CRDs already installed on this cluster (%s): needs a fresh cluster", strings.TrimSpace(out))
	}
}

// checkNamespacedInstaller installs as a ServiceAccount that holds only the
// Role of installer-rbac.yaml in the target namespace.
func checkNamespacedInstaller(t *testing.T, e *env, p profile) {
	ctx := context.Background()
	ns := e.newNamespace(t, "installer")
	b, err := os.ReadFile(filepath.Join(e.kubeDir, "installer-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rbac := filepath.Join(t.TempDir(), "installer-rbac.yaml")
	if err := os.WriteFile(rbac, []byte(strings.ReplaceAll(string(b), "NAMESPACE", ns)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kubectl(ctx, "apply", "-f", rbac); err != nil {
		t.Fatal(err)
	}
	expiry := int64(3600)
	tok, err := e.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "chart-installer",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Token = tok.Status.Token
	}
	kc := filepath.Join(t.TempDir(), "installer.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := e.helmAs(ctx, kc, append(append([]string{"install", "wi", p.dir, "-n", ns, "--wait", "--timeout", "3m"}, setArgs(p.baseSet)...), setArgs(p.namespacedSet)...)...)
	if err != nil {
		t.Fatalf("helm install as the namespaced installer: %v", err)
	}
	t.Logf("installed as ServiceAccount %s/chart-installer (a Role in its namespace only) in %s", ns, time.Since(start).Round(10*time.Millisecond))
	if w := warnings(out); w != "" {
		t.Logf("warnings:\n%s", w)
	}
	// And the same identity really has no cluster rights.
	if _, err = e.helmAs(ctx, kc, "list", "-A"); err == nil {
		t.Error("the installer can list releases in all namespaces: the RBAC test proves nothing")
	}
	if _, err := e.helmAs(ctx, kc, append([]string{"upgrade", "wi", p.dir, "-n", ns, "--wait", "--timeout", "3m"}, setArgs(p.baseSet)...)...); err != nil {
		t.Errorf("helm upgrade as the namespaced installer: %v", err)
	}
	if _, err := e.helmAs(ctx, kc, "uninstall", "wi", "-n", ns, "--wait"); err != nil {
		t.Error(err)
	}
}

// checkPolicyDenies proves admission-policy.yaml is active: a Deployment
// without limits and one running as root are refused in a test namespace.
func checkPolicyDenies(t *testing.T, e *env) {
	ns := e.newNamespace(t, "policy")
	ctx := context.Background()
	bad := map[string]string{
		"no-limits": `{"runAsNonRoot":true,"runAsUser":1000,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}|{}`,
		"root":      `{"runAsNonRoot":false,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}|{"limits":{"cpu":"100m","memory":"64Mi"}}`,
	}
	for name, spec := range bad {
		sc, res, _ := strings.Cut(spec, "|")
		manifest := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `"},"spec":{"selector":{"matchLabels":{"app":"x"}},` +
			`"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"x","securityContext":` + sc + `,"resources":` + res + `}]}}}}`
		// Poll: the policy's type checking takes a moment after creation.
		poll(t, 30*time.Second, "policy denies "+name, func() (bool, string) {
			f := filepath.Join(t.TempDir(), name+".json")
			_ = os.WriteFile(f, []byte(manifest), 0o600)
			out, err := e.kubectl(ctx, "create", "--dry-run=server", "-n", ns, "-f", f)
			return err != nil && strings.Contains(out, "workloads-limits-nonroot"), out
		})
	}
	// The namespace must exist with its default SA etc.; no leftovers.
	_, err := e.cs.AppsV1().Deployments(ns).Get(ctx, "no-limits", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("dry run created an object? %v", err)
	}
}
