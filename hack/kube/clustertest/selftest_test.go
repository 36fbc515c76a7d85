package clustertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHarnessCatches proves the checks are not vacuous: with the throwaway
// chart, mistakes that `helm template` and kubeconform accept are caught by
// the live server or by the checks above.
func TestHarnessCatches(t *testing.T) {
	e := setup(t)
	dir := filepath.Join(e.kubeDir, "testdata", "smoke")
	if want := os.Getenv("CLUSTER_CHARTS"); want != "" && !strings.Contains(want, "smoke") {
		t.Skip("smoke chart not selected")
	}
	ctx := context.Background()
	base := []string{"--wait", "--timeout", "2m", "--set", "migration.enabled=false"}

	t.Run("drain-blocking-pdb", func(t *testing.T) {
		t.Parallel()
		ns := e.newNamespace(t, "selftest-pdb")
		// One replica and minAvailable: 1 render and validate fine, and
		// then no node can ever be drained.
		args := append([]string{"install", "wi", dir, "-n", ns, "--set", "replicas=1", "--set", "autoscaling.minReplicas=1",
			"--set", "pdb.minAvailable=1", "--set", "pdb.maxUnavailable=0"}, base...)
		if _, err := e.helmRun(ctx, args...); err != nil {
			t.Fatal(err)
		}
		poll(t, 60*time.Second, "PDB reports DisruptionAllowed=False", func() (bool, string) {
			p, err := e.cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "wi-smoke", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, c := range p.Status.Conditions {
				if c.Type == "DisruptionAllowed" {
					return c.Status == metav1.ConditionFalse && p.Status.ExpectedPods == 1, string(c.Status) + " " + c.Reason
				}
			}
			return false, "no condition yet"
		})
		t.Log("caught: minAvailable 1 with one replica reports DisruptionAllowed=False (drain blocked)")
	})

	t.Run("both-pdb-fields-rejected", func(t *testing.T) {
		t.Parallel()
		ns := e.newNamespace(t, "selftest-pdb2")
		args := append([]string{"install", "wi", dir, "-n", ns, "--set", "pdb.minAvailable=1", "--set", "pdb.maxUnavailable=1"}, base...)
		out, err := e.helmRun(ctx, args...)
		if err == nil || !strings.Contains(out, "minAvailable") {
			t.Fatalf("want the API server to refuse a PDB with minAvailable and maxUnavailable; got err=%v\n%s", err, out)
		}
		t.Logf("caught: %s", lastLine(out))
	})

	t.Run("immutable-selector-change-rejected", func(t *testing.T) {
		t.Parallel()
		ns := e.newNamespace(t, "selftest-sel")
		if _, err := e.helmRun(ctx, append([]string{"install", "wi", dir, "-n", ns}, base...)...); err != nil {
			t.Fatal(err)
		}
		out, err := e.helmRun(ctx, append([]string{"upgrade", "wi", dir, "-n", ns, "--set", "selectorExtra=v2"}, base...)...)
		if err == nil || !strings.Contains(out, "immutable") {
			t.Fatalf("want the upgrade refused for changing the Deployment selector; got err=%v\n%s", err, out)
		}
		t.Logf("caught: %s", lastLine(out))
	})
}
