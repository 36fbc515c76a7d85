package verify

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml the way `docker compose` does
// (compose-go is its loader): schema validation rejects unknown keys,
// interpolation, extends/anchors, depends_on consistency.
func loadCompose(t *testing.T, env []string, profiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go rejects docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	// No .env in a fresh clone: every value must have a default.
	p := loadCompose(t, nil)
	if p.Name != "webhook-ingestor" {
		t.Errorf("project name %q", p.Name)
	}
	want := []string{"ingress", "migrate", "postgres", "redis", "worker"}
	got := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(got, want) {
		t.Fatalf("services without profiles = %v, want %v", got, want)
	}
	s := p.Services

	if s["postgres"].Image != "postgres:16-alpine" || s["redis"].Image != "redis:7-alpine" {
		t.Errorf("images: postgres %q redis %q", s["postgres"].Image, s["redis"].Image)
	}
	for name, target := range map[string]string{"postgres": "/var/lib/postgresql/data", "redis": "/data"} {
		svc := s[name]
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		var ok bool
		for _, v := range svc.Volumes {
			ok = ok || (v.Target == target && strings.HasPrefix(v.Source, filepath.Join(repoRoot(t), ".docker")))
		}
		if !ok {
			t.Errorf("%s: no bind mount of ./.docker/... on %s: %+v", name, target, svc.Volumes)
		}
	}
	if hc := strings.Join(s["postgres"].HealthCheck.Test, " "); !strings.Contains(hc, "pg_isready") {
		t.Errorf("postgres healthcheck %q does not use pg_isready", hc)
	}
	if cmd := strings.Join(s["redis"].Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis command %q: AOF must be on", cmd)
	}

	for name, target := range map[string]string{"ingress": "ingress", "worker": "worker", "migrate": "worker"} {
		svc := s[name]
		if svc.Build == nil || svc.Build.Target != target || !strings.HasSuffix(svc.Build.Dockerfile, "services/Dockerfile") {
			t.Errorf("%s: build %+v, want services/Dockerfile target %s", name, svc.Build, target)
		}
		if len(svc.EnvFiles) == 0 || filepath.Base(svc.EnvFiles[0].Path) != ".env" || svc.EnvFiles[0].Required {
			t.Errorf("%s: env_file %+v, want optional .env", name, svc.EnvFiles)
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL", name)
		}
	}
	cond := func(svc, dep string) string { return s[svc].DependsOn[dep].Condition }
	for _, c := range []struct{ svc, dep, want string }{
		{"ingress", "redis", types.ServiceConditionHealthy},
		{"worker", "redis", types.ServiceConditionHealthy},
		{"worker", "postgres", types.ServiceConditionHealthy},
		{"worker", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"migrate", "postgres", types.ServiceConditionHealthy},
	} {
		if got := cond(c.svc, c.dep); got != c.want {
			t.Errorf("%s depends_on %s: condition %q, want %q", c.svc, c.dep, got, c.want)
		}
	}
	if got := strings.Join(s["migrate"].Command, " "); got != "migrate" {
		t.Errorf("migrate command %q", got)
	}
	if s["worker"].Environment["DB_MIGRATE"] == nil || *s["worker"].Environment["DB_MIGRATE"] != "false" {
		t.Error("worker should not migrate again (DB_MIGRATE=false): the migrate service did it")
	}

	// The asynq web UI sits behind the "ui" profile.
	ui := loadCompose(t, nil, "ui")
	mon, ok := ui.Services["asynqmon"]
	if !ok {
		t.Fatal("no asynqmon service under --profile ui")
	}
	if mon.Build == nil || mon.Build.Target != "asynqmon" {
		t.Errorf("asynqmon build %+v", mon.Build)
	}

	// Every build target exists in the Dockerfile.
	stages := dockerfileStages(t)
	for name, svc := range ui.Services {
		if svc.Build != nil && !slices.Contains(stages, svc.Build.Target) {
			t.Errorf("%s builds target %q, not a stage of services/Dockerfile (%v)", name, svc.Build.Target, stages)
		}
	}
}

// TestComposeEnvExample: .env.example, copied to .env, interpolates cleanly.
func TestComposeEnvExample(t *testing.T) {
	env, err := readDotEnv(filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_ADDR", "POSTGRES_PASSWORD"} {
		if _, ok := env[k]; !ok {
			t.Errorf(".env.example lacks %s", k)
		}
	}
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	p := loadCompose(t, kv)
	if got := *p.Services["worker"].Environment["DATABASE_URL"]; got != env["DATABASE_URL"] {
		t.Errorf("worker DATABASE_URL %q, want .env's %q", got, env["DATABASE_URL"])
	}
}
