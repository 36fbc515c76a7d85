// Package nodetest runs the chart on a real node (hack/kube/node.sh: kubelet,
// containerd + runc, CNI bridge, kube-proxy, CoreDNS, metrics-server, Traefik
// as the Gateway) with Redis and PostgreSQL outside the chart, reached by
// address. hack/kube/node-test.sh (`make test-node`) sets everything up and
// hands it over in NODE_* variables. The scenarios run in order on one
// release; each is a subtest so a partial run shows what holds.
package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	ns      = "webhooks"
	release = "wi"
	full    = "wi-webhook-ingestor"
	ingress = full + "-ingress"
	worker  = full + "-worker"
)

type env struct {
	cs          *kubernetes.Clientset
	kubeconfig  string
	helm        string
	nodeIP      string
	gateway     string // http://NODE_IP:30080
	redisAddr   string
	redisDir    string
	databaseURL string
	psql        string
	loadtest    string
	tagA, tagB  string
	repo        string
	chart       string
	values      string
}

func setup(t *testing.T) *env {
	t.Helper()
	get := func(k string) string { return os.Getenv(k) }
	e := &env{
		kubeconfig: get("KUBECONFIG"), helm: get("HELM"), nodeIP: get("NODE_IP"), gateway: get("NODE_GATEWAY_URL"),
		redisAddr: get("NODE_REDIS_ADDR"), redisDir: get("NODE_REDIS_DIR"), databaseURL: get("NODE_DATABASE_URL"),
		psql: get("NODE_PSQL"), loadtest: get("NODE_LOADTEST"), tagA: get("NODE_TAG_A"), tagB: get("NODE_TAG_B"),
		repo: get("NODE_REPO"),
	}
	for k, v := range map[string]string{"KUBECONFIG": e.kubeconfig, "HELM": e.helm, "NODE_IP": e.nodeIP,
		"NODE_GATEWAY_URL": e.gateway, "NODE_REDIS_ADDR": e.redisAddr, "NODE_DATABASE_URL": e.databaseURL,
		"NODE_LOADTEST": e.loadtest, "NODE_TAG_A": e.tagA, "NODE_TAG_B": e.tagB, "NODE_REPO": e.repo} {
		if v == "" {
			if os.Getenv("NODE_TEST_REQUIRED") != "" {
				t.Fatalf("%s must be set (hack/kube/node-test.sh sets it)", k)
			}
			t.Skip("needs the real node: run `make test-node` (hack/kube/node-test.sh)")
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	if e.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	e.chart = filepath.Join(e.repo, "charts", "webhook-ingestor")
	wd, _ := os.Getwd()
	e.values = filepath.Join(wd, "values.yaml")
	return e
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// poll calls cond every second until it reports true or d passes.
func poll(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; last: %s", what, d, last)
		}
		time.Sleep(time.Second)
	}
}

func (e *env) helmArgs(tag string) []string {
	return []string{
		"--namespace", ns, "-f", e.values,
		"--set", "ingress.image.tag=" + tag, "--set", "worker.image.tag=" + tag,
		"--set", "config.redisAddr=" + e.redisAddr,
		"--set", "secrets.databaseURL=" + e.databaseURL,
	}
}

// load is one run of the project's load runner (go run ./loadtest) against
// the Gateway, auditing rows == accepted against the node's Redis/PostgreSQL.
type load struct {
	done chan struct{}
	out  bytes.Buffer
	err  error
}

func (e *env) startLoad(ctx context.Context, args ...string) *load {
	l := &load{done: make(chan struct{})}
	base := []string{"-target", e.gateway, "-redis", e.redisAddr, "-database-url", e.databaseURL,
		"-provider", "nodetest", "-p95", "0", "-drain-timeout", "3m"}
	cmd := exec.CommandContext(ctx, e.loadtest, append(base, args...)...)
	cmd.Stdout, cmd.Stderr = &l.out, &l.out
	go func() {
		defer close(l.done)
		l.err = cmd.Run()
	}()
	return l
}

var (
	auditRe = regexp.MustCompile(`(?m)^audit\s+(.*)$`)
	fieldRe = regexp.MustCompile(`(\w+)=(\d+)`)
)

// wait waits for the run and checks it passed (thresholds + audit) with
// nothing lost; it returns the audit line.
func (l *load) wait(t *testing.T) string {
	t.Helper()
	<-l.done
	out := l.out.String()
	t.Logf("load runner output:\n%s", out)
	if l.err != nil {
		t.Fatalf("load runner failed: %v", l.err)
	}
	m := auditRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("no audit line in the runner's output")
	}
	f := map[string]string{}
	for _, kv := range fieldRe.FindAllStringSubmatch(m[1], -1) {
		f[kv[1]] = kv[2]
	}
	if f["lost"] != "0" || f["duplicates"] != "0" || f["accepted"] == "" || f["accepted"] == "0" || f["rows"] != f["unique_accepted"] {
		t.Fatalf("audit: %s (want accepted > 0, rows == unique_accepted, lost 0, duplicates 0)", m[1])
	}
	if !strings.Contains(out, "\nPASS") {
		t.Fatal("runner did not print PASS")
	}
	return m[1]
}

func (e *env) deployment(ctx context.Context, name string) (*appsv1.Deployment, error) {
	return e.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return d.Status.UpdatedReplicas == d.Status.Replicas && d.Status.AvailableReplicas >= 1
		}
	}
	return false
}

func (e *env) pods(ctx context.Context, component string) ([]corev1.Pod, error) {
	l, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + component})
	if err != nil {
		return nil, err
	}
	var live []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live, nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(pods []corev1.Pod) map[string]int32 {
	m := map[string]int32{}
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			m[p.Name] += cs.RestartCount
		}
	}
	return m
}

// readyEndpoints counts the ready addresses in the Service's EndpointSlices.
func (e *env) readyEndpoints(ctx context.Context, svc string) (ready, total int, err error) {
	l, err := e.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range l.Items {
		for _, ep := range s.Endpoints {
			total++
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				ready++
			}
		}
	}
	return ready, total, nil
}

func post(url string) (int, string, error) {
	body := fmt.Sprintf(`{"provider":"nodetest","eventId":"probe-%d","timestamp":%q,"data":{"type":"ping"}}`,
		time.Now().UnixNano(), time.Now().UTC().Format(time.RFC3339Nano))
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func TestNode(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	if !t.Run("node", func(t *testing.T) { e.checkNode(ctx, t) }) {
		t.FailNow()
	}
	if !t.Run("install", func(t *testing.T) { e.install(ctx, t) }) {
		t.FailNow()
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, _ = run(c, e.helm, "uninstall", release, "--namespace", ns, "--wait", "--kubeconfig", e.kubeconfig)
	})
	if !t.Run("gateway", func(t *testing.T) { e.gatewayRoutes(ctx, t) }) {
		t.FailNow()
	}
	t.Run("load-and-hpa", func(t *testing.T) { e.loadAndHPA(ctx, t) })
	t.Run("rolling-update", func(t *testing.T) { e.rollingUpdate(ctx, t) })
	t.Run("worker-force-delete", func(t *testing.T) { e.workerForceDelete(ctx, t) })
	t.Run("redis-down", func(t *testing.T) { e.redisDown(ctx, t) })
	t.Run("pdb-eviction", func(t *testing.T) { e.pdbEviction(ctx, t) })
}

// checkNode: a real kubelet is Ready and the system pods run with pod IPs
// from the CNI bridge.
func (e *env) checkNode(ctx context.Context, t *testing.T) {
	nodes, err := e.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("want 1 node, have %d", len(nodes.Items))
	}
	n := nodes.Items[0]
	t.Logf("node %s: kubelet %s, runtime %s, kernel %s", n.Name, n.Status.NodeInfo.KubeletVersion,
		n.Status.NodeInfo.ContainerRuntimeVersion, n.Status.NodeInfo.KernelVersion)
	if !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("runtime %q, want containerd", n.Status.NodeInfo.ContainerRuntimeVersion)
	}
	for _, sys := range []struct{ ns, name string }{{"kube-system", "coredns"}, {"kube-system", "metrics-server"}, {"traefik", "traefik"}} {
		d, err := e.cs.AppsV1().Deployments(sys.ns).Get(ctx, sys.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !available(d) {
			t.Errorf("%s/%s not Available", sys.ns, sys.name)
		}
	}
	pods, err := e.cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Status.PodIP, "10.244.0.") {
			t.Errorf("pod %s has IP %q, want one from the CNI bridge (10.244.0.0/24)", p.Name, p.Status.PodIP)
		}
	}
}

// install: helm install --wait on the real node. The migration hook Job must
// complete (watched while helm runs: the hook deletes it on success) and both
// Deployments become Available through their real readiness probes.
func (e *env) install(ctx context.Context, t *testing.T) {
	if _, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	w, err := e.cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	jobDone := make(chan string, 1)
	go func() {
		for ev := range w.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok || ev.Type == watch.Error {
				continue
			}
			for _, c := range j.Status.Conditions {
				if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
					select {
					case jobDone <- j.Name:
					default:
					}
				}
			}
		}
	}()
	start := time.Now()
	args := append([]string{"install", release, e.chart, "--wait", "--timeout", "6m", "--kubeconfig", e.kubeconfig}, e.helmArgs(e.tagA)...)
	if out, err := run(ctx, e.helm, args...); err != nil {
		e.describe(ctx, t)
		t.Fatal(err)
	} else {
		t.Logf("helm install --wait: %s\n%s", time.Since(start).Round(time.Second), out)
	}
	select {
	case name := <-jobDone:
		t.Logf("migration Job %s completed", name)
	case <-time.After(10 * time.Second):
		t.Error("no migration Job was seen completing")
	}
	// The Job ran against PostgreSQL: the schema is there.
	out, err := run(ctx, e.psql, e.databaseURL, "-Atc", "select count(*) from information_schema.tables where table_schema = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); n == 0 {
		t.Error("no tables in the database after the migration Job")
	}
	for _, name := range []string{ingress, worker} {
		d, err := e.deployment(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !available(d) {
			t.Errorf("%s not Available: %+v", name, d.Status)
		}
	}
	for _, c := range []string{"ingress", "worker"} {
		pods, err := e.pods(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if !podReady(p) || !strings.HasPrefix(p.Status.PodIP, "10.244.0.") {
				t.Errorf("%s pod %s: ready=%v ip=%s", c, p.Name, podReady(p), p.Status.PodIP)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount != 0 || cs.State.Running == nil {
					t.Errorf("%s pod %s container %s: restarts %d, state %+v", c, p.Name, cs.Name, cs.RestartCount, cs.State)
				}
			}
		}
	}
	ready, total, err := e.readyEndpoints(ctx, ingress)
	if err != nil || ready == 0 {
		t.Errorf("ingress Service endpoints: %d ready of %d (%v)", ready, total, err)
	}
}

func (e *env) describe(ctx context.Context, t *testing.T) {
	for _, args := range [][]string{{"get", "pods,jobs,endpointslices", "-n", ns, "-o", "wide"}, {"get", "events", "-n", ns, "--sort-by=.lastTimestamp"}} {
		out, _ := run(ctx, filepath.Join(os.Getenv("KUBE_BIN_DIR"), "kubeplane"), append([]string{"kubectl", "--kubeconfig", e.kubeconfig}, args...)...)
		t.Log(out)
	}
}

// gatewayRoutes: Traefik accepted the chart's HTTPRoute and routes through it.
func (e *env) gatewayRoutes(ctx context.Context, t *testing.T) {
	poll(t, 90*time.Second, "GET /health through the Gateway", func() (bool, string) {
		c := http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(e.gateway + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	code, _, err := post(e.gateway + "/webhooks/nodetest")
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("POST /webhooks/nodetest through the Gateway: %d %v", code, err)
	}
	// A path the route does not match is not sent to the service.
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(e.gateway + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics through the Gateway: %s, want 404 (the ops port is not routed)", resp.Status)
	}
}

func (e *env) hpa(ctx context.Context) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	return e.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, ingress, metav1.GetOptions{})
}

// loadAndHPA: the seed profile (scaled) through the Gateway: rows ==
// accepted, lost 0; meanwhile the ingress HPA scales out on real CPU
// metrics, and back in after.
func (e *env) loadAndHPA(ctx context.Context, t *testing.T) {
	scale := envOr("NODE_LOAD_SCALE", "0.3")
	l := e.startLoad(ctx, "-profile", "seed", "-scale", scale, "-retries", "10", "-max-failure-rate", "0.001")
	var scaledOut int32
	t.Run("hpa-scales-out", func(t *testing.T) {
		poll(t, 5*time.Minute, "ingress HPA scales out", func() (bool, string) {
			h, err := e.hpa(ctx)
			if err != nil {
				return false, err.Error()
			}
			var cpu string
			for _, m := range h.Status.CurrentMetrics {
				if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
					cpu = fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization)
				}
			}
			state := fmt.Sprintf("replicas %d→%d, cpu %s", h.Status.CurrentReplicas, h.Status.DesiredReplicas, cpu)
			if h.Status.DesiredReplicas > *h.Spec.MinReplicas && cpu != "" {
				scaledOut = h.Status.DesiredReplicas
				t.Logf("scaled out: %s", state)
				return true, state
			}
			select {
			case <-l.done:
				return true, "load ended: " + state // checked below
			default:
			}
			return false, state
		})
		if scaledOut == 0 {
			t.Error("the load ended before the HPA scaled out")
		}
	})
	t.Run("audit", func(t *testing.T) { t.Logf("audit: %s", l.wait(t)) })
	t.Run("hpa-scales-in", func(t *testing.T) {
		if scaledOut == 0 {
			t.Skip("never scaled out")
		}
		poll(t, 4*time.Minute, "ingress HPA scales back in", func() (bool, string) {
			h, err := e.hpa(ctx)
			if err != nil {
				return false, err.Error()
			}
			return h.Status.CurrentReplicas == *h.Spec.MinReplicas, fmt.Sprintf("replicas %d→%d", h.Status.CurrentReplicas, h.Status.DesiredReplicas)
		})
	})
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// rollingUpdate: helm upgrade to a new image tag while load runs. The
// runner retries 429/502/503/504 and transport errors per Retry-After; with
// that, nothing may fail and nothing may be lost.
func (e *env) rollingUpdate(ctx context.Context, t *testing.T) {
	l := e.startLoad(ctx, "-profile", "open", "-rate", "150", "-duration", "60s", "-workers", "64",
		"-retries", "20", "-max-failure-rate", "0.0000001")
	time.Sleep(10 * time.Second)
	args := append([]string{"upgrade", release, e.chart, "--wait", "--timeout", "5m", "--kubeconfig", e.kubeconfig}, e.helmArgs(e.tagB)...)
	start := time.Now()
	if _, err := run(ctx, e.helm, args...); err != nil {
		t.Fatal(err)
	}
	t.Logf("helm upgrade --wait (tag %s): %s", e.tagB, time.Since(start).Round(time.Second))
	for _, name := range []string{ingress, worker} {
		d, err := e.deployment(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":"+e.tagB) || !available(d) {
			t.Errorf("%s: image %s available=%v", name, img, available(d))
		}
	}
	l.wait(t)
	failed := regexp.MustCompile(`(?m)^\s*failed\s+(\d+)`).FindStringSubmatch(l.out.String())
	if failed != nil && failed[1] != "0" {
		t.Errorf("%s requests failed even with retries per Retry-After", failed[1])
	}
}

// workerForceDelete: a worker pod deleted with no grace mid-load is replaced
// and nothing is lost (asynq re-delivers what it had in flight).
func (e *env) workerForceDelete(ctx context.Context, t *testing.T) {
	l := e.startLoad(ctx, "-profile", "open", "-rate", "150", "-duration", "40s", "-workers", "64",
		"-retries", "10", "-max-failure-rate", "0.001")
	time.Sleep(10 * time.Second)
	pods, err := e.pods(ctx, "worker")
	if err != nil || len(pods) == 0 {
		t.Fatalf("worker pods: %v (%d)", err, len(pods))
	}
	victim := pods[0].Name
	zero := int64(0)
	if err := e.cs.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	t.Logf("force-deleted %s", victim)
	poll(t, 2*time.Minute, "worker replaced", func() (bool, string) {
		d, err := e.deployment(ctx, worker)
		if err != nil {
			return false, err.Error()
		}
		pods, _ := e.pods(ctx, "worker")
		for _, p := range pods {
			if p.Name == victim {
				return false, "victim still listed"
			}
		}
		return d.Status.ReadyReplicas == *d.Spec.Replicas, fmt.Sprintf("%d/%d ready", d.Status.ReadyReplicas, *d.Spec.Replicas)
	})
	l.wait(t)
}

// redisDown: with Redis stopped the chart promises: both components report
// not ready (the ingress leaves the Service endpoints, so the Gateway answers
// 503), liveness does not restart them; with Redis back they return.
func (e *env) redisDown(ctx context.Context, t *testing.T) {
	all := func() []corev1.Pod {
		a, _ := e.pods(ctx, "ingress")
		b, _ := e.pods(ctx, "worker")
		return append(a, b...)
	}
	before := restarts(all())
	host, port, _ := strings.Cut(e.redisAddr, ":")
	// SHUTDOWN closes the connection, so redis-cli's exit status says little:
	// check that nothing listens any more.
	_, _ = run(ctx, "redis-cli", "-h", host, "-p", port, "shutdown")
	poll(t, 20*time.Second, "Redis stopped", func() (bool, string) {
		c, err := net.DialTimeout("tcp", e.redisAddr, time.Second)
		if err != nil {
			return true, ""
		}
		c.Close()
		return false, "still accepting connections"
	})
	restarted := false
	defer func() {
		if !restarted {
			_ = e.startRedis(ctx)
		}
	}()
	poll(t, time.Minute, "ingress endpoints not ready", func() (bool, string) {
		ready, total, err := e.readyEndpoints(ctx, ingress)
		return err == nil && ready == 0 && total > 0, fmt.Sprintf("%d ready of %d", ready, total)
	})
	poll(t, 30*time.Second, "Gateway answers 503", func() (bool, string) {
		code, ra, err := post(e.gateway + "/webhooks/nodetest")
		return err == nil && code == http.StatusServiceUnavailable, fmt.Sprintf("%d (Retry-After %q) %v", code, ra, err)
	})
	poll(t, time.Minute, "worker pods not ready", func() (bool, string) {
		pods, _ := e.pods(ctx, "worker")
		for _, p := range pods {
			if podReady(p) {
				return false, p.Name + " still ready"
			}
		}
		return len(pods) > 0, ""
	})
	// Longer than liveness periodSeconds x failureThreshold (10 s x 3).
	time.Sleep(40 * time.Second)
	after := restarts(all())
	for name, n := range after {
		if n != before[name] {
			t.Errorf("pod %s restarted while Redis was down (%d → %d): liveness must not depend on Redis", name, before[name], n)
		}
	}
	if err := e.startRedis(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	poll(t, 2*time.Minute, "ingress ready again", func() (bool, string) {
		ready, total, err := e.readyEndpoints(ctx, ingress)
		return err == nil && ready > 0, fmt.Sprintf("%d ready of %d", ready, total)
	})
	poll(t, time.Minute, "POST accepted through the Gateway again", func() (bool, string) {
		code, _, err := post(e.gateway + "/webhooks/nodetest")
		return err == nil && code == http.StatusAccepted, fmt.Sprintf("%d %v", code, err)
	})
	poll(t, 2*time.Minute, "worker ready again", func() (bool, string) {
		d, err := e.deployment(ctx, worker)
		return err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas, ""
	})
}

func (e *env) startRedis(ctx context.Context) error {
	host, port, _ := strings.Cut(e.redisAddr, ":")
	script := fmt.Sprintf(`source %q && start_redis %s %q %s`, filepath.Join(e.repo, "hack", "lib.sh"), port, e.redisDir, host)
	_, err := run(ctx, "bash", "-c", script)
	return err
}

// pdbEviction: with two worker pods and maxUnavailable 1, evicting one is
// allowed and evicting the second right after is refused (429), until the
// replacement is ready.
func (e *env) pdbEviction(ctx context.Context, t *testing.T) {
	poll(t, time.Minute, "worker PDB allows one disruption", func() (bool, string) {
		p, err := e.cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, worker, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.DisruptionsAllowed == 1, fmt.Sprintf("disruptionsAllowed %d", p.Status.DisruptionsAllowed)
	})
	pods, err := e.pods(ctx, "worker")
	if err != nil || len(pods) < 2 {
		t.Fatalf("worker pods: %v (%d)", err, len(pods))
	}
	evict := func(name string) error {
		return e.cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict(pods[0].Name); err != nil {
		t.Fatalf("first eviction (within the budget) refused: %v", err)
	}
	err = evict(pods[1].Name)
	if err == nil {
		t.Fatal("second eviction allowed: it breaches the PDB (maxUnavailable 1)")
	}
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v, want 429 TooManyRequests", err)
	}
	t.Logf("second eviction refused: %v", err)
	poll(t, 2*time.Minute, "worker back to 2 ready", func() (bool, string) {
		d, err := e.deployment(ctx, worker)
		return err == nil && d.Status.ReadyReplicas == 2, ""
	})
}
