//go:build faults

package faults

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ---------------------------------------------------------------------------
// 8. PostgreSQL down past the old retry budget, with more than 10,000 events
// pending. The ingress runs with JOB_MAX_RETRY=0 (taken as 1): under the old
// worker a task's first or second failed attempt archived it (and
// asynq's archive trims itself past 10,000 tasks, deleting what it trims).
// Now every store error is an outage that is retried for as long as it lasts.
// Grouping is off here: asynq's archive limit counts tasks, so the hard case
// is more than 10,000 tasks, one event each.
func TestPostgresDownPastRetryBudget(t *testing.T) {
	parallelWhenShort(t)
	events, outage := 20000, 3*time.Minute
	if testing.Short() {
		events, outage = 10500, 20*time.Second
	}
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress("JOB_MAX_RETRY=0", "ENQUEUE_GROUPING=false")
	s.StartWorker()

	s.PG.Crash()
	downAt := time.Now()
	l := &load{Targets: []string{in.HTTP}, Provider: "pglong", Prefix: prefix(t), Events: events, Concurrency: 32, Retry: true}
	res := l.Run(context.Background())
	logResult(t, res)
	t.Logf("%d events accepted %.1fs into the PostgreSQL outage", len(res.Accepted()), time.Since(downAt).Seconds())
	if res.Non202 > 0 {
		t.Errorf("the ingress failed %d requests while only PostgreSQL was down", res.Non202)
	}
	maxWaiting, maxArchived := 0, 0
	waitFor(outage-time.Since(downAt), func() bool {
		if q, ok := s.Queue(); ok {
			maxWaiting = max(maxWaiting, q.Pending+q.Active+q.Retry+q.Scheduled)
			maxArchived = max(maxArchived, q.Archived)
		}
		time.Sleep(500 * time.Millisecond)
		return false
	})
	q, _ := s.Queue()
	t.Logf("after %.0fs of outage: %d tasks waiting (up to %d), %d in retry, %d archived", time.Since(downAt).Seconds(),
		q.Pending+q.Active+q.Retry+q.Scheduled, maxWaiting, q.Retry, q.Archived)
	if maxWaiting < 10000 {
		t.Errorf("only %d tasks waited during the outage; the scenario needs more than 10,000", maxWaiting)
	}
	s.PG.Start()
	upAt := time.Now()
	outageLen := upAt.Sub(downAt)
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	t.Logf("RECOVERY PostgreSQL down %.0fs with %d events pending; all persisted %.1fs after it returned",
		outageLen.Seconds(), len(res.Accepted()), drained.Seconds())
	if q, _ := s.Queue(); q.Archived != 0 || maxArchived != 0 {
		t.Errorf("tasks archived: %d now, up to %d during the outage", q.Archived, maxArchived)
	}
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 9. A poison event inside a stream of valid ones. The ingress refuses what
// PostgreSQL cannot store (400), so the poison task is written to Redis
// directly, as an earlier release would have accepted it (the legacy JSON
// task format, which still decodes): a number jsonb cannot hold. Every valid
// event is stored at the normal latency, the poison one lands in
// webhook_dead_letters, nothing waits for a retry, nothing is archived.
func TestPoisonEvent(t *testing.T) {
	parallelWhenShort(t)
	s := NewStack(t)
	s.Migrate()
	in := s.StartIngress()
	s.StartWorker()

	const poisonBody = `{"eventId":"poison-1","data":{"amount":1e1000000}}`
	resp, err := http.Post(in.HTTP+"/webhooks/poison", "application/json", strings.NewReader(poisonBody))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the ingress answered %d to an unstorable number, want 400", resp.StatusCode)
	}

	sc := scaleFor()
	l := &load{Targets: []string{in.HTTP}, Provider: "poison", Prefix: prefix(t), Rate: sc.Rate, Duration: sc.Load / 2, Retry: true}
	done := startLoad(l)
	time.Sleep(sc.Load / 6)
	legacy := `{"provider":"poison","eventId":"poison-1","receivedAt":"` + time.Now().UTC().Format(time.RFC3339Nano) +
		`","body":` + poisonBody + `}`
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: s.Redis.Addr()})
	defer c.Close()
	if _, err := c.Enqueue(asynq.NewTask("webhook:ingest", []byte(legacy), asynq.Queue(queueName), asynq.TaskID("poison-1"))); err != nil {
		t.Fatal(err)
	}
	injectedAt := time.Now()
	var maxRetry atomic.Int64
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for time.Since(injectedAt) < sc.Load/2 {
			if q, ok := s.Queue(); ok && int64(q.Retry) > maxRetry.Load() {
				maxRetry.Store(int64(q.Retry))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	res := <-done
	<-watched
	logResult(t, res)
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	t.Logf("RECOVERY valid events all stored %.1fs after the load ended", drained.Seconds())
	if drained > 10*time.Second {
		t.Errorf("valid events took %.1fs past the load to be stored: the poison event held them up", drained.Seconds())
	}
	if n := maxRetry.Load(); n != 0 {
		t.Errorf("%d tasks waited for a retry around the poison event", n)
	}
	if q, _ := s.Queue(); q.Archived != 0 {
		t.Errorf("%d tasks archived", q.Archived)
	}
	dl := s.PG.SQL(`SELECT provider || ' ' || event_id || ' ' || attempts || ' ' || left(reason, 60) FROM webhook_dead_letters`)
	t.Logf("dead letters: %s", strings.TrimSpace(dl))
	if !strings.HasPrefix(strings.TrimSpace(dl), "poison poison-1 1 unstorable") || strings.Count(strings.TrimSpace(dl), "\n") != 0 {
		t.Errorf("webhook_dead_letters = %q, want exactly the poison event", dl)
	}
	out := s.workerCmd("deadletters", "list", "-provider", "poison")
	if !strings.Contains(out, "poison-1") {
		t.Errorf("worker deadletters list does not show the poison event:\n%s", out)
	}
	requireClean(t, s.AuditRun(l.Provider, res))
}

// ---------------------------------------------------------------------------
// 10. Redis near maxmemory: no worker drains the queue, Redis has a few MB
// of room. The ingress sheds (503 + Retry-After, problem type queue-full)
// before Redis refuses writes; every event that got a 202 is stored once a
// worker runs.
func TestRedisNearMaxmemory(t *testing.T) {
	parallelWhenShort(t)
	s := NewStack(t)
	s.Migrate()
	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	info := rdb.Info(ctx, "memory").Val()
	used := infoInt(info, "used_memory")
	limit := used + 4<<20
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(limit, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis used_memory %d bytes, maxmemory set to %d", used, limit)
	in := s.StartIngress("SHED_MAX_MEMORY_RATIO=0.8", "SHED_SAMPLE_INTERVAL=100ms")

	events := 10000
	if testing.Short() {
		events = 8000
	}
	l := &load{Targets: []string{in.HTTP}, Provider: "maxmem", Prefix: prefix(t), Events: events, Concurrency: 16}
	res := l.Run(ctx)
	logResult(t, res)
	peak := infoInt(rdb.Info(ctx, "memory").Val(), "used_memory")
	body := scrape(t, in.Ops+"/metrics")
	t.Logf("Redis used_memory after the run %d (%.0f%% of maxmemory); ingress: %s", peak, 100*float64(peak)/float64(limit),
		grepLines(body, "webhook_shed_requests_total", "webhook_shedding{"))
	if res.Codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503: the ingress never shed")
	}
	if res.No503RetryAfter != 0 {
		t.Errorf("%d 503s without Retry-After", res.No503RetryAfter)
	}
	if !strings.Contains(body, `webhook_shedding{reason="redis_memory"} 1`) {
		t.Errorf("webhook_shedding{reason=redis_memory} is not 1 at the end of the run")
	}
	if len(res.Accepted()) == 0 {
		t.Fatal("nothing accepted")
	}

	s.StartWorker()
	drained := s.WaitDrained(l.Provider, len(res.Accepted()), drainTimeout)
	t.Logf("RECOVERY %d accepted, %d shed (503); all accepted persisted %.1fs after a worker started",
		len(res.Accepted()), res.Codes[http.StatusServiceUnavailable], drained.Seconds())
	requireClean(t, s.AuditRun(l.Provider, res))
}

func infoInt(info, name string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

func grepLines(body string, prefixes ...string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "; ")
}

// workerCmd runs `bin/worker args…` against the stack and returns its output.
func (s *Stack) workerCmd(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "worker"), args...)
	cmd.Env = append(cmd.Environ(), append(s.commonEnv(), "DATABASE_URL="+s.PG.URL())...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("worker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
