package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricNames returns the name of every metric that register registers,
// whether or not it has a value yet (a labelled vector without children
// is missing from a scrape, but not from this list), plus those of base.
func MetricNames(t testing.TB, base *prometheus.Registry, register func(prometheus.Registerer)) []string {
	t.Helper()
	rec := &recorder{names: map[string]bool{}}
	register(rec)
	if base != nil {
		mfs, err := base.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			rec.names[mf.GetName()] = true
		}
	}
	out := make([]string, 0, len(rec.names))
	for n := range rec.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// CheckMetricList compares names with the list in file (one name a line,
// relative to the repository root), which other modules' tests read (the
// dashboard test in hack/verify). UPDATE_METRICS=1 rewrites the file.
func CheckMetricList(t testing.TB, file string, names []string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, file)
	want := strings.Join(names, "\n") + "\n"
	if os.Getenv("UPDATE_METRICS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_METRICS=1 go test writes it)", err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date (run the test with UPDATE_METRICS=1):\nhave:\n%s\nwant:\n%s", file, got, want)
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// recorder is a Registerer that keeps the names its collectors describe.
type recorder struct{ names map[string]bool }

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }
