// Package e2e runs the real binaries against real Redis and PostgreSQL.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhook-ingestor/webhook-ingestor/services/internal/job"
	"github.com/webhook-ingestor/webhook-ingestor/services/internal/testenv"
)

// TestPipeline: 1,000 POSTs of which 100 re-send earlier events end as
// exactly 900 rows, and every jobId answered with 202 names one of them.
func TestPipeline(t *testing.T) {
	httpPort, dbURL := startStack(t)

	const unique, resent = 900, 100
	ids := make([]string, 0, unique+resent)
	for i := range unique {
		ids = append(ids, fmt.Sprintf("evt-%04d", i))
	}
	for i := range resent {
		ids = append(ids, fmt.Sprintf("evt-%04d", i*7)) // re-sends, some still queued, some stored
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/webhooks/acme", httpPort)
	client := &http.Client{Timeout: 10 * time.Second}
	var (
		mu     sync.Mutex
		jobIDs = map[string]bool{}
		work   = make(chan string)
		wg     sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for id := range work {
				jobID, err := post(client, url, id)
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				jobIDs[jobID] = true
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(jobIDs) != unique {
		t.Errorf("distinct jobIds = %d, want %d", len(jobIDs), unique)
	}

	stored := waitRows(t, dbURL, unique)
	for id := range jobIDs {
		if !stored[id] {
			t.Errorf("jobId %s was answered 202 but has no row", id)
		}
	}
}

func post(c *http.Client, url, eventID string) (string, error) {
	body := fmt.Sprintf(`{"provider":"acme","eventId":%q,"timestamp":"2026-01-01T00:00:00Z","data":{"n":1}}`, eventID)
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var got struct {
		Accepted bool   `json:"accepted"`
		JobID    string `json:"jobId"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusAccepted || !got.Accepted {
		return "", fmt.Errorf("POST %s: status %d, body %+v, err %v", eventID, resp.StatusCode, got, err)
	}
	return got.JobID, nil
}

// waitRows waits until the table holds want rows and stays there, and returns
// the job ids of the rows.
func waitRows(t *testing.T, dbURL string, want int) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(60 * time.Second)
	var n int
	for {
		if err := conn.QueryRow(ctx, "select count(*) from webhook_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything still in flight would land now
	rows, err := conn.Query(ctx, "select provider, event_id from webhook_events")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	var p, id string
	if _, err := pgx.ForEachRow(rows, []any{&p, &id}, func() error {
		stored[job.ID(p, id)] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != want {
		t.Fatalf("rows = %d, want %d", len(stored), want)
	}
	return stored
}

// startStack builds both binaries, starts them against the test Redis and
// PostgreSQL (ingressEnv: extra variables for the ingress only), waits
// until both are ready and returns the ingress's HTTP port and the
// database URL.
func startStack(t *testing.T, ingressEnv ...string) (httpPort int, dbURL string) {
	t.Helper()
	bin := buildBinaries(t)
	rdb := testenv.Redis(t)
	dbURL = testenv.Postgres(t)
	ingressOps, workerOps := testenv.FreePort(t), testenv.FreePort(t)
	httpPort = testenv.FreePort(t)
	env := []string{
		"REDIS_ADDR=" + rdb.Addr, fmt.Sprintf("REDIS_DB=%d", rdb.DB), "DATABASE_URL=" + dbURL,
		"LOG_LEVEL=warn", "DRAIN_DELAY=0s", "SHUTDOWN_TIMEOUT=10s",
	}
	start(t, filepath.Join(bin, "worker"), append(env, fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", workerOps)))
	start(t, filepath.Join(bin, "ingress"), append(append(env, ingressEnv...),
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", httpPort), fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", ingressOps)))
	waitReady(t, ingressOps)
	waitReady(t, workerOps)
	return httpPort, dbURL
}

func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "../ingress", "../worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func start(t *testing.T, path string, env []string) {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exited with %v:\n%s", filepath.Base(path), err, out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop within 15s of SIGTERM", filepath.Base(path))
		}
	})
}

func waitReady(t *testing.T, opsPort int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/ready", opsPort)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 30s", url)
}
