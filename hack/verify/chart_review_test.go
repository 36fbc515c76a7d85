package verify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// checkGoMemLimit: GOMEMLIMIT is a soft limit below the container's memory
// limit (80-90 %), never the limit itself: at 100 % the kernel's OOM killer
// acts before the Go runtime collects.
func checkGoMemLimit(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	lim, ok := c.Resources.Limits[corev1.ResourceMemory]
	v := envValue(c, "GOMEMLIMIT")
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil {
			t.Errorf("%s: GOMEMLIMIT from %v: the whole limit, not a share of it", name, e.ValueFrom)
		}
	}
	if !ok {
		if v != "" {
			t.Errorf("%s: GOMEMLIMIT %q without a memory limit", name, v)
		}
		return
	}
	m := regexp.MustCompile(`^([0-9]+)MiB$`).FindStringSubmatch(v)
	if m == nil {
		t.Errorf("%s: GOMEMLIMIT = %q, want <n>MiB", name, v)
		return
	}
	mib, _ := strconv.ParseInt(m[1], 10, 64)
	ratio := float64(mib<<20) / float64(lim.Value())
	if ratio < 0.80 || ratio > 0.90 {
		t.Errorf("%s: GOMEMLIMIT %s is %.0f %% of the %s limit, want 80-90 %%", name, v, ratio*100, lim.String())
	}
}

// TestChartGoMemLimitUnits: the template reads the usual quantity units.
func TestChartGoMemLimitUnits(t *testing.T) {
	for _, lim := range []string{"256Mi", "1Gi", "1.5Gi", "500M", "2G", "1000000000"} {
		t.Run(lim, func(t *testing.T) {
			out, err := template(t, "", "--set", "worker.resources.limits.memory="+lim, "--show-only", "templates/worker/deployment.yaml")
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeAll(t, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range find[*appsv1.Deployment](objs) {
				c := d.Spec.Template.Spec.Containers[0]
				if q := c.Resources.Limits[corev1.ResourceMemory]; q.Cmp(resource.MustParse(lim)) != 0 {
					t.Fatalf("limit rendered as %s", q.String())
				}
				checkGoMemLimit(t, d.Name, c)
			}
		})
	}
}

// TestChartImageDigests: each image is pinned by its own digest; a single
// global digest (which would pin two different images to one) is refused.
func TestChartImageDigests(t *testing.T) {
	ing, wrk := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	r := render(t, filepath.Join(chartDir(t), "ci", "production-values.yaml"))
	want := map[string]string{
		fullname + "-ingress": "registry.example.com/webhook-ingestor/ingress@" + ing,
		fullname + "-worker":  "registry.example.com/webhook-ingestor/worker@" + wrk,
	}
	for name, img := range want {
		d, ok := r.deployments[name]
		if !ok {
			t.Fatalf("no Deployment %s", name)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != img {
			t.Errorf("%s image = %q, want %q", name, got, img)
		}
	}
	for name, j := range r.jobs {
		if got := j.Spec.Template.Spec.Containers[0].Image; got != want[fullname+"-worker"] {
			t.Errorf("Job %s image = %q, want the worker's %q", name, got, want[fullname+"-worker"])
		}
	}
	// Only the ingress pinned: the worker keeps its tag.
	out, err := template(t, "", "--set", "ingress.image.digest="+ing, "--show-only", "templates/worker/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), ing) {
		t.Error("the ingress's digest leaked into the worker's image")
	}
}

// TestChartKEDARedis: KEDA's operator reaches Redis from its own namespace,
// so a bare Service name is qualified with the release namespace; the
// password comes through a TriggerAuthentication; a fallback holds the
// replicas while the trigger fails.
func TestChartKEDARedis(t *testing.T) {
	cases := map[string]struct {
		set      []string
		addr     string
		withAuth bool
	}{
		"bare service name": {nil, "redis.webhooks.svc.cluster.local:6379", true},
		"other domain":      {[]string{"keda.clusterDomain=corp.internal"}, "redis.webhooks.svc.corp.internal:6379", true},
		"qualified":         {[]string{"config.redisAddr=redis-master.data.svc:6380"}, "redis-master.data.svc:6380", true},
		"explicit":          {[]string{"keda.redisAddress=10.1.2.3:6379"}, "10.1.2.3:6379", true},
		"no auth":           {[]string{"keda.redisAuth=false"}, "redis.webhooks.svc.cluster.local:6379", false},
	}
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			var extra []string
			for _, s := range c.set {
				extra = append(extra, "--set", s)
			}
			out, err := template(t, filepath.Join(chartDir(t), "ci", "monitoring-keda-values.yaml"), extra...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeAll(t, out)
			if err != nil {
				t.Fatal(err)
			}
			so := find[*kedav1alpha1.ScaledObject](objs)[fullname+"-worker"]
			if so == nil {
				t.Fatal("no ScaledObject")
			}
			auths := find[*kedav1alpha1.TriggerAuthentication](objs)
			secrets := find[*corev1.Secret](objs)
			var redis *kedav1alpha1.ScaleTriggers
			for i := range so.Spec.Triggers {
				if so.Spec.Triggers[i].Type == "redis" {
					redis = &so.Spec.Triggers[i]
				}
			}
			if redis == nil {
				t.Fatal("no redis trigger")
			}
			if got := redis.Metadata["address"]; got != c.addr {
				t.Errorf("redis trigger address = %q, want %q", got, c.addr)
			}
			if _, ok := redis.Metadata["passwordFromEnv"]; ok {
				t.Error("passwordFromEnv: resolved from the scale target's env, not a Secret KEDA is authorised to read")
			}
			if !c.withAuth {
				if redis.AuthenticationRef != nil || len(auths) != 0 {
					t.Error("TriggerAuthentication rendered with keda.redisAuth=false")
				}
			} else {
				if redis.AuthenticationRef == nil {
					t.Fatal("redis trigger has no authenticationRef")
				}
				ta, ok := auths[redis.AuthenticationRef.Name]
				if !ok {
					t.Fatalf("authenticationRef %q names no TriggerAuthentication", redis.AuthenticationRef.Name)
				}
				if len(ta.Spec.SecretTargetRef) != 1 {
					t.Fatalf("TriggerAuthentication secretTargetRef = %v", ta.Spec.SecretTargetRef)
				}
				ref := ta.Spec.SecretTargetRef[0]
				if ref.Parameter != "password" || ref.Key != "REDIS_PASSWORD" {
					t.Errorf("secretTargetRef = %+v, want parameter password from key REDIS_PASSWORD", ref)
				}
				sec, ok := secrets[ref.Name]
				if !ok {
					t.Fatalf("secretTargetRef names Secret %q, not rendered", ref.Name)
				}
				if _, ok := sec.StringData["REDIS_PASSWORD"]; !ok {
					t.Errorf("Secret %s has no REDIS_PASSWORD", ref.Name)
				}
			}
			fb := so.Spec.Fallback
			if fb == nil {
				t.Fatal("no fallback")
			}
			if fb.FailureThreshold < 1 || fb.Replicas < *so.Spec.MinReplicaCount || fb.Replicas > *so.Spec.MaxReplicaCount {
				t.Errorf("fallback %+v outside min %d..max %d", fb, *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount)
			}
			if redis.MetricType != "AverageValue" {
				t.Errorf("redis trigger metricType %q: KEDA's fallback needs AverageValue", redis.MetricType)
			}
		})
	}
}

// TestChartOpsPortNotPublic: /metrics never rides on the public ingress
// Service (a LoadBalancer, an Ingress or a route would publish it); a
// ClusterIP metrics Service carries the ops port for the ServiceMonitor.
func TestChartOpsPortNotPublic(t *testing.T) {
	r := render(t, filepath.Join(chartDir(t), "ci", "monitoring-keda-values.yaml"))
	pub, ok := r.services[fullname+"-ingress"]
	if !ok {
		t.Fatal("no public ingress Service")
	}
	for _, p := range pub.Spec.Ports {
		if p.Name == "ops" || p.TargetPort.String() == "ops" || p.TargetPort.IntValue() == 9090 {
			t.Errorf("public Service %s publishes the ops port (%s -> %s)", pub.Name, p.Name, p.TargetPort.String())
		}
	}
	for _, name := range []string{fullname + "-ingress-metrics", fullname + "-worker"} {
		svc, ok := r.services[name]
		if !ok {
			t.Errorf("no metrics Service %s", name)
			continue
		}
		if svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("%s type %s, want ClusterIP", name, svc.Spec.Type)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "ops" {
			t.Errorf("%s ports %v, want ops only", name, svc.Spec.Ports)
		}
	}
	for name, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service.Port.Name == "ops" || strings.HasSuffix(p.Backend.Service.Name, "-metrics") {
					t.Errorf("Ingress %s routes to the ops port", name)
				}
			}
		}
	}
}

// TestChartMigrateServiceAccountAnnotations: the hook's own ServiceAccount
// carries serviceAccount.annotations too (cloud workload identity is how the
// migration reaches a managed database).
func TestChartMigrateServiceAccountAnnotations(t *testing.T) {
	out, err := template(t, "", "--set", "serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account=wi@example.iam")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	sas := find[*corev1.ServiceAccount](objs)
	for _, name := range []string{fullname, fullname + "-migrate"} {
		sa, ok := sas[name]
		if !ok {
			t.Errorf("no ServiceAccount %s", name)
			continue
		}
		if got := sa.Annotations["iam.gke.io/gcp-service-account"]; got != "wi@example.iam" {
			t.Errorf("ServiceAccount %s annotations %v lack serviceAccount.annotations", name, sa.Annotations)
		}
	}
	if sa := sas[fullname+"-migrate"]; sa != nil && sa.Annotations["helm.sh/hook"] == "" {
		t.Error("the migrate ServiceAccount lost its hook annotation")
	}
}

// TestChartNotesCommandRestricted: the `kubectl run` the NOTES suggest makes
// a pod that PodSecurity "restricted" admits. The pod is built as kubectl
// builds it (name, image, args, restartPolicy) and the --overrides applied
// with the strategic merge the command asks for.
func TestChartNotesCommandRestricted(t *testing.T) {
	notes := renderNotes(t)
	cmd := strings.ReplaceAll(notes, "\\\n", " ")
	var line string
	for _, l := range strings.Split(cmd, "\n") {
		if strings.Contains(l, "kubectl") && strings.Contains(l, " run ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no kubectl run in NOTES:\n%s", notes)
	}
	image := regexp.MustCompile(`--image=(\S+)`).FindStringSubmatch(line)
	name := regexp.MustCompile(` run (\S+)`).FindStringSubmatch(line)
	ov := regexp.MustCompile(`--overrides='([^']*)'`).FindStringSubmatch(line)
	if image == nil || name == nil || ov == nil {
		t.Fatalf("kubectl run without --image, a name or --overrides: %s", line)
	}
	if !strings.Contains(line, "--override-type=strategic") {
		t.Error("--overrides without --override-type=strategic replaces the containers list (image and args lost)")
	}
	base, err := json.Marshal(corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: name[1], Image: image[1], Args: []string{"curl", "-sS"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	merged, err := strategicpatch.StrategicMergePatch(base, []byte(ov[1]), corev1.Pod{})
	if err != nil {
		t.Fatalf("--overrides is not a valid strategic merge patch: %v", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(merged, &pod); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != image[1] {
		t.Fatalf("merged pod containers %+v: the override does not name the container %q", pod.Spec.Containers, name[1])
	}
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	if res := psapolicy.AggregateCheckResults(eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec)); !res.Allowed {
		t.Errorf("the NOTES' kubectl run is refused by PodSecurity restricted: %s", res.ForbiddenDetail())
	}
	// The image's USER is a name; runAsNonRoot needs a numeric uid to check.
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("no numeric non-root runAsUser: the kubelet cannot verify runAsNonRoot for a named USER")
	}
}

// renderNotes renders templates/NOTES.txt, which `helm template` leaves out:
// a copy of the chart serves it as a ConfigMap.
func renderNotes(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := chartDir(t)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if rel == filepath.Join("templates", "NOTES.txt") {
			dst = filepath.Join(dir, "notes.txt")
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n  namespace: webhooks\ndata:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "zz-notes.yaml"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runHelm(t, "template", "wi", dir, "--namespace", "webhooks", "--kube-version", kubeVersion,
		"--set", "config.acceptUnsignedFromAnyone=true", "--show-only", "templates/zz-notes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	cm := find[*corev1.ConfigMap](objs)["notes"]
	if cm == nil || cm.Data["notes"] == "" {
		t.Fatal("NOTES rendered empty")
	}
	return cm.Data["notes"]
}
