// Package testenv gives tests real Redis and PostgreSQL: the instances that
// hack/testenv.sh runs on their own ports (never the user's data). When the
// TEST_* variables are unset it runs `hack/testenv.sh up` itself, so a plain
// `go test ./...` works as well as `make test`.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

var (
	setupOnce sync.Once
	setupErr  error
)

// ensure makes TEST_REDIS_ADDR and TEST_DATABASE_URL available.
func ensure(t testing.TB) {
	t.Helper()
	setupOnce.Do(func() {
		if os.Getenv("TEST_REDIS_ADDR") != "" && os.Getenv("TEST_DATABASE_URL") != "" {
			return
		}
		root, err := repoRoot()
		if err != nil {
			setupErr = err
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "hack", "testenv.sh"), "up")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			setupErr = fmt.Errorf("hack/testenv.sh up: %w", err)
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
			if ok {
				os.Setenv(k, v)
			}
		}
	})
	if setupErr != nil {
		t.Fatalf("testenv: %v", setupErr)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "testenv.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("hack/testenv.sh not found above the working directory")
		}
		dir = parent
	}
}

// RedisDB is a Redis logical database reserved for one test.
type RedisDB struct {
	Addr string
	DB   int
}

// Redis reserves an empty Redis database for the test and flushes it again
// when the test ends. Databases 1 to the server's last (`databases`, 16 by
// default; hack/testenv.sh starts one with 64) are handed out round-robin
// across all test processes (a counter in database 0), so parallel packages
// don't collide.
func Redis(t testing.TB) RedisDB {
	t.Helper()
	ensure(t)
	addr := os.Getenv("TEST_REDIS_ADDR")
	admin := redisClient(t, addr, 0)
	defer admin.Close()
	ctx := context.Background()
	n, err := admin.Do(ctx, admin.B().Incr().Key("testenv:next-db").Build()).AsInt64()
	if err != nil {
		t.Fatalf("testenv: Redis at %s: %v", addr, err)
	}
	dbs := int64(16)
	if kv, err := admin.Do(ctx, admin.B().ConfigGet().Parameter("databases").Build()).AsStrMap(); err == nil {
		if v, err := strconv.ParseInt(kv["databases"], 10, 64); err == nil && v > 1 {
			dbs = v
		}
	}
	db := RedisDB{Addr: addr, DB: int(1 + n%(dbs-1))}
	flush := func() {
		c := redisClient(t, addr, db.DB)
		defer c.Close()
		if err := c.Do(ctx, c.B().Flushdb().Build()).Error(); err != nil {
			t.Errorf("testenv: flush Redis db %d: %v", db.DB, err)
		}
	}
	flush()
	t.Cleanup(flush)
	return db
}

func redisClient(t testing.TB, addr string, db int) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, SelectDB: db, DisableCache: true})
	if err != nil {
		t.Fatalf("testenv: connect Redis at %s: %v", addr, err)
	}
	return c
}

// Postgres creates an empty database for the test, drops it when the test
// ends, and returns its connection URL.
func Postgres(t testing.TB) string {
	t.Helper()
	ensure(t)
	base := os.Getenv("TEST_DATABASE_URL")
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: connect PostgreSQL: %v", err)
	}
	defer admin.Close(context.Background())

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

// withDatabase is the connection URL base with its database replaced by
// name; everything else (user, password, host, parameters) is kept.
func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// A keyword/value DSN ("host=… dbname=…"): a later dbname wins.
		return base + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// StartRedis runs a Redis of the test's own on a free loopback port, for
// tests that stop it to see what happens. stop kills it (idempotent) and also
// runs at cleanup.
func StartRedis(t testing.TB) (addr string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		ensure(t) // hack/testenv.sh installs redis-server when missing
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Fatalf("testenv: redis-server not found: %v", err)
		}
	}
	port := FreePort(t)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: redis-server on %s did not come up", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Rows returns the number of rows in webhook_events of the database at url.
func Rows(t testing.TB, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("testenv: connect PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from webhook_events").Scan(&n); err != nil {
		t.Fatalf("testenv: count rows: %v", err)
	}
	return n
}
