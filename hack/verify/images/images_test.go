//go:build docker

// Package images tests the built container images with a real Docker engine
// (`make test-image`, which builds them first and starts the engine, Redis and
// PostgreSQL). Each image must: declare uid 65532 and its binary as entrypoint,
// carry the version it was built with, run as a non-root uid with a read-only
// root filesystem, no capabilities and no-new-privileges, serve /live and
// /ready, log its version, and exit 0 on SIGTERM.
package images

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func docker(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("DOCKER")
	if bin == "" {
		bin = "docker"
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set; run `make test-image`", name)
	}
	return v
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type imageConfig struct {
	User       string
	Entrypoint []string
	Cmd        []string
	Labels     map[string]string
	Env        []string
}

// procStatus reads the fields of /proc/PID/status of a container's process
// (the engine runs here, so its PIDs are ours to read).
func procStatus(t *testing.T, pid string) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

func get(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// testDatabase creates a database of its own on the test PostgreSQL.
func testDatabase(t *testing.T) string {
	t.Helper()
	base := env(t, "TEST_DATABASE_URL")
	name := fmt.Sprintf("image_test_%d", time.Now().UnixNano())
	run := func(sql string) {
		out, err := exec.Command("psql", base, "-v", "ON_ERROR_STOP=1", "-qc", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %q: %v\n%s", sql, err, out)
		}
	}
	run("CREATE DATABASE " + name)
	t.Cleanup(func() { run("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestImages(t *testing.T) {
	version := env(t, "IMAGE_VERSION")
	redis := env(t, "TEST_REDIS_ADDR")
	for _, tc := range []struct {
		name, image, started string
		env                  func(t *testing.T, ops int) []string
	}{
		{"ingress", env(t, "IMAGE_INGRESS"), "ingress started", func(t *testing.T, ops int) []string {
			return []string{"REDIS_ADDR=" + redis, "REDIS_DB=47", fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", ops),
				fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", freePort(t)), "DRAIN_DELAY=0s"}
		}},
		{"worker", env(t, "IMAGE_WORKER"), "worker started", func(t *testing.T, ops int) []string {
			return []string{"REDIS_ADDR=" + redis, "REDIS_DB=47", fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", ops),
				"DATABASE_URL=" + testDatabase(t)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg imageConfig
			if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .Config}}", tc.image)), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.User != "65532:65532" {
				t.Errorf("image USER = %q, want 65532:65532", cfg.User)
			}
			if want := "/usr/local/bin/" + tc.name; len(cfg.Entrypoint) != 1 || cfg.Entrypoint[0] != want {
				t.Errorf("ENTRYPOINT = %q, want [%s]", cfg.Entrypoint, want)
			}
			if len(cfg.Cmd) != 0 {
				t.Errorf("CMD = %q, want none", cfg.Cmd)
			}
			if got := cfg.Labels["org.opencontainers.image.version"]; got != version {
				t.Errorf("version label = %q, want %q", got, version)
			}
			t.Logf("%s: %s bytes", tc.image, docker(t, "image", "inspect", "--format", "{{.Size}}", tc.image))

			// No shell in a production image.
			if out, err := exec.Command(os.Getenv("DOCKER"), "run", "--rm", "--entrypoint", "/bin/sh", tc.image, "-c", "true").CombinedOutput(); err == nil {
				t.Errorf("the image has a shell: /bin/sh ran\n%s", out)
			}

			ops := freePort(t)
			args := []string{"run", "-d", "--network", "host", "--read-only", "--cap-drop", "ALL",
				"--security-opt", "no-new-privileges:true"}
			for _, e := range tc.env(t, ops) {
				args = append(args, "-e", e)
			}
			id := docker(t, append(args, tc.image)...)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("logs:\n%s", docker(t, "logs", id))
				}
				docker(t, "rm", "-f", id)
			})

			base := fmt.Sprintf("http://127.0.0.1:%d", ops)
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, err := get(base + "/ready")
				if code == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/ready never answered 200 in 30 s: %d %v", code, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if code, err := get(base + "/live"); code != http.StatusOK {
				t.Errorf("/live: %d %v", code, err)
			}

			var state struct {
				Pid        int
				Running    bool
				ExitCode   int
				HostConfig struct{ ReadonlyRootfs bool }
			}
			if err := json.Unmarshal([]byte(docker(t, "inspect", "--format", "{{json .State}}", id)), &state); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(docker(t, "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", id), "true") {
				t.Error("container root filesystem is not read-only")
			}
			st := procStatus(t, fmt.Sprint(state.Pid))
			if st["Uid"] != "65532 65532 65532 65532" || st["Gid"] != "65532 65532 65532 65532" {
				t.Errorf("process runs as Uid %q Gid %q, want 65532", st["Uid"], st["Gid"])
			}
			if st["CapEff"] != "0000000000000000" || st["NoNewPrivs"] != "1" {
				t.Errorf("CapEff %s NoNewPrivs %s, want no capabilities and no-new-privileges", st["CapEff"], st["NoNewPrivs"])
			}

			// The version it logs at start is the one it was built with.
			logs := docker(t, "logs", id)
			found := false
			for _, line := range strings.Split(logs, "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == tc.started {
					found = true
					if rec["version"] != version {
						t.Errorf("%q logs version %v, want %q", tc.started, rec["version"], version)
					}
				}
			}
			if !found {
				t.Errorf("no %q log line:\n%s", tc.started, logs)
			}

			// SIGTERM: a clean, prompt exit.
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			start := time.Now()
			if out, err := exec.CommandContext(ctx, os.Getenv("DOCKER"), "stop", "-t", "30", id).CombinedOutput(); err != nil {
				t.Fatalf("docker stop: %v\n%s", err, out)
			}
			if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", id); code != "0" {
				t.Errorf("exit code after SIGTERM = %s, want 0", code)
			}
			t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestMigrateOneShot: `worker migrate` (compose's migrate service, the chart's
// hook) applies the migrations and exits 0 in the read-only image.
func TestMigrateOneShot(t *testing.T) {
	img := env(t, "IMAGE_WORKER")
	db := testDatabase(t)
	out := docker(t, "run", "--rm", "--network", "host", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges:true", "-e", "DATABASE_URL="+db, img, "migrate")
	if !strings.Contains(out, "migrations applied") {
		t.Errorf("worker migrate did not report its migrations:\n%s", out)
	}
}
