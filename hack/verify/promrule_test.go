package verify

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// TestPrometheusRuleValid checks the rendered alerts the way `promtool check
// rules` does (Prometheus' own rulefmt): every expr parses as PromQL, every
// `for` is a duration, label names are valid and the annotation templates
// parse.
func TestPrometheusRuleValid(t *testing.T) {
	r := render(t, filepath.Join(chartDir(t), "ci", "monitoring-keda-values.yaml"))
	rules := find[*monitoringv1.PrometheusRule](r.all)
	if len(rules) == 0 {
		t.Fatal("no PrometheusRule rendered")
	}
	for name, pr := range rules {
		spec, err := yaml.Marshal(pr.Spec)
		if err != nil {
			t.Fatal(err)
		}
		groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, parser.NewParser(parser.Options{}),
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		for _, err := range errs {
			t.Errorf("PrometheusRule %s: %v", name, err)
		}
		if groups != nil {
			var n int
			for _, g := range groups.Groups {
				n += len(g.Rules)
			}
			t.Logf("PrometheusRule %s: %d rules valid", name, n)
		}
	}
}
