package verify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
)

// grafanaVars are what Grafana substitutes before a query reaches
// Prometheus; the test does the same so the query parses as PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$namespace", "webhooks",
)

// exportedMetrics are the metric names the binaries register:
// testdata/metrics/*.txt, which the services' TestMetricNamesListed keep
// equal to their registries.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "metrics", "*.txt"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want testdata/metrics/{ingress,worker}.txt, found %v (%v)", files, err)
	}
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range strings.Fields(string(b)) {
			names[n] = true
		}
	}
	return names
}

type grafanaPanel struct {
	Title   string         `json:"title"`
	Type    string         `json:"type"`
	Panels  []grafanaPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestDashboard renders the dashboard ConfigMap and checks that every
// query parses as PromQL and names only metrics the binaries export (a
// histogram's _bucket, _sum and _count included).
func TestDashboard(t *testing.T) {
	out, err := template(t, "", "--set", "grafanaDashboard.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	var cm *corev1.ConfigMap
	for name, c := range find[*corev1.ConfigMap](objs) {
		if strings.HasSuffix(name, "-dashboard") {
			cm = c
		}
	}
	if cm == nil {
		t.Fatal("no dashboard ConfigMap rendered")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: the Grafana sidecar looks for grafana_dashboard=1", cm.Labels)
	}
	var dash struct {
		UID    string         `json:"uid"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal([]byte(cm.Data["webhook-ingestor.json"]), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	exported := exportedMetrics(t)
	queries := 0
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, target := range p.Targets {
				queries++
				expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(target.Expr))
				if err != nil {
					t.Errorf("panel %q: %q does not parse: %v", p.Title, target.Expr, err)
					continue
				}
				for _, vs := range parser.ExtractSelectors(expr) {
					for _, m := range vs {
						if m.Name != "__name__" {
							continue
						}
						name := m.Value
						base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
						if !exported[name] && !exported[base] {
							t.Errorf("panel %q: metric %s is exported by neither binary", p.Title, name)
						}
					}
				}
			}
		}
	}
	walk(dash.Panels)
	if queries < 15 {
		t.Errorf("only %d queries: the dashboard lost panels", queries)
	}
	t.Logf("%d dashboard queries parse and name exported metrics", queries)
}
