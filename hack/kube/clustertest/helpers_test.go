package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// env is what hack/kube/test.sh hands the tests.
type env struct {
	kubeconfig  string // admin (system:masters)
	binDir      string // kubeplane, kwok, schemas/
	helm        string
	kubeconform string
	kubeDir     string // hack/kube
	repo        string
	cs          *kubernetes.Clientset
	helmHome    string
}

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{
		kubeconfig:  os.Getenv("KUBECONFIG"),
		binDir:      os.Getenv("KUBE_BIN_DIR"),
		helm:        os.Getenv("HELM"),
		kubeconform: os.Getenv("KUBECONFORM"),
	}
	if e.kubeconfig == "" || e.binDir == "" || e.helm == "" || e.kubeconform == "" {
		if os.Getenv("CLUSTER_TEST_REQUIRED") != "" {
			t.Fatal("KUBECONFIG, KUBE_BIN_DIR, HELM and KUBECONFORM must be set")
		}
		t.Skip("needs the local control plane: run `make test-cluster` (hack/kube/test.sh)")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	e.kubeDir = filepath.Dir(wd)
	e.repo = filepath.Dir(filepath.Dir(e.kubeDir))
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	e.cs, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.helmHome = t.TempDir()
	return e
}

// run executes a command and returns its combined output.
func run(ctx context.Context, extraEnv []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// helmAs runs helm with its own config/cache dirs and the given kubeconfig.
func (e *env) helmAs(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	return run(ctx, []string{
		"KUBECONFIG=" + kubeconfig,
		"HELM_CONFIG_HOME=" + filepath.Join(e.helmHome, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(e.helmHome, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(e.helmHome, "data"),
	}, e.helm, args...)
}

func (e *env) helmRun(ctx context.Context, args ...string) (string, error) {
	return e.helmAs(ctx, e.kubeconfig, args...)
}

func (e *env) kubectl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, []string{"KUBECONFIG=" + e.kubeconfig}, filepath.Join(e.binDir, "kubeplane"), append([]string{"kubectl"}, args...)...)
}

// kubeconformStrict validates a multi-document render against the offline
// strict schemas built by build.sh.
func (e *env) kubeconformStrict(ctx context.Context, manifest string) (string, error) {
	f := filepath.Join(e.helmHome, fmt.Sprintf("render-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		return "", err
	}
	return run(ctx, nil, e.kubeconform, "-strict", "-summary", "-output", "text",
		"-schema-location", filepath.Join(e.binDir, "schemas", "{{.ResourceKind}}{{.KindSuffix}}.json"), f)
}

// newNamespace creates a namespace that enforces PodSecurity "restricted" and
// the workloads policy (admission-policy.yaml), and deletes it at the end.
func (e *env) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix + "-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":          "restricted",
			"pod-security.kubernetes.io/enforce-version":  "latest",
			"pod-security.kubernetes.io/warn":             "restricted",
			"policy.webhook-ingestor.test/limits-nonroot": "enforce",
		},
	}}
	ctx := context.Background()
	created, err := e.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.cs.CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	// Pods are refused until the namespace's default ServiceAccount exists.
	poll(t, 60*time.Second, "default ServiceAccount in "+created.Name, func() (bool, string) {
		_, err := e.cs.CoreV1().ServiceAccounts(created.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return created.Name
}

// poll retries cond every 250 ms until it holds or d passes, then fails with
// cond's last explanation.
func poll(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, d, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// order records, in arrival order, when Jobs and Deployments of a namespace
// appear and when Jobs complete.
type order struct {
	mu     sync.Mutex
	events []string // "Job+ name", "Job✓ name", "Deployment+ name"
}

func (e *env) recordOrder(t *testing.T, ns string) *order {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	o := &order{}
	jw, err := e.cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dw, err := e.cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	go func() {
		for {
			select {
			case <-ctx.Done():
				jw.Stop()
				dw.Stop()
				return
			case ev, ok := <-jw.ResultChan():
				if !ok {
					return
				}
				j, isJob := ev.Object.(*batchv1.Job)
				if !isJob {
					continue
				}
				o.mu.Lock()
				if ev.Type == watch.Added {
					o.events = append(o.events, "Job+ "+j.Name)
				}
				if j.Status.Succeeded > 0 && !done[j.Name] {
					done[j.Name] = true
					o.events = append(o.events, "Job✓ "+j.Name)
				}
				o.mu.Unlock()
			case ev, ok := <-dw.ResultChan():
				if !ok {
					return
				}
				if d, isDep := ev.Object.(*appsv1.Deployment); isDep && ev.Type == watch.Added {
					o.mu.Lock()
					o.events = append(o.events, "Deployment+ "+d.Name)
					o.mu.Unlock()
				}
			}
		}
	}()
	return o
}

func (o *order) snapshot() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}
