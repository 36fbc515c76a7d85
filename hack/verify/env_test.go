package verify

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// knownEnv is every environment variable the binaries read: the `env:"..."`
// tags of their config structs, plus the provider settings read by prefix
// and the Go runtime's own.
func knownEnv(t *testing.T) (names map[string]bool, prefixes []string) {
	t.Helper()
	names = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}
	tag := regexp.MustCompile(`env:"([A-Z][A-Z0-9_]*)`)
	var providerPkg bool
	err := filepath.WalkDir(filepath.Join(repoRoot(t), "services"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range tag.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		if strings.Contains(string(b), `"PROVIDERS_ALLOWED"`) && strings.Contains(string(b), `"PROVIDER_"`) {
			providerPkg = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found only %d env names in services/", len(names))
	}
	if providerPkg {
		names["PROVIDERS_ALLOWED"] = true
		prefixes = append(prefixes, "PROVIDER_")
	}
	return names, prefixes
}

func checkEnvKnown(t *testing.T, where string, names []string, known map[string]bool, prefixes []string) {
	t.Helper()
	for _, n := range names {
		if known[n] {
			continue
		}
		var ok bool
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(n, p)
		}
		if !ok {
			t.Errorf("%s sets %s, which neither binary reads (typo, or a setting renamed in services/?)", where, n)
		}
	}
}

// TestEnvNamesKnown: every variable the chart, compose and .env.example set
// is one the binaries actually read, so a renamed setting cannot silently
// stop applying.
func TestEnvNamesKnown(t *testing.T) {
	known, prefixes := knownEnv(t)
	cases := valuesCases(t)
	for _, name := range sortedKeys(cases) {
		r := render(t, cases[name])
		for n, cm := range find[*corev1.ConfigMap](r.all) {
			if strings.HasSuffix(n, "-dashboard") {
				continue // Grafana's dashboard JSON, not settings
			}
			checkEnvKnown(t, name+": ConfigMap "+n, sortedKeys(cm.Data), known, prefixes)
		}
		for n, s := range find[*corev1.Secret](r.all) {
			checkEnvKnown(t, name+": Secret "+n, sortedKeys(s.StringData), known, prefixes)
		}
		var pods = map[string]corev1.PodSpec{}
		for n, d := range find[*appsv1.Deployment](r.all) {
			pods["Deployment "+n] = d.Spec.Template.Spec
		}
		for n, j := range find[*batchv1.Job](r.all) {
			pods["Job "+n] = j.Spec.Template.Spec
		}
		for n, spec := range pods {
			for _, c := range spec.Containers {
				var env []string
				for _, e := range c.Env {
					env = append(env, e.Name)
				}
				checkEnvKnown(t, name+": "+n, env, known, prefixes)
			}
		}
	}

	p := loadCompose(t, nil)
	for _, svc := range []string{"ingress", "worker", "migrate"} {
		checkEnvKnown(t, "docker-compose.yml "+svc, sortedKeys(p.Services[svc].Environment), known, prefixes)
	}

	env, err := readDotEnv(filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	composeOnly := map[string]bool{"POSTGRES_USER": true, "POSTGRES_PASSWORD": true, "POSTGRES_DB": true,
		"POSTGRES_PORT": true, "REDIS_PORT": true, "HTTP_PORT": true, "VERSION": true}
	var app []string
	for k := range env {
		if !composeOnly[k] {
			app = append(app, k)
		}
	}
	checkEnvKnown(t, ".env.example", app, known, prefixes)
}
