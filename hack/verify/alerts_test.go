package verify

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

var (
	promtoolOnce sync.Once
	promtoolPath string
	promtoolErr  error
)

// promtool returns $PROMTOOL, else the pinned one from hack/tools.sh (built
// from github.com/prometheus/prometheus/cmd/promtool once per machine).
func promtool(t testing.TB) string {
	t.Helper()
	promtoolOnce.Do(func() {
		if p := os.Getenv("PROMTOOL"); p != "" {
			promtoolPath = p
			return
		}
		cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "tools.sh"), "promtool")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		promtoolPath, promtoolErr = strings.TrimSpace(string(out)), err
	})
	if promtoolErr != nil {
		t.Fatalf("hack/tools.sh promtool: %v", promtoolErr)
	}
	return promtoolPath
}

// alertRules renders the chart's PrometheusRule (release "wi", namespace
// "webhooks", as testdata/alerts.test.yaml expects) and returns its groups.
func alertRules(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	// The default values (no extra alert labels), rules on.
	out, err := template(t, "", "--set", "prometheusRule.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	rules := find[*monitoringv1.PrometheusRule](objs)
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(rules))
	}
	for _, pr := range rules {
		return pr.Spec
	}
	panic("unreachable")
}

// TestAlertRules runs `promtool test rules` on testdata/alerts.test.yaml
// against the rendered rules: each outage's alert fires, and nothing fires
// on a healthy system. It also checks that every alert has a test where it
// fires and a runbook_url whose anchor exists in RUNBOOK.md.
func TestAlertRules(t *testing.T) {
	spec := alertRules(t)

	runbook, err := os.ReadFile(filepath.Join(chartDir(t), "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	firing := firingInTests(t, tests)
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			url := r.Annotations["runbook_url"]
			_, anchor, ok := strings.Cut(url, "RUNBOOK.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q has no matching heading in RUNBOOK.md", r.Alert, url)
			}
			if !firing[r.Alert] {
				t.Errorf("%s: no test in testdata/alerts.test.yaml expects it to fire", r.Alert)
			}
		}
	}

	// promtool compares annotations too, and the tests are about when each
	// alert fires: the annotations (checked above and by
	// TestPrometheusRuleValid) are left out of the rules it evaluates.
	for gi := range spec.Groups {
		for ri := range spec.Groups[gi].Rules {
			spec.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	dir := t.TempDir()
	rules, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool(t), "test", "rules", "alerts.test.yaml")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out.String())
	}
	t.Logf("promtool test rules: %s", strings.TrimSpace(out.String()))
}

// firingInTests lists the alerts some test expects to fire.
func firingInTests(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	var doc struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, tc := range doc.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				out[a.Alertname] = true
			}
		}
	}
	return out
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
