package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// tiltOptions is the Starlark dialect Tilt accepts (top-level for loops,
// sets, while, global reassignment).
var tiltOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}

// TestTiltfileParses: the Tiltfile is valid Starlark in Tilt's dialect.
func TestTiltfileParses(t *testing.T) {
	path := filepath.Join(repoRoot(t), "Tiltfile")
	if _, err := tiltOptions.Parse(path, nil, 0); err != nil {
		t.Fatalf("Tiltfile: %v", err)
	}
}

// tiltCall is one recorded call of a Tilt builtin, arguments by name.
type tiltCall map[string]starlark.Value

func (c tiltCall) str(k string) string {
	if v, ok := c[k].(starlark.String); ok {
		return string(v)
	}
	return ""
}

func (c tiltCall) strs(k string) []string {
	var out []string
	switch v := c[k].(type) {
	case starlark.String:
		out = append(out, string(v))
	case *starlark.List:
		for i := range v.Len() {
			if s, ok := v.Index(i).(starlark.String); ok {
				out = append(out, string(s))
			}
		}
	}
	return out
}

// tiltSim executes the Tiltfile against stand-ins for Tilt's builtins that
// check each call's signature (a misspelt keyword fails, as in Tilt) and do
// the real work where it can be done offline: helm() runs helm template,
// kustomize() reads the local kustomization, k8s_yaml() strictly decodes.
type tiltSim struct {
	t        *testing.T
	root     string
	calls    map[string][]tiltCall
	objects  []object
	builtins starlark.StringDict
}

// signatures of the Tilt builtins the Tiltfile may use; "?" marks optional.
var tiltSignatures = map[string][]string{
	"allow_k8s_contexts": {"contexts"},
	"update_settings":    {"max_parallel_updates?", "k8s_upsert_timeout_secs?", "suppress_unused_image_warnings?"},
	"k8s_yaml":           {"yaml", "allow_duplicates?"},
	"kustomize":          {"paths", "kustomize_bin?", "flags?"},
	"helm":               {"paths", "name?", "namespace?", "values?", "set?", "kube_version?", "skip_crds?"},
	"watch_file":         {"paths"},
	"sync":               {"local_path", "remote_path"},
	"run":                {"cmd", "trigger?", "echo_off?"},
	"k8s_resource": {"workload?", "new_name?", "port_forwards?", "extra_pod_selectors?", "trigger_mode?", "resource_deps?",
		"objects?", "auto_init?", "pod_readiness?", "links?", "labels?", "discovery_strategy?"},
	"local_resource": {"name", "cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?", "serve_cmd?",
		"cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "tags?", "env?", "serve_env?", "readiness_probe?",
		"dir?", "serve_dir?", "labels?"},
	// ext://restart_process: docker_build_with_restart(ref, context, entrypoint,
	// live_update, base_suffix, restart_file, trigger, exit_policy, **docker_build kwargs).
	"docker_build_with_restart": {"ref", "context", "entrypoint", "live_update", "base_suffix?", "restart_file?", "trigger?",
		"exit_policy?", "dockerfile?", "target?", "only?", "ignore?", "build_args?", "network?", "platform?", "extra_tag?",
		"container_args?", "ssh?", "secret?", "cache_from?", "pull?", "match_in_env_vars?"},
}

func newTiltSim(t *testing.T) *tiltSim {
	s := &tiltSim{t: t, root: repoRoot(t), calls: map[string][]tiltCall{}, builtins: starlark.StringDict{}}
	for name, params := range tiltSignatures {
		s.builtins[name] = starlark.NewBuiltin(name, s.builtin(params))
	}
	s.builtins["TRIGGER_MODE_AUTO"] = starlark.String("auto")
	s.builtins["TRIGGER_MODE_MANUAL"] = starlark.String("manual")
	return s
}

func (s *tiltSim) builtin(params []string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		call := tiltCall{}
		names := make([]string, len(params))
		for i, p := range params {
			names[i] = strings.TrimSuffix(p, "?")
		}
		if len(args) > len(params) {
			return nil, fmt.Errorf("%s: %d positional arguments, accepts %d", fn.Name(), len(args), len(params))
		}
		for i, a := range args {
			call[names[i]] = a
		}
		for _, kv := range kwargs {
			k := string(kv[0].(starlark.String))
			if !slices.Contains(names, k) {
				return nil, fmt.Errorf("%s: unexpected keyword argument %q", fn.Name(), k)
			}
			if _, dup := call[k]; dup {
				return nil, fmt.Errorf("%s: argument %q given twice", fn.Name(), k)
			}
			call[k] = kv[1]
		}
		for i, p := range params {
			if !strings.HasSuffix(p, "?") {
				if _, ok := call[names[i]]; !ok {
					return nil, fmt.Errorf("%s: missing argument %q", fn.Name(), names[i])
				}
			}
		}
		s.calls[fn.Name()] = append(s.calls[fn.Name()], call)
		return s.effect(fn.Name(), call)
	}
}

func (s *tiltSim) path(p string) (string, error) {
	full := filepath.Join(s.root, p)
	if _, err := os.Stat(full); err != nil {
		return "", err
	}
	return full, nil
}

func (s *tiltSim) effect(name string, call tiltCall) (starlark.Value, error) {
	switch name {
	case "helm":
		// As Tilt does: --kube-version only when the Tiltfile passes
		// kube_version. Without it the pinned (go-installed) helm assumes
		// v1.20 and refuses the chart's kubeVersion.
		args := []string{"template", call.str("name"), filepath.Join(s.root, call.str("paths"))}
		if kv := call.str("kube_version"); kv != "" {
			args = append(args, "--kube-version", kv)
		}
		if ns := call.str("namespace"); ns != "" {
			args = append(args, "--namespace", ns)
		}
		for _, v := range call.strs("values") {
			p, err := s.path(v)
			if err != nil {
				return nil, fmt.Errorf("helm values: %w", err)
			}
			args = append(args, "-f", p)
		}
		for _, v := range call.strs("set") {
			args = append(args, "--set", v)
		}
		out, err := runHelm(s.t, args...)
		if err != nil {
			return nil, err
		}
		return starlark.String(out), nil
	case "kustomize":
		if _, err := s.path(call.str("paths")); err != nil {
			return nil, err
		}
		return starlark.String(kustomizeLocal(s.t, filepath.Join(s.root, call.str("paths")))), nil
	case "k8s_yaml":
		y, ok := call["yaml"].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("k8s_yaml: only blobs are simulated, got %s", call["yaml"].Type())
		}
		objs, err := decodeAll(s.t, []byte(y))
		if err != nil {
			return nil, err
		}
		s.objects = append(s.objects, objs...)
	case "watch_file":
		for _, p := range call.strs("paths") {
			if _, err := s.path(p); err != nil {
				return nil, fmt.Errorf("watch_file: %w", err)
			}
		}
	case "local_resource":
		for _, p := range call.strs("deps") {
			if _, err := s.path(p); err != nil {
				return nil, fmt.Errorf("local_resource %s deps: %w", call.str("name"), err)
			}
		}
	case "sync":
		return starlark.Tuple{starlark.String("sync"), call["local_path"], call["remote_path"]}, nil
	}
	return starlark.None, nil
}

func (s *tiltSim) exec() {
	s.t.Helper()
	thread := &starlark.Thread{
		Name: "Tiltfile",
		Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
			if module == "ext://restart_process" {
				return starlark.StringDict{"docker_build_with_restart": s.builtins["docker_build_with_restart"]}, nil
			}
			return nil, fmt.Errorf("load(%q) is not simulated", module)
		},
		Print: func(_ *starlark.Thread, msg string) { s.t.Log("Tiltfile:", msg) },
	}
	src, err := os.ReadFile(filepath.Join(s.root, "Tiltfile"))
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := starlark.ExecFileOptions(tiltOptions, thread, "Tiltfile", src, s.builtins); err != nil {
		if e, ok := err.(*starlark.EvalError); ok {
			s.t.Fatalf("Tiltfile: %s", e.Backtrace())
		}
		s.t.Fatalf("Tiltfile: %v", err)
	}
}

// TestTiltfileResources executes the Tiltfile and checks that what it refers
// to exists: workloads and objects in the YAML it deploys, images it builds
// used by those workloads, Dockerfile targets, resource dependencies, ports.
func TestTiltfileResources(t *testing.T) {
	s := newTiltSim(t)
	s.exec()

	if ctx := s.calls["allow_k8s_contexts"]; len(ctx) != 1 || !slices.Contains(ctx[0].strs("contexts"), "kind-webhook-ingestor") {
		t.Errorf("allow_k8s_contexts should name the kind cluster's context kind-webhook-ingestor")
	}

	// Workloads and other objects deployed, by Tilt's naming.
	workloads := map[string]corev1.PodTemplateSpec{}
	others := map[string]bool{}
	for _, o := range s.objects {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			workloads[o.Name] = v.Spec.Template
		case *appsv1.StatefulSet:
			workloads[o.Name] = v.Spec.Template
		default:
			others[strings.ToLower(o.Name+":"+o.GVK.Kind)] = true
		}
	}
	for _, want := range []string{"postgres", "redis", "webhook-ingestor-ingress", "webhook-ingestor-worker"} {
		if _, ok := workloads[want]; !ok {
			t.Errorf("the Tiltfile does not deploy %s", want)
		}
	}

	resources := map[string]bool{}
	for name := range workloads {
		resources[name] = true
	}
	usedLocal := map[int]string{}
	for _, c := range s.calls["k8s_resource"] {
		w := c.str("workload")
		tpl, ok := workloads[w]
		if !ok {
			t.Errorf("k8s_resource(%q): no such workload", w)
			continue
		}
		if n := c.str("new_name"); n != "" {
			delete(resources, w)
			resources[n] = true
		}
		for _, ref := range c.strs("objects") {
			if !others[strings.ToLower(ref)] {
				t.Errorf("k8s_resource(%q) objects: %q is not deployed", w, ref)
			}
		}
		for _, pf := range c.strs("port_forwards") {
			local, remote, ok := strings.Cut(pf, ":")
			lp, err1 := strconv.Atoi(local)
			rp, err2 := strconv.Atoi(remote)
			if !ok || err1 != nil || err2 != nil {
				t.Errorf("k8s_resource(%q): port_forward %q", w, pf)
				continue
			}
			if prev, dup := usedLocal[lp]; dup {
				t.Errorf("local port %d forwarded by %s and %s", lp, prev, w)
			}
			usedLocal[lp] = w
			var found bool
			for _, ctr := range tpl.Spec.Containers {
				for _, p := range ctr.Ports {
					found = found || int(p.ContainerPort) == rp
				}
			}
			if !found {
				t.Errorf("k8s_resource(%q): forwards to port %d, which no container exposes", w, rp)
			}
		}
	}
	var migrate, load bool
	for _, c := range s.calls["local_resource"] {
		resources[c.str("name")] = true
		cmd := c.str("cmd")
		migrate = migrate || (c.str("name") == "migrate" && strings.Contains(cmd, "./services/worker migrate"))
		if strings.Contains(cmd, "go run ./loadtest") {
			load = true
			if c.str("trigger_mode") != "manual" {
				t.Errorf("local_resource %s runs load but is not manual", c.str("name"))
			}
		}
	}
	if !migrate {
		t.Error("no migrate resource running `worker migrate` (chart hooks do not run under Tilt)")
	}
	if !load {
		t.Error("no manual resource running the load runner")
	}
	for kind, calls := range map[string][]tiltCall{"k8s_resource": s.calls["k8s_resource"], "local_resource": s.calls["local_resource"]} {
		for _, c := range calls {
			for _, dep := range c.strs("resource_deps") {
				if !resources[dep] {
					t.Errorf("%s %s%s depends on unknown resource %q", kind, c.str("name"), c.str("workload"), dep)
				}
			}
		}
	}

	// Images: every one built is used by a deployed workload, and the
	// Dockerfile target exists; live update syncs from inside the context.
	stages := dockerfileStages(t)
	for _, c := range s.calls["docker_build_with_restart"] {
		ref := c.str("ref")
		var used bool
		for _, tpl := range workloads {
			for _, ctr := range tpl.Spec.Containers {
				repo, _, _ := strings.Cut(ctr.Image, ":")
				used = used || repo == ref
			}
		}
		if !used {
			t.Errorf("image %s is built but no workload uses it", ref)
		}
		if !slices.Contains(stages, c.str("target")) {
			t.Errorf("image %s: Dockerfile has no target %q", ref, c.str("target"))
		}
		if _, err := s.path(c.str("dockerfile")); err != nil {
			t.Errorf("image %s: %v", ref, err)
		}
		only := c.strs("only")
		lu, _ := c["live_update"].(*starlark.List)
		for i := range lu.Len() {
			step, ok := lu.Index(i).(starlark.Tuple)
			if !ok || len(step) != 3 || step[0] != starlark.String("sync") {
				continue
			}
			local := string(step[1].(starlark.String))
			var inside bool
			for _, o := range only {
				inside = inside || local == o || strings.HasPrefix(local, strings.TrimSuffix(o, "/")+"/")
			}
			if !inside {
				t.Errorf("image %s: live_update syncs %s, outside only=%v", ref, local, only)
			}
			entry := c.strs("entrypoint")
			if len(entry) == 0 || string(step[2].(starlark.String)) != entry[0] {
				t.Errorf("image %s: syncs to %s but runs %v", ref, step[2], entry)
			}
		}
	}
	if len(s.calls["docker_build_with_restart"]) != 2 {
		t.Errorf("want 2 images built (ingress, worker), got %d", len(s.calls["docker_build_with_restart"]))
	}
}
