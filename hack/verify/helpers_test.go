package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// kubeVersion is what `helm template` assumes: a go-installed helm has no
// version ldflags and would default to v1.20, below the chart's kubeVersion.
const kubeVersion = "v1.33.0"

// repoRoot is the repository root (this package lives in hack/verify).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "webhook-ingestor") }

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the helm binary: $HELM, else the pinned one from hack/tools.sh.
func helm(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("HELM"); p != "" {
			helmPath = p
			return
		}
		out, err := exec.Command(filepath.Join(repoRoot(t), "hack", "tools.sh"), "helm").Output()
		if err != nil {
			helmErr = fmt.Errorf("hack/tools.sh helm: %w", err)
			return
		}
		helmPath = strings.TrimSpace(string(out))
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

func runHelm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// valuesCases are the values files every check runs against: the defaults,
// each ci/*-values.yaml and the Tilt values.
func valuesCases(t testing.TB) map[string]string {
	t.Helper()
	cases := map[string]string{"default": ""}
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want at least 4 ci/*-values.yaml, found %d", len(files))
	}
	for _, f := range files {
		cases["ci/"+filepath.Base(f)] = f
	}
	cases["values-dev.yaml"] = filepath.Join(chartDir(t), "values-dev.yaml")
	return cases
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// template renders the chart with helm; extra are further helm flags.
func template(t testing.TB, valuesFile string, extra ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", "wi", chartDir(t), "--namespace", "webhooks", "--kube-version", kubeVersion}
	if valuesFile != "" {
		args = append(args, "-f", valuesFile)
	} else {
		args = append(args, defaultsSet...)
	}
	return runHelm(t, append(args, extra...)...)
}

// scheme knows every built-in kind plus the CRD kinds the chart may render.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientscheme.AddToScheme, kedav1alpha1.AddToScheme, monitoringv1.AddToScheme,
		gatewayv1.Install,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// object is one rendered document, decoded.
type object struct {
	GVK  schema.GroupVersionKind
	Name string
	Obj  runtime.Object
	Raw  []byte
}

// decodeAll splits a multi-document YAML stream and strictly decodes each
// document into its Go type: an unknown or misspelt field, a wrong type or a
// duplicate key fails, as does a kind the scheme does not know.
func decodeAll(t testing.TB, stream []byte) ([]object, error) {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufioReader(stream))
	var objs []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		gvk := schema.FromAPIVersionAndKind(meta.APIVersion, meta.Kind)
		obj, err := scheme.New(gvk)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", gvk, meta.Metadata.Name, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s %q: strict decode: %w", gvk.Kind, meta.Metadata.Name, err)
		}
		objs = append(objs, object{GVK: gvk, Name: meta.Metadata.Name, Obj: obj, Raw: doc})
	}
	return objs, nil
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// find returns the objects of a kind, by name.
func find[T runtime.Object](objs []object) map[string]T {
	m := map[string]T{}
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			m[o.Name] = v
		}
	}
	return m
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// defaultsSet is what "the defaults" means in these tests: the chart's
// values plus the one every install must decide (no allow-list renders only
// when config.acceptUnsignedFromAnyone says unsigned webhooks are meant;
// TestChartRejects checks the refusal).
var defaultsSet = []string{"--set", "config.acceptUnsignedFromAnyone=true"}
