package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// profile says how to drive one chart: which values change in the upgrade
// test and which values switch its cluster-scoped or CRD-backed extras.
type profile struct {
	dir string // chart directory
	// upgradeSet changes the image tag of every Deployment to upgradeTag and
	// every HPA's bounds to upgradeMin/upgradeMax.
	upgradeSet []string
	// baseSet is added to every install and upgrade (values every install
	// must decide, such as webhook-ingestor's acceptUnsignedFromAnyone).
	baseSet                []string
	upgradeTag             string
	upgradeMin, upgradeMax int32
	// namespacedSet turns off everything that needs cluster rights.
	namespacedSet []string
	// crdSet turns on the KEDA / ServiceMonitor / PrometheusRule extras;
	// crdKinds are the kinds it must then create.
	crdSet   []string
	crdKinds []string
}

// release is one installed release of a chart with one set of values.
type release struct {
	e       *env
	p       profile
	ns      string
	name    string
	args    []string // values arguments (-f/--set) for install and upgrades
	install *order
}

// install runs `helm install --wait` into a fresh restricted namespace and
// checks the render with kubeconform first.
func (e *env) install(t *testing.T, p profile, prefix string, valueArgs ...string) *release {
	t.Helper()
	ctx := context.Background()
	valueArgs = append(setArgs(p.baseSet), valueArgs...)
	r := &release{e: e, p: p, name: "wi", args: valueArgs}
	r.ns = e.newNamespace(t, prefix)
	t.Run("kubeconform-strict", func(t *testing.T) {
		args := append([]string{"template", r.name, p.dir, "-n", r.ns, "--kube-version", "1.37.2",
			"--api-versions", "keda.sh/v1alpha1", "--api-versions", "monitoring.coreos.com/v1"}, valueArgs...)
		out, err := e.helmRun(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.kubeconformStrict(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.TrimSpace(lastLine(res)))
	})
	e.createExistingSecrets(t, r.ns, valueArgs)
	r.install = e.recordOrder(t, r.ns)
	start := time.Now()
	out, err := e.helmRun(ctx, append([]string{"install", r.name, p.dir, "-n", r.ns, "--wait", "--timeout", "3m"}, valueArgs...)...)
	if err != nil {
		r.dump(t)
		t.Fatalf("helm install --wait: %v", err)
	}
	t.Logf("helm install --wait into %s: %s", r.ns, time.Since(start).Round(10*time.Millisecond))
	if w := warnings(out); w != "" {
		t.Errorf("the API server warned during install (unknown or deprecated fields?):\n%s", w)
	}
	return r
}

var warningRE = regexp.MustCompile(`(?m)^W\d{4} .*$|(?m)^.*[Ww]arning: .*$`)

func warnings(out string) string {
	return strings.Join(warningRE.FindAllString(out, -1), "\n")
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// checkAll runs every post-install check (hack/kube/README.md "What it checks") on r.
func (r *release) checkAll(t *testing.T) {
	t.Run("hook-job-before-deployments", r.checkHookOrder)
	t.Run("deployments-available", r.checkDeploymentsAvailable)
	t.Run("services-have-endpoints", r.checkEndpoints)
	t.Run("hpa-able-to-scale", r.checkHPAs)
	t.Run("pdb-disruption-allowed", r.checkPDBs)
	t.Run("upgrade-image-and-bounds", r.checkUpgrade)
	t.Run("upgrade-next-chart-version", r.checkNextChartVersion)
	t.Run("rollback", r.checkRollback)
}

func (r *release) deployments(t *testing.T) []appsv1.Deployment {
	t.Helper()
	l, err := r.e.cs.AppsV1().Deployments(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 {
		t.Fatal("no Deployments")
	}
	return l.Items
}

func (r *release) checkHookOrder(t *testing.T) {
	manifest, err := r.e.helmRun(context.Background(), "get", "hooks", r.name, "-n", r.ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(manifest, "kind: Job") {
		t.Skip("this values set renders no hook Job")
	}
	ev := r.install.snapshot()
	firstDep := slices.IndexFunc(ev, func(s string) bool { return strings.HasPrefix(s, "Deployment+") })
	jobAdded := slices.IndexFunc(ev, func(s string) bool { return strings.HasPrefix(s, "Job+") })
	jobDone := slices.IndexFunc(ev, func(s string) bool { return strings.HasPrefix(s, "Job✓") })
	t.Logf("creation order: %s", strings.Join(ev, ", "))
	if jobAdded < 0 || jobDone < 0 || firstDep < 0 || jobAdded > firstDep || jobDone > firstDep {
		t.Fatalf("want the hook Job created and completed before any Deployment; saw %v", ev)
	}
}

func available(d *appsv1.Deployment) (bool, string) {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			ok := c.Status == corev1.ConditionTrue && d.Status.ObservedGeneration >= d.Generation &&
				d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.AvailableReplicas == *d.Spec.Replicas
			return ok, fmt.Sprintf("%s Available=%s (%s) available=%d/%d updated=%d", d.Name, c.Status, c.Reason,
				d.Status.AvailableReplicas, *d.Spec.Replicas, d.Status.UpdatedReplicas)
		}
	}
	return false, d.Name + " has no Available condition"
}

// waitAvailable polls: an HPA may resize a Deployment after `helm --wait`
// returned (new minReplicas), and the new pods need a moment.
func (r *release) waitAvailable(t *testing.T, what string) {
	t.Helper()
	poll(t, 60*time.Second, "Deployments Available "+what, func() (bool, string) {
		for _, d := range r.deployments(t) {
			if ok, why := available(&d); !ok {
				return false, why
			}
		}
		return true, ""
	})
}

func (r *release) checkDeploymentsAvailable(t *testing.T) {
	r.waitAvailable(t, "after install")
	for _, d := range r.deployments(t) {
		t.Logf("%s: Available, %d/%d replicas on the fake node", d.Name, d.Status.AvailableReplicas, *d.Spec.Replicas)
	}
}

func (r *release) checkEndpoints(t *testing.T) {
	ctx := context.Background()
	svcs, err := r.e.cs.CoreV1().Services(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 {
			continue
		}
		n++
		poll(t, 60*time.Second, "ready endpoints of Service "+s.Name, func() (bool, string) {
			sl, err := r.e.cs.DiscoveryV1().EndpointSlices(r.ns).List(ctx, metav1.ListOptions{
				LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
			if err != nil {
				return false, err.Error()
			}
			ready := 0
			for _, es := range sl.Items {
				for _, ep := range es.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
						ready++
					}
				}
			}
			t.Logf("Service %s: %d ready endpoints", s.Name, ready)
			return ready > 0, fmt.Sprintf("%d EndpointSlices, %d ready endpoints", len(sl.Items), ready)
		})
	}
	if n == 0 {
		t.Fatal("no Service with a selector")
	}
}

func hpaCond(h *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) (corev1.ConditionStatus, string) {
	for _, c := range h.Status.Conditions {
		if c.Type == typ {
			return c.Status, c.Reason
		}
	}
	return "", "no condition yet"
}

func (r *release) checkHPAs(t *testing.T) {
	ctx := context.Background()
	l, err := r.e.cs.AutoscalingV2().HorizontalPodAutoscalers(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 {
		t.Skip("this values set renders no HorizontalPodAutoscaler")
	}
	for _, h := range l.Items {
		// The HPA controller syncs every 15 s.
		poll(t, 90*time.Second, "HPA "+h.Name+" AbleToScale=True", func() (bool, string) {
			cur, err := r.e.cs.AutoscalingV2().HorizontalPodAutoscalers(r.ns).Get(ctx, h.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			st, why := hpaCond(cur, autoscalingv2.AbleToScale)
			return st == corev1.ConditionTrue, fmt.Sprintf("AbleToScale=%s (%s)", st, why)
		})
		cur, _ := r.e.cs.AutoscalingV2().HorizontalPodAutoscalers(r.ns).Get(ctx, h.Name, metav1.GetOptions{})
		st, why := hpaCond(cur, autoscalingv2.ScalingActive)
		t.Logf("HPA %s: AbleToScale=True, min=%d max=%d (ScalingActive=%s %s: no metrics-server here)",
			h.Name, *h.Spec.MinReplicas, h.Spec.MaxReplicas, st, why)
	}
}

func (r *release) checkPDBs(t *testing.T) {
	ctx := context.Background()
	l, err := r.e.cs.PolicyV1().PodDisruptionBudgets(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 {
		t.Skip("this values set renders no PodDisruptionBudget")
	}
	for _, p := range l.Items {
		// A PDB that never allows a disruption blocks every node drain.
		poll(t, 60*time.Second, "PDB "+p.Name+" DisruptionAllowed=True", func() (bool, string) {
			cur, err := r.e.cs.PolicyV1().PodDisruptionBudgets(r.ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range cur.Status.Conditions {
				if c.Type == "DisruptionAllowed" {
					return c.Status == metav1.ConditionTrue, fmt.Sprintf("DisruptionAllowed=%s (%s) healthy=%d desired=%d expected=%d",
						c.Status, c.Reason, cur.Status.CurrentHealthy, cur.Status.DesiredHealthy, cur.Status.ExpectedPods)
				}
			}
			return false, "no DisruptionAllowed condition yet"
		})
		cur, _ := r.e.cs.PolicyV1().PodDisruptionBudgets(r.ns).Get(ctx, p.Name, metav1.GetOptions{})
		t.Logf("PDB %s: DisruptionAllowed=True, disruptionsAllowed=%d of %d pods", p.Name, cur.Status.DisruptionsAllowed, cur.Status.ExpectedPods)
	}
}

func images(ds []appsv1.Deployment) map[string][]string {
	m := map[string][]string{}
	for _, d := range ds {
		for _, c := range d.Spec.Template.Spec.Containers {
			m[d.Name] = append(m[d.Name], c.Image)
		}
	}
	return m
}

func (r *release) checkUpgrade(t *testing.T) {
	ctx := context.Background()
	before := images(r.deployments(t))
	args := append(append([]string{"upgrade", r.name, r.p.dir, "-n", r.ns, "--wait", "--timeout", upgradeTimeout}, r.args...), setArgs(r.p.upgradeSet)...)
	if _, err := r.e.helmRun(ctx, args...); err != nil {
		r.dump(t)
		t.Fatal(err)
	}
	r.waitAvailable(t, "after upgrade")
	for _, d := range r.deployments(t) {
		for _, c := range d.Spec.Template.Spec.Containers {
			if !strings.HasSuffix(c.Image, ":"+r.p.upgradeTag) {
				t.Errorf("%s/%s: image %s, want tag %s", d.Name, c.Name, c.Image, r.p.upgradeTag)
			}
		}
	}
	hl, err := r.e.cs.AutoscalingV2().HorizontalPodAutoscalers(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hl.Items {
		if *h.Spec.MinReplicas != r.p.upgradeMin || h.Spec.MaxReplicas != r.p.upgradeMax {
			t.Errorf("HPA %s: bounds %d..%d, want %d..%d", h.Name, *h.Spec.MinReplicas, h.Spec.MaxReplicas, r.p.upgradeMin, r.p.upgradeMax)
		}
	}
	t.Logf("rolled out %v -> tag %s, HPA bounds %d..%d on %d HPAs", before, r.p.upgradeTag, r.p.upgradeMin, r.p.upgradeMax, len(hl.Items))
}

func setArgs(sets []string) []string {
	var a []string
	for _, s := range sets {
		a = append(a, "--set", s)
	}
	return a
}

// checkNextChartVersion upgrades to a copy of the chart with the next patch
// version: labels that embed the chart version must not reach immutable
// fields (Deployment selectors); the API server rejects such an upgrade.
func (r *release) checkNextChartVersion(t *testing.T) {
	ctx := context.Background()
	next := filepath.Join(t.TempDir(), filepath.Base(r.p.dir))
	if err := os.CopyFS(next, os.DirFS(r.p.dir)); err != nil {
		t.Fatal(err)
	}
	chartFile := filepath.Join(next, "Chart.yaml")
	b, err := os.ReadFile(chartFile)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^version:\s*"?(\d+)\.(\d+)\.(\d+)([^"\s]*)"?`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatal("no semver version: in Chart.yaml")
	}
	var patch int
	fmt.Sscan(string(m[3]), &patch)
	nextVersion := fmt.Sprintf("%s.%s.%d", m[1], m[2], patch+1)
	b = re.ReplaceAll(b, []byte("version: "+nextVersion))
	if err := os.WriteFile(chartFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	selectors := map[string]string{}
	for _, d := range r.deployments(t) {
		selectors[d.Name] = labels.Set(d.Spec.Selector.MatchLabels).String()
	}
	args := append(append([]string{"upgrade", r.name, next, "-n", r.ns, "--wait", "--timeout", upgradeTimeout}, r.args...), setArgs(r.p.upgradeSet)...)
	if _, err := r.e.helmRun(ctx, args...); err != nil {
		r.dump(t)
		t.Fatalf("upgrade to chart %s: %v", nextVersion, err)
	}
	for _, d := range r.deployments(t) {
		if got := labels.Set(d.Spec.Selector.MatchLabels).String(); got != selectors[d.Name] {
			t.Errorf("%s: selector changed %q -> %q", d.Name, selectors[d.Name], got)
		}
	}
	r.waitAvailable(t, "after upgrade to "+nextVersion)
	t.Logf("upgraded to chart version %s; selectors unchanged: %v", nextVersion, selectors)
}

func (r *release) checkRollback(t *testing.T) {
	ctx := context.Background()
	if _, err := r.e.helmRun(ctx, "rollback", r.name, "1", "-n", r.ns, "--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rolled back Deployments Available", func() (bool, string) {
		for _, d := range r.deployments(t) {
			if ok, why := available(&d); !ok {
				return false, why
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if strings.HasSuffix(c.Image, ":"+r.p.upgradeTag) {
					return false, d.Name + " still runs " + c.Image
				}
			}
		}
		return true, ""
	})
	out, err := r.e.helmRun(ctx, "history", r.name, "-n", r.ns, "--max", "10")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("history:\n%s", out)
}

var existingSecretRE = regexp.MustCompile(`(?m)^\s*existingSecret:\s*"?([a-z0-9][a-z0-9.-]*)"?\s*$`)

// createExistingSecrets creates the Secret a values file says exists outside
// the chart (secrets.existingSecret), as its operator would before installing.
func (e *env) createExistingSecrets(t *testing.T, ns string, valueArgs []string) {
	t.Helper()
	for i, a := range valueArgs {
		if a != "-f" || i+1 >= len(valueArgs) {
			continue
		}
		b, err := os.ReadFile(valueArgs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range existingSecretRE.FindAllSubmatch(b, -1) {
			sec := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: string(m[1])},
				StringData: map[string]string{
					"DATABASE_URL":   "postgres://postgres@postgres:5432/webhooks?sslmode=disable",
					"REDIS_PASSWORD": "test",
				},
			}
			if _, err := e.cs.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Logf("created the existing Secret %s first", sec.Name)
		}
	}
}

// dump logs the namespace's state, to explain a failed helm --wait.
func (r *release) dump(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	out, _ := r.e.kubectl(ctx, "get", "deploy,rs,pods,jobs,hpa,pdb,svc,endpointslices", "-n", r.ns, "-o", "wide")
	t.Logf("state of %s:\n%s", r.ns, out)
	out, _ = r.e.kubectl(ctx, "get", "events", "-n", r.ns, "--sort-by", ".lastTimestamp")
	t.Logf("events in %s:\n%s", r.ns, out)
}

// upgradeTimeout bounds each helm upgrade --wait (kwok pods are Ready in ~1 s).
const upgradeTimeout = "3m"
