package verify

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestChartLint runs `helm lint --strict` (which also applies
// values.schema.json) with the defaults and every values file.
func TestChartLint(t *testing.T) {
	cases := valuesCases(t)
	for _, name := range sortedKeys(cases) {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir(t), "--kube-version", kubeVersion}
			if f := cases[name]; f != "" {
				args = append(args, "-f", f)
			} else {
				args = append(args, defaultsSet...)
			}
			if out, err := runHelm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// rendered holds what one values file renders to, typed.
type rendered struct {
	all         []object
	deployments map[string]*appsv1.Deployment
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	services    map[string]*corev1.Service
	jobs        map[string]*batchv1.Job
	ingresses   map[string]*networkingv1.Ingress
	scaled      map[string]*kedav1alpha1.ScaledObject
}

func render(t *testing.T, valuesFile string) rendered {
	t.Helper()
	out, err := template(t, valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("rendered nothing")
	}
	return rendered{
		all:         objs,
		deployments: find[*appsv1.Deployment](objs),
		hpas:        find[*autoscalingv2.HorizontalPodAutoscaler](objs),
		pdbs:        find[*policyv1.PodDisruptionBudget](objs),
		services:    find[*corev1.Service](objs),
		jobs:        find[*batchv1.Job](objs),
		ingresses:   find[*networkingv1.Ingress](objs),
		scaled:      find[*kedav1alpha1.ScaledObject](objs),
	}
}

const fullname = "wi-webhook-ingestor"

func component(values, c string) string {
	if strings.HasSuffix(values, "values-dev.yaml") {
		return "webhook-ingestor-" + c
	}
	return fullname + "-" + c
}

// TestChartRender renders every values file, decodes every object strictly
// and checks what every rendering must hold: names, deployments, autoscaling,
// PDBs, services, ingress, pod security and the migration Job.
func TestChartRender(t *testing.T) {
	cases := valuesCases(t)
	for _, name := range sortedKeys(cases) {
		t.Run(name, func(t *testing.T) {
			r := render(t, cases[name])
			dev := name == "values-dev.yaml"
			keda := len(r.scaled) > 0

			checkNames(t, r)
			checkDeployments(t, name, r, dev)
			checkAutoscaling(t, name, r, keda)
			checkPDBs(t, name, r)
			checkServices(t, r)
			checkIngress(t, r)
			checkPodSecurity(t, r)
			checkMigrationJob(t, name, r, dev)
		})
	}
}

// TestChartHTTPRoute: httpRoute.enabled renders a Gateway API HTTPRoute that
// strictly decodes into sigs.k8s.io/gateway-api's v1 type, attaches to the
// given Gateway listener and sends the webhook and health paths to the
// ingress Service's port; the defaults render none.
func TestChartHTTPRoute(t *testing.T) {
	if n := len(find[*gatewayv1.HTTPRoute](render(t, "").all)); n != 0 {
		t.Fatalf("defaults render %d HTTPRoutes, want none", n)
	}
	out, err := template(t, "",
		"--set", "httpRoute.enabled=true",
		"--set", "httpRoute.parentRefs[0].name=entry",
		"--set", "httpRoute.parentRefs[0].namespace=gateway-system",
		"--set", "httpRoute.parentRefs[0].sectionName=web",
		"--set", "httpRoute.hostnames[0]=webhooks.example.com",
		"--set", "httpRoute.timeouts.request=10s")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	routes := find[*gatewayv1.HTTPRoute](objs)
	route, ok := routes[fullname]
	if !ok || len(routes) != 1 {
		t.Fatalf("want one HTTPRoute %q, got %v", fullname, sortedKeys(routes))
	}
	services := find[*corev1.Service](objs)
	if len(route.Spec.ParentRefs) != 1 {
		t.Fatalf("parentRefs = %+v", route.Spec.ParentRefs)
	}
	pr := route.Spec.ParentRefs[0]
	if pr.Name != "entry" || pr.Namespace == nil || *pr.Namespace != "gateway-system" || pr.SectionName == nil || *pr.SectionName != "web" {
		t.Errorf("parentRef = %+v, want entry/gateway-system listener web", pr)
	}
	if len(route.Spec.Hostnames) != 1 || route.Spec.Hostnames[0] != "webhooks.example.com" {
		t.Errorf("hostnames = %v", route.Spec.Hostnames)
	}
	if len(route.Spec.Rules) != 1 {
		t.Fatalf("rules = %+v", route.Spec.Rules)
	}
	rule := route.Spec.Rules[0]
	paths := map[string]gatewayv1.PathMatchType{}
	for _, m := range rule.Matches {
		if m.Path != nil && m.Path.Value != nil && m.Path.Type != nil {
			paths[*m.Path.Value] = *m.Path.Type
		}
	}
	if paths["/webhooks"] != gatewayv1.PathMatchPathPrefix || paths["/health"] != gatewayv1.PathMatchExact {
		t.Errorf("matches = %v, want /webhooks PathPrefix and /health Exact", paths)
	}
	if rule.Timeouts == nil || rule.Timeouts.Request == nil || *rule.Timeouts.Request != "10s" {
		t.Errorf("timeouts = %+v, want request 10s", rule.Timeouts)
	}
	if len(rule.BackendRefs) != 1 {
		t.Fatalf("backendRefs = %+v", rule.BackendRefs)
	}
	be := rule.BackendRefs[0]
	svc, ok := services[string(be.Name)]
	if !ok {
		t.Fatalf("HTTPRoute routes to missing Service %s", be.Name)
	}
	var found bool
	for _, sp := range svc.Spec.Ports {
		found = found || (sp.Name == "http" && be.Port != nil && sp.Port == *be.Port)
	}
	if !found {
		t.Errorf("HTTPRoute routes to port %v, not the http port of Service %s", be.Port, svc.Name)
	}
}

// TestChartDefaultsRenderNoCRDs: a plain `helm install` must work on a
// cluster with no CRDs installed.
func TestChartDefaultsRenderNoCRDs(t *testing.T) {
	r := render(t, "")
	for _, o := range r.all {
		if !strings.HasSuffix(o.GVK.Group, "k8s.io") && o.GVK.Group != "" && o.GVK.Group != "apps" &&
			o.GVK.Group != "batch" && o.GVK.Group != "policy" && o.GVK.Group != "autoscaling" {
			t.Errorf("defaults render %s %q, a CRD kind", o.GVK, o.Name)
		}
	}
}

// TestChartCRDKinds: the monitoring+KEDA values render exactly the CRD kinds
// they enable, and the KEDA ScaledObject replaces the worker's HPA.
func TestChartCRDKinds(t *testing.T) {
	r := render(t, filepath.Join(chartDir(t), "ci", "monitoring-keda-values.yaml"))
	so, ok := r.scaled[fullname+"-worker"]
	if !ok {
		t.Fatal("no ScaledObject for the worker")
	}
	if so.Spec.ScaleTargetRef.Name != fullname+"-worker" {
		t.Errorf("ScaledObject targets %q", so.Spec.ScaleTargetRef.Name)
	}
	var haveRedis, haveCPU bool
	for _, tr := range so.Spec.Triggers {
		switch tr.Type {
		case "redis":
			haveRedis = true
			if got := tr.Metadata["listName"]; got != "asynq:{webhooks}:pending" {
				t.Errorf("redis trigger listName = %q, want the asynq pending list", got)
			}
			if _, err := strconv.Atoi(tr.Metadata["listLength"]); err != nil {
				t.Errorf("redis trigger listLength: %v", err)
			}
		case "cpu":
			haveCPU = true
		}
	}
	if !haveRedis || !haveCPU {
		t.Errorf("ScaledObject triggers: redis=%v cpu=%v, want both", haveRedis, haveCPU)
	}
	if _, ok := r.hpas[fullname+"-worker"]; ok {
		t.Error("worker HPA rendered alongside the ScaledObject (KEDA creates its own HPA; two would fight)")
	}
	if d := r.deployments[fullname+"-worker"]; d != nil && d.Spec.Replicas != nil {
		t.Error("worker Deployment sets replicas while KEDA scales it")
	}
	if len(find[*monitoringv1.ServiceMonitor](r.all)) != 1 {
		t.Error("want one ServiceMonitor")
	}
	rules := find[*monitoringv1.PrometheusRule](r.all)
	if len(rules) != 1 {
		t.Fatal("want one PrometheusRule")
	}
	want := map[string]bool{
		"WebhookBacklogGrowing": false, "WebhookOldestPendingTooOld": false, "WebhookAcceptedNotPersisted": false, "WebhookTasksArchived": false,
		"WebhookHigh5xxRate": false, "WebhookPodNotReady": false,
	}
	for _, pr := range rules {
		for _, g := range pr.Spec.Groups {
			for _, rule := range g.Rules {
				if _, ok := want[rule.Alert]; ok {
					want[rule.Alert] = true
				}
				if rule.Alert != "" && strings.TrimSpace(rule.Expr.String()) == "" {
					t.Errorf("alert %s has no expr", rule.Alert)
				}
			}
		}
	}
	for a, ok := range want {
		if !ok {
			t.Errorf("alert %s missing", a)
		}
	}
}

// TestChartRejects: mistakes the API server would reject (or that would
// SIGKILL in-flight work) fail at render time instead.
func TestChartRejects(t *testing.T) {
	cases := map[string]struct {
		set  []string
		want string
	}{
		"pdb both fields":          {[]string{"--set", "ingress.pdb.minAvailable=1"}, "not both"},
		"grace below drain":        {[]string{"--set", "ingress.terminationGracePeriodSeconds=20"}, "must exceed"},
		"worker grace too short":   {[]string{"--set", "worker.terminationGracePeriodSeconds=10"}, "must exceed"},
		"hpa min above max":        {[]string{"--set", "ingress.autoscaling.minReplicas=11"}, "must not exceed"},
		"unknown value":            {[]string{"--set", "ingress.replicas=3"}, "additional properties"},
		"invalid fullname":         {[]string{"--set", "fullnameOverride=Bad_Name"}, "fullnameOverride"},
		"invalid pdb percentage":   {[]string{"--set", "worker.pdb.maxUnavailable=half"}, "maxUnavailable"},
		"bad log level":            {[]string{"--set", "config.logLevel=loud"}, "logLevel"},
		"drain not below shutdown": {[]string{"--set", "ingress.drainDelaySeconds=20"}, "must be below shutdownTimeoutSeconds"},
		"drain above shutdown":     {[]string{"--set", "ingress.drainDelaySeconds=25,ingress.terminationGracePeriodSeconds=60"}, "must be below shutdownTimeoutSeconds"},
		"preStop and drain":        {[]string{"--set", "ingress.preStopSleepSeconds=5"}, "not both"},
		"global image digest":      {[]string{"--set", "image.digest=sha256:" + strings.Repeat("a", 64)}, "digest"},
		"keda fallback above max":  {[]string{"--set", "keda.enabled=true,keda.fallback.replicas=50"}, "fallback.replicas"},
		"no database url":          {[]string{"--set", "secrets.databaseURL="}, "databaseURL"},
		"unsigned from anyone":     {[]string{"--set", "config.acceptUnsignedFromAnyone=false"}, "acceptUnsignedFromAnyone"},
		"httpRoute no parentRefs":  {[]string{"--set", "httpRoute.enabled=true"}, "httpRoute.parentRefs"},
		"httpRoute bad parentRef":  {[]string{"--set", "httpRoute.enabled=true", "--set", "httpRoute.parentRefs[0].nam=entry"}, "parentRefs"},
	}
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			_, err := template(t, "", c.set...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want an error mentioning %q", c.set, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

func checkNames(t *testing.T, r rendered) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range r.all {
		key := o.GVK.Kind + "/" + o.Name
		if seen[key] {
			t.Errorf("%s rendered twice", key)
		}
		seen[key] = true
		if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
			t.Errorf("%s name: %v", key, errs)
		}
		m := metaOf(o)
		for k, v := range m.GetLabels() {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("%s label key %q: %v", key, k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s label %s=%q: %v", key, k, v, errs)
			}
		}
		if m.GetNamespace() != "webhooks" {
			t.Errorf("%s namespace = %q, want the release namespace", key, m.GetNamespace())
		}
	}
}

func metaOf(o object) metav1.Object {
	acc, ok := o.Obj.(metav1.ObjectMetaAccessor)
	if !ok {
		panic(fmt.Sprintf("%T has no ObjectMeta", o.Obj))
	}
	return acc.GetObjectMeta()
}

func checkDeployments(t *testing.T, values string, r rendered, dev bool) {
	t.Helper()
	ports := map[string]int32{"ingress": 9090, "worker": 9091}
	for _, c := range []string{"ingress", "worker"} {
		d, ok := r.deployments[component(values, c)]
		if !ok {
			t.Errorf("no Deployment %s", component(values, c))
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			t.Errorf("%s selector: %v", d.Name, err)
			continue
		}
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s selector %v does not match its pod labels %v", d.Name, sel, d.Spec.Template.Labels)
		}
		for k := range d.Spec.Selector.MatchLabels {
			if k == "helm.sh/chart" || k == "app.kubernetes.io/version" {
				t.Errorf("%s selector uses %s, which changes on upgrade (selectors are immutable)", d.Name, k)
			}
		}
		pod := d.Spec.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s mounts a service account token", d.Name)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: want 1 container, got %d", d.Name, len(pod.Containers))
		}
		ctr := pod.Containers[0]
		checkProbes(t, d.Name, ctr, ports[c])
		checkResources(t, d.Name, ctr)
		checkSecurity(t, d.Name, pod, ctr, !dev)
		checkGrace(t, d.Name, pod, ctr, c)
		checkGoMemLimit(t, d.Name, ctr)
		if !dev && len(pod.TopologySpreadConstraints) == 0 {
			t.Errorf("%s has no topology spread constraints", d.Name)
		}
		if d.Spec.Template.Annotations["checksum/config"] == "" {
			t.Errorf("%s pods do not roll when the ConfigMap changes (no checksum/config)", d.Name)
		}
	}
}

// checkProbes: distinct startup, liveness and readiness probes, all HTTP on
// the ops port: liveness /live (no dependencies), readiness /ready.
func checkProbes(t *testing.T, name string, c corev1.Container, opsPort int32) {
	t.Helper()
	var portNamed int32
	for _, p := range c.Ports {
		if p.Name == "ops" {
			portNamed = p.ContainerPort
		}
	}
	if portNamed != opsPort {
		t.Errorf("%s: container port \"ops\" = %d, want %d", name, portNamed, opsPort)
	}
	envOps := envValue(c, "OPS_ADDR")
	if envOps != fmt.Sprintf(":%d", opsPort) {
		t.Errorf("%s: OPS_ADDR = %q, want :%d (the probes' port)", name, envOps, opsPort)
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	want := map[string]string{"startup": "/live", "liveness": "/live", "readiness": "/ready"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", name, kind)
			continue
		}
		if p.HTTPGet.Path != want[kind] {
			t.Errorf("%s: %s probe path %q, want %q", name, kind, p.HTTPGet.Path, want[kind])
		}
		if p.HTTPGet.Port.String() != "ops" && p.HTTPGet.Port.IntValue() != int(opsPort) {
			t.Errorf("%s: %s probe port %s, want the ops port", name, kind, p.HTTPGet.Port.String())
		}
	}
	if c.StartupProbe != nil && c.LivenessProbe != nil &&
		c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds <= c.LivenessProbe.FailureThreshold*c.LivenessProbe.PeriodSeconds {
		t.Errorf("%s: the startup probe allows no more start time than liveness; it adds nothing", name)
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func checkResources(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim {
			t.Errorf("%s/%s: %s request and limit both required (hack/kube installs under a LimitRange-free restricted namespace)", name, c.Name, res)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s/%s: %s request %s above limit %s", name, c.Name, res, req.String(), lim.String())
		}
	}
}

func checkSecurity(t *testing.T, name string, pod corev1.PodSpec, c corev1.Container, readOnly bool) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod is not forced non-root", name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: no RuntimeDefault seccomp profile", name)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s/%s: no securityContext", name, c.Name)
		return
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s/%s: privilege escalation allowed", name, c.Name)
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s/%s: capabilities %v, want drop [ALL] and no add", name, c.Name, sc.Capabilities)
	case readOnly && (sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem):
		t.Errorf("%s/%s: root filesystem is writable", name, c.Name)
	}
}

// checkGrace: SIGKILL must come after preStop + SHUTDOWN_TIMEOUT (each
// binary's whole budget from SIGTERM, the ingress's DRAIN_DELAY included);
// DRAIN_DELAY must be below SHUTDOWN_TIMEOUT (the ingress refuses to start
// otherwise), and the ingress drains exactly once: preStop sleep or
// DRAIN_DELAY, not both.
func checkGrace(t *testing.T, name string, pod corev1.PodSpec, c corev1.Container, comp string) {
	t.Helper()
	dur := func(env string) time.Duration {
		v := envValue(c, env)
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("%s: %s=%q: %v", name, env, v, err)
		}
		return d
	}
	drain, shutdown := dur("DRAIN_DELAY"), dur("SHUTDOWN_TIMEOUT")
	need := shutdown
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("%s: preStop is not a sleep action (distroless has no shell)", name)
		} else {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			need += preStop
		}
	}
	if comp == "ingress" {
		switch {
		case preStop > 0 && drain > 0:
			t.Errorf("%s: preStop sleep %s and DRAIN_DELAY %s both set: the pod drains twice", name, preStop, drain)
		case preStop == 0 && drain == 0:
			t.Errorf("%s: neither a preStop sleep nor DRAIN_DELAY; endpoints may still route to a stopping pod", name)
		}
	}
	if shutdown == 0 {
		t.Errorf("%s: SHUTDOWN_TIMEOUT not set", name)
	}
	if drain >= shutdown && drain > 0 {
		t.Errorf("%s: DRAIN_DELAY %s not below SHUTDOWN_TIMEOUT %s (the ingress would refuse to start)", name, drain, shutdown)
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= need {
		t.Errorf("%s: terminationGracePeriodSeconds %v not above preStop+shutdown %v", name, pod.TerminationGracePeriodSeconds, need)
	}
}

func checkAutoscaling(t *testing.T, values string, r rendered, keda bool) {
	t.Helper()
	for _, c := range []string{"ingress", "worker"} {
		name := component(values, c)
		hpa, ok := r.hpas[name]
		if c == "worker" && keda {
			if ok {
				t.Errorf("%s: HPA and ScaledObject both rendered", name)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no HPA", name)
			continue
		}
		if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != name {
			t.Errorf("%s: HPA targets %s/%s", name, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
			t.Errorf("%s: HPA min %v max %d", name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		var cpu bool
		for _, m := range hpa.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
				cpu = true
			}
		}
		if !cpu {
			t.Errorf("%s: HPA does not scale on CPU", name)
		}
		if d := r.deployments[name]; d != nil && d.Spec.Replicas != nil {
			t.Errorf("%s: Deployment sets replicas while its HPA is on (every upgrade would reset the scale)", name)
		}
	}
}

func checkPDBs(t *testing.T, values string, r rendered) {
	t.Helper()
	for _, c := range []string{"ingress", "worker"} {
		name := component(values, c)
		pdb, ok := r.pdbs[name]
		if !ok {
			t.Errorf("%s: no PodDisruptionBudget", name)
			continue
		}
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("%s: PDB must set exactly one of minAvailable/maxUnavailable", name)
		}
		if pdb.Spec.MaxUnavailable != nil && pdb.Spec.MaxUnavailable.IntValue() < 1 && pdb.Spec.MaxUnavailable.String() != "" &&
			!strings.HasSuffix(pdb.Spec.MaxUnavailable.String(), "%") {
			t.Errorf("%s: maxUnavailable %s blocks every drain", name, pdb.Spec.MaxUnavailable.String())
		}
		d := r.deployments[name]
		if d == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: PDB selector does not select the Deployment's pods (%v)", name, err)
		}
	}
}

func checkServices(t *testing.T, r rendered) {
	t.Helper()
	for name, svc := range r.services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var target *appsv1.Deployment
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				if target != nil {
					t.Errorf("Service %s selects pods of two Deployments", name)
				}
				target = d
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no Deployment's pods", name)
			continue
		}
		named := map[string]bool{}
		for _, p := range target.Spec.Template.Spec.Containers[0].Ports {
			named[p.Name] = true
		}
		for _, p := range svc.Spec.Ports {
			if !named[p.TargetPort.String()] {
				t.Errorf("Service %s port %s targets %q, not a port of %s", name, p.Name, p.TargetPort.String(), target.Name)
			}
		}
	}
}

func checkIngress(t *testing.T, r rendered) {
	t.Helper()
	for name, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				svc, ok := r.services[p.Backend.Service.Name]
				if !ok {
					t.Errorf("Ingress %s routes to missing Service %s", name, p.Backend.Service.Name)
					continue
				}
				var found bool
				for _, sp := range svc.Spec.Ports {
					found = found || sp.Name == p.Backend.Service.Port.Name
				}
				if !found {
					t.Errorf("Ingress %s routes to port %q not on Service %s", name, p.Backend.Service.Port.Name, svc.Name)
				}
			}
		}
	}
}

// checkPodSecurity evaluates every pod template with the Pod Security
// Admission library at the restricted level, as the API server would.
func checkPodSecurity(t *testing.T, r rendered) {
	t.Helper()
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	check := func(kind, name string, tpl corev1.PodTemplateSpec) {
		res := psapolicy.AggregateCheckResults(eval.EvaluatePod(lv, &tpl.ObjectMeta, &tpl.Spec))
		if !res.Allowed {
			t.Errorf("%s %s violates PodSecurity restricted: %s", kind, name, res.ForbiddenDetail())
		}
	}
	for n, d := range r.deployments {
		check("Deployment", n, d.Spec.Template)
	}
	for n, j := range r.jobs {
		check("Job", n, j.Spec.Template)
		for _, c := range j.Spec.Template.Spec.Containers {
			checkResources(t, n, c)
		}
	}
}

func checkMigrationJob(t *testing.T, values string, r rendered, dev bool) {
	t.Helper()
	worker := r.deployments[component(values, "worker")]
	if dev {
		if len(r.jobs) != 0 {
			t.Error("values-dev renders the migration hook Job; Tilt would apply it as a plain Job")
		}
		if worker != nil && envValue(worker.Spec.Template.Spec.Containers[0], "DB_MIGRATE") != "true" {
			t.Error("without the hook Job the worker must migrate at start (DB_MIGRATE=true)")
		}
		return
	}
	job, ok := r.jobs[fullname+"-migrate"]
	if !ok {
		t.Fatal("no migration Job")
	}
	if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("migration Job hook = %q", got)
	}
	if got := job.Annotations["helm.sh/hook-delete-policy"]; got != "before-hook-creation,hook-succeeded" {
		t.Errorf("migration Job delete policy = %q", got)
	}
	ctr := job.Spec.Template.Spec.Containers[0]
	if strings.Join(ctr.Args, " ") != "migrate" {
		t.Errorf("migration Job args %v, want [migrate]", ctr.Args)
	}
	if worker != nil && ctr.Image != worker.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("migration Job image %s differs from the worker's %s", ctr.Image, worker.Spec.Template.Spec.Containers[0].Image)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever && job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("migration Job restartPolicy %q", job.Spec.Template.Spec.RestartPolicy)
	}
	// Hooks run before the release's own objects exist: everything the Job
	// references must be a hook of lower weight or exist beforehand.
	hookWeight := func(kind, name string) (int, bool) {
		for _, o := range r.all {
			if o.GVK.Kind == kind && o.Name == name {
				m := metaOf(o)
				if !strings.Contains(m.GetAnnotations()["helm.sh/hook"], "pre-install") {
					return 0, false
				}
				w, _ := strconv.Atoi(m.GetAnnotations()["helm.sh/hook-weight"])
				return w, true
			}
		}
		return 0, false
	}
	jobWeight, _ := strconv.Atoi(job.Annotations["helm.sh/hook-weight"])
	if sa := job.Spec.Template.Spec.ServiceAccountName; sa != "" && sa != "default" {
		if w, ok := hookWeight("ServiceAccount", sa); !ok || w >= jobWeight {
			t.Errorf("migration Job uses ServiceAccount %s, which is not a lower-weight hook", sa)
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef.Name
			if w, ok := hookWeight("Secret", ref); ok && w < jobWeight {
				continue
			}
			if strings.Contains(values, "existing-secret") {
				continue // the user's Secret exists before install
			}
			t.Errorf("migration Job reads Secret %s, which does not exist yet at pre-install", ref)
		}
	}
	if worker != nil && envValue(worker.Spec.Template.Spec.Containers[0], "DB_MIGRATE") != "false" {
		t.Error("with the hook Job the worker should not migrate again at start (DB_MIGRATE=false)")
	}
}

var update = flag.Bool("update", false, "rewrite the values table in charts/webhook-ingestor/README.md")

const valuesMarker = "<!-- values table: generated from values.yaml by `cd hack/verify && go test -run TestValuesDocumented -update` -->\n"

// valuesTable renders the helm-docs style table: every key preceded by a
// "# --" comment (continued on following "#" lines), with its default.
func valuesTable(t *testing.T, values []byte) (string, int) {
	t.Helper()
	keyRE := regexp.MustCompile(`^(\s*)([A-Za-z0-9_]+):\s*(.*)$`)
	type level struct {
		indent int
		key    string
	}
	var (
		stack   []level
		pending string
		has     bool
		rows    []string
	)
	esc := strings.NewReplacer("|", `\|`)
	for _, line := range strings.Split(string(values), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "# -- ") {
			pending, has = strings.TrimPrefix(trimmed, "# -- "), true
			continue
		}
		if has && strings.HasPrefix(trimmed, "#") {
			pending += " " + strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			continue
		}
		m := keyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		var parts []string
		for _, l := range stack {
			parts = append(parts, l.key)
		}
		path := strings.Join(append(parts, m[2]), ".")
		stack = append(stack, level{indent, m[2]})
		if indent == 0 && !has && m[3] != "" {
			t.Errorf("top-level value %s has no \"# --\" comment", path)
		}
		if has {
			def := m[3]
			if def == "" {
				def = "(block, see values.yaml)"
			}
			rows = append(rows, fmt.Sprintf("| `%s` | `%s` | %s |", path, esc.Replace(def), esc.Replace(pending)))
		}
		has = false
	}
	return "| Key | Default | Description |\n| --- | --- | --- |\n" + strings.Join(rows, "\n") + "\n", len(rows)
}

// TestValuesDocumented: the chart README's values table is what values.yaml
// says (run with -update to regenerate it).
func TestValuesDocumented(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readmePath := filepath.Join(chartDir(t), "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	table, n := valuesTable(t, values)
	if n < 100 {
		t.Errorf("only %d documented values", n)
	}
	head, _, ok := strings.Cut(string(readme), valuesMarker)
	if !ok {
		t.Fatalf("chart README lacks the marker line %q", valuesMarker)
	}
	want := head + valuesMarker + "\n" + table
	if *update {
		if err := os.WriteFile(readmePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(readme) != want {
		t.Error("chart README's values table is stale: cd hack/verify && go test -run TestValuesDocumented -update")
	}
}
