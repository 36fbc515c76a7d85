//go:build faults

package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds bin/ingress and bin/worker, built once by TestMain.
var binDir string

// pgBin is Debian's PostgreSQL binary folder (/usr/lib/postgresql/<v>/bin).
var pgBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	if pgBin, err = findPGBin(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		fmt.Fprintln(os.Stderr, "faults: redis-server not found (hack/testenv.sh installs it)")
		return 1
	}
	if binDir = os.Getenv("FAULTS_BIN_DIR"); binDir == "" {
		dir, err := os.MkdirTemp("", "faults-bin-*")
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Build the real binaries, the same way the contract says: go build -o bin/ ./services/...
		cmd := exec.Command("go", "build", "-o", dir+"/", "./services/...")
		cmd.Dir = "../.."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "faults: building the binaries:", err)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

func findPGBin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	// Debian keeps the server tools off PATH; a symlink on PATH (initdb only,
	// say) is followed to the folder that holds them all.
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("no PostgreSQL binaries (initdb) found; install Debian's postgresql or set PG_BIN")
}

// freePort asks the kernel for an unused loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is one OS process the harness started; it is stopped only by its PID.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (no-op once it exited).
func (p *Proc) Signal(sig syscall.Signal) {
	if p.Running() {
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Wait waits for the process to exit; it reports false on timeout.
func (p *Proc) Wait(timeout time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// Stop sends sig and waits up to timeout, then SIGKILLs.
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) {
	p.Signal(sig)
	if !p.Wait(timeout) {
		p.Kill()
	}
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stack is one private environment: Redis, PostgreSQL and any number of
// ingress and worker processes, all torn down when the test ends.
type Stack struct {
	t     testing.TB
	dir   string
	mu    sync.Mutex
	procs []*Proc
	seq   int

	Redis *Redis
	PG    *Postgres
}

// NewStack starts Redis (AOF everysec) and PostgreSQL on private ports.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	s := &Stack{t: t, dir: t.TempDir()}
	t.Cleanup(s.teardown)
	s.Redis = &Redis{s: s, Port: freePort(t), Dir: filepath.Join(s.dir, "redis"), Fsync: "everysec"}
	if err := os.MkdirAll(s.Redis.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Redis.Start()
	s.PG = newPostgres(s)
	s.PG.Start()
	return s
}

func (s *Stack) teardown() {
	s.mu.Lock()
	procs := append([]*Proc(nil), s.procs...)
	s.mu.Unlock()
	failed := s.t.Failed()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Name == "redis" {
			// A disk too slow for appendfsync everysec blocks Redis, and with
			// it every enqueue: say so, since the test may still pass.
			for _, line := range strings.Split(p.Tail(1000), "\n") {
				if strings.Contains(line, "fsync is taking too long") {
					s.t.Logf("redis (pid %d) reports a slow disk: %s", p.PID(), line)
				}
			}
		}
		if failed || testing.Verbose() && os.Getenv("FAULTS_LOGS") != "" {
			s.t.Logf("--- last log lines of %s (pid %d) ---\n%s", p.Name, p.PID(), p.Tail(15))
		}
		if p.Running() {
			p.Kill()
		}
	}
	if s.PG != nil && s.PG.root != "" {
		_ = os.RemoveAll(s.PG.root)
	}
}

// spawn starts a process with its output in a log file under the stack dir.
func (s *Stack) spawn(name, path string, args, env []string, cred *syscall.Credential) *Proc {
	s.t.Helper()
	s.mu.Lock()
	s.seq++
	logPath := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.log", s.seq, name))
	s.mu.Unlock()
	logf, err := os.Create(logPath)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so a ^C on `go test` does not reach it first and
	// the harness decides the order of shutdown; Pdeathsig still takes it
	// down if the test binary dies without cleaning up (timeout, SIGKILL).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// waitFor polls cond every 50ms until it is true or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- Redis -----------------------------------------------------------------

// Redis is a private redis-server with AOF on; its data survives restarts.
type Redis struct {
	s     *Stack
	Port  int
	Dir   string
	Fsync string // everysec (docker-compose's setting) or always
	Proc  *Proc
}

func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// Start runs redis-server on the same port and dir (so a restart reloads the AOF).
func (r *Redis) Start() {
	r.s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--dir", r.Dir,
		"--appendonly", "yes", "--appendfsync", r.Fsync, "--save", "",
		"--protected-mode", "no", "--daemonize", "no", "--databases", "16",
	}
	r.Proc = r.s.spawn("redis", "redis-server", args, nil, nil)
	if !waitFor(15*time.Second, func() bool { return redisPing(r.Addr()) == nil }) {
		r.s.t.Fatalf("redis on %s did not answer:\n%s", r.Addr(), r.Proc.Tail(20))
	}
}

// Kill SIGKILLs redis: what the kernel wrote to the AOF stays, a crash of the
// process (not the machine) loses nothing that was acknowledged.
func (r *Redis) Kill() { r.Proc.Kill() }

// redisPing speaks just enough RESP to check that Redis answers and has
// finished loading its AOF.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis: %s", strings.TrimSpace(line))
	}
	return nil
}

// --- PostgreSQL --------------------------------------------------------------

// Postgres is a private cluster made by initdb, run as the `postgres` system
// user when the tests run as root (initdb refuses root).
type Postgres struct {
	s    *Stack
	Port int
	root string // owned by the server's user; removed at teardown
	data string
	cred *syscall.Credential
	Proc *Proc
}

const pgDatabase = "webhooks"

func newPostgres(s *Stack) *Postgres {
	t := s.t
	t.Helper()
	pg := &Postgres{s: s, Port: freePort(t)}
	root, err := os.MkdirTemp("", "faults-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	pg.root, pg.data = root, filepath.Join(root, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres system user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	out, err := pg.run("initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	return pg
}

// run executes a PostgreSQL client tool as the cluster's user and returns its output.
func (pg *Postgres) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(pgBin, tool), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// URL is the worker's DATABASE_URL.
func (pg *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, pgDatabase)
}

// Start runs the postmaster and creates the database on first start.
func (pg *Postgres) Start() {
	t := pg.s.t
	t.Helper()
	args := []string{
		"-D", pg.data, "-p", strconv.Itoa(pg.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + pg.root,
		"-c", "max_connections=200", "-c", "logging_collector=off",
	}
	pg.Proc = pg.s.spawn("postgres", filepath.Join(pgBin, "postgres"), args, nil, pg.cred)
	ok := waitFor(30*time.Second, func() bool {
		_, err := pg.run("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port))
		return err == nil
	})
	if !ok {
		t.Fatalf("postgres did not start:\n%s", pg.Proc.Tail(20))
	}
	if out, _ := pg.psqlDB("postgres", "SELECT 1 FROM pg_database WHERE datname = '"+pgDatabase+"'"); strings.TrimSpace(out) != "1" {
		if out, err := pg.psqlDB("postgres", "CREATE DATABASE "+pgDatabase); err != nil {
			t.Fatalf("create database: %v %s", err, out)
		}
	}
}

// HoldLock locks table against writes for d in a session of its own; the
// returned channel closes when the lock is released.
func (pg *Postgres) HoldLock(table string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = pg.psqlDB(pgDatabase, fmt.Sprintf("BEGIN; LOCK TABLE %s IN SHARE MODE; SELECT pg_sleep(%f); COMMIT;", table, d.Seconds()))
	}()
	return done
}

// Crash stops PostgreSQL the way a crash would (immediate shutdown: no
// checkpoint, WAL replay at the next start); committed rows must survive.
func (pg *Postgres) Crash() {
	pg.Proc.Stop(syscall.SIGQUIT, 15*time.Second)
}

func (pg *Postgres) psqlDB(db, sql string) (string, error) {
	out, err := pg.run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", "-d", db, "-c", sql)
	return string(out), err
}

// SQL runs sql in the webhooks database and fails the test on error.
func (pg *Postgres) SQL(sql string) string {
	pg.s.t.Helper()
	out, err := pg.psqlDB(pgDatabase, sql)
	if err != nil {
		pg.s.t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(out)
}

// --- the binaries ------------------------------------------------------------

// Service is one running bin/ingress or bin/worker.
type Service struct {
	*Proc
	HTTP string // ingress public base URL ("" for the worker)
	Ops  string // ops base URL (/live, /ready, /metrics)
}

// Ready reports whether GET /ready answers 200.
func (sv *Service) Ready() bool { return httpOK(sv.Ops + "/ready") }

func httpOK(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *Stack) commonEnv() []string {
	return []string{
		"REDIS_ADDR=" + s.Redis.Addr(),
		"LOG_LEVEL=" + envOr("FAULTS_LOG_LEVEL", "info"),
		"SHUTDOWN_TIMEOUT=10s",
	}
}

// StartIngress starts bin/ingress on fresh ports and waits until it is ready.
func (s *Stack) StartIngress(extraEnv ...string) *Service {
	s.t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	opsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	env := append(s.commonEnv(), "HTTP_ADDR="+httpAddr, "OPS_ADDR="+opsAddr, "DRAIN_DELAY=1s")
	env = append(env, extraEnv...)
	sv := &Service{
		Proc: s.spawn("ingress", filepath.Join(binDir, "ingress"), nil, env, nil),
		HTTP: "http://" + httpAddr, Ops: "http://" + opsAddr,
	}
	s.waitReady(sv)
	return sv
}

// StartWorker starts bin/worker and waits until it is ready.
func (s *Stack) StartWorker(extraEnv ...string) *Service {
	s.t.Helper()
	sv := s.SpawnWorker(extraEnv...)
	s.waitReady(sv)
	return sv
}

// SpawnWorker starts bin/worker without waiting for readiness.
func (s *Stack) SpawnWorker(extraEnv ...string) *Service {
	s.t.Helper()
	opsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	env := append(s.commonEnv(), "OPS_ADDR="+opsAddr, "DATABASE_URL="+s.PG.URL())
	env = append(env, workerTuning...)
	env = append(env, extraEnv...)
	return &Service{
		Proc: s.spawn("worker", filepath.Join(binDir, "worker"), nil, env, nil),
		Ops:  "http://" + opsAddr,
	}
}

// workerTuning is the worker configuration the suite runs with (see README:
// the recovery knobs for killed workers).
var workerTuning = []string{}

func (s *Stack) waitReady(sv *Service) {
	s.t.Helper()
	ok := waitFor(30*time.Second, func() bool { return sv.Running() && sv.Ready() })
	if !ok {
		s.t.Fatalf("%s did not become ready on %s:\n%s", sv.Name, sv.Ops, sv.Tail(30))
	}
}

// Migrate runs `bin/worker migrate` once.
func (s *Stack) Migrate() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "worker"), "migrate")
	cmd.Env = append(os.Environ(), append(s.commonEnv(), "DATABASE_URL="+s.PG.URL())...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("worker migrate: %v\n%s", err, out)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// StartIngressAt starts a new ingress on the addresses of old (a replacement
// pod behind the same address) and waits until it is ready.
func (s *Stack) StartIngressAt(old *Service, extraEnv ...string) *Service {
	s.t.Helper()
	httpAddr := strings.TrimPrefix(old.HTTP, "http://")
	opsAddr := strings.TrimPrefix(old.Ops, "http://")
	env := append(s.commonEnv(), "HTTP_ADDR="+httpAddr, "OPS_ADDR="+opsAddr, "DRAIN_DELAY=1s")
	env = append(env, extraEnv...)
	sv := &Service{
		Proc: s.spawn("ingress", filepath.Join(binDir, "ingress"), nil, env, nil),
		HTTP: old.HTTP, Ops: old.Ops,
	}
	s.waitReady(sv)
	return sv
}
