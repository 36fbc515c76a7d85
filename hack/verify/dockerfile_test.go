package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type lintWarning struct{ rule, msg string }

// parseDockerfile parses services/Dockerfile with BuildKit's own parser and
// runs the lint rules BuildKit applies while parsing.
func parseDockerfile(t testing.TB) ([]instructions.Stage, []instructions.ArgCommand, []lintWarning) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "services", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("BuildKit cannot parse services/Dockerfile: %v", err)
	}
	var warnings []lintWarning
	for _, w := range res.Warnings {
		warnings = append(warnings, lintWarning{"parser", w.Short})
	}
	lint := linter.New(&linter.Config{
		ExperimentalAll: true,
		Warn: func(rule, _, _, msg string, _ []parser.Range) {
			warnings = append(warnings, lintWarning{rule, msg})
		},
	})
	stages, args, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("BuildKit rejects services/Dockerfile: %v", err)
	}
	return stages, args, warnings
}

func dockerfileStages(t testing.TB) []string {
	stages, _, _ := parseDockerfile(t)
	var names []string
	for _, s := range stages {
		names = append(names, s.Name)
	}
	return names
}

func TestDockerfile(t *testing.T) {
	stages, metaArgs, warnings := parseDockerfile(t)
	for _, w := range warnings {
		t.Errorf("BuildKit lint %s: %s", w.rule, w.msg)
	}
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}
	for _, want := range []string{"deps", "build", "ingress", "worker", "dev", "asynqmon"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("no stage %q", want)
		}
	}
	if last := stages[len(stages)-1].Name; last != "worker" && last != "ingress" {
		t.Errorf("the default (last) stage is %q; a plain docker build should give a production image", last)
	}
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	if !strings.Contains(args["RUNTIME_IMAGE"], "distroless/static") || !strings.HasSuffix(args["RUNTIME_IMAGE"], ":nonroot") {
		t.Errorf("RUNTIME_IMAGE = %q, want a distroless/static nonroot image", args["RUNTIME_IMAGE"])
	}

	// The build stage: static, trimmed, version-stamped, with cache mounts.
	var build strings.Builder
	for _, stage := range []string{"deps", "build"} {
		for _, c := range byName[stage].Commands {
			if s, ok := c.(fmt.Stringer); ok {
				build.WriteString(s.String() + "\n")
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "go mod download", "type=cache"} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("deps/build stages lack %q", want)
		}
	}

	for _, name := range []string{"ingress", "worker"} {
		s := byName[name]
		if s.BaseName != "${RUNTIME_IMAGE}" {
			t.Errorf("%s: FROM %s, want ${RUNTIME_IMAGE}", name, s.BaseName)
		}
		var user, entry string
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = c.User
			case *instructions.EntrypointCommand:
				entry = strings.Join(c.CmdLine, " ")
				if c.PrependShell {
					t.Errorf("%s: shell-form ENTRYPOINT (distroless has no shell)", name)
				}
			case *instructions.RunCommand:
				t.Errorf("%s: RUN in a distroless stage (no shell there)", name)
			}
		}
		if user != "65532:65532" {
			t.Errorf("%s: USER %q, want 65532:65532 (nonroot, matches the chart's runAsUser)", name, user)
		}
		if entry != "/usr/local/bin/"+name {
			t.Errorf("%s: ENTRYPOINT %q", name, entry)
		}
	}

	// .dockerignore keeps the context small but lets in what the stages COPY.
	ignore, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{"*", "!go.mod", "!go.sum", "!services/", "!bin/tilt/"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}
